"""Who is who, and may do what: the accounts, their scope and the role table.

Below the audit log (app/audit.py names the actor with ``user_scope`` and ``role_names``) and
above the models: nothing here imports the security manager, its views or the audit log.
``ROLE_RIGHTS`` is the role table of SPEC §1, served to FAB by ``security.fab_roles``;
``MASKED_FIELDS`` says which fields each role sees masked; ``ScopedUser`` is the account bound
to one scope, and ``user_scope`` turns it into a ``Scope``. The one scope filter built on it is
``security.scope_criteria``.
"""

import dataclasses
import datetime as dt

import click
from flask import current_app, g, has_request_context
from flask_appbuilder.models.sqla import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import DateTime, ForeignKey, Integer, String, event, false, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import generate_password_hash

from app import registry
from app.models import County, MemberGroup, Township, Village

READ, ADD, EDIT, DELETE, APPROVE = "read", "add", "edit", "delete", "approve"
# The roster page (app/roster_views.py): READ exports, IMPORT uploads; which registers a role
# exports or imports follows its rights on each register's model.
ROSTER, IMPORT = "Roster", "import"
# The compliance dashboard and its API (app/dashboard.py): READ sees it, EXPORT downloads reports.
COMPLIANCE, EXPORT = "Compliance", "export"
# Writes the fields a model declares ``__admin_only__`` (a village's figures): only "*" has it.
ADMIN_ONLY = "admin_only"
WRITE = (READ, ADD, EDIT)
ALL = (READ, ADD, EDIT, DELETE)

# SPEC §1-§2: what each rights group means per role (the Township reads every register, the
# Admin does everything). A register's block (app/views.py) names its group.
RIGHTS_GROUPS = {
    "township": {"President": (READ,), "Secretary": (READ,)},
    "village": {"President": (READ, EDIT), "Secretary": (READ,), "GroupLeader": (READ,)},
    "member_groups": {"President": ALL, "Secretary": WRITE, "GroupLeader": (READ,)},
    "members": {"President": ALL + (APPROVE,), "Secretary": WRITE, "GroupLeader": WRITE},
    "contact_households": {"President": ALL, "Secretary": ALL, "GroupLeader": ALL},
    # The council's terms and seats are the president's.
    "council": {"President": ALL, "Secretary": (READ,)},
    # Work records: the group's own meetings, activities and difficult-household survey (摸底),
    # which a group leader keeps too and deletes nothing of.
    "group_work": {"President": ALL, "Secretary": ALL, "GroupLeader": WRITE},
    # The secretary's day-to-day records.
    "day_to_day": {"President": ALL, "Secretary": ALL},
    # The archive (documents, awards, venues, funds) is the president's; the secretary reads it.
    "archive": {"President": ALL, "Secretary": (READ,)},
    # The township's branches and tasks, which a village reads.
    "township_records": {"President": (READ,), "Secretary": (READ,)},
    # Township tasks: the village reports its own done (issue 9).
    "task_reports": {"President": (READ, EDIT), "Secretary": (READ, EDIT)},
}

# What no register's block says: the audit log, the roster page, the compliance dashboard.
OTHER_RIGHTS = {
    "County": {"AuditLog": (READ,), ROSTER: (READ,), COMPLIANCE: (READ, EXPORT)},
    "Township": {"AuditLog": (READ,), ROSTER: (READ,), COMPLIANCE: (READ, EXPORT)},
    "President": {"AuditLog": (READ,), ROSTER: (READ, IMPORT), COMPLIANCE: (READ, EXPORT)},
    "Secretary": {"AuditLog": (READ,), ROSTER: (READ, IMPORT), COMPLIANCE: (READ, EXPORT)},
    # The village's compliance, read-only; reports hold registers a group leader may not read.
    "GroupLeader": {ROSTER: (READ, IMPORT), COMPLIANCE: (READ,)},
}


# The reports' pages in the 档案 menu (app/dashboard.py): each role that downloads reports
# (EXPORT on COMPLIANCE) sees them, no other.
REPORT_PAGES = ("ArchiveBook", "AnnualStatistics")


def role_rights() -> dict:
    """role → resource (model name) → actions, from the registers' rights groups. "*" is
    everything."""
    rights = {"Admin": "*", **{role: {} for role in OTHER_RIGHTS}}
    for register in registry.registers():
        # The auditors (the County over its townships, as the Township) read every register.
        for auditor in AUDITOR_ROLES:
            rights[auditor][register.name] = (READ,)
        for role, actions in RIGHTS_GROUPS[register.rights].items():
            rights[role][register.name] = actions
    for role, other in OTHER_RIGHTS.items():
        rights[role].update(other)
        if EXPORT in other.get(COMPLIANCE, ()):
            rights[role].update({page: (READ,) for page in REPORT_PAGES})
    return rights


