"""Reports (SPEC §3.7, issue 6 item 4): the annual statistics, the half-year summary and a
village's archive book as .xlsx — they open, hold the demo's numbers, mask what the reader sees
masked, and every download is audited."""

import datetime as dt
import io
import json
from collections import Counter

import pytest
from openpyxl import load_workbook

from app.models import (
    Activity,
    Assistance,
    AuditLog,
    Complaint,
    Meeting,
    Member,
    Township,
    Village,
)
from tests.helpers import village

YEAR = dt.date.today().year


def _book(response):
    assert response.status_code == 200, response.status_code
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(response.data))


def _rows(sheet):
    """The sheet below its title row, as {first cell: row}."""
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    return values[0], {row[0]: row for row in values[1:]}


def _column(headers, name):
    return headers.index(name)


def _in_year(day):
    return day is not None and day.year == YEAR


def _erlang(session, model):
    """The rows of ``model`` in 二郎镇: what the reports of its account `township` count."""
    ids = session.query(Village.id).join(Township).filter(Township.name == "二郎镇")
    column = Village.id if model is Village else model.village_id
    return session.query(model).filter(column.in_(ids)).all()


def test_annual_statistics_hold_the_demos_numbers(db_session, login_as):
    book = _book(login_as("township").get(f"/dashboard/report/annual?year={YEAR}"))
    assert book.sheetnames == ["会员", "组织", "会议", "活动", "培训", "帮扶", "奖扶", "咨询投诉"]
    villages = _erlang(db_session, Village)
    members = _erlang(db_session, Member)

    headers, rows = _rows(book["会员"])
    assert headers[0] == "村（社区）" and "在册" in headers and "在册·女" in headers
    for v in villages:
        own = [m for m in members if m.village_id == v.id]
        assert rows[v.name][_column(headers, "在册")] == sum(m.status == "active" for m in own)
        assert rows[v.name][_column(headers, "在册·女")] == sum(
            m.status == "active" and m.gender == "female" for m in own
        )
        assert rows[v.name][_column(headers, "在册·五老")] == sum(
            m.status == "active" and m.category == "elder" for m in own
        )
    assert rows["合计"][_column(headers, "申请中")] == sum(m.status == "applied" for m in members)

    headers, rows = _rows(book["会议"])
    meetings = [m for m in _erlang(db_session, Meeting) if _in_year(m.date)]
    for v in villages:
        kinds = Counter(m.type for m in meetings if m.village_id == v.id)
        assert rows[v.name][_column(headers, "理事会")] == kinds["council"]
        assert rows[v.name][_column(headers, "工作例会")] == kinds["work"]
        assert rows[v.name][_column(headers, "会议合计")] == sum(kinds.values())
    assert rows["合计"][_column(headers, "会议合计")] == len(meetings)

    headers, rows = _rows(book["帮扶"])
    help_given = [a for a in db_session.query(Assistance).all() if _in_year(a.date)]
    xintan = village(db_session, "新檀村")
    own = [a for a in help_given if a.village_id == xintan.id]
    assert rows["新檀村"][_column(headers, "帮扶次数")] == len(own)
    assert rows["新檀村"][_column(headers, "当年受帮扶家庭（户）")] == len(
        {a.household_id for a in own}
    )
    money = sum(float(a.money or 0) for a in own)
    assert rows["新檀村"][_column(headers, "帮扶金额（元）")] == pytest.approx(money)

    activities = [a for a in _erlang(db_session, Activity) if _in_year(a.date)]
    trainings = [a for a in activities if a.kind == "training"]
    training_rows = list(book["培训"].iter_rows(min_row=3, values_only=True))
    assert len(training_rows) == len(trainings) + 1  # and the total row
    assert training_rows[-1][0] == "合计"
    assert training_rows[-1][4] == sum(a.participants_count or 0 for a in trainings)
    activity_rows = list(book["活动"].iter_rows(min_row=3, values_only=True))
    # Each kind held in several villages has its 小计 after its rows; the 合计 closes the table.
    publicity = next(r for r in activity_rows if r[0] == "小计" and r[1] == "宣传")
    assert publicity[2] == sum(a.kind == "publicity" for a in activities)
    assert activity_rows[-1][0] == "合计" and activity_rows[-1][2] == len(activities)

    headers, rows = _rows(book["咨询投诉"])
    complaints = [c for c in _erlang(db_session, Complaint) if _in_year(c.received_on)]
    assert rows["合计"][_column(headers, "受理")] == len(complaints)
    longwang = village(db_session, "龙王村")
    assert rows["龙王村"][_column(headers, "逾期未办结")] == sum(
        c.village_id == longwang.id and c.overdue for c in complaints
    )
    assert rows["龙王村"][_column(headers, "逾期未办结")] >= 1


def test_a_village_account_gets_its_village_only(login_as):
    book = _book(login_as("longwang_president").get(f"/dashboard/report/annual?year={YEAR}"))
    _headers, rows = _rows(book["会议"])
    assert set(rows) == {"龙王村", "合计"}


@pytest.mark.parametrize("half", [1, 2])
def test_half_year_summary(db_session, login_as, half):
    response = login_as("township").get(f"/dashboard/report/half_year?year={YEAR}&half={half}")
    book = _book(response)
    sheet = book["半年小结"]
    which = "上半年" if half == 1 else "下半年"
    assert sheet["A1"].value == f"二郎镇计生协{YEAR}年{which}工作小结（统计）"
    headers, rows = _rows(sheet)
    assert headers == ("指标", "新檀村", "龙王村", "小河村", "合计")
    months = range(1, 7) if half == 1 else range(7, 13)
    meetings = [m for m in _erlang(db_session, Meeting) if _in_year(m.date)]
    councils = [m for m in meetings if m.type == "council" and m.date.month in months]
    xiaohe = village(db_session, "小河村")
    assert rows["理事会（次）"][3] == sum(m.village_id == xiaohe.id for m in councils)
    assert rows["理事会（次）"][4] == len(councils)
    assert rows["在册会员（人，当前）"][4] == sum(
        m.status == "active" for m in _erlang(db_session, Member)
    )


