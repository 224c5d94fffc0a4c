"""The registers the sweeps cover, read from the registry (app/views.py's blocks), and a factory
that builds a valid new row of any register from its model's field declarations: a register
declared only in app/views.py is swept without touching a test.

What a register means — who may do what, what scope it keeps — is still written in the tests
from SPEC; only the list of registers, and each one's rights group, come from the registry.
"""

import datetime as dt
import decimal
import itertools

from sqlalchemy import Boolean, Date, Integer, Numeric, String, Text, inspect

from app import registry
from app.accounts import MASKED_FIELDS
from app.masking import MASKERS

# The township's own records (branches, tasks and the villages' reports of them) have sweeps of
# their own (tests/test_branches_tasks_surveys.py): the village-level sweeps leave them out.
TOWNSHIP_RECORDS = ("Branch", "Task", "TaskAssignment")
# The counties (issue 18) too: their sweep is the county world's (tests/test_scoping.py).
COUNTY_RECORDS = ("County",)
ABOVE_VILLAGES = COUNTY_RECORDS + TOWNSHIP_RECORDS


def registered():
    """Every declared register's model, in the blocks' order."""
    return registry.models()


def swept():
    """The registers the village-level sweeps cover."""
    return [m for m in registered() if m.__name__ not in ABOVE_VILLAGES]


def rosters() -> dict:
    """KIND → model of every roster a block declares (the import sweep's KINDs)."""
    return {r.roster.kind: r.model for r in registry.registers() if r.roster is not None}


def masked_columns(accounts: dict) -> list:
    """(model, column, username) for every registered model's column that the role of each
    ``accounts`` username (username → role) sees masked (the masking sweep's cases)."""
    found = []
    for model in registered():
        for column in model.__table__.columns:
            if column.key not in MASKERS:
                continue
            rules = (column.key, f"{model.__name__}.{column.key}")
            roles = set().union(*(MASKED_FIELDS.get(rule, set()) for rule in rules))
            found += [(model, column.key, u) for u, role in accounts.items() if role in roles]
    return found


def rights_group(model) -> str:
    return registry.REGISTRY[model.__name__].rights


def view_name(model) -> str:
    return registry.REGISTRY[model.__name__].view.__name__


def rest_name(model) -> str:
    found = registry.REGISTRY[model.__name__]
    return found.rest or found.api.resource_name


def _targets():
    return {m.__tablename__: m for m in registered()}


def references(model) -> dict:
    """Reference column → the register it points to (village_id → Village…)."""
    targets = _targets()
    found = {}
    for column in model.__table__.columns:
        for fk in column.foreign_keys:
            target = targets.get(fk.column.table.name)
            if target is not None and column.key != "id":
                found[column.key] = target
    return found


# What a reference to a register takes, from the parts of a writer's scope.
PARTS = {
    "Township": "township",
    "Village": "village",
    "MemberGroup": "group",
    "Member": "member",
    "CouncilTerm": "term",
    "Meeting": "meeting",
    "Household": "household",
}


_SERIALS = itertools.count(1)


def _value(column, day):
    """A valid value of one column from its declaration (choices, type, checks)."""
    choices = column.info.get("choices")
    if choices is not None:
        return choices.codes[0]
    kind = column.type
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, Date):
        return day
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, Numeric):
        return decimal.Decimal("1.5")
    if isinstance(kind, String | Text):
        # A serial of its own: two new rows never share a key (a register's unique line).
        length = getattr(kind, "length", None) or 16
        serial = str(next(_SERIALS))
        return f"测试{column.key}"[: length - len(serial)] + serial
    return None


def new_row(model, parts: dict, day=dt.date(2026, 5, 29)) -> dict:
    """A new row of ``model`` inside the scope ``parts`` gives (village, group, member…): every
    required column, the labelled ones too, from the field declarations."""
    values = {}
    for key, target in references(model).items():
        values[key] = parts[PARTS[target.__name__]]
    for column in inspect(model).columns:
        if column.key in values or column.primary_key or column.computed is not None:
            continue
        if column.foreign_keys or "label" not in column.info:
            continue
        value = _value(column, day)
        if value is not None:
            values[column.key] = value
    return values


def change(model):
    """A text column a test may change harmlessly, and the value it changes it to."""
    for column in model.__table__.columns:
        if isinstance(column.type, String | Text) and not column.foreign_keys:
            if "label" in column.info and column.info.get("choices") is None:
                if column.key not in ("id_number", "phone"):
                    return column.key, f"改名{column.key}"[: column.type.length or 16]
    raise AssertionError(f"{model.__name__} has no text column to change")
