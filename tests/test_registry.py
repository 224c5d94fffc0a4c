"""The registry (issue 16): a register is one block in app/views.py, and what is derived from the
blocks — the REST API, the menu, the rights — stays exactly what SPEC §6 and the tools know."""

import json
import pathlib

from flask_appbuilder import ModelRestApi

from app import registry
from app.accounts import MASKED_FIELDS
from app.masking import MASKERS
from app.models import BUSINESS_MODELS, UNREGISTERED
from app.resources import RESOURCES
from tests import registers

PINNED = pathlib.Path(__file__).parent / "data" / "api_columns.json"
KEYS = [
    "list_columns",
    "show_columns",
    "add_columns",
    "edit_columns",
    "search_columns",
    "order_columns",
    "include_route_methods",
    "base_order",
]


def _shape(api):
    shape = {"model": api.datamodel.obj.__name__}
    for key in KEYS:
        value = getattr(api, key)
        if isinstance(value, set):
            value = sorted(value)
        shape[key] = None if value is None else list(value)
    return shape


def test_every_api_resource_keeps_its_pinned_columns(app):
    served = {
        api.resource_name: _shape(api)
        for api in app.appbuilder.baseviews
        if isinstance(api, ModelRestApi)
    }
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert sorted(served) == sorted(pinned)
    for name, shape in pinned.items():
        assert served[name] == shape, name


def test_every_scoped_model_is_declared_once():
    declared = registry.models()
    assert len(declared) == len(set(declared))
    assert set(declared) | set(UNREGISTERED) == set(BUSINESS_MODELS)
    assert registry.undeclared() == []


def test_the_sweeps_lists_are_the_registrys():
    """The scope, audit, import and masking sweeps take their registers from tests/registers.py
    (each sweep also checks its own list: test_scoping, test_import_kinds, test_masking)."""
    assert registers.registered() == registry.models()
    assert set(registers.swept()) | {
        m for m in registry.models() if m.__name__ in registers.ABOVE_VILLAGES
    } == set(registry.models())
    assert registers.rosters() == {k: r.model for k, r in RESOURCES.items()}
    everyone = {"township": "Township", "group": "GroupLeader", "secretary": "Secretary"}
    cases = registers.masked_columns(everyone)
    assert {u for _m, _k, u in cases} == {"township", "group"}
    assert {(m.__name__, k) for m, k, _u in cases} >= {
        (m.__name__, "id_number") for m in registry.models() if "id_number" in m.__table__.columns
    }


def test_every_masking_rule_names_a_registered_column_with_a_masker():
    """A rule for a register not declared, or a field without a masker, would mask nothing."""
    columns = {(m.__name__, c.key) for m in registry.models() for c in m.__table__.columns}
    for rule in MASKED_FIELDS:
        model_name, _dot, key = rule.rpartition(".")
        assert key in MASKERS, rule
        assert any(key == k and model_name in ("", name) for name, k in columns), rule


def test_a_roster_read_off_the_declarations_follows_them():
    """``resources.from_fields``: a column's reading, choices and whether a row must give it come
    from the model's declaration; the block gives only the headers villages write."""
    from app import models, resources

    derived = resources.from_fields(
        models.Assistance,
        kind="test_assistance",
        title="帮扶记录",
        natural_key=("household_id", "date"),
        headers={
            "household_id": ("帮扶对象",),
            "date": ("帮扶日期",),
            "kind": ("帮扶方式",),
            "money": ("金额",),
            "notes": ("备注",),
        },
    )
    columns = {c.name: c for c in derived.columns}
    assert {n: c.kind for n, c in columns.items()} == {
        "household_id": "lookup",
        "date": "date",
        "kind": "choice",
        "money": "decimal",
        "notes": "text",
    }
    # NOT NULL without a default: required.
    assert [n for n, c in columns.items() if c.required] == ["household_id", "date", "kind"]
    assert columns["kind"].choices is models.ASSISTANCE_KIND
    assert columns["household_id"].lookup.model is models.Household
    # The villages' header first (an exported sheet's heading), then the English label.
    assert columns["money"].aliases == ("金额", "money (yuan)")
    # The surveys' KIND is read off its model: the same columns as its declaration says.
    surveys = {c.name: (c.kind, c.required) for c in resources.SURVEYS.columns}
    assert surveys == {
        "year": ("int", True),
        "kind": ("choice", True),
        "asked": ("int", True),
        "answered_well": ("int", True),
        "surveyed_on": ("date", False),
        "notes": ("text", False),
    }
