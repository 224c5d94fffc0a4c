"""The domain of SPEC §2: one class per table, grouped by section.

Each business model declares what it is scoped by (``__scope__``: scope level → column);
``app/security.py`` reads that declaration for every view, API, dropdown and write.
Enumerations store a stable code and show a translated label (``Choices``). What the classes
are declared with (``field()``, ``Choices``, the village and group record mixins) lives in
``app/fields.py``, so that this module holds the registers alone.
"""

import datetime as dt
import decimal
from typing import Optional

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    Boolean,
    Column,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    select,
    text,
)
from sqlalchemy.ext.hybrid import Comparator, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from app import validation
from app.audit_tables import AuditLog
from app.codes import (  # noqa: F401 — the registers' enumerations, read as app.models.X too
    ACTIVITY_KIND,
    AGREEMENT_STATUS,
    ASSISTANCE_KIND,
    AWARD_KIND,
    AWARD_LEVEL,
    BENEFIT_KIND,
    BENEFIT_STATUS,
    COMPLAINT_CHANNEL,
    COMPLAINT_KIND,
    COMPLAINT_OPEN,
    COMPLAINT_STATUS,
    CONTACT_HOUSEHOLD_TYPE,
    DECISION_STATUSES,
    DIFFICULTY,
    DOCUMENT_KIND,
    FAMILY_TYPE,
    FUND_CATEGORY,
    FUND_DIRECTION,
    GENDER,
    HOUSEHOLD_STATUS,
    LEAVING_STATUSES,
    MEETING_TYPE,
    MEMBER_CATEGORY,
    MEMBER_STATUS,
    NOTICE_KIND,
    RESOLUTION_STATUS,
    SEAT_COMPOSITION,
    SEAT_POSITION,
    SIZE_CLASS,
    SPECIAL_FAMILY_TYPES,
    SURVEY_KIND,
    TASK_STATUS,
    VENUE_KIND,
    VILLAGE_KIND,
    VOLUNTEER_KIND,
    complaint_deadline,
)
from app.crypto import Encrypted, EncryptedText
from app.fields import Choices, GroupRecord, VillageRecord, field

# --- Organisation ---


