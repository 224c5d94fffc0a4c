"""What each roster KIND imports (SPEC §3.2): declarations only; app/importer.py runs them.

A resource names its model, its register title, its columns with their Chinese and English
header aliases, how each cell is read, its natural key (matched within the village) and its
lookups by name.
"""

import itertools
import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import Boolean, Date, Integer, Numeric

from app import fab_hooks, fields, models, registry

# Members, and the people named on other registers, are found among these statuses.
LIVE_MEMBER = (("status", ("applied", "active")),)


@dataclass(frozen=True)
class Lookup:
    """A cell naming a record of the village: matched on ``by`` (tried in order)."""

    model: type
    by: tuple[str, ...]
    # Said when nothing matches; %(village)s and %(value)s are filled in.
    missing: str
    # How a stored value may be written in a cell besides itself, e.g. 第{}届 for a term.
    formats: tuple[str, ...] = ("{}",)
    # Only records with these values are candidates: ((attribute, (value, …)), …).
    where: tuple = ()
    # Fields of the row filled from the record found when the row leaves them empty:
    # ((field, attribute of the record), …).
    copies: tuple = ()


@dataclass(frozen=True)
class Column:
    """One importable field: the model attribute, the headers that name it, how it is read."""

    name: str
    aliases: tuple[str, ...]
    # text | id_number | phone | date | choice | bool | int | decimal | lookup
    kind: str = "text"
    required: bool = False
    choices: models.Choices | None = None
    lookup: Lookup | None = None
    # For kind "choice": spellings villages use besides the zh and en labels, ((text, code), …).
    synonyms: tuple = ()
    # "gender" or "birth_date": an empty cell takes what the row's ID number says, and a
    # given value must agree with it.
    from_id: str | None = None
    # (field, values): the cell is required when that field takes one of these values; the
    # model's ``clean`` says the same, checked here a column at a time (see row_clean).
    required_when: tuple | None = None
    message: str | None = None


# The roster page lists the KINDs in the order their resources are declared.
_DECLARED = itertools.count()


@dataclass(frozen=True)
class Resource:
    """One roster KIND, like django-import-export's ModelResource.Meta."""

    kind: str
    # The paper register's name, in Chinese whatever the UI language (the register layout is
    # Chinese): the exporter writes "XX村计生协{title}".
    title: str
    model: type
    columns: tuple[Column, ...]
    # The columns that name one record within the village (one ID number, or several fields).
    natural_key: tuple[str, ...]
    # Values for an inserted row when the file says nothing.
    defaults: dict = field(default_factory=dict)
    # Statuses that hold the natural key in any village: a second live row is refused.
    live_statuses: tuple[str, ...] = ()
    skip_unchanged: bool = True
    # Admission (seeds 003): (field, what a new row takes when the importer may not decide,
    # the values only a decider may set).
    admission: tuple | None = None
    # New rows go through the model's ``clean`` one by one, unless the resource declares the
    # same rules column-wise (from_id, required_when): a register of 100k rows.
    row_clean: bool = True
    place: int = field(default_factory=lambda: next(_DECLARED), compare=False, repr=False)


def group_column():
    return Column(
        "group_id",
        ("小组", "所在小组", "会员小组", "组别", "group", "member group"),
        kind="lookup",
        lookup=Lookup(models.MemberGroup, ("name",), _l("%(village)s has no group %(value)s")),
    )


def member_lookup(**options):
    """A member of the village by ID number or name (a name must be unambiguous)."""
    return Lookup(
        models.Member,
        ("id_number", "name"),
        _l("%(village)s has no member %(value)s"),
        where=LIVE_MEMBER,
        **options,
    )


def household_lookup():
    return Lookup(
        models.Household,
        ("id_number", "head_name"),
        _l("%(village)s has no family-planning household %(value)s"),
    )


def id_column(*extra):
    return Column(
        "id_number",
        (
            *extra,
            "身份证号",
            "身份证号码",
            "公民身份号码",
            "身份证",
            "id_number",
            "id number",
            "id",
        ),
        kind="id_number",
        required=True,
    )


def phone_column():
    return Column(
        "phone",
        ("联系电话", "手机号码", "手机号", "电话", "手机", "phone", "mobile"),
        kind="phone",
    )


def address_column():
    return Column("address", ("住址", "地址", "家庭住址", "address"))


def notes_column(*extra):
    return Column("notes", (*extra, "备注", "notes", "remarks"))


# --- A KIND read off its model's field declarations ---

