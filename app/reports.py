"""Reports (SPEC §3.7) as .xlsx workbooks with Chinese headers: the annual statistics, the
half-year summary, and a village's archive book (seeds 000 Art. 12-13, one sheet per register
and record book).

Every figure comes from a grouped query over the villages of the caller's scope; the registers
of the archive book are the roster exports' own rows (``app.exporter``), so fields the caller
sees masked stay masked here too. Every download is audited as an export.
"""

import dataclasses
import datetime as dt
import decimal
import itertools

from flask_babel import force_locale
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from app import accounts, audit, exporter, norms, security
from app.masking import MASKERS
from app.models import (
    ACTIVITY_KIND,
    BENEFIT_KIND,
    COMPLAINT_OPEN,
    GENDER,
    MEETING_TYPE,
    MEMBER_CATEGORY,
    MEMBER_STATUS,
    SEAT_COMPOSITION,
    Activity,
    Agreement,
    Assistance,
    Benefit,
    Complaint,
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    Document,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Notice,
    Township,
    Village,
    complaint_deadline,
    group_contact_head,
)
from app.resources import RESOURCES

# A total closes its table, in the first column; a subtotal follows the rows it sums.
TOTAL = "合计"
SUBTOTAL = "小计"
VILLAGE = "村（社区）"
TOWNSHIP = "乡镇"


# --- Writing sheets ---


def _cell_value(cell, value):
    if isinstance(value, str):
        cell.value = value
        cell.data_type = "s"
        if value.startswith(exporter.FORMULA_START):
            # Shown as typed, never evaluated (formula injection, SPEC §4).
            cell.quotePrefix = True
    elif isinstance(value, dt.date):
        cell.value = value
        cell.number_format = exporter.DATE_FORMAT
    elif isinstance(value, decimal.Decimal):
        cell.value = value
        cell.number_format = "0.00"
    else:
        cell.value = value


class Tables:
    """A report as tables for a page to print (the archive book from a phone), where a
    workbook would take sheets: ``add_sheet`` appends (sheet, title, headers, rows)."""

    def __init__(self):
        self.tables = []


def add_sheet(book, name: str, title: str, headers: list, rows: list):
    """A sheet in the register layout: a title row, bold bordered headers, A4 landscape."""
    if isinstance(book, Tables):
        book.tables.append((name[:31], title, headers, rows))
        return None
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    sheet = book.create_sheet(name[:31])
    width = max(len(headers), 1)
    sheet.cell(row=1, column=1, value=title).font = Font(size=14, bold=True)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].alignment = Alignment(horizontal="center")
    box = Border(*(Side(style="thin"),) * 4)
    for column, header in enumerate(headers, start=1):
        cell = sheet.cell(row=2, column=column, value=header)
        cell.font = Font(bold=True)
        cell.border = box
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    # Long text (minutes, attendee lists) wraps within its column instead of being cut off.
    wrap = Alignment(wrap_text=True, vertical="top")
    for number, values in enumerate(rows, start=3):
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column)
            _cell_value(cell, value)
            cell.border = box
            cell.alignment = wrap
    exporter.lay_out(sheet, headers, rows)
    sheet.freeze_panes = "B3"
    sheet.print_title_rows = "1:2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    return sheet


def _new_book():
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    return book


# --- Figures per village ---


def _villages(session, scope) -> list:
    return list(
        session.scalars(
            select(Village)
            .where(security.scope_criteria(Village, scope))
            .options(selectinload(Village.township))
            .order_by(Village.township_id, Village.id)
        )
    )


class Places:
    """Where a report's rows are: the village, and for villages of several townships (a
    county) its township first, each township's rows closed by a 小计."""

    def __init__(self, villages):
        self.by_township = len({v.township_id for v in villages}) > 1
        self.headers = [TOWNSHIP, VILLAGE] if self.by_township else [VILLAGE]

    def of(self, village) -> list:
        return [village.township.name, village.name] if self.by_township else [village.name]

    def label(self, first, second="") -> list:
        """A row's place cells that name no village: 小计 after a township's, 合计."""
        return [first, second] if self.by_township else [first]


def _by(session, query) -> dict:
    """{(village_id, key…): value} from a query whose last column is the value."""
    found = {}
    for *key, value in session.execute(query).all():
        found[tuple(key) if len(key) > 1 else key[0]] = value or 0
    return found


