"""One write path for every record, whatever the door (HTML form, list action, REST API, CLI).

``prepare_write`` takes the values a writer gave, fills what the scope implies, and returns the
field errors in the user's language; nothing is written unless it returns none.
"""

import datetime as dt

from flask_babel import lazy_gettext as _l
from sqlalchemy import String, inspect, select

from app import accounts, fields, inputs, security
from app.models import DECISION_STATUSES, Member
from app.validation import mask_birth_date, mask_id_number, mask_phone


def columns(model):
    return {c.key: c for c in inspect(model).columns}


def item_values(item) -> dict:
    """A record's column values as a dict, relationship changes folded into their columns."""
    model = type(item)
    values = {key: getattr(item, key) for key in columns(model)}
    for rel in inspect(model).relationships:
        if rel.uselist or len(rel.local_columns) != 1:
            continue
        local = next(iter(rel.local_columns)).key
        if local not in values or rel.key not in inspect(item).dict:
            continue
        target = getattr(item, rel.key)
        values[local] = target.id if target is not None else None
    return values


def apply_values(item, values: dict, session) -> None:
    """Write ``values`` back to ``item``, keeping each relationship in step with its column."""
    model = type(item)
    for rel in inspect(model).relationships:
        if rel.uselist or len(rel.local_columns) != 1:
            continue
        local = next(iter(rel.local_columns)).key
        if local in values and rel.key in inspect(item).dict:
            target = getattr(item, rel.key)
            if (target.id if target is not None else None) != values[local]:
                setattr(
                    item,
                    rel.key,
                    session.get(rel.mapper.class_, values[local]) if values[local] else None,
                )
    for key, value in values.items():
        if key != "id" and getattr(item, key) != value:
            setattr(item, key, value)


def unmask(model, values: dict, old: dict, user) -> None:
    """A masked value sent back unchanged, or left blank, keeps the stored value (SPEC §4
    masking): the form shows a birth date as its year, which no date field holds. The doors
    (machinery.masked_edit_errors) refuse any other value before it gets here."""
    maskers = {"id_number": mask_id_number, "birth_date": mask_birth_date, "phone": mask_phone}
    for field_name, masker in maskers.items():
        if field_name in values and accounts.masks(field_name, user) and old.get(field_name):
            if values[field_name] in (None, "", masker(old[field_name])):
                values[field_name] = old[field_name]


def value_errors(model, values: dict, filled: set) -> dict:
    """Required fields, lengths, choices, per-column checks and the model's own ``clean``."""
    errors = {}
    for key, column in columns(model).items():
        value = values.get(key)
        if isinstance(value, str):
            value = value.strip()
            values[key] = value or None
            value = values[key]
        if isinstance(value, str) and "\x00" in value:
            # PostgreSQL stores no NUL in text (a 500 there): refused on every database.
            errors[key] = _l("Text may not contain the NUL character (\\0)")
            continue
        if value is None:
            if fields.required(column) and key not in filled:
                errors[key] = _l("This field is required")
            continue
        if isinstance(column.type, String) and column.type.length:
            if len(str(value)) > column.type.length:
                errors[key] = _l("At most %(n)d characters", n=column.type.length)
                continue
        choices = column.info.get("choices")
        if choices is not None and value not in choices.codes:
            errors[key] = _l("Not a valid choice")
            continue
        check = column.info.get("check")
        problem = check(value) if check else None
        if problem:
            errors[key] = problem
    clean = getattr(model, "clean", None)
    if clean:
        for key, message in clean(values).items():
            errors.setdefault(key, message)
    return errors


def member_errors(values: dict, old: dict, user, session) -> dict:
    """Admission (seeds 003): only the president decides; one live membership per person."""
    errors = {}
    may_decide = accounts.can(user, accounts.APPROVE, "Member")
    new_status, old_status = values.get("status"), (old or {}).get("status")
    if not old:
        values["applied_on"] = values.get("applied_on") or dt.date.today()
        if not may_decide:
            values["status"] = new_status = "applied"
    if new_status != old_status and new_status in DECISION_STATUSES:
        if not may_decide:
            errors["status"] = _l("Only the president approves or rejects an application")
        else:
            values["approved_on"] = dt.date.today()
            values["approved_by_id"] = getattr(user, "id", None)
            if new_status == "active":
                values["join_date"] = values.get("join_date") or dt.date.today()
    # One who sees ID numbers masked is not told that a number is stored: "already a member"
    # would confirm a guessed number (first 6 + birth year + last 4 leave about 33). Their
    # application is filed; the president, who sees the number, meets the clash on approving
    # it. Masked roles never decide, and the database holds one active row per number.
    blind = accounts.masks("id_number", user, Member)
    if new_status in ("applied", "active") and values.get("id_number") and not blind:
        clash = session.execute(
            select(Member.id).where(
                Member.id_number == values["id_number"],
                Member.status.in_(("applied", "active")),
                Member.id != (values.get("id") or 0),
            )
        ).first()
        if clash:
            errors["id_number"] = _l(
                "This person is already a member, or has applied, in an association"
            )
    return errors


def prepare_write(model, values: dict, old: dict | None, user, session) -> dict:
    """Fill, then check a record about to be written; field → message for what is wrong."""
    # The record being checked must not be flushed half-made by a lookup's autoflush.
    with session.no_autoflush:
        return _prepare_write(model, values, old, user, session)


def number_errors(model, values: dict) -> dict:
    """Numbers past what their column holds on every database — an int4 id, reference or
    count, a Numeric(12, 2) amount — refused before any lookup or write (PostgreSQL answered
    a 500; SQLite stored them)."""
    errors = {}
    for key, column in columns(model).items():
        problem = inputs.number_problem(column.type, values.get(key))
        if problem:
            errors[key] = _l("No such record in your scope") if column.foreign_keys else problem
    return errors


def admin_only_errors(model, values: dict, old: dict | None, user) -> dict:
    """A field the model keeps for the Admin (``__admin_only__``) changed by anyone else."""
    admin_only = getattr(model, "__admin_only__", ())
    if not admin_only or accounts.can(user, accounts.ADMIN_ONLY, model.__name__):
        return {}
    before = old or {}
    return {
        key: _l("Only the administrator sets this field")
        for key in admin_only
        if values.get(key) != before.get(key)
    }


def _prepare_write(model, values, old, user, session):
    errors = number_errors(model, values) or admin_only_errors(model, values, old, user)
    if errors:
        return errors
    scope = accounts.user_scope(user)
    if old:
        unmask(model, values, old, user)
    fill = getattr(model, "fill", None)
    if fill:
        fill(values)
    before = {k for k, v in values.items() if v is not None}
    security.fill_scope(model, values, scope, session)
    filled = {k for k, v in values.items() if v is not None} - before
    errors = value_errors(model, values, filled)
    if not errors:
        errors = security.scope_errors(model, values, scope, session)
    if model is Member and not errors:
        errors = member_errors(values, old, user, session)
    return errors
