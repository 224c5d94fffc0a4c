"""Paper the office can file (issue 17 part 5): the register export lists the rows on the
register today (在册) unless every row is asked for, long text wraps on paper, 结对会员 is a
name, the archive book and the annual statistics are in the 档案 menu, and 合计 rows close
their tables."""

import datetime as dt
import io
import re

import openpyxl
import pytest

from app.models import Assistance, Household, Meeting, Member
from app.resources import RESOURCES
from tests.helpers import village

YEAR = dt.date.today().year
# A kind with a status → (a status the register lists today, one it lists only on request,
# its zh label as the sheet shows it).
STATUS_KINDS = {
    "members": ("active", "withdrawn", "在册", "退会"),
    "households": ("needs_help", "recovered", "需帮扶", "已脱困"),
    "benefits": ("active", "ended", "享受中", "终止"),
    "agreements": ("in_force", "ended", "有效", "终止"),
}


def cli_export(app, kind, path, *extra, village_name="新檀村"):
    args = ["roster", "export", kind, "--village", village_name, "-o", str(path), *extra]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    return openpyxl.load_workbook(path).active


def table(sheet):
    """(headers, rows) of a sheet below its title row."""
    values = [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]
    return values[0], values[1:]


def column(sheet, header):
    headers, rows = table(sheet)
    return [row[headers.index(header)] for row in rows]


def village_id(app, name):
    with app.app_context():
        return village(app.appbuilder.session, name).id


def status_header(kind):
    return next(c for c in RESOURCES[kind].columns if c.name == "status").aliases[0]


def give_status(app, kind, status):
    """One row of 新檀村 in this status (so that the default export has one to leave out)."""
    model = RESOURCES[kind].model
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        rows = session.query(model).filter_by(village_id=xintan.id).order_by(model.id).all()
        if not any(r.status == status for r in rows):
            row = rows[-1]
            row.status = status
            if kind == "members":
                row.left_on = dt.date.today()
            session.commit()
        current = RESOURCES[kind].current_statuses
        return sum(r.status in current for r in rows), len(rows)


# --- 1. The register export: 在册 by default, every row on request ---


@pytest.mark.parametrize("kind", sorted(STATUS_KINDS))
def test_the_export_lists_current_rows_by_default_and_all_with_all(app, tmp_path, kind):
    _current, left, current_label, left_label = STATUS_KINDS[kind]
    give_status(app, kind, left)
    header = status_header(kind)
    default = column(cli_export(app, kind, tmp_path / "default.xlsx"), header)
    every = column(cli_export(app, kind, tmp_path / "all.xlsx", "--all"), header)
    assert current_label in default and left_label not in default
    assert left_label in every and set(default) <= set(every)
    assert set(every) - set(default), "--all adds the rows no longer on the register"
    assert len(every) > len(default)


def test_member_register_holds_exactly_the_active_members(app, tmp_path):
    sheet = cli_export(app, "members", tmp_path / "m.xlsx")
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        active = {
            m.id_number
            for m in session.query(Member).filter_by(village_id=xintan.id, status="active")
        }
        assert (
            session.query(Member)
            .filter(Member.village_id == xintan.id, Member.status != "active")
            .count()
        )
    assert set(column(sheet, "身份证号")) == active
    assert column(sheet, "序号") == list(range(1, len(active) + 1))


def test_a_register_without_status_is_written_whole_either_way(app, tmp_path):
    assert not RESOURCES["contact_households"].current_statuses
    default = table(cli_export(app, "contact_households", tmp_path / "a.xlsx"))
    every = table(cli_export(app, "contact_households", tmp_path / "b.xlsx", "--all"))
    assert default == every and default[1]