def _sums(rows, width) -> list:
    """Each column's sum over ``rows`` (their figures, past the place cells); "" for text."""
    columns = list(zip(*(row[-width:] for row in rows), strict=True)) if rows else [()] * width
    return ["" if any(isinstance(v, str) for v in c) else sum(c, 0) for c in columns]


def _table(villages, columns) -> tuple[list, list]:
    """Rows of village name + one figure per column, and a total. A column is (header,
    {village_id: value}) or (header, values, default) for one whose blank is not 0 (text,
    not summed). A county's villages carry their township, each township closed by its 小计."""
    places = Places(villages)
    figures = [(c[1], c[2] if len(c) > 2 else 0) for c in columns]

    def row(village):
        return places.of(village) + [values.get(village.id, default) for values, default in figures]

    rows, every = [], []
    for _township, group in itertools.groupby(villages, key=lambda v: v.township_id):
        group = [row(v) for v in group]
        rows += group
        every += group
        if places.by_township:
            rows.append(places.label(group[0][0], SUBTOTAL) + _sums(group, len(columns)))
    rows.append(places.label(TOTAL) + _sums(every, len(columns)))
    return places.headers + [c[0] for c in columns], rows


def _counts(session, model, ids, *conditions, key=None, value=None):
    """village_id (and ``key``) → count (or sum of ``value``) of the model's rows."""
    keys = [model.village_id] + ([key] if key is not None else [])
    measure = func.count() if value is None else func.coalesce(func.sum(value), 0)
    return _by(
        session,
        select(*keys, measure).where(model.village_id.in_(ids), *conditions).group_by(*keys),
    )


def _split(figures: dict, choices) -> list[tuple[str, dict]]:
    """{(village_id, code): n} → (label, {village_id: n}) for each code of ``choices``."""
    return [
        (str(label), {village: n for (village, c), n in figures.items() if c == code})
        for code, label in choices.pairs
    ]


def _households_helped(session, ids, helped) -> dict:
    """village_id → households given any help matching ``helped``."""
    return _by(
        session,
        select(Assistance.village_id, func.count(func.distinct(Assistance.household_id)))
        .where(Assistance.village_id.in_(ids), helped)
        .group_by(Assistance.village_id),
    )


