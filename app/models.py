"""The domain of SPEC §2: one class per table, grouped by section.

Each business model declares what it is scoped by (``__scope__``: scope level → column);
``app/security.py`` reads that declaration for every view, API, dropdown and write.
Enumerations store a stable code and show a translated label (``Choices``).
"""

import datetime as dt
from typing import Optional

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app import validation


class Choices:
    """An enumeration: ordered stable codes, each with a translated label."""

    def __init__(self, *pairs):
        self.pairs = pairs
        self.labels = dict(pairs)

    @property
    def codes(self):
        return [code for code, _label in self.pairs]

    def label(self, code):
        return self.labels.get(code, code)

    def by_label(self, text_value):
        """The code for a code, a zh label or an en label (case-insensitive), or None."""
        wanted = str(text_value).strip().lower()
        for code, label in self.pairs:
            if wanted in (code, str(label).lower()):
                return code
        return None


def field(label, *args, choices=None, check=None, **kwargs):
    """A mapped column carrying its translated label, its choices and its value check."""
    info = {"label": label}
    if choices is not None:
        info["choices"] = choices
    if check is not None:
        info["check"] = check
    return mapped_column(*args, info=info, **kwargs)


# --- Enumerations (SPEC §2 and §6) ---

GENDER = Choices(("male", _l("Male")), ("female", _l("Female")))
MEMBER_STATUS = Choices(
    ("applied", _l("Applied")),
    ("active", _l("Active")),
    ("rejected", _l("Rejected")),
    ("withdrawn", _l("Withdrawn")),
    ("advised_out", _l("Advised out")),
    ("deceased", _l("Deceased")),
)
LEAVING_STATUSES = ("withdrawn", "advised_out", "deceased")
DECISION_STATUSES = ("active", "rejected")
MEMBER_CATEGORY = Choices(
    ("elder", _l("Five elders")),
    ("activist", _l("Activist among residents of childbearing age")),
    ("backbone", _l("Production backbone")),
    ("entrepreneur", _l("Entrepreneur")),
    ("notable", _l("Community notable")),
    ("cadre", _l("Village cadre")),
    ("other", _l("Other")),
)
VILLAGE_KIND = Choices(("village", _l("Village")), ("community", _l("Community")))
SIZE_CLASS = Choices(
    ("standard", _l("Standard (5-3-3)")),
    ("small", _l("Small (3-2-1)")),
)
CONTACT_HOUSEHOLD_TYPE = Choices(
    ("family_planning", _l("Family-planning family")),
    ("difficult", _l("Household in difficulty")),
    ("migrant", _l("Migrant household")),
    ("special", _l("Special family-planning family")),
    ("other", _l("Other")),
)
SEAT_POSITION = Choices(
    ("president", _l("President")),
    ("executive_vice", _l("Executive vice-president")),
    ("vice_president", _l("Vice-president")),
    ("secretary", _l("Secretary-general")),
    ("director", _l("Council member")),
)
SEAT_COMPOSITION = Choices(
    ("elder", _l("Five elders")),
    ("notable", _l("Notable, entrepreneur or activist")),
    ("cadre", _l("Village cadre")),
)


class VillageRecord:
    """A record kept by one village."""

    __scope__ = {"village": "village_id"}
    __audited__ = True


class GroupRecord:
    """A record kept by one member group of a village."""

    __scope__ = {"village": "village_id", "group": "group_id"}
    __audited__ = True


# --- Organisation ---