def test_the_web_export_offers_every_row_on_request(app, login_as):
    give_status(app, "members", "withdrawn")
    client = login_as("xintan_secretary")
    page = client.get("/roster/").get_data(as_text=True)
    assert 'name="all" value="1"' in page
    assert "全部记录（含已退会、已结束等不在册的记录）" in page
    assert "默认：在册" in page and "默认：需帮扶" in page
    statuses = {}
    for query in ("", "all=1"):
        response = client.get(f"/roster/export/members/xlsx?{query}")
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
        statuses[query] = set(column(sheet, "状态"))
    assert statuses[""] == {"在册"}
    assert {"在册", "退会"} <= statuses["all=1"]


# --- 3. 结对会员 is a name ---


def _pair_with_namesakes(app):
    """A household of 新檀村 paired with a member whose name another member shares, and one
    paired with a member who has since left: the two cases that once printed an ID number."""
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村")
        members = (
            session.query(Member)
            .filter_by(village_id=xintan.id, status="active")
            .order_by(Member.id)
            .all()
        )
        namesake, other, leaver = members[0], members[1], members[2]
        other.name = namesake.name
        households = (
            session.query(Household)
            .filter_by(village_id=xintan.id, status="needs_help")
            .order_by(Household.id)
            .all()
        )
        households[0].paired_member = namesake
        households[1].paired_member = leaver
        session.flush()
        leaver.status, leaver.left_on = "withdrawn", dt.date.today()
        session.commit()
        return (
            households[0].head_name,
            namesake.name,
            namesake.group.name,
            households[1].head_name,
            leaver.name,
        )


def test_paired_member_is_a_name_in_the_export_and_the_import_reads_it_back(app, tmp_path):
    head, name, group, head2, leaver = _pair_with_namesakes(app)
    sheet = cli_export(app, "households", tmp_path / "h.xlsx")
    headers, rows = table(sheet)
    paired = {row[headers.index("户主姓名")]: row[headers.index("结对会员")] for row in rows}
    assert paired[head] == f"{name}（{group}）"
    assert paired[head2] == leaver
    assert not any(re.search(r"\d{6}", str(v)) for v in paired.values())
    # The namesake's cell names one member: an upsert of the file finds it and changes nothing.
    args = ["roster", "import", "households", str(tmp_path / "h.xlsx"), "--village", "新檀村"]
    with app.app_context():
        session = app.appbuilder.session
        before = session.query(Household).filter_by(head_name=head).one().paired_member_id
    result = app.test_cli_runner().invoke(args=[*args, "--upsert", "--dry-run"])
    assert f"第 {list(paired).index(head) + 3} 行" not in result.output
    with app.app_context():
        after = app.appbuilder.session.query(Household).filter_by(head_name=head).one()
        assert after.paired_member_id == before


def test_paired_member_is_a_name_in_the_archive_book_and_on_screen(app, login_as):
    head, name, group, _head2, _leaver = _pair_with_namesakes(app)
    xintan = village_id(app, "新檀村")
    for user in ("xintan_president", "township"):
        client = login_as(user)
        response = client.get(f"/dashboard/report/archive?year={YEAR}&village={xintan}")
        book = openpyxl.load_workbook(io.BytesIO(response.data))
        headers, rows = table(book["困难户花名册"])
        paired = {row[headers.index("户主姓名")]: row[headers.index("结对会员")] for row in rows}
        assert paired[head] == f"{name}（{group}）"
        assert not any(re.search(r"\d{4}", str(v)) for v in paired.values())
    with app.app_context():
        household = app.appbuilder.session.query(Household).filter_by(head_name=head).one().id
    client = login_as("xintan_president")
    page = client.get(f"/householdview/show/{household}").get_data(as_text=True)
    assert name in page
    listing = client.get("/householdview/list/?_flt_0_head_name=" + head).get_data(as_text=True)
    assert name in listing


# --- 2. Long text wraps ---


LONG_MINUTES = "会议听取了各小组工作汇报，讨论了计生特殊家庭帮扶方案，" * 12
ATTENDEES = "、".join(f"张{n}" for n in range(40))