def annual_sheets(session, villages, start, end, book):
    """The annual statistics, one sheet per subject, a row per village and a total."""
    ids = [v.id for v in villages]
    year = start.year

    statuses = _split(_counts(session, Member, ids, key=Member.status), MEMBER_STATUS)
    active = Member.status == "active"
    genders = _split(_counts(session, Member, ids, active, key=Member.gender), GENDER)
    categories = _split(_counts(session, Member, ids, active, key=Member.category), MEMBER_CATEGORY)
    headers, rows = _table(
        villages,
        statuses
        + [(f"在册·{label}", f) for label, f in genders]
        + [(f"在册·{label}", f) for label, f in categories],
    )
    add_sheet(book, "会员", f"{year}年会员情况（按状态、性别、类别）", headers, rows)

    heads = _by(
        session,
        select(MemberGroup.village_id, func.count())
        .join(group_contact_head, group_contact_head.c.group_id == MemberGroup.id)
        .where(MemberGroup.village_id.in_(ids))
        .group_by(MemberGroup.village_id),
    )
    seats = _split(
        _by(
            session,
            select(CouncilTerm.village_id, CouncilSeat.composition, func.count())
            .join(CouncilSeat, CouncilSeat.term_id == CouncilTerm.id)
            .where(norms.current_term(ids, end))
            .group_by(CouncilTerm.village_id, CouncilSeat.composition),
        ),
        SEAT_COMPOSITION,
    )
    terms = _by(
        session,
        select(CouncilTerm.village_id, CouncilTerm.number).where(norms.current_term(ids, end)),
    )
    headers, rows = _table(
        villages,
        [
            ("现任理事会", {v: f"第{n}届" for v, n in terms.items()}, "无"),
            ("会员小组", _counts(session, MemberGroup, ids)),
            (
                "有小组长的小组",
                _counts(session, MemberGroup, ids, MemberGroup.leader_id.is_not(None)),
            ),
            ("会员联系户长", heads),
            ("会员联系户", _counts(session, ContactHousehold, ids)),
            ("理事人数", {v: sum(f.get(v, 0) for _label, f in seats) for v in ids}),
        ]
        + [(f"理事·{label}", f) for label, f in seats],
    )
    add_sheet(book, "组织", f"{year}年会员小组和理事会", headers, rows)

    meetings = _split(
        _counts(session, Meeting, ids, Meeting.date.between(start, end), key=Meeting.type),
        MEETING_TYPE,
    )
    headers, rows = _table(
        villages,
        meetings + [("会议合计", _counts(session, Meeting, ids, Meeting.date.between(start, end)))],
    )
    add_sheet(book, "会议", f"{year}年会议（按类型）", headers, rows)

    places = Places(villages)
    in_year = Activity.date.between(start, end)
    times = _counts(session, Activity, ids, in_year, key=Activity.kind)
    people = _counts(
        session, Activity, ids, in_year, key=Activity.kind, value=Activity.participants_count
    )
    rows = []
    for code in ACTIVITY_KIND.codes:
        kind_rows = [
            places.of(village)
            + [
                str(ACTIVITY_KIND.label(code)),
                times[village.id, code],
                people.get((village.id, code), 0),
            ]
            for village in villages
            if (village.id, code) in times
        ]
        rows += kind_rows
        # A kind held in several villages: its subtotal after its rows.
        if len(kind_rows) > 1:
            rows.append(
                places.label(SUBTOTAL)
                + [
                    str(ACTIVITY_KIND.label(code)),
                    sum(r[-2] for r in kind_rows),
                    sum(r[-1] for r in kind_rows),
                ]
            )
    rows.append(places.label(TOTAL) + ["", sum(times.values()), sum(people.values())])
    add_sheet(
        book,
        "活动",
        f"{year}年活动（按类型，含参与人次）",
        places.headers + ["活动类型", "次数", "参与人次"],
        rows,
    )

    by_id = {v.id: v for v in villages}
    trainings = session.execute(
        select(
            Activity.village_id,
            Activity.date,
            Activity.theme,
            Activity.place,
            Activity.participants_count,
        )
        .join(Village, Village.id == Activity.village_id)
        .where(Activity.village_id.in_(ids), in_year, Activity.kind == "training")
        .order_by(Village.township_id, Activity.village_id, Activity.date)
    ).all()
    rows = [places.of(by_id[t[0]]) + list(t[1:]) for t in trainings]
    rows.append(
        places.label(TOTAL) + [None, f"{len(rows)} 次", None, sum(t[4] or 0 for t in trainings)]
    )
    add_sheet(
        book,
        "培训",
        f"{year}年会员培训",
        places.headers + ["日期", "主题", "地点", "参与人数"],
        rows,
    )

    helped = Assistance.date.between(start, end)
    headers, rows = _table(
        villages,
        [
            (
                "需帮扶家庭（户）",
                _counts(session, Household, ids, Household.status == "needs_help"),
            ),
            (
                "当年受帮扶家庭（户）",
                _households_helped(session, ids, helped),
            ),
            ("帮扶次数", _counts(session, Assistance, ids, helped)),
            ("帮扶金额（元）", _counts(session, Assistance, ids, helped, value=Assistance.money)),
        ],
    )
    add_sheet(book, "帮扶", f"{year}年困难家庭帮扶", headers, rows)

    this_year = Benefit.year == year
    persons = _counts(session, Benefit, ids, this_year, key=Benefit.kind)
    amounts = _counts(session, Benefit, ids, this_year, key=Benefit.kind, value=Benefit.amount)
    rows = []
    for code in BENEFIT_KIND.codes:
        for village in villages:
            if (village.id, code) in persons:
                rows.append(
                    places.of(village)
                    + [
                        str(BENEFIT_KIND.label(code)),
                        persons[village.id, code],
                        amounts.get((village.id, code), 0),
                    ]
                )
    rows.append(
        places.label(TOTAL) + ["", sum(persons.values()), sum(amounts.values(), decimal.Decimal(0))]
    )
    add_sheet(
        book,
        "奖扶",
        f"{year}年优待·奖扶",
        places.headers + ["类别", "人数", "金额（元）"],
        rows,
    )

    received = Complaint.received_on.between(start, end)
    overdue = and_(
        Complaint.status.in_(COMPLAINT_OPEN),
        Complaint.received_on < complaint_deadline(min(end, dt.date.today())),
    )
    headers, rows = _table(
        villages,
        [
            ("受理", _counts(session, Complaint, ids, received)),
            ("已解决", _counts(session, Complaint, ids, received, Complaint.status == "resolved")),
            ("已转办", _counts(session, Complaint, ids, received, Complaint.status == "referred")),
            (
                "办理中",
                _counts(session, Complaint, ids, received, Complaint.status.in_(COMPLAINT_OPEN)),
            ),
            ("逾期未办结", _counts(session, Complaint, ids, received, overdue)),
        ],
    )
    add_sheet(book, "咨询投诉", f"{year}年咨询投诉", headers, rows)