# How a cell is read, by the column's declared type (a column with choices is a "choice").
_READINGS = ((Boolean, "bool"), (Date, "date"), (Integer, "int"), (Numeric, "decimal"))


def _reading(column) -> str:
    if column.info.get("choices") is not None:
        return "choice"
    return next((kind for type_, kind in _READINGS if isinstance(column.type, type_)), "text")


def _english(label) -> tuple[str, ...]:
    """The English label (a lazy string's msgid) as a header alias, lower-cased."""
    msgid = fab_hooks.lazy_msgid(label)
    if msgid is None:
        raise TypeError(f"a field's label is not a lazy_gettext string: {label!r}")
    return (msgid.lower(),)


# A header in Chinese (the exporter heads a sheet with a column's first one).
CJK_HEADER = re.compile(r"[\u4e00-\u9fff]")

# A reference column's lookup, by the table it points to.
_LOOKUPS = {"member": lambda: member_lookup(), "household": household_lookup}


def from_fields(model, *, kind, title, natural_key, headers, overrides=None, **options):
    """A roster KIND whose columns are read off ``model``'s field declarations (app/fields.py):
    each column's reading (choice, date, number, yes/no, a member or household of the village),
    its choices and whether a row must give it (NOT NULL without a default). The block gives
    what only a village knows, the headers its sheets use — ``{field: (header, …)}``, the first
    Chinese header heads an exported sheet — and, in ``overrides``, a whole ``Column`` where the
    declaration says too little (synonyms, copies). The English label and the field's name are
    headers too."""
    overrides = overrides or {}
    columns = []
    for name, aliases in headers.items():
        if name in overrides:
            columns.append(overrides[name])
            continue
        if name == "group_id":
            if aliases:
                raise ValueError(f"{kind}: group_id takes the groups' headers (group_column)")
            columns.append(group_column())
            continue
        if not any(CJK_HEADER.search(alias) for alias in aliases):
            raise ValueError(f"{kind}.{name}: give the Chinese header a sheet uses (first)")
        column = model.__table__.c[name]
        targets = [fk.column.table.name for fk in column.foreign_keys]
        if targets and targets[0] not in _LOOKUPS:
            raise ValueError(f"{kind}.{name}: no lookup of {targets[0]}: give it in overrides")
        lookup = _LOOKUPS[targets[0]]() if targets else None
        required = fields.required(column) and name not in options.get("defaults", {})
        columns.append(
            Column(
                name,
                (*aliases, *_english(column.info.get("label"))),
                kind="lookup" if lookup else _reading(column),
                required=required,
                choices=column.info.get("choices"),
                lookup=lookup,
            )
        )
    return Resource(
        kind=kind,
        title=title,
        model=model,
        columns=tuple(columns),
        natural_key=tuple(natural_key),
        **options,
    )


# A person by ID number: live in one association at most, so the key is looked for in every
# village.
MEMBERS = Resource(
    kind="members",
    title="会员花名册",
    model=models.Member,
    natural_key=("id_number",),
    defaults={"status": "active", "category": "other", "party_member": False, "volunteer": False},
    live_statuses=("applied", "active"),
    admission=("status", "applied", models.DECISION_STATUSES),
    # Member.clean's rules (gender and birth date agree with the ID, a leaver's date) are
    # declared on the columns below.
    row_clean=False,
    columns=(
        Column("name", ("姓名", "名字", "会员姓名", "name", "full name"), required=True),
        Column(
            "gender",
            ("性别", "gender", "sex"),
            kind="choice",
            choices=models.GENDER,
            from_id="gender",
        ),
        id_column(),
        Column(
            "birth_date",
            ("出生日期", "出生年月日", "birth_date", "birth date"),
            kind="date",
            from_id="birth_date",
        ),
        phone_column(),
        group_column(),
        Column(
            "category",
            ("类别", "会员类别", "category"),
            kind="choice",
            choices=models.MEMBER_CATEGORY,
        ),
        Column(
            "status",
            ("状态", "会员状态", "status"),
            kind="choice",
            choices=models.MEMBER_STATUS,
            synonyms=(("申请", "applied"), ("已故", "deceased"), ("去世", "deceased")),
        ),
        Column("join_date", ("入会时间", "入会日期", "join_date", "join date"), kind="date"),
        address_column(),
        Column(
            "left_on",
            ("退会时间", "退会日期", "离会日期", "left_on", "left on"),
            kind="date",
            required_when=("status", models.LEAVING_STATUSES),
            message=_l("Give the date the member left"),
        ),
        Column("leave_reason", ("退会原因", "离会原因", "leave_reason", "leave reason")),
        Column("party_member", ("是否党员", "党员", "party_member", "party member"), kind="bool"),
        Column("volunteer", ("是否志愿者", "志愿者", "volunteer"), kind="bool"),
        notes_column(),
    ),
)