def test_long_minutes_wrap_in_the_archive_book(app, db_session, login_as):
    xintan = village(db_session, "新檀村")
    meeting = (
        db_session.query(Meeting)
        .filter(Meeting.village_id == xintan.id, Meeting.type == "council")
        .filter(Meeting.date >= dt.date(YEAR, 1, 1))
        .order_by(Meeting.date)
        .first()
    )
    meeting.minutes = LONG_MINUTES
    meeting.other_attendees = ATTENDEES
    db_session.commit()
    response = login_as("xintan_president").get(
        f"/dashboard/report/archive?year={YEAR}&village={xintan.id}"
    )
    sheet = openpyxl.load_workbook(io.BytesIO(response.data))["理事会会议记录本"]
    headers = [c.value for c in sheet[2]]
    minutes_column = headers.index("会议纪要") + 1
    row = next(r for r in sheet.iter_rows(min_row=3) if r[minutes_column - 1].value == LONG_MINUTES)
    cell = row[minutes_column - 1]
    # The whole text is in the cell, wrapped within a column of readable width…
    assert cell.alignment.wrap_text and cell.alignment.vertical == "top"
    letter = cell.column_letter
    assert 16 <= sheet.column_dimensions[letter].width <= 40
    # …and the row is tall enough for its lines (about 2 × 360 / 40 of them).
    assert sheet.row_dimensions[cell.row].height >= 15 * 15
    assert all(c.alignment.wrap_text for c in row)
    # The sheet's columns fit an A4 landscape page at a readable scale.
    widths = [sheet.column_dimensions[c.column_letter].width for c in sheet[2]]
    assert sum(widths) <= 181


def test_long_notes_wrap_in_the_roster_export(app, tmp_path):
    with app.app_context():
        session = app.appbuilder.session
        household = (
            session.query(Household)
            .filter_by(village_id=village(session, "新檀村").id, status="needs_help")
            .first()
        )
        household.notes = "第一行说明\n" + "长期患病，需定期走访；" * 10
        session.commit()
    sheet = cli_export(app, "households", tmp_path / "h.xlsx")
    headers = [c.value for c in sheet[2]]
    notes = headers.index("备注")
    cell = next(r[notes] for r in sheet.iter_rows(min_row=3) if r[notes].value)
    assert cell.alignment.wrap_text
    assert sheet.row_dimensions[cell.row].height >= 4 * 15


# --- 4. The 档案 menu ---


@pytest.mark.parametrize(
    "username, shown",
    [
        ("xintan_president", True),
        ("xintan_secretary", True),
        ("township", True),
        ("admin", True),
        ("xintan_group1", False),
    ],
)
def test_the_archive_menu_offers_the_reports_to_those_who_may_download(login_as, username, shown):
    client = login_as(username)
    page = client.get("/").get_data(as_text=True)
    assert ('href="/reports/archive"' in page) is shown
    assert ('href="/reports/annual"' in page) is shown
    if shown:
        assert "档案册" in page and "年度统计" in page
        for path in ("/reports/archive", "/reports/annual"):
            assert client.get(path).status_code == 200
    else:
        assert client.get("/reports/archive").status_code in (302, 403)


def test_the_archive_book_page_downloads_the_villages_book(app, login_as):
    # (No app context held across the requests: each request computes its user's scope.)
    client = login_as("township")
    page = client.get("/reports/archive").get_data(as_text=True)
    assert "<h2>档案册</h2>" in page and "下载（.xlsx）" in page
    # The township chooses among its villages; a village account has its own.
    for name in ("新檀村", "龙王村", "小河村"):
        assert f">{name}</option>" in page
    xintan = village_id(app, "新檀村")
    response = client.get(f"/dashboard/report/archive?year={YEAR}&village={xintan}")
    assert response.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(response.data)).sheetnames[0] == "目录"
    page = login_as("longwang_secretary").get("/reports/archive").get_data(as_text=True)
    assert f'name="village" value="{village_id(app, "龙王村")}"' in page
    assert 'id="report-village">龙王村<' in page and ">新檀村</option>" not in page


