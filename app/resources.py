"""What each roster KIND imports (SPEC §3.2): declarations only; app/importer.py runs them.

A resource names its model, its columns with their Chinese and English header aliases, how
each cell is read, its natural key (matched within the village) and its lookups by name.
"""

from dataclasses import dataclass, field

from app import models


@dataclass(frozen=True)
class Column:
    """One importable field: the model attribute, the headers that name it, how it is read."""

    name: str
    aliases: tuple[str, ...]
    kind: str = "text"  # text | id_number | phone | date | choice | bool | lookup
    required: bool = False
    choices: models.Choices | None = None
    # For kind "lookup": (model, attribute matched by name, model column written).
    lookup: tuple | None = None


@dataclass(frozen=True)
class Resource:
    """One roster KIND, like django-import-export's ModelResource.Meta."""

    kind: str
    model: type
    columns: tuple[Column, ...]
    natural_key: str
    # Values for an inserted row when the file says nothing.
    defaults: dict = field(default_factory=dict)
    # Statuses that hold the natural key: a second live row with the same key is refused.
    live_statuses: tuple[str, ...] = ()
    skip_unchanged: bool = True


MEMBERS = Resource(
    kind="members",
    model=models.Member,
    natural_key="id_number",
    defaults={"status": "active", "category": "other", "party_member": False, "volunteer": False},
    live_statuses=("applied", "active"),
    columns=(
        Column("name", ("姓名", "名字", "会员姓名", "name", "full name"), required=True),
        Column("gender", ("性别", "gender", "sex"), kind="choice", choices=models.GENDER),
        Column(
            "id_number",
            ("身份证号", "身份证号码", "公民身份号码", "身份证", "id_number", "id number", "id"),
            kind="id_number",
            required=True,
        ),
        Column("birth_date", ("出生日期", "出生年月日", "birth_date", "birth date"), kind="date"),
        Column(
            "phone",
            ("联系电话", "手机号码", "手机号", "电话", "手机", "phone", "mobile"),
            kind="phone",
        ),
        Column(
            "group_id",
            ("小组", "所在小组", "会员小组", "group", "member group"),
            kind="lookup",
            lookup=(models.MemberGroup, "name"),
        ),
        Column(
            "category",
            ("类别", "会员类别", "category"),
            kind="choice",
            choices=models.MEMBER_CATEGORY,
        ),
        Column(
            "status", ("状态", "会员状态", "status"), kind="choice", choices=models.MEMBER_STATUS
        ),
        Column("join_date", ("入会时间", "入会日期", "join_date", "join date"), kind="date"),
        Column("address", ("住址", "地址", "家庭住址", "address")),
        Column("party_member", ("是否党员", "党员", "party_member", "party member"), kind="bool"),
        Column("volunteer", ("是否志愿者", "志愿者", "volunteer"), kind="bool"),
        Column("notes", ("备注", "notes", "remarks")),
    ),
)

RESOURCES = {resource.kind: resource for resource in (MEMBERS,)}