class County(Model):
    """县: the county association (县计生协) that oversees its townships."""

    __label__ = _l("Counties")
    __tablename__ = "county"
    __scope__ = {"county": "id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = field(_l("Name"), String(64), unique=True)
    division_code: Mapped[str | None] = field(
        _l("Division code"), String(6), check=validation.county_division_code_problem
    )

    townships: Mapped[list["Township"]] = relationship(back_populates="county")

    def __repr__(self):
        return self.name


class Township(Model):
    """乡镇: the township association that oversees its villages."""

    __label__ = _l("Townships")
    __tablename__ = "township"
    __scope__ = {"county": "county_id", "township": "id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = field(_l("Name"), String(64), unique=True)
    division_code: Mapped[str | None] = field(
        _l("Division code"), String(9), check=validation.division_code_problem
    )
    # Nullable in the database: a township from before counties (migration 0014 names the
    # county its free text gave, and a database without one keeps none); once a county is
    # registered, every write names one (``clean``).
    county_id: Mapped[int | None] = field(
        _l("County"), ForeignKey("county.id", name="fk_township_county_id"), index=True
    )

    county: Mapped[County | None] = relationship(back_populates="townships")
    villages: Mapped[list["Village"]] = relationship(back_populates="township")

    def __repr__(self):
        return self.name

    @classmethod
    def clean(cls, values: dict) -> dict:
        if values.get("county_id") is None:
            from flask import current_app

            session = current_app.appbuilder.session
            if session.execute(select(County.id).limit(1)).first() is not None:
                return {"county_id": _l("Choose the county the township belongs to")}
        return {}


class Village(Model):
    """村/社区: one village association."""

    __label__ = _l("Villages")
    __tablename__ = "village"
    __table_args__ = (UniqueConstraint("township_id", "name"),)
    __scope__ = {"township": "township_id", "village": "id"}
    __audited__ = True
    # What the township judges the village by (the norms' denominators, SPEC §1): set by the
    # Admin alone; the village's own roles keep its address and phone up to date.
    __admin_only__ = (
        "township_id",
        "branch_id",
        "name",
        "kind",
        "size_class",
        "households",
        "population",
        "married_women",
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = field(_l("Township"), ForeignKey("township.id"), index=True)
    branch_id: Mapped[int | None] = field(
        _l("Branch"), ForeignKey("branch.id", name="fk_village_branch_id"), index=True
    )
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
    branch: Mapped[Optional["Branch"]] = relationship(back_populates="villages")
    groups: Mapped[list["MemberGroup"]] = relationship(
        back_populates="village", foreign_keys="MemberGroup.village_id"
    )

    def __repr__(self):
        return self.name

    @classmethod
    def clean(cls, values: dict) -> dict:
        branch_id, township_id = values.get("branch_id"), values.get("township_id")
        if branch_id and township_id:
            from flask import current_app

            owner = current_app.appbuilder.session.execute(
                select(Branch.township_id).where(Branch.id == branch_id)
            ).scalar()
            if owner is not None and owner != township_id:
                return {"branch_id": _l("This branch belongs to another township")}
        return {}


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
        # On the ID number's keyed hash: the number itself is encrypted (issue 7).
        Index(
            "uq_member_active_id_number",
            "id_number_hash",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # A village's members of one status: the norms of one township of a county (R5).
        Index("ix_member_village_status", "village_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    name: Mapped[str] = field(_l("Full name"), String(32))
    gender: Mapped[str | None] = field(_l("Gender"), String(8), choices=GENDER)
    id_number: Mapped[str] = field(
        _l("ID number"), Encrypted(18, hashed=True), check=validation.id_number_problem
    )
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
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


# --- Work records (SPEC §2, seeds 000 Art. 12-13) ---


# Who attended a meeting, who took part in an activity.
meeting_attendee = Table(
    "meeting_attendee",
    Model.metadata,
    Column("meeting_id", ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
)
activity_participant = Table(
    "activity_participant",
    Model.metadata,
    Column("activity_id", ForeignKey("activity.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
)


class Meeting(GroupRecord, Model):
    """会议: a meeting of the village association or of one member group, with its minutes."""

    __label__ = _l("Meetings")
    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    type: Mapped[str] = field(_l("Meeting type"), String(16), choices=MEETING_TYPE, index=True)
    date: Mapped[dt.date] = field(_l("Date"), Date, index=True)
    place: Mapped[str | None] = field(_l("Place"), String(100))
    chair: Mapped[str | None] = field(_l("Chair"), String(32))
    recorder: Mapped[str | None] = field(_l("Recorder"), String(32))
    other_attendees: Mapped[str | None] = field(_l("Other attendees"), Text)
    topics: Mapped[str | None] = field(_l("Topics"), Text)
    minutes: Mapped[str | None] = field(_l("Minutes"), Text)
    sent_to_township_on: Mapped[dt.date | None] = field(_l("Sent to township on"), Date)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()
    attendees: Mapped[list[Member]] = relationship(secondary=meeting_attendee)
    resolutions: Mapped[list["Resolution"]] = relationship(back_populates="meeting")

    def __repr__(self):
        return f"{self.date} {MEETING_TYPE.label(self.type)}"


class Resolution(VillageRecord, Model):
    """决议: a decision of a meeting, followed up by its owner until done (Art. 15)."""

    __label__ = _l("Resolutions")
    __tablename__ = "resolution"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    meeting_id: Mapped[int] = field(_l("Meeting"), ForeignKey("meeting.id"), index=True)
    text: Mapped[str] = field(_l("Resolution"), Text)
    owner: Mapped[str | None] = field(_l("Owner"), String(32))
    due_date: Mapped[dt.date | None] = field(_l("Due date"), Date)
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=RESOLUTION_STATUS, default="open", index=True
    )
    done_on: Mapped[dt.date | None] = field(_l("Done on"), Date)

    village: Mapped[Village] = relationship()
    meeting: Mapped[Meeting] = relationship(back_populates="resolutions")

    def __repr__(self):
        return (self.text or "")[:30]

    @property
    def overdue(self) -> bool:
        return self.status == "open" and bool(self.due_date) and self.due_date < dt.date.today()

    @classmethod
    def clean(cls, values: dict) -> dict:
        if values.get("status") == "done" and not values.get("done_on"):
            return {"done_on": _l("Give the date it was done")}
        return {}


class Activity(GroupRecord, Model):
    """活动: an activity of the association or of one member group, with who took part."""

    __label__ = _l("Activities")
    __tablename__ = "activity"
    __attachments__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=ACTIVITY_KIND, index=True)
    theme: Mapped[str | None] = field(_l("Theme"), String(100))
    date: Mapped[dt.date] = field(_l("Date"), Date, index=True)
    place: Mapped[str | None] = field(_l("Place"), String(100))
    participants_count: Mapped[int | None] = field(_l("Number of participants"), Integer)
    materials: Mapped[str | None] = field(_l("Materials handed out"), Text)
    description: Mapped[str | None] = field(_l("Description"), Text)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()
    participants: Mapped[list[Member]] = relationship(secondary=activity_participant)

    def __repr__(self):
        return f"{self.date} {self.theme or ACTIVITY_KIND.label(self.kind)}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        count = values.get("participants_count")
        if count is not None and count < 0:
            return {"participants_count": _l("Cannot be negative")}
        return {}


class Household(GroupRecord, Model):
    """计生家庭(帮扶对象): a family the association looks after, special families included."""

    __label__ = _l("Family-planning households")
    __tablename__ = "household"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    head_name: Mapped[str] = field(_l("Household head"), String(32))
    id_number: Mapped[str | None] = field(
        _l("Head's ID number"), Encrypted(18, hashed=True), check=validation.id_number_problem
    )
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Encrypted at rest (issue 7); whether the family is special stays in clear (``special``).
    family_type: Mapped[str] = field(
        _l("Family type"), Encrypted(24), choices=FAMILY_TYPE, default="other"
    )
    special: Mapped[bool] = field(_l("Special family"), Boolean, default=False, index=True)
    difficulty: Mapped[str | None] = field(_l("Difficulty"), Encrypted(16), choices=DIFFICULTY)
    size: Mapped[int | None] = field(_l("Household size"), Integer)
    address: Mapped[str | None] = field(_l("Address"), String(200))
    phone: Mapped[str | None] = field(_l("Phone"), String(32), check=validation.phone_problem)
    surveyed_on: Mapped[dt.date | None] = field(_l("Surveyed on"), Date)
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=HOUSEHOLD_STATUS, default="needs_help", index=True
    )
    paired_member_id: Mapped[int | None] = field(
        _l("Paired member (一帮一)"), ForeignKey("member.id"), index=True
    )
    township_contact: Mapped[str | None] = field(_l("Township contact person"), String(32))
    village_contact: Mapped[str | None] = field(_l("Village contact person"), String(32))
    family_doctor: Mapped[bool] = field(_l("Family-doctor contract"), Boolean, default=False)
    notes: Mapped[str | None] = field(_l("Notes"), EncryptedText())

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()
    paired_member: Mapped[Member | None] = relationship()
    assistance: Mapped[list["Assistance"]] = relationship(back_populates="household")

    def __repr__(self):
        return self.head_name

    @validates("family_type")
    def _derive_special(self, _key, value):
        """The clear ``special`` flag follows the encrypted family type (issue 7)."""
        self.special = value in SPECIAL_FAMILY_TYPES
        return value

    @classmethod
    def derive_columns(cls, columns: dict) -> None:
        """``special`` for the bulk writers, which bypass the ORM."""
        if "family_type" in columns:
            columns["special"] = [t in SPECIAL_FAMILY_TYPES for t in columns["family_type"]]


class Assistance(VillageRecord, Model):
    """帮扶记录: one act of help given to a household."""

    __label__ = _l("Assistance records")
    __tablename__ = "assistance"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    household_id: Mapped[int] = field(_l("Household"), ForeignKey("household.id"), index=True)
    date: Mapped[dt.date] = field(_l("Date"), Date, index=True)
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=ASSISTANCE_KIND, index=True)
    money: Mapped[decimal.Decimal | None] = field(_l("Money (yuan)"), Numeric(12, 2))
    goods: Mapped[str | None] = field(_l("Goods"), String(200))
    provided_by: Mapped[str | None] = field(_l("Provided by"), String(64))
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()
    household: Mapped[Household] = relationship(back_populates="assistance")

    def __repr__(self):
        return f"{self.date} {ASSISTANCE_KIND.label(self.kind)}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        money = values.get("money")
        if money is not None and money < 0:
            return {"money": _l("Cannot be negative")}
        return {}


class Benefit(VillageRecord, Model):
    """优待·奖扶名册: a person on a benefit roster."""

    __label__ = _l("Benefit rosters")
    __tablename__ = "benefit"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    person_name: Mapped[str] = field(_l("Full name"), String(32))
    id_number: Mapped[str | None] = field(
        _l("ID number"), Encrypted(18, hashed=True), check=validation.id_number_problem
    )
    id_number_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    household_id: Mapped[int | None] = field(_l("Household"), ForeignKey("household.id"))
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=BENEFIT_KIND)
    certificate_no: Mapped[str | None] = field(_l("Certificate number"), String(64))
    year: Mapped[int] = field(_l("Year"), Integer, index=True)
    amount: Mapped[decimal.Decimal | None] = field(_l("Amount (yuan)"), Numeric(12, 2))
    status: Mapped[str] = field(_l("Status"), String(16), choices=BENEFIT_STATUS, default="active")

    village: Mapped[Village] = relationship()
    household: Mapped[Household | None] = relationship()

    def __repr__(self):
        return self.person_name


class Agreement(VillageRecord, Model):
    """村民自治协议书: a self-governance agreement signed with a household."""

    __label__ = _l("Self-governance agreements")
    __tablename__ = "agreement"
    # A village's agreements in force: the norms of one township of a county (R16).
    __table_args__ = (Index("ix_agreement_village_status", "village_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    household_id: Mapped[int | None] = field(_l("Household"), ForeignKey("household.id"))
    party_name: Mapped[str] = field(_l("Signed by"), String(64))
    signed_on: Mapped[dt.date] = field(_l("Signed on"), Date)
    expires_on: Mapped[dt.date | None] = field(_l("Expires on"), Date)
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=AGREEMENT_STATUS, default="in_force", index=True
    )
    review_notes: Mapped[str | None] = field(_l("Monthly review notes"), Text)

    village: Mapped[Village] = relationship()
    household: Mapped[Household | None] = relationship()

    def __repr__(self):
        return self.party_name

    @classmethod
    def clean(cls, values: dict) -> dict:
        signed, expires = values.get("signed_on"), values.get("expires_on")
        if signed and expires and expires < signed:
            return {"expires_on": _l("Cannot expire before it was signed")}
        return {}


class Document(VillageRecord, Model):
    """档案文件: a document of the village archive (charter, plans, summaries, approvals …)."""

    __label__ = _l("Documents")
    __tablename__ = "document"
    __attachments__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=DOCUMENT_KIND, index=True)
    title: Mapped[str] = field(_l("Title"), String(200))
    year: Mapped[int | None] = field(_l("Year"), Integer, index=True)
    adopted_on: Mapped[dt.date | None] = field(_l("Adopted on"), Date)
    adopted_by: Mapped[str | None] = field(_l("Adopted by"), String(100))
    filed_on: Mapped[dt.date | None] = field(_l("Filed with township on"), Date)
    body: Mapped[str | None] = field(_l("Text"), Text)

    village: Mapped[Village] = relationship()

    def __repr__(self):
        return self.title


class Complaint(VillageRecord, Model):
    """咨询投诉: a consultation or complaint and how it was handled."""

    __label__ = _l("Consultations and complaints")
    __tablename__ = "complaint"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    received_on: Mapped[dt.date] = field(_l("Received on"), Date, index=True)
    channel: Mapped[str] = field(_l("Channel"), String(16), choices=COMPLAINT_CHANNEL)
    kind: Mapped[str] = field(_l("Kind"), String(16), choices=COMPLAINT_KIND)
    complainant: Mapped[str | None] = field(_l("Complainant"), String(32))
    phone: Mapped[str | None] = field(_l("Phone"), String(32), check=validation.phone_problem)
    description: Mapped[str] = field(_l("Description"), Text)
    handler: Mapped[str | None] = field(_l("Handled by"), String(32))
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=COMPLAINT_STATUS, default="received", index=True
    )
    resolution: Mapped[str | None] = field(_l("Outcome"), Text)
    resolved_on: Mapped[dt.date | None] = field(_l("Resolved on"), Date)

    village: Mapped[Village] = relationship()

    def __repr__(self):
        return f"{self.received_on} {COMPLAINT_KIND.label(self.kind)}"

    @property
    def overdue(self) -> bool:
        """Unresolved past the deadline (COMPLAINT_DEADLINE_DAYS, 30 by default)."""
        return self.status in COMPLAINT_OPEN and self.received_on < complaint_deadline()

    @classmethod
    def clean(cls, values: dict) -> dict:
        if values.get("status") == "resolved" and not values.get("resolved_on"):
            return {"resolved_on": _l("Give the date it was resolved")}
        return {}


class Award(VillageRecord, Model):
    """评选表彰: an award given to a member, a group or a household."""

    __label__ = _l("Awards")
    __tablename__ = "award"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    year: Mapped[int] = field(_l("Year"), Integer, index=True)
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=AWARD_KIND)
    member_id: Mapped[int | None] = field(_l("Member"), ForeignKey("member.id"), index=True)
    group_id: Mapped[int | None] = field(_l("Member group"), ForeignKey("member_group.id"))
    recipient_name: Mapped[str | None] = field(_l("Recipient"), String(64))
    level: Mapped[str] = field(_l("Level"), String(16), choices=AWARD_LEVEL, default="village")
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()
    member: Mapped[Member | None] = relationship()
    group: Mapped[MemberGroup | None] = relationship()

    def __repr__(self):
        return f"{self.year} {AWARD_KIND.label(self.kind)}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        if not (values.get("member_id") or values.get("group_id") or values.get("recipient_name")):
            return {"recipient_name": _l("Name a member, a group or a recipient")}
        return {}


class Venue(GroupRecord, Model):
    """阵地: an office, activity room or member group home, checked with its signage."""

    __label__ = _l("Venues")
    __tablename__ = "venue"
    __attachments__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=VENUE_KIND)
    signage: Mapped[bool] = field(_l("Signage"), Boolean, default=False)
    facilities: Mapped[str | None] = field(_l("Facilities"), Text)
    area: Mapped[decimal.Decimal | None] = field(_l("Area (m²)"), Numeric(8, 1))
    checked_on: Mapped[dt.date | None] = field(_l("Checked on"), Date)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()

    def __repr__(self):
        return str(VENUE_KIND.label(self.kind))