def half_year_rows(session, villages, start, end) -> tuple[list, list]:
    """The half-year summary: an indicator per row, a column per village (per township for a
    county) and the total."""
    ids = [v.id for v in villages]
    meetings = Meeting.date.between(start, end)
    activities = Activity.date.between(start, end)
    helped = Assistance.date.between(start, end)
    received = Complaint.received_on.between(start, end)
    indicators = [
        ("新入会会员（人）", _counts(session, Member, ids, Member.join_date.between(start, end))),
        (
            "退会、劝退、去世（人）",
            _counts(session, Member, ids, Member.left_on.between(start, end)),
        ),
        ("在册会员（人，当前）", _counts(session, Member, ids, Member.status == "active")),
    ]
    by_type = _counts(session, Meeting, ids, meetings, key=Meeting.type)
    indicators += [(f"{label}（次）", figures) for label, figures in _split(by_type, MEETING_TYPE)]
    indicators += [
        ("活动（次）", _counts(session, Activity, ids, activities)),
        (
            "活动参与（人次）",
            _counts(session, Activity, ids, activities, value=Activity.participants_count),
        ),
        (
            "会员培训（次）",
            _counts(session, Activity, ids, activities, Activity.kind == "training"),
        ),
        (
            "受帮扶家庭（户）",
            _households_helped(session, ids, helped),
        ),
        ("帮扶（次）", _counts(session, Assistance, ids, helped)),
        ("帮扶金额（元）", _counts(session, Assistance, ids, helped, value=Assistance.money)),
        (
            "新签村民自治协议（份）",
            _counts(session, Agreement, ids, Agreement.signed_on.between(start, end)),
        ),
        (
            "公开栏公示（次）",
            _counts(session, Notice, ids, Notice.published_on.between(start, end)),
        ),
        ("咨询投诉受理（件）", _counts(session, Complaint, ids, received)),
        (
            "咨询投诉办结（件）",
            _counts(
                session, Complaint, ids, received, Complaint.status.in_(("resolved", "referred"))
            ),
        ),
    ]
    # A column per village; for the villages of several townships (a county's hundreds), a
    # column per township, its villages added up.
    # Keyed by record, each header its name (a township's is unique, a village's within it).
    columns, headers = {}, {}
    if Places(villages).by_township:
        for v in villages:
            columns.setdefault(v.township_id, []).append(v.id)
            headers[v.township_id] = v.township.name
    else:
        for v in villages:
            columns[v.id], headers[v.id] = [v.id], v.name
    headers = ["指标", *headers.values(), TOTAL]
    rows = []
    for label, figures in indicators:
        values = [sum((figures.get(pk, 0) for pk in pks), 0) for pks in columns.values()]
        rows.append([label, *values, sum(values, 0)])
    return headers, rows


# --- The archive book (seeds 000 Art. 12-13) ---


# Relationships holding people, which carry no column label of their own.
RELATION_HEADERS = {"attendees": "出席会员", "participants": "参加会员"}
MEETING_ATTRS = (
    "date",
    "type",
    "group",
    "place",
    "chair",
    "recorder",
    "attendees",
    "other_attendees",
    "topics",
    "minutes",
    "sent_to_township_on",
)
ACTIVITY_ATTRS = (
    "date",
    "group",
    "kind",
    "theme",
    "place",
    "participants_count",
    "participants",
    "materials",
    "description",
)
ASSISTANCE_ATTRS = ("date", "household", "kind", "money", "goods", "provided_by", "notes")
DOCUMENT_ATTRS = ("title", "kind", "year", "adopted_on", "adopted_by", "filed_on")