# The role table of SPEC §1, built on first use (after the blocks are read).
ROLE_RIGHTS = registry.Derived(role_rights)

ROLE_LABELS = {
    "Admin": _l("System administrator"),
    "County": _l("County association (auditor)"),
    "Township": _l("Township association (auditor)"),
    "President": _l("President"),
    "Secretary": _l("Secretary-general"),
    "GroupLeader": _l("Group leader"),
    "system": _l("System (command line)"),
}

# The scope level each role is bound to (SPEC §1: exactly one per account).
ROLE_LEVEL = {
    "Admin": None,
    "County": "county",
    "Township": "township",
    "President": "village",
    "Secretary": "village",
    "GroupLeader": "group",
}

# Who reads a whole county or township, writes nothing, and sees what the Township role sees
# (SPEC §1, §4).
AUDITOR_ROLES = frozenset({"County", "Township"})
# Who sees ID numbers masked: the auditors and the group leaders.
MASKED_ROLES = AUDITOR_ROLES | {"GroupLeader"}

# Fields shown masked to these roles (SPEC §4); "Model.field" limits a rule to one register.
# One declaration serves lists, detail pages, forms, the API, exports, reports and the audit
# log; a role can neither sort nor search by a field it sees masked, nor change it, and an
# import does not tell it whether a value it sees masked is already stored.
MASKED_FIELDS = {
    "id_number": MASKED_ROLES,
    # The eight hidden digits of an ID number are the birth date: the year only (issue 15).
    "birth_date": MASKED_ROLES,
    "phone": AUDITOR_ROLES,
    # A special family's type and notes stay within the village.
    "Household.family_type": AUDITOR_ROLES,
    "Household.notes": AUDITOR_ROLES,
}


def bind(roles, county=None, township=None, village=None, group=None):
    """(county, township, village, group, problem): the scope an account with ``roles`` is
    bound to, or why it cannot be. The one rule of the user form and ``flask users create``
    (issue 17).

    The role's own level is required and is what is stored: a county account its county, a
    township account its township, a village account its village, a group leader her member
    group. A level above it may be given too (the CLI names a group by village and name, the
    form may have its village chosen) and must then contain it; nothing below it may be given.
    An administrator is bound to nothing.
    """
    refused = (None, None, None, None)
    levels = {ROLE_LEVEL.get(r, "unknown") for r in roles}
    if not roles:
        return *refused, _l("Give the account a role")
    if len(levels) != 1:
        return *refused, _l("An account has roles of one scope level only")
    level = levels.pop()
    if level == "unknown":
        return *refused, _l("Unknown role")
    given = {"county": county, "township": township, "village": village, "group": group}
    below = SCOPE_LEVELS[SCOPE_LEVELS.index(level) + 1 :] if level else SCOPE_LEVELS
    if any(given[name] is not None for name in below):
        return *refused, BOUND_ONLY[level]
    if level is None:
        return None, None, None, None, None
    own = given[level]
    if own is None:
        return *refused, BINDING_NEEDED[level]
    # The levels above, where given, must contain it.
    if level == "group" and village is not None and own.village_id != village.id:
        return *refused, _l(
            "%(group)s is not a group of %(village)s", group=own.name, village=village.name
        )
    village_of = own if level == "village" else (own.village if level == "group" else None)
    if township is not None and village_of is not None and village_of.township_id != township.id:
        return *refused, _l(
            "%(village)s is not in %(township)s", village=village_of.name, township=township.name
        )
    township_of = own if level == "township" else (village_of.township if village_of else None)
    if county is not None and township_of is not None and township_of.county_id != county.id:
        return *refused, _l(
            "%(township)s is not in %(county)s", township=township_of.name, county=county.name
        )
    return (*(own if level == name else None for name in SCOPE_LEVELS), None)


# The scope levels an account is bound at, from the widest.
SCOPE_LEVELS = ("county", "township", "village", "group")

# Refusals of ``bind``: a scope below the role's level, or none of its own level.
BOUND_ONLY = {
    None: _l("An administrator is bound to no county, township, village or group"),
    "county": _l("A county account is bound to one county, and no township, village or group"),
    "township": _l("A township account is bound to one township, and no village or group"),
    "village": _l("A village account is bound to one village, and no member group"),
}
BINDING_NEEDED = {
    "county": _l("A county account must be bound to its county"),
    "township": _l("A township account must be bound to its township"),
    "village": _l("A village account must be bound to its village"),
    "group": _l("A group leader's account must be bound to its member group"),
}