def test_the_annual_statistics_page_downloads_the_scopes_statistics(login_as):
    client = login_as("longwang_president")
    page = client.get("/reports/annual").get_data(as_text=True)
    assert "<h2>年度统计</h2>" in page
    assert f'<option value="{YEAR}" selected>' in page
    response = client.get(f"/dashboard/report/annual?year={YEAR}")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert "会员" in book.sheetnames


# --- 5. 合计 rows ---


def test_totals_close_each_table_of_the_annual_statistics(login_as):
    response = login_as("township").get(f"/dashboard/report/annual?year={YEAR}")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    for sheet in book.worksheets:
        headers, rows = table(sheet)
        assert rows, sheet.title
        assert rows[-1][0] == "合计", sheet.title
        # No 合计 anywhere but in the last row: a subtotal is a 小计.
        assert [r[0] for r in rows].count("合计") == 1, sheet.title
    headers, rows = table(book["活动"])
    body = [r for r in rows if r[0] not in ("合计", "小计")]
    assert rows[-1][2] == sum(r[2] for r in body)
    assert rows[-1][3] == sum(r[3] for r in body)


def test_the_archive_books_money_and_counts_have_their_total(db_session, login_as):
    xintan = village(db_session, "新檀村")
    book = openpyxl.load_workbook(
        io.BytesIO(
            login_as("xintan_president")
            .get(f"/dashboard/report/archive?year={YEAR}&village={xintan.id}")
            .data
        )
    )
    headers, rows = table(book["帮扶记录"])
    assert rows[-1][0] == "合计"
    money = headers.index("金额（元）") if "金额（元）" in headers else None
    records = [
        a
        for a in db_session.query(Assistance).filter_by(village_id=xintan.id).all()
        if a.date.year == YEAR
    ]
    assert len(rows) == len(records) + 1
    if money is not None:
        assert float(rows[-1][money]) == pytest.approx(float(sum(a.money or 0 for a in records)))
    headers, rows = table(book["目录"])
    assert rows[-1][0] == "合计"
    assert rows[-1][3] == sum(r[3] for r in rows[:-1])


# --- 6. The archive book to print from a phone ---


def test_the_archive_book_prints_from_the_browser(app, login_as):
    xintan = village_id(app, "新檀村")
    with app.app_context():
        session = app.appbuilder.session
        meeting = (
            session.query(Meeting)
            .filter(Meeting.village_id == xintan, Meeting.type == "council")
            .filter(Meeting.date >= dt.date(YEAR, 1, 1))
            .first()
        )
        meeting.minutes = LONG_MINUTES
        session.commit()
    client = login_as("xintan_president")
    page = client.get("/reports/archive").get_data(as_text=True)
    assert 'formaction="/reports/archive/print"' in page and "打印版（可另存为 PDF）" in page
    response = client.get(f"/reports/archive/print?year={YEAR}&village={xintan}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'<h2 id="archive-title">新檀村计生协{YEAR}年资料档案</h2>' in html
    # The contents first, then every sheet of the workbook, in its order.
    sheets = re.findall(r'data-sheet="([^"]+)"', html)
    assert sheets[0] == "目录" and "理事会会议记录本" in sheets and "会员花名册" in sheets
    assert f"<td>{LONG_MINUTES}</td>" in html
    assert html.count('class="archive-total"') >= 3
    # Masking holds as in the workbook; another village is not found; a group leader may not.
    township = login_as("township").get(f"/reports/archive/print?year={YEAR}&village={xintan}")
    assert re.search(r"<td>\d{6}\*{8}[\dX]{4}</td>", township.get_data(as_text=True))
    assert not re.search(r"<td>\d{17}[\dX]</td>", township.get_data(as_text=True))
    other = login_as("longwang_president").get(
        f"/reports/archive/print?year={YEAR}&village={xintan}"
    )
    assert other.status_code == 404
    refused = login_as("xintan_group1").get(f"/reports/archive/print?year={YEAR}&village={xintan}")
    assert refused.status_code in (302, 403)