def _label(model, attr) -> str:
    if attr in RELATION_HEADERS:
        return RELATION_HEADERS[attr]
    column = model.__table__.c.get(attr)
    if column is None:
        column = model.__table__.c.get(f"{attr}_id")
    return str(column.info["label"]) if column is not None else attr


def _shown(model, attr, value, user):
    """A record's value as the register prints it, masked where the user sees it masked."""
    if value is None:
        return None
    if attr in MASKERS and accounts.masks(attr, user, model):
        return str(MASKERS[attr](value))
    column = model.__table__.c.get(attr)
    choices = column.info.get("choices") if column is not None else None
    if choices is not None:
        return str(choices.label(value))
    if isinstance(value, bool):
        return exporter.YES if value else exporter.NO
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dt.date | int | decimal.Decimal):
        return value
    return str(value)


@dataclasses.dataclass(frozen=True)
class Shelf:
    """What an archive book is written for: one village, one year, one reader."""

    session: object
    village: Village
    start: dt.date
    end: dt.date
    user: object

    @property
    def scope(self):
        return accounts.user_scope(self.user)

    def rows(self, model, *conditions, order=(), load=()):
        query = select(model).where(
            model.village_id == self.village.id,
            security.scope_criteria(model, self.scope),
            *conditions,
        )
        query = query.options(*(selectinload(rel) for rel in load))
        return list(self.session.scalars(query.order_by(*order, model.id)))


def documents(*kinds, this_year=False):
    """The village's documents of these kinds: adopted by the year, or of the year itself."""

    def write(shelf, book, sheet, title):
        year = (
            Document.year == shelf.start.year
            if this_year
            else or_(Document.year.is_(None), Document.year <= shelf.start.year)
        )
        items = shelf.rows(Document, Document.kind.in_(kinds), year, order=(Document.kind,))
        return record_sheet(book, sheet, title, Document, DOCUMENT_ATTRS, items, shelf.user)

    return write


def record_book(model, attrs, date_column, *conditions, load=(), totals=()):
    """The year's records of one register, in date order; ``totals``: the attributes summed in
    a 合计 row below them."""

    def write(shelf, book, sheet, title):
        items = shelf.rows(
            model,
            date_column.between(shelf.start, shelf.end),
            *conditions,
            order=(date_column,),
            load=load,
        )
        return record_sheet(book, sheet, title, model, attrs, items, shelf.user, totals)

    return write


def register(kind, totals=()):
    """A roster exactly as the roster export writes it (app.exporter), masking included; the
    archive book adds a 合计 row of the ``totals`` columns."""

    def write(shelf, book, sheet, _title):
        resource = RESOURCES[kind]
        items = exporter.select_rows(shelf.session, resource, shelf.village, shelf.user)
        headers, rows = exporter.table(shelf.session, resource, shelf.village, items, shelf.user)
        names = [None] + [c.name for c in resource.columns]
        add_sheet(
            book,
            sheet,
            exporter.register_title(resource, shelf.village),
            headers,
            rows + _total_row(rows, [n in totals for n in names]),
        )
        return len(rows)

    return write


def _total_row(rows, summed) -> list:
    """[the 合计 row] of the columns ``summed`` (flags, one per column); none if none is."""
    if not any(summed):
        return []
    total = [TOTAL] + [None] * (len(summed) - 1)
    for n, flag in enumerate(summed):
        if flag:
            total[n] = sum((r[n] or 0 for r in rows), 0)
    return [total]


def group_network(shelf, book, sheet, title):
    """The member groups with their leader and contact household heads, and the diagrams."""
    session = shelf.session
    if session.get_bind().dialect.name == "sqlite":
        names = func.group_concat(Member.name, "、")
    else:
        names = func.string_agg(Member.name, "、")
    groups = session.execute(
        select(
            MemberGroup.name,
            select(Member.name).where(Member.id == MemberGroup.leader_id).scalar_subquery(),
            select(names)
            .join(group_contact_head, group_contact_head.c.member_id == Member.id)
            .where(group_contact_head.c.group_id == MemberGroup.id)
            .scalar_subquery(),
            select(func.count())
            .where(Member.group_id == MemberGroup.id, Member.status == "active")
            .scalar_subquery(),
        )
        .where(
            MemberGroup.village_id == shelf.village.id,
            security.scope_criteria(MemberGroup, shelf.scope),
        )
        .order_by(MemberGroup.id)
    ).all()
    diagrams = shelf.rows(Document, Document.kind == "network_diagram")
    rows = [[n, *g] for n, g in enumerate(groups, start=1)]
    rows += _total_row(rows, [False] * 4 + [True])
    # The diagrams are named below the table they draw.
    rows += [[None, f"组织网络示意图：{d.title}", None, None, None] for d in diagrams]
    headers = [exporter.NUMBER_HEADER, "会员小组", "小组长", "会员联系户长", "在册会员"]
    add_sheet(book, sheet, title, headers, rows)
    return len(groups)