def binding_problem(roles, county, township, village, group):
    """Why a role set and a scope do not match (``bind``), or None."""
    return bind(roles, county, township, village, group)[4]


def group_label(group) -> str:
    """A member group named with its village (新檀村 第一组): group names repeat across villages."""
    return f"{group.village.name} {group.name}"


def role_label(name) -> str:
    """A role's name as the user reads it (会员小组长, not GroupLeader)."""
    return str(ROLE_LABELS.get(name, name))


def role_names(user) -> set:
    return {role.name for role in getattr(user, "roles", None) or []}


def can(user, action: str, resource: str) -> bool:
    """Whether one of the user's roles grants ``action`` on ``resource``."""
    for role in role_names(user):
        rights = ROLE_RIGHTS.get(role)
        if rights == "*" or action in (rights or {}).get(resource, ()):
            return True
    return False


def masks(field_name: str, user=None, model=None) -> bool:
    """Whether ``field_name`` (of ``model``; of any register if None) is shown masked."""
    user = user if user is not None else current_user()
    roles = role_names(user)
    if "Admin" in roles:
        return False
    if model is not None:
        rules = [field_name, f"{model.__name__}.{field_name}"]
    else:
        rules = [k for k in MASKED_FIELDS if k.rpartition(".")[2] == field_name]
    return any(roles & MASKED_FIELDS.get(rule, set()) for rule in rules)


# --- The user and the scope ---


class UserTwoFactor(Model):
    """An account's enrolled authenticator: the sealed secret and the last time step used."""

    __tablename__ = "user_twofactor"

    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(256))
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    enrolled_on: Mapped[dt.datetime] = mapped_column(DateTime)


class ScopedUser(User):
    """An account bound to one scope: a county, a township, a village or a member group."""

    __audited__ = True

    county_id: Mapped[int | None] = mapped_column(
        ForeignKey("county.id", name="fk_ab_user_county_id"), index=True
    )
    township_id: Mapped[int | None] = mapped_column(ForeignKey("township.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_group.id"), index=True)
    # Set when an administrator chose the password (a new account, a reset): the user must
    # choose their own before anything else (HTML and API). Accounts made otherwise are exempt.
    password_change_required: Mapped[bool] = mapped_column(default=False, server_default=false())

    county: Mapped[County | None] = relationship(foreign_keys=[county_id])
    township: Mapped[Township | None] = relationship(foreign_keys=[township_id])
    village: Mapped[Village | None] = relationship(foreign_keys=[village_id])
    group: Mapped[MemberGroup | None] = relationship(foreign_keys=[group_id])
    # The enrolled authenticator, if any (issue 7): read on every request (twofactor.needed),
    # so loaded with the account (SecurityManager.get_user_by_id). Written only by twofactor.
    twofactor_enrolment: Mapped[UserTwoFactor | None] = relationship(viewonly=True, uselist=False)
    # Every session cookie and JWT carries the value it was issued under, and one that no longer
    # matches is refused (SPEC §4): raised by a sign-out (end_sessions) and by the changes in
    # SESSION_ENDING_CHANGES. Read with the account, so the check costs no statement.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # What raised it is in the log already (the sign-out, the password, the role).
    __audit_exclude__ = ("session_epoch",)

    def get_full_name(self) -> str:
        """One real name (姓名, ``first_name``): FAB's last name — empty, or the "-" accounts
        made before issue 17 have — is not shown (the navigation bar, related records)."""
        last = "" if self.last_name in (None, "-") else self.last_name
        return f"{self.first_name} {last}".strip()

    @property
    def bound_scope(self) -> str:
        """The scope as the office names it: 古蔺县, 二郎镇, 新檀村, 新檀村 第一组 (blank: none)."""
        if "Admin" in role_names(self):
            return str(_l("All townships"))
        if self.group is not None:
            return group_label(self.group)
        bound = self.village or self.township or self.county
        return bound.name if bound is not None else ""


# E-mail is optional (issue 17): a village office has accounts without one. Stored as NULL,
# not "", so that accounts without one do not clash on FAB's unique index (migration 0012).
ScopedUser.__table__.c.email.nullable = True