# A seat has no ID number of its own: it is one member's seat on one term.
COUNCIL_SEATS = Resource(
    kind="council_seats",
    title="理事会成员名册",
    model=models.CouncilSeat,
    natural_key=("term_id", "member_id"),
    defaults={"position": "director"},
    columns=(
        Column(
            "term_id",
            ("届次", "届别", "理事会届次", "term", "council term"),
            kind="lookup",
            required=True,
            lookup=Lookup(
                models.CouncilTerm,
                ("number",),
                _l("%(village)s has no council term %(value)s"),
                formats=("{}", "第{}届"),
            ),
        ),
        Column(
            "member_id",
            ("姓名", "理事姓名", "会员", "会员身份证号", "member", "name"),
            kind="lookup",
            required=True,
            lookup=member_lookup(),
        ),
        Column(
            "position",
            ("职务", "理事会职务", "position"),
            kind="choice",
            choices=models.SEAT_POSITION,
        ),
        Column(
            "composition",
            ("构成", "人员构成", "成员构成", "类别", "composition"),
            kind="choice",
            choices=models.SEAT_COMPOSITION,
            required=True,
            synonyms=(("社会贤达", "notable"), ("致富能人", "notable"), ("积极分子", "notable")),
        ),
        Column("day_job", ("现任职务", "本职工作", "工作单位及职务", "day job", "day_job")),
    ),
)

# One member's contact with one household, named by its head: a household head appears once
# per contact member.
CONTACT_HOUSEHOLDS = Resource(
    kind="contact_households",
    title="会员联系户名册",
    model=models.ContactHousehold,
    natural_key=("member_id", "head_name"),
    defaults={"household_type": "other"},
    columns=(
        Column(
            "member_id",
            ("联系会员", "联系人", "会员姓名", "会员", "contact member", "member"),
            kind="lookup",
            required=True,
            # The household belongs to the group of the member who keeps contact with it.
            lookup=member_lookup(copies=(("group_id", "group_id"),)),
        ),
        Column(
            "head_name",
            ("户主姓名", "户主", "联系户户主", "household head", "head_name", "head name"),
            required=True,
        ),
        group_column(),
        address_column(),
        phone_column(),
        Column(
            "household_type",
            ("户别", "家庭类型", "联系户类型", "类型", "household type", "household_type", "type"),
            kind="choice",
            choices=models.CONTACT_HOUSEHOLD_TYPE,
            synonyms=(("流动人口", "migrant"), ("流动人口户", "migrant")),
        ),
        notes_column(),
    ),
)

# A household by its head's ID number within the village.
HOUSEHOLDS = Resource(
    kind="households",
    title="计生家庭帮扶对象名册",
    model=models.Household,
    natural_key=("id_number",),
    defaults={"family_type": "other", "status": "needs_help", "family_doctor": False},
    columns=(
        Column(
            "head_name",
            ("户主姓名", "户主", "姓名", "household head", "head_name", "head name", "name"),
            required=True,
        ),
        id_column("户主身份证号", "户主身份证号码", "head's id number"),
        group_column(),
        Column(
            "family_type",
            ("家庭类型", "家庭类别", "类别", "family type", "family_type"),
            kind="choice",
            choices=models.FAMILY_TYPE,
            synonyms=(
                ("失独", "special_lost"),
                ("失独家庭", "special_lost"),
                ("伤残", "special_disabled"),
                ("独生子女伤残", "special_disabled"),
                ("手术并发症", "special_complication"),
            ),
        ),
        Column(
            "difficulty",
            ("困难类型", "致困原因", "困难原因", "difficulty"),
            kind="choice",
            choices=models.DIFFICULTY,
        ),
        Column("size", ("家庭人口", "家庭人口数", "人口数", "household size", "size"), kind="int"),
        address_column(),
        phone_column(),
        Column("surveyed_on", ("摸底日期", "摸底时间", "surveyed on", "surveyed_on"), kind="date"),
        Column(
            "status",
            ("帮扶状态", "状态", "status"),
            kind="choice",
            choices=models.HOUSEHOLD_STATUS,
        ),
        Column(
            "paired_member_id",
            ("结对会员", "结对帮扶人", "帮扶责任人", "paired member", "paired_member"),
            kind="lookup",
            lookup=member_lookup(),
        ),
        Column(
            "township_contact",
            ("镇联系人", "乡镇联系人", "镇级联系人", "township contact", "township_contact"),
        ),
        Column(
            "village_contact",
            ("村联系人", "村级联系人", "village contact", "village_contact"),
        ),
        Column(
            "family_doctor",
            ("家庭医生签约", "签约家庭医生", "family doctor", "family_doctor"),
            kind="bool",
        ),
        notes_column(),
    ),
)