class Notice(VillageRecord, Model):
    """公开栏: a notice published on the village's public board."""

    __label__ = _l("Public notices")
    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    title: Mapped[str] = field(_l("Title"), String(200))
    body: Mapped[str | None] = field(_l("Text"), Text)
    kind: Mapped[str] = field(_l("Kind"), String(16), choices=NOTICE_KIND, default="other")
    published_on: Mapped[dt.date] = field(_l("Published on"), Date, index=True)

    village: Mapped[Village] = relationship()

    def __repr__(self):
        return self.title


class FundEntry(VillageRecord, Model):
    """经费: one income or expense of the association's funds."""

    __label__ = _l("Funds")
    __tablename__ = "fund_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    date: Mapped[dt.date] = field(_l("Date"), Date, index=True)
    direction: Mapped[str] = field(_l("Income or expense"), String(8), choices=FUND_DIRECTION)
    category: Mapped[str] = field(_l("Category"), String(16), choices=FUND_CATEGORY)
    amount: Mapped[decimal.Decimal] = field(_l("Amount (yuan)"), Numeric(12, 2))
    description: Mapped[str | None] = field(_l("Description"), String(200))
    handled_by: Mapped[str | None] = field(_l("Handled by"), String(32))

    village: Mapped[Village] = relationship()

    def __repr__(self):
        return f"{self.date} {self.amount}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        amount = values.get("amount")
        if amount is not None and amount <= 0:
            return {"amount": _l("Give a positive amount; choose income or expense")}
        return {}