# A new password (own or reset), another role or scope, and (de)activation end every session
# and token of the account; the scope's relationships as well as its columns, as forms set those.
SESSION_ENDING_CHANGES = (
    "password",
    "active",
    "roles",
    "county_id",
    "township_id",
    "village_id",
    "group_id",
    "county",
    "township",
    "village",
    "group",
)


@event.listens_for(ScopedUser, "before_update")
def _end_sessions_on_change(_mapper, _connection, user):
    """Whatever writes the account (the user form, FAB's password forms, a script), the epoch
    is raised here."""
    state = inspect(user)
    if any(state.attrs[key].history.has_changes() for key in SESSION_ENDING_CHANGES):
        user.session_epoch = (user.session_epoch or 0) + 1


def end_sessions(user) -> None:
    """End every session cookie and JWT of ``user`` (committed by the caller)."""
    user.session_epoch = (user.session_epoch or 0) + 1


@dataclasses.dataclass(frozen=True)
class Scope:
    """What a user may see: level 'all', 'county', 'township', 'village', 'group' or 'none'.

    ``county_id`` is set for a county scope only: a township below reads its county through
    its township (``security.scope_criteria``), not through a lookup on every request."""

    level: str
    county_id: int | None = None
    township_id: int | None = None
    village_id: int | None = None
    group_id: int | None = None

    def label(self) -> str:
        names = {
            "all": _l("All townships"),
            "none": _l("No scope assigned"),
        }
        if self.level in names:
            return str(names[self.level])
        session = current_app.appbuilder.session
        if self.level == "county":
            return session.get(County, self.county_id).name
        if self.level == "township":
            return session.get(Township, self.township_id).name
        village = session.get(Village, self.village_id)
        if self.level == "village":
            return village.name
        return f"{village.name} {session.get(MemberGroup, self.group_id).name}"


NO_SCOPE = Scope("none")


def user_scope(user) -> Scope:
    """The user's scope from role and binding; anything inconsistent is no scope at all."""
    if user is None or not getattr(user, "is_authenticated", False):
        return NO_SCOPE
    roles = role_names(user)
    if "Admin" in roles:
        return Scope("all")
    levels = {ROLE_LEVEL[r] for r in roles if r in ROLE_LEVEL}
    if len(levels) != 1:
        return NO_SCOPE
    level = levels.pop()
    if level == "county" and user.county_id:
        return Scope("county", county_id=user.county_id)
    if level == "township" and user.township_id:
        return Scope("township", township_id=user.township_id)
    if level == "village" and user.village_id:
        village = current_app.appbuilder.session.get(Village, user.village_id)
        if village is None:
            return NO_SCOPE
        return Scope("village", township_id=village.township_id, village_id=village.id)
    if level == "group" and user.group_id:
        group = current_app.appbuilder.session.get(MemberGroup, user.group_id)
        if group is None:
            return NO_SCOPE
        return Scope(
            "group",
            township_id=group.village.township_id,
            village_id=group.village_id,
            group_id=group.id,
        )
    return NO_SCOPE


def current_user():
    return getattr(g, "user", None) if has_request_context() else None


def current_scope() -> Scope:
    """The signed-in user's scope, computed once per request."""
    if not has_request_context():
        return NO_SCOPE
    if "scope" not in g:
        g.scope = user_scope(current_user())
    return g.scope


# --- Making accounts (the CLI, the demo) ---


def create_account(
    session,
    username,
    role,
    password,
    county=None,
    township=None,
    village=None,
    group=None,
    first_name="",
    email=None,
):
    """Add one scoped account (FAB's password hashing); the caller checked the binding.

    Made here with its scope in one insert, not by FAB's ``add_user``, which flushes the account
    before a scope can be bound: its audit entry would belong to no township (issue 15).
    """
    config = current_app.config
    user = current_app.appbuilder.sm.user_model(
        username=username,
        first_name=first_name or username,
        last_name="",
        email=email or None,
        active=True,
        roles=[ensure_roles(session)[role]],
        password=generate_password_hash(
            password,
            method=config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
            salt_length=config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16),
        ),
        county_id=county.id if county else None,
        township_id=township.id if township else None,
        village_id=village.id if village else None,
        group_id=group.id if group else None,
    )
    session.add(user)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise click.ClickException(_("Could not create %(name)s", name=username)) from exc
    return user


def ensure_roles(session):
    """The rows of the six built-in roles (their rights: ROLE_RIGHTS above)."""
    sm = current_app.appbuilder.sm
    return {name: sm.find_role(name) or sm.add_role(name) for name in ROLE_RIGHTS}