# A person may hold several benefits and appear each year: ID number, kind and year.
BENEFITS = Resource(
    kind="benefits",
    title="优待奖扶名册",
    model=models.Benefit,
    natural_key=("id_number", "kind", "year"),
    defaults={"status": "active"},
    columns=(
        Column(
            "person_name",
            ("姓名", "对象姓名", "享受对象", "name", "full name", "person_name"),
            required=True,
        ),
        id_column(),
        Column(
            "household_id",
            ("计生家庭", "户主", "户主姓名", "household"),
            kind="lookup",
            lookup=household_lookup(),
        ),
        Column(
            "kind",
            ("类别", "项目", "扶助类别", "优待类别", "kind"),
            kind="choice",
            choices=models.BENEFIT_KIND,
            synonyms=(("光荣证", "glory_certificate"), ("独生子女光荣证", "glory_certificate")),
            required=True,
        ),
        Column(
            "certificate_no",
            ("证号", "证书编号", "证件号码", "光荣证号", "certificate number", "certificate_no"),
        ),
        Column("year", ("年度", "年份", "year"), kind="int", required=True),
        Column("amount", ("金额", "金额(元)", "金额（元）", "发放金额", "amount"), kind="decimal"),
        Column("status", ("状态", "status"), kind="choice", choices=models.BENEFIT_STATUS),
    ),
)

# Agreements carry no ID number: the party who signed and the day they signed.
AGREEMENTS = Resource(
    kind="agreements",
    title="村民自治协议书名册",
    model=models.Agreement,
    natural_key=("party_name", "signed_on"),
    defaults={"status": "in_force"},
    columns=(
        Column(
            "party_name",
            ("签订人", "签订户", "户主姓名", "姓名", "signed by", "party", "party_name", "name"),
            required=True,
        ),
        Column(
            "household_id",
            ("计生家庭", "household"),
            kind="lookup",
            lookup=household_lookup(),
        ),
        Column(
            "signed_on",
            ("签订日期", "签订时间", "signed on", "signed_on"),
            kind="date",
            required=True,
        ),
        Column(
            "expires_on",
            ("到期日期", "有效期至", "截止日期", "expires on", "expires_on"),
            kind="date",
        ),
        Column(
            "status", ("状态", "履约情况", "status"), kind="choice", choices=models.AGREEMENT_STATUS
        ),
        Column(
            "review_notes",
            ("评议情况", "月评议记录", "备注", "review notes", "review_notes", "notes"),
        ),
    ),
)

# Knowledge and satisfaction surveys (issue 9): one row per year and kind; the rate is the
# database's own (answered well / asked), so a sheet gives the two counts only. Read off the
# model's declarations; the kind's spellings are the villages'.
SURVEYS = from_fields(
    models.Survey,
    kind="surveys",
    title="知晓率满意度调查表",
    natural_key=("year", "kind"),
    headers={
        "year": ("年度", "年份", "调查年度"),
        "kind": (),
        "asked": ("调查人数", "受访人数"),
        "answered_well": ("知晓(满意)人数", "知晓人数", "满意人数"),
        "surveyed_on": ("调查日期", "调查时间"),
        "notes": ("备注",),
    },
    overrides={
        "kind": Column(
            "kind",
            ("调查项目", "类别", "项目", "kind"),
            kind="choice",
            choices=models.SURVEY_KIND,
            synonyms=(
                ("干部", "cadre_knowledge"),
                ("群众", "resident_knowledge"),
                ("群众满意度", "satisfaction"),
            ),
            required=True,
        )
    },
)


def _registered() -> dict:
    """KIND → resource, for every register whose block (app/views.py) names a roster."""
    rosters = sorted(
        (r.roster for r in registry.registers() if r.roster is not None), key=lambda r: r.place
    )
    return {roster.kind: roster for roster in rosters}


# Built on first use, after the blocks are read.
RESOURCES = registry.Derived(_registered)