class Township(Model):
    """乡镇: the township association that oversees its villages."""

    __label__ = _l("Townships")
    __tablename__ = "township"
    __scope__ = {"township": "id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = field(_l("Name"), String(64), unique=True)
    division_code: Mapped[str | None] = field(
        _l("Division code"), String(9), check=validation.division_code_problem
    )
    county: Mapped[str | None] = field(_l("County"), String(64))

    villages: Mapped[list["Village"]] = relationship(back_populates="township")

    def __repr__(self):
        return self.name


class Village(Model):
    """村/社区: one village association."""

    __label__ = _l("Villages")
    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("township_id", "name"),)
    __scope__ = {"township": "township_id", "village": "id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = field(_l("Township"), ForeignKey("township.id"), index=True)
    name: Mapped[str] = field(_l("Name"), String(64))
    kind: Mapped[str] = field(_l("Kind"), String(16), choices=VILLAGE_KIND, default="village")
    size_class: Mapped[str] = field(
        _l("Size class"), String(16), choices=SIZE_CLASS, default="standard"
    )
    households: Mapped[int | None] = field(_l("Households"), Integer)
    population: Mapped[int | None] = field(_l("Population"), Integer)
    married_women: Mapped[int | None] = field(_l("Married women of childbearing age"), Integer)
    address: Mapped[str | None] = field(_l("Address"), String(200))
    phone: Mapped[str | None] = field(_l("Phone"), String(32), check=validation.phone_problem)

    township: Mapped[Township] = relationship(back_populates="villages")
    groups: Mapped[list["MemberGroup"]] = relationship(
        back_populates="village", foreign_keys="MemberGroup.village_id"
    )

    def __repr__(self):
        return self.name


group_contact_head = Table(
    "group_contact_head",
    Model.metadata,
    Column("group_id", ForeignKey("member_group.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
)


class MemberGroup(Model):
    """会员小组: a member group of a village, with its leader and contact household heads."""

    __label__ = _l("Member groups")
    __tablename__ = "member_group"
    __table_args__ = (UniqueConstraint("village_id", "name"),)
    __scope__ = {"village": "village_id", "group": "id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    name: Mapped[str] = field(_l("Name"), String(64))
    leader_id: Mapped[int | None] = field(
        _l("Group leader"),
        ForeignKey("member.id", use_alter=True, name="fk_member_group_leader_id"),
    )

    village: Mapped[Village] = relationship(back_populates="groups", foreign_keys=[village_id])
    leader: Mapped[Optional["Member"]] = relationship(foreign_keys=[leader_id], post_update=True)
    contact_heads: Mapped[list["Member"]] = relationship(secondary=group_contact_head)
    members: Mapped[list["Member"]] = relationship(
        back_populates="group", foreign_keys="Member.group_id"
    )

    def __repr__(self):
        return self.name


class Member(GroupRecord, Model):
    """会员: a member of a village association, from application to leaving."""

    __label__ = _l("Members")
    __tablename__ = "member"
    __table_args__ = (
        # A person is an active member of at most one association (SPEC §2).
        Index(
            "uq_member_active_id_number",
            "id_number",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    name: Mapped[str] = field(_l("Full name"), String(32))
    gender: Mapped[str | None] = field(_l("Gender"), String(8), choices=GENDER)
    id_number: Mapped[str] = field(
        _l("ID number"), String(18), index=True, check=validation.id_number_problem
    )
    birth_date: Mapped[dt.date | None] = field(_l("Birth date"), Date)
    phone: Mapped[str | None] = field(_l("Phone"), String(32), check=validation.phone_problem)
    address: Mapped[str | None] = field(_l("Address"), String(200))
    category: Mapped[str] = field(
        _l("Category"), String(16), choices=MEMBER_CATEGORY, default="other"
    )
    party_member: Mapped[bool] = field(_l("Party member"), Boolean, default=False)
    volunteer: Mapped[bool] = field(_l("Volunteer"), Boolean, default=False)
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=MEMBER_STATUS, default="applied", index=True
    )
    join_date: Mapped[dt.date | None] = field(_l("Join date"), Date)
    applied_on: Mapped[dt.date | None] = field(_l("Applied on"), Date)
    approved_on: Mapped[dt.date | None] = field(_l("Approved on"), Date)
    approved_by_id: Mapped[int | None] = field(_l("Approved by"), ForeignKey("ab_user.id"))
    left_on: Mapped[dt.date | None] = field(_l("Left on"), Date)
    leave_reason: Mapped[str | None] = field(_l("Leave reason"), String(200))
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship(
        back_populates="members", foreign_keys=[group_id]
    )

    def __repr__(self):
        return self.name

    @classmethod
    def clean(cls, values: dict) -> dict:
        """Errors across fields: gender and birth date agree with the ID number; leaving."""
        errors = validation.id_agreement(values)
        status = values.get("status")
        if status in LEAVING_STATUSES and not values.get("left_on"):
            errors["left_on"] = _l("Give the date the member left")
        return errors

    @classmethod
    def fill(cls, values: dict) -> None:
        """Derive what the ID number says when the user left it blank."""
        number = validation.normalise_id_number(values.get("id_number"))
        values["id_number"] = number
        if number and not validation.id_number_problem(number):
            values["gender"] = values.get("gender") or validation.id_gender(number)
            values["birth_date"] = values.get("birth_date") or validation.id_birth_date(number)


class ContactHousehold(GroupRecord, Model):
    """联系户: a household that a member keeps in contact with."""

    __label__ = _l("Contact households")
    __tablename__ = "contact_household"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    member_id: Mapped[int] = field(_l("Contact member"), ForeignKey("member.id"), index=True)
    head_name: Mapped[str] = field(_l("Household head"), String(32))
    address: Mapped[str | None] = field(_l("Address"), String(200))
    phone: Mapped[str | None] = field(_l("Phone"), String(32), check=validation.phone_problem)
    household_type: Mapped[str] = field(
        _l("Household type"), String(24), choices=CONTACT_HOUSEHOLD_TYPE, default="other"
    )
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()
    member: Mapped[Member] = relationship()

    def __repr__(self):
        return self.head_name


class CouncilTerm(VillageRecord, Model):
    """理事会届次: one elected term of a village council."""

    __label__ = _l("Council terms")
    __tablename__ = "council_term"
    __table_args__ = (UniqueConstraint("village_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    number: Mapped[int] = field(_l("Term number"), Integer)
    elected_on: Mapped[dt.date] = field(_l("Elected on"), Date)
    term_end: Mapped[dt.date | None] = field(_l("Term ends"), Date)
    filed_on: Mapped[dt.date | None] = field(_l("Filed with township on"), Date)
    approval_ref: Mapped[str | None] = field(_l("Approval document"), String(100))

    village: Mapped[Village] = relationship()
    seats: Mapped[list["CouncilSeat"]] = relationship(back_populates="term")

    def __repr__(self):
        return str(_l("Term %(n)d", n=self.number or 0))

    @classmethod
    def clean(cls, values: dict) -> dict:
        elected, end = values.get("elected_on"), values.get("term_end")
        if elected and end and end <= elected:
            return {"term_end": _l("The term must end after the election date")}
        return {}


class CouncilSeat(VillageRecord, Model):
    """理事: a member's seat on a council term."""

    __label__ = _l("Council seats")
    __tablename__ = "council_seat"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    term_id: Mapped[int] = field(_l("Council term"), ForeignKey("council_term.id"), index=True)
    member_id: Mapped[int] = field(_l("Member"), ForeignKey("member.id"), index=True)
    position: Mapped[str] = field(
        _l("Position"), String(16), choices=SEAT_POSITION, default="director"
    )
    composition: Mapped[str] = field(_l("Composition"), String(16), choices=SEAT_COMPOSITION)
    day_job: Mapped[str | None] = field(_l("Day job"), String(64))

    village: Mapped[Village] = relationship()
    term: Mapped[CouncilTerm] = relationship(back_populates="seats")
    member: Mapped[Member] = relationship()

    def __repr__(self):
        return f"{self.member} · {SEAT_POSITION.label(self.position)}"


# --- Audit ---

AUDIT_ACTION = Choices(
    ("insert", _l("Added")),
    ("update", _l("Changed")),
    ("delete", _l("Deleted")),
    ("login", _l("Signed in")),
    ("login_failed", _l("Sign-in failed")),
    ("login_throttled", _l("Sign-in throttled")),
    ("logout", _l("Signed out")),
    ("export", _l("Exported")),
    ("reveal", _l("Full ID number shown")),
    ("prune", _l("Old entries pruned")),
)


class AuditLog(Model):
    """审计日志: one append-only, hash-chained entry per change, sign-in, export or reveal."""

    __label__ = _l("Audit log")
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_model_record", "model", "record_id"),)
    __scope__ = {"township": "township_id", "village": "village_id", "group": "group_id"}

    # Assigned by app.audit under the chain lock, so that the hash can cover it.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = field(_l("Time (UTC)"), index=True)
    user_id: Mapped[int | None] = field(_l("User id"), Integer)
    username: Mapped[str | None] = field(_l("User"), String(128), index=True)
    role: Mapped[str | None] = field(_l("Role"), String(64))
    scope: Mapped[str | None] = field(_l("Scope"), String(64))
    ip: Mapped[str | None] = field(_l("IP address"), String(45))
    endpoint: Mapped[str | None] = field(_l("Page, API or command"), String(200))
    action: Mapped[str] = field(_l("Action"), String(24), choices=AUDIT_ACTION, index=True)
    model: Mapped[str | None] = field(_l("Register"), String(64))
    record_id: Mapped[int | None] = field(_l("Record"), Integer)
    township_id: Mapped[int | None] = field(_l("Township"), Integer, index=True)
    village_id: Mapped[int | None] = field(_l("Village"), Integer, index=True)
    group_id: Mapped[int | None] = field(_l("Member group"), Integer, index=True)
    changes: Mapped[str | None] = field(_l("Changes"), Text)
    prev_hash: Mapped[str] = field(_l("Previous hash"), String(64))
    hash: Mapped[str] = field(_l("Hash"), String(64))

    def __repr__(self):
        return f"#{self.id}"


class AuditHead(Model):
    """The end of the audit chain: one row, locked by every writer so the chain cannot fork."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


BUSINESS_MODELS = (
    Township,
    Village,
    MemberGroup,
    Member,
    ContactHousehold,
    CouncilTerm,
    CouncilSeat,
)

# The registers an audit entry can name, with their labels.
REGISTERS = Choices(
    *((model.__name__, model.__label__) for model in BUSINESS_MODELS),
    ("ScopedUser", _l("Accounts")),
)
AuditLog.__table__.c.model.info["choices"] = REGISTERS