def test_archive_book_has_a_sheet_per_register_and_record_book(db_session, login_as):
    longwang = village(db_session, "龙王村")
    book = _book(
        login_as("longwang_president").get(
            f"/dashboard/report/archive?year={YEAR}&village={longwang.id}"
        )
    )
    assert book.sheetnames[0] == "目录"
    for sheet in (
        "章程",
        "组织网络",
        "理事会成员名册",
        "会员花名册",
        "会员联系户名册",
        "困难户花名册",
        "帮扶记录",
        "优待奖扶名册",
        "会员活动记录本",
        "理事会会议记录本",
        "培训记录本",
        "村民自治协议书",
        "上级批复",
        "岗位职责",
        "工作计划和总结",
    ):
        assert sheet in book.sheetnames
    contents = {row[2]: row[3] for row in book["目录"].iter_rows(min_row=3, values_only=True)}
    councils = [
        m
        for m in db_session.query(Meeting).filter_by(village_id=longwang.id, type="council").all()
        if _in_year(m.date)
    ]
    assert contents["理事会会议记录本"] == len(councils)
    assert book["理事会会议记录本"].max_row == 2 + len(councils)
    groups = list(book["组织网络"].iter_rows(min_row=3, values_only=True))
    third = next(row for row in groups if row[1] == "第三组")
    assert len(third[3].split("、")) == 1  # one contact household head: the gap R4 reports
    members = list(book["会员花名册"].iter_rows(min_row=3, values_only=True))
    ids = {len(str(row[3])) for row in members}
    assert ids == {18} and not any("*" in str(row[3]) for row in members)


def test_the_township_reads_id_numbers_and_phones_masked(db_session, login_as):
    longwang = village(db_session, "龙王村")
    book = _book(
        login_as("township").get(f"/dashboard/report/archive?year={YEAR}&village={longwang.id}")
    )
    members = list(book["会员花名册"].iter_rows(min_row=2, values_only=True))
    headers, rows = members[0], members[1:]
    id_col, phone_col = headers.index("身份证号"), headers.index("联系电话")
    assert rows and all("********" in row[id_col] for row in rows)
    assert all(row[phone_col] is None or "****" in row[phone_col] for row in rows)
    households = list(book["困难户花名册"].iter_rows(min_row=2, values_only=True))
    family_type = households[0].index("家庭类型")
    types = {row[family_type] for row in households[1:]}
    assert "不公开" in types
    assert not any(t and t.startswith("计生特殊家庭") for t in types)


def test_archive_book_of_another_village_is_not_found(db_session, login_as):
    xiaohe = village(db_session, "小河村")
    response = login_as("xintan_president").get(
        f"/dashboard/report/archive?year={YEAR}&village={xiaohe.id}"
    )
    assert response.status_code == 404
    assert login_as("xintan_president").get("/dashboard/report/nothing").status_code == 404


def test_every_download_is_audited(db_session, login_as):
    client = login_as("township")
    longwang = village(db_session, "龙王村")
    before = db_session.query(AuditLog).filter_by(action="export").count()
    client.get(f"/dashboard/report/annual?year={YEAR}")
    client.get(f"/dashboard/report/half_year?year={YEAR}&half=1")
    client.get(f"/dashboard/report/archive?year={YEAR}&village={longwang.id}")
    db_session.expire_all()
    entries = (
        db_session.query(AuditLog).filter_by(action="export").order_by(AuditLog.id).all()[before:]
    )
    assert [json.loads(e.changes)["report"] for e in entries] == ["annual", "half_year", "archive"]
    assert all(e.username == "township" for e in entries)
    assert entries[2].village_id == longwang.id
    assert json.loads(entries[2].changes)["file"].startswith("龙王村计生协")


def test_a_formula_typed_into_a_record_stays_text(app, db_session, login_as):
    longwang = village(db_session, "龙王村")
    theme = '=HYPERLINK("http://example.invalid","点击")'
    db_session.add(
        Activity(village_id=longwang.id, kind="publicity", theme=theme, date=dt.date(YEAR, 1, 2))
    )
    db_session.commit()
    book = _book(
        login_as("longwang_president").get(
            f"/dashboard/report/archive?year={YEAR}&village={longwang.id}"
        )
    )
    sheet = book["会员活动记录本"]
    cells = [c for row in sheet.iter_rows(min_row=3) for c in row if c.value == theme]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_the_township_reads_the_birth_year_only_in_the_archive_book(db_session, login_as):
    """Issue 15: the birth date is the masked ID number's hidden digits."""
    longwang = village(db_session, "龙王村")
    book = _book(
        login_as("township").get(f"/dashboard/report/archive?year={YEAR}&village={longwang.id}")
    )
    every_cell = [
        cell
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    ]
    births = {m.birth_date for m in db_session.query(Member).filter_by(village_id=longwang.id)} - {
        None
    }
    assert births
    dates = {c.date() if isinstance(c, dt.datetime) else c for c in every_cell}
    assert not dates & births
    assert not any(str(c)[:10] in {b.isoformat() for b in births} for c in every_cell)