def record_sheet(book, sheet, title, model, attrs, items, user, totals=()):
    headers = [exporter.NUMBER_HEADER] + [_label(model, a) for a in attrs]
    rows = [
        [n] + [_shown(model, a, getattr(item, a), user) for a in attrs]
        for n, item in enumerate(items, start=1)
    ]
    total = _total_row(rows, [False] + [a in totals for a in attrs])
    add_sheet(book, sheet, title, headers, rows + total)
    return len(rows)


PEOPLE = (Meeting.group, Meeting.attendees)
# Seeds 000 Art. 12 (village) and 13 (member groups), item by item: (article, sheet, title, what).
# A title of None is the register's own ("新檀村计生协会员花名册").
ARCHIVE_BOOK = [
    (
        "第十二条 一",
        "章程",
        "{name}计生协章程、村民自治章程、村规民约",
        documents("charter", "self_governance", "village_rules"),
    ),
    ("第十二条 二", "组织网络", "{name}计生协组织网络（会员小组）", group_network),
    ("第十二条 三", "理事会成员名册", None, register("council_seats")),
    ("第十二条 三、第十三条 一", "会员花名册", None, register("members")),
    ("第十三条 二", "会员联系户名册", None, register("contact_households")),
    ("第十二条 四、第十三条 四", "困难户花名册", None, register("households")),
    (
        "第十二条 五",
        "帮扶记录",
        "{name}{year}年帮扶记录（三结合、助学、养老保险等）",
        record_book(
            Assistance,
            ASSISTANCE_ATTRS,
            Assistance.date,
            load=(Assistance.household,),
            totals=("money",),
        ),
    ),
    ("第十二条 五", "优待奖扶名册", None, register("benefits", totals=("amount",))),
    (
        "第十二条 六、第十三条 三",
        "会员活动记录本",
        "{name}计生协{year}年会员活动记录本",
        record_book(
            Activity,
            ACTIVITY_ATTRS,
            Activity.date,
            load=(Activity.group, Activity.participants),
            totals=("participants_count",),
        ),
    ),
    (
        "第十二条 六",
        "理事会会议记录本",
        "{name}计生协{year}年理事会会议记录本",
        record_book(Meeting, MEETING_ATTRS, Meeting.date, Meeting.type == "council", load=PEOPLE),
    ),
    (
        "第十二条 六",
        "培训记录本",
        "{name}计生协{year}年培训记录本",
        record_book(
            Activity,
            ACTIVITY_ATTRS,
            Activity.date,
            Activity.kind == "training",
            load=(Activity.group, Activity.participants),
            totals=("participants_count",),
        ),
    ),
    (
        "第十二条 六",
        "其他会议记录",
        "{name}计生协{year}年其他会议记录",
        record_book(Meeting, MEETING_ATTRS, Meeting.date, Meeting.type != "council", load=PEOPLE),
    ),
    ("第十二条 七", "村民自治协议书", None, register("agreements")),
    ("第十二条 八", "上级批复", "{name}计生协上级批复文件", documents("approval")),
    (
        "第十二条 九",
        "岗位职责",
        "{name}计生协会长、副会长、秘书长工作职责",
        documents("duties"),
    ),
    (
        "第八条",
        "工作计划和总结",
        "{name}计生协{year}年工作计划和总结",
        documents("work_plan", "work_summary", this_year=True),
    ),
]


def archive_sheets(session, village, start, end, user, book) -> list:
    """One sheet per item of ARCHIVE_BOOK; returns the table of contents."""
    shelf = Shelf(session, village, start, end, user)
    contents = []
    for article, sheet, title, write in ARCHIVE_BOOK:
        heading = title.format(name=village.name, year=start.year) if title else None
        contents.append((article, sheet, write(shelf, book, sheet, heading)))
    return contents