class Branch(Model):
    """分会(责任区): a responsibility zone of a township, grouping some of its villages."""

    __label__ = _l("Branches")
    __tablename__ = "branch"
    __table_args__ = (UniqueConstraint("township_id", "name"),)
    # The message (and its field) for a write that would break the unique constraint.
    __unique__ = {("township_id", "name"): ("name", _l("A branch of that name exists"))}
    __scope__ = {"township": "township_id"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = field(_l("Township"), ForeignKey("township.id"), index=True)
    name: Mapped[str] = field(_l("Name"), String(64))
    head: Mapped[str | None] = field(_l("Head"), String(32))

    township: Mapped[Township] = relationship()
    villages: Mapped[list["Village"]] = relationship(back_populates="branch")

    def __repr__(self):
        return self.name


# --- Township tasks and surveys (issue 9; seeds 000 Art. 8.13, 002 standards 3, 4, 7) ---


class AssignedVillage(Comparator):
    """``Task.assigned_village == village_id``: the tasks assigned to that village."""

    def __eq__(self, village_id):
        return self.expression.in_(
            select(TaskAssignment.task_id).where(TaskAssignment.village_id == village_id)
        )


class Task(Model):
    """上级交办任务: work the township assigns to some or all of its villages."""

    __label__ = _l("Township tasks")
    __tablename__ = "task"
    # A village sees the tasks assigned to it, a township all of its own.
    __scope__ = {"township": "township_id", "village": "assigned_village"}
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = field(_l("Township"), ForeignKey("township.id"), index=True)
    title: Mapped[str] = field(_l("Title"), String(200))
    body: Mapped[str | None] = field(_l("Text"), Text)
    due_date: Mapped[dt.date] = field(_l("Due date"), Date, index=True)
    assigned_on: Mapped[dt.date | None] = field(_l("Assigned on"), Date)
    # The task's own file (a notice, a form to fill in), checked and stored by app.uploads.
    file_name: Mapped[str | None] = field(_l("File"), String(200))
    file_stored: Mapped[str | None] = field(_l("Stored as"), String(64), unique=True)
    file_type: Mapped[str | None] = field(_l("File type"), String(100))

    township: Mapped[Township] = relationship()
    assignments: Mapped[list["TaskAssignment"]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskAssignment.village_id"
    )

    def __repr__(self):
        return self.title

    @hybrid_property
    def assigned_village(self):
        return [a.village_id for a in self.assignments]

    @assigned_village.comparator
    def assigned_village(cls):
        return AssignedVillage(cls.id)


class TaskAssignment(VillageRecord, Model):
    """A task as one village has it: open or done, when, with a note and attachments."""

    __label__ = _l("Tasks of the villages")
    __tablename__ = "task_assignment"
    __table_args__ = (UniqueConstraint("task_id", "village_id"),)
    __attachments__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = field(_l("Task"), ForeignKey("task.id"), index=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    status: Mapped[str] = field(
        _l("Status"), String(16), choices=TASK_STATUS, default="open", index=True
    )
    done_on: Mapped[dt.date | None] = field(_l("Done on"), Date)
    note: Mapped[str | None] = field(_l("Note"), Text)

    task: Mapped[Task] = relationship(back_populates="assignments")
    village: Mapped[Village] = relationship()

    def __repr__(self):
        return f"{self.task} · {self.village}"

    @property
    def due_date(self) -> dt.date | None:
        return self.task.due_date if self.task is not None else None

    def overdue_on(self, day: dt.date) -> bool:
        """Open after its due date: due today is not overdue yet, due yesterday is."""
        return self.status == "open" and self.due_date is not None and self.due_date < day

    @property
    def overdue(self) -> bool:
        return self.overdue_on(dt.date.today())

    @classmethod
    def fill(cls, values: dict) -> None:
        """Reported done without a date: done today, as the report page has it."""
        if values.get("status") == "done" and not values.get("done_on"):
            values["done_on"] = dt.date.today()

    @classmethod
    def clean(cls, values: dict) -> dict:
        if values.get("status") == "done" and not values.get("done_on"):
            return {"done_on": _l("Give the date it was done")}
        if values.get("status") == "open" and values.get("done_on"):
            return {"done_on": _l("An open task has no completion date")}
        return {}


class Survey(VillageRecord, Model):
    """知晓率·满意度调查: how many were asked and how many answered well, by year and kind."""

    __label__ = _l("Knowledge and satisfaction surveys")
    __tablename__ = "survey"
    __table_args__ = (UniqueConstraint("village_id", "year", "kind"),)
    __unique__ = {("village_id", "year", "kind"): ("kind", _l("Already recorded for this year"))}

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    year: Mapped[int] = field(_l("Year"), Integer, index=True)
    kind: Mapped[str] = field(_l("Kind"), String(24), choices=SURVEY_KIND, index=True)
    asked: Mapped[int] = field(_l("People asked"), Integer)
    answered_well: Mapped[int] = field(_l("People answering well"), Integer)
    # Worked out by the database, whatever writes the counts (form, API, a bulk import).
    rate: Mapped[decimal.Decimal | None] = field(
        _l("Rate (%)"),
        Numeric(5, 1),
        Computed(
            "CASE WHEN asked > 0 THEN ROUND(answered_well * 100.0 / asked, 1) END", persisted=True
        ),
    )
    surveyed_on: Mapped[dt.date | None] = field(_l("Surveyed on"), Date)
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()

    def __repr__(self):
        return f"{self.year} {SURVEY_KIND.label(self.kind)}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        errors = {}
        asked, well, year = values.get("asked"), values.get("answered_well"), values.get("year")
        if asked is not None and asked <= 0:
            errors["asked"] = _l("At least one person must have been asked")
        if well is not None and well < 0:
            errors["answered_well"] = _l("Cannot be negative")
        elif well is not None and asked is not None and well > asked:
            errors["answered_well"] = _l("Cannot be more than the people asked")
        if year is not None and not 2000 <= year <= 2100:
            errors["year"] = _l("Give a year between 2000 and 2100")
        return errors


class VolunteerService(GroupRecord, Model):
    """志愿服务记录: a member's (or another volunteer's) hours of service (seeds 000 Art. 8.9)."""

    __label__ = _l("Volunteer service")
    __tablename__ = "volunteer_service"
    # One line per volunteer, day and kind of service within a group (the hours added up): the
    # roster's key, and an export that can be imported back.
    __table_args__ = (UniqueConstraint("village_id", "group_id", "volunteer_name", "date", "kind"),)
    __unique__ = {
        ("village_id", "group_id", "volunteer_name", "date", "kind"): (
            "kind",
            _l("Already recorded for this volunteer on this day: add the hours to that record"),
        )
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    member_id: Mapped[int | None] = field(_l("Member"), ForeignKey("member.id"), index=True)
    # A volunteer who is not a member is named here; a member's name may be too.
    volunteer_name: Mapped[str | None] = field(_l("Volunteer"), String(32))
    date: Mapped[dt.date] = field(_l("Date"), Date, index=True)
    hours: Mapped[decimal.Decimal] = field(_l("Hours"), Numeric(3, 1))
    kind: Mapped[str] = field(_l("Kind of service"), String(16), choices=VOLUNTEER_KIND, index=True)
    household_id: Mapped[int | None] = field(
        _l("Household served"), ForeignKey("household.id"), index=True
    )
    notes: Mapped[str | None] = field(_l("Notes"), Text)

    village: Mapped[Village] = relationship()
    group: Mapped[MemberGroup | None] = relationship()
    member: Mapped[Member | None] = relationship()
    household: Mapped[Household | None] = relationship()

    def __repr__(self):
        return f"{self.date} {self.volunteer_name or self.member or ''}"

    @classmethod
    def clean(cls, values: dict) -> dict:
        errors = {}
        if not (values.get("member_id") or values.get("volunteer_name")):
            errors["volunteer_name"] = _l("Name the member or the volunteer")
        hours = values.get("hours")
        if hours is not None and not (
            decimal.Decimal("0.5") <= hours <= 24 and hours == round(hours, 1)
        ):
            errors["hours"] = _l("Give between 0.5 and 24 hours, to one decimal")
        return errors


@event.listens_for(VolunteerService, "before_insert")
@event.listens_for(VolunteerService, "before_update")
def _served_by_member(_mapper, connection, service):
    """A member's service carries the member's name and group, whichever way it is written
    (form, API): the name is the register's key, the group its scope (a group leader reads
    her group's members' service). The roster's bulk writes copy both by the lookup."""
    if service.member_id is None:
        return
    name, group_id = connection.execute(
        select(Member.name, Member.group_id).where(Member.id == service.member_id)
    ).one()
    service.volunteer_name = service.volunteer_name or name
    if group_id is not None:
        service.group_id = group_id


class Attachment(GroupRecord, Model):
    """附件: a photo or file of an activity, document or venue, stored outside the web root."""

    __label__ = _l("Attachments")
    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_owner", "owner_model", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = field(_l("Village"), ForeignKey("village.id"), index=True)
    group_id: Mapped[int | None] = field(
        _l("Member group"), ForeignKey("member_group.id"), index=True
    )
    owner_model: Mapped[str] = field(_l("Belongs to"), String(32))
    owner_id: Mapped[int] = field(_l("Record"), Integer)
    filename: Mapped[str] = field(_l("File name"), String(200))
    stored_name: Mapped[str] = field(_l("Stored as"), String(64), unique=True)
    content_type: Mapped[str] = field(_l("File type"), String(100))
    size: Mapped[int] = field(_l("Size (bytes)"), Integer)
    uploaded_on: Mapped[dt.datetime] = field(_l("Uploaded on"))

    def __repr__(self):
        return self.filename


def _business_models() -> tuple:
    """Every model of this module that declares its scope (``__scope__``), in the order declared,
    the audit log aside: what the Township reads, the audit log names and uploads attach to.
    Derived, so that a new register cannot be forgotten here; each but ``Attachment`` must be
    declared in app/views.py too (``app.registry.check_declared`` refuses to start otherwise)."""
    return tuple(
        model
        for model in globals().values()
        if isinstance(model, type)
        and issubclass(model, Model)
        and model.__module__ == __name__
        and getattr(model, "__scope__", None)
        and model is not AuditLog
    )


BUSINESS_MODELS = _business_models()
# Kept by the uploads, not a register of its own: no screen, API or menu place.
UNREGISTERED = (Attachment,)

# The registers an audit entry can name, with their labels.
REGISTERS = Choices(
    *((model.__name__, model.__label__) for model in BUSINESS_MODELS),
    ("ScopedUser", _l("Accounts")),
)
AuditLog.__table__.c.model.info["choices"] = REGISTERS