# --- The downloads ---


def _scope_name(session, scope) -> str:
    if scope.level == "county":
        return scope.label()
    if scope.level == "township":
        return session.get(Township, scope.township_id).name
    if scope.level in ("village", "group"):
        return session.get(Village, scope.village_id).name
    return "全部乡镇"


def _finish(session, user, kind, name, out, book, year, village=None, **details):
    book.save(out)
    audit.record(
        "export",
        user=user,
        village_id=village.id if village is not None else None,
        details={"report": kind, "year": year, "file": name, **details},
        session=session,
    )
    return name


def annual(session, scope, user, year, out, **_kwargs):
    """年度统计: the annual statistics of the villages in scope."""
    villages = _villages(session, scope)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    book = _new_book()
    with force_locale("zh"):
        annual_sheets(session, villages, start, end, book)
    name = f"{_scope_name(session, scope)}计生协{year}年度统计-{dt.date.today().isoformat()}.xlsx"
    return _finish(session, user, "annual", name, out, book, year)


def half_year(session, scope, user, year, out, half=1, **_kwargs):
    """半年小结: the half-year summary of the villages in scope."""
    villages = _villages(session, scope)
    start = dt.date(year, 1 if half == 1 else 7, 1)
    end = dt.date(year, 6, 30) if half == 1 else dt.date(year, 12, 31)
    which = "上半年" if half == 1 else "下半年"
    place = _scope_name(session, scope)
    book = _new_book()
    with force_locale("zh"):
        headers, rows = half_year_rows(session, villages, start, end)
    add_sheet(book, "半年小结", f"{place}计生协{year}年{which}工作小结（统计）", headers, rows)
    name = f"{place}计生协{year}年{which}工作小结-{dt.date.today().isoformat()}.xlsx"
    return _finish(session, user, "half_year", name, out, book, year, half=half)


def _archive_village(session, scope, village_id):
    return session.scalars(
        select(Village).where(Village.id == village_id, security.scope_criteria(Village, scope))
    ).first()


def _archive_book(session, village, year, user, book):
    """The archive book's tables of contents and sheets into ``book``; the contents' title."""
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    with force_locale("zh"):
        contents = archive_sheets(session, village, start, end, user, book)
    rows = [[n, article, sheet, count] for n, (article, sheet, count) in enumerate(contents, 1)]
    rows.append([TOTAL, None, f"{len(contents)} 个工作表", sum(c for _a, _s, c in contents)])
    title = f"{village.name}计生协{year}年资料档案"
    add_sheet(book, "目录", title, [exporter.NUMBER_HEADER, "规范条款", "工作表", "条数"], rows)
    return title


def archive(session, scope, user, year, out, village_id=None, **_kwargs):
    """档案册: one village's archive book for the year; None if the village is not in scope."""
    village = _archive_village(session, scope, village_id)
    if village is None:
        return None
    book = _new_book()
    title = _archive_book(session, village, year, user, book)
    book.move_sheet("目录", offset=-len(book.sheetnames) + 1)
    book.active = 0
    name = f"{title}-{dt.date.today().isoformat()}.xlsx"
    return _finish(session, user, "archive", name, out, book, year, village=village)


def archive_tables(session, scope, user, year, village_id):
    """档案册 as a page to print: (title, [(sheet, title, headers, rows)]) with the contents
    first, every cell as text; None if the village is not in scope. Audited as a download."""
    village = _archive_village(session, scope, village_id)
    if village is None:
        return None
    book = Tables()
    title = _archive_book(session, village, year, user, book)
    sheet, _title, headers, rows = book.tables[-1]
    tables = [(sheet, sheet, headers, rows), *book.tables[:-1]]
    audit.record(
        "export",
        user=user,
        village_id=village.id,
        details={"report": "archive", "year": year, "format": "html", "file": title},
        session=session,
    )
    return title, [
        (sheet, heading, headers, [[_text(v) for v in row] for row in rows])
        for sheet, heading, headers, rows in tables
    ]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, decimal.Decimal):
        return f"{value:.2f}"
    return str(value)


REPORTS = {"annual": annual, "half_year": half_year, "archive": archive}
