"""Home page reminders (issue 4, item 8): duties due at month and quarter edges, overdue records,
terms ending, special families not visited; each appears when missed and goes once it is done,
inside the user's scope only. And the household page's yearly assistance totals (item 4)."""

import datetime as dt
import decimal
import html
import re

import pytest
from flask_babel import force_locale

from app import reminders as reminders_module
from app.accounts import user_scope
from app.models import (
    Assistance,
    Complaint,
    CouncilTerm,
    Household,
    Meeting,
    Member,
    Resolution,
)
from tests.helpers import group, valid_id, village

TODAY = dt.date.today()
VILLAGES = {"新檀村", "龙王村", "小河村"}


def _text(response):
    page = re.sub(r"(?s)<script.*?</script>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _reminders_section(response):
    page = response.get_data(as_text=True)
    section = re.search(r'(?s)<div id="reminders">.*?</div>\s*<div class="row">', page).group(0)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", section)))


@pytest.fixture
def shown(app):
    """shown(username, today) → {(village, rule): Reminder} as that account would see them."""

    def reminders(username, today=TODAY):
        # Messages are checked in English here; the zh page is checked in its own test.
        with app.test_request_context(), force_locale("en"):
            user = app.appbuilder.sm.find_user(username=username)
            found = reminders_module.reminders(user_scope(user), today, user)
        return {(r.village, r.rule): r for r in found}

    return reminders


@pytest.fixture
def add(app):
    """add(make) → the record make(session) returns, committed (and so audited)."""

    def adder(make):
        with app.app_context():
            session = app.appbuilder.session
            record = make(session)
            session.add(record)
            session.commit()
            return record.id

    return adder


def _meeting(kind, date, village_name="新檀村"):
    return lambda s: Meeting(village=village(s, village_name), type=kind, date=date)


# --- Meetings at quarter and month edges ---


@pytest.mark.parametrize(
    "kind,rule", [("council", "council_meeting"), ("review", "review_meeting")]
)
def test_quarter_meeting_due_from_the_first_day_of_a_quarter(shown, add, kind, rule):
    first_day = dt.date(2031, 4, 1)
    reminder = shown("xintan_president", first_day)[("新檀村", rule)]
    assert "Q2 2031" in reminder.message and reminder.severity == "warning"
    assert f"_flt_3_type={kind}" in reminder.url
    add(_meeting(kind, dt.date(2031, 3, 31)))  # the last day of the quarter before
    assert ("新檀村", rule) in shown("xintan_president", first_day)
    add(_meeting(kind, first_day))
    assert ("新檀村", rule) not in shown("xintan_president", first_day)


def test_a_quarters_meeting_counts_until_its_last_day_and_not_after(shown, add):
    add(_meeting("council", dt.date(2031, 4, 1)))
    assert ("新檀村", "council_meeting") not in shown("xintan_president", dt.date(2031, 6, 30))
    assert ("新檀村", "council_meeting") in shown("xintan_president", dt.date(2031, 7, 1))


def test_monthly_work_meeting_on_the_last_day_of_a_month(shown, add):
    last_day = dt.date(2031, 4, 30)
    assert "2031-04" in shown("xintan_president", last_day)[("新檀村", "work_meeting")].message
    add(_meeting("work", dt.date(2031, 3, 31)))  # last month's
    add(_meeting("work", dt.date(2031, 5, 1)))  # planned for next month: not held yet
    add(_meeting("council", dt.date(2031, 4, 10)))  # another kind of meeting
    assert ("新檀村", "work_meeting") in shown("xintan_president", last_day)
    add(_meeting("work", last_day))
    assert ("新檀村", "work_meeting") not in shown("xintan_president", last_day)
    # On the first day of the next month, that month's meeting held that day is enough.
    assert ("新檀村", "work_meeting") not in shown("xintan_president", dt.date(2031, 5, 1))
    assert ("新檀村", "work_meeting") in shown("xintan_president", dt.date(2031, 6, 1))


def test_the_demo_today_both_holds_and_misses_its_meetings(shown):
    today = shown("township")
    for rule in ("council_meeting", "review_meeting", "work_meeting"):
        assert ("新檀村", rule) not in today
    assert {("龙王村", "review_meeting"), ("龙王村", "work_meeting")} <= set(today)
    assert ("小河村", "council_meeting") in today and ("小河村", "work_meeting") not in today


# --- Overdue complaints and resolutions ---


def _complaint(received_on, status="handling"):
    return lambda s: Complaint(
        village=village(s, "新檀村"),
        received_on=received_on,
        channel="phone",
        kind="consultation",
        description="咨询奖励扶助申领",
        status=status,
    )


def test_a_complaint_is_overdue_after_the_configured_days(app, shown, add):
    days = app.config["COMPLAINT_DEADLINE_DAYS"]
    assert ("新檀村", "overdue_complaints") not in shown("xintan_president")
    on_time = add(_complaint(TODAY - dt.timedelta(days=days)))
    assert ("新檀村", "overdue_complaints") not in shown("xintan_president")
    late = add(_complaint(TODAY - dt.timedelta(days=days + 1), status="received"))
    reminder = shown("xintan_president")[("新檀村", "overdue_complaints")]
    assert reminder.count == 1 and reminder.severity == "danger"
    assert f"more than {days} days" in reminder.message
    with app.app_context():
        session = app.appbuilder.session
        # The same rule as the complaint list's overdue flag.
        assert [session.get(Complaint, pk).overdue for pk in (on_time, late)] == [False, True]
        session.get(Complaint, late).status = "resolved"
        session.get(Complaint, late).resolved_on = TODAY
        session.commit()
    assert ("新檀村", "overdue_complaints") not in shown("xintan_president")


def test_the_deadline_is_configurable(app, shown, add):
    add(_complaint(TODAY - dt.timedelta(days=10)))
    app.config["COMPLAINT_DEADLINE_DAYS"] = 7
    try:
        reminder = shown("xintan_president")[("新檀村", "overdue_complaints")]
        assert "more than 7 days" in reminder.message
    finally:
        app.config["COMPLAINT_DEADLINE_DAYS"] = 30


def test_an_open_resolution_past_its_due_date_until_done(app, shown, add):
    def resolution(due):
        def make(s):
            meeting = s.query(Meeting).filter_by(village_id=village(s, "新檀村").id).first()
            return Resolution(
                village=meeting.village, meeting=meeting, text="走访", due_date=due, status="open"
            )

        return make

    add(resolution(TODAY))  # due today: not overdue yet
    assert ("新檀村", "overdue_resolutions") not in shown("xintan_president")
    late = add(resolution(TODAY - dt.timedelta(days=1)))
    assert shown("xintan_president")[("新檀村", "overdue_resolutions")].count == 1
    with app.app_context():
        session = app.appbuilder.session
        session.get(Resolution, late).status = "done"
        session.get(Resolution, late).done_on = TODAY
        session.commit()
    assert ("新檀村", "overdue_resolutions") not in shown("xintan_president")


def test_overdue_links_open_exactly_the_overdue_records(login_as):
    client = login_as("township")
    page = client.get("/").get_data(as_text=True)
    for rule, register in [("overdue_complaints", "咨询投诉"), ("overdue_resolutions", "决议")]:
        row = re.search(rf'(?s)<tr [^>]*data-rule="{rule}">.*?</tr>', page).group(0)
        assert register in row
        url = html.unescape(re.search(r'href="([^"]+)"', row).group(1))
        listed = _text(client.get(url))
        assert re.search(r"记录数: 1\b", listed), url
        assert "已逾期" in listed


# --- Council term ---


def test_council_term_ending_within_90_days_then_ended(app, shown, add):
    with app.app_context():
        session = app.appbuilder.session
        end = session.query(CouncilTerm).filter_by(village_id=village(session, "新檀村").id).one()
        end = end.term_end  # 新檀村's term in the demo
    assert ("新檀村", "council_term") not in shown("xintan_president", end - dt.timedelta(days=91))
    reminder = shown("xintan_president", end - dt.timedelta(days=90))[("新檀村", "council_term")]
    assert end.isoformat() in reminder.message and "prepare the election" in reminder.message
    ended = shown("xintan_president", end + dt.timedelta(days=1))[("新檀村", "council_term")]
    assert "ended" in ended.message
    add(
        lambda s: CouncilTerm(
            village=village(s, "新檀村"),
            number=4,
            elected_on=end - dt.timedelta(days=4),
            term_end=end + dt.timedelta(days=5 * 365),
        )
    )
    assert ("新檀村", "council_term") not in shown("xintan_president", end + dt.timedelta(days=1))


# --- Special families ---


def _special_family(village_name="新檀村", group_name="第二组", status="needs_help"):
    def make(s):
        return Household(
            village=village(s, village_name),
            group=group(s, village_name, group_name),
            head_name="郑德福",
            id_number=valid_id("19560310"),
            family_type="special_disabled",
            status=status,
            township_contact="王志强",
            village_contact="李秀英",
        )

    return make


def _visit(household_id, date, kind="contact_visit"):
    def make(s):
        household = s.get(Household, household_id)
        return Assistance(village=household.village, household=household, date=date, kind=kind)

    return make


def test_special_family_needs_a_contact_visit_each_month(shown, add):
    assert ("新檀村", "special_family_visits") not in shown("xintan_president")
    family = add(_special_family())
    add(_special_family(status="recovered"))  # no longer needs help: not counted
    reminder = shown("xintan_president")[("新檀村", "special_family_visits")]
    assert reminder.count == 1 and "_special=y" in reminder.url
    add(_visit(family, TODAY, kind="festival"))  # a festival visit is not the contact visit
    assert ("新檀村", "special_family_visits") in shown("xintan_president")
    add(_visit(family, TODAY))
    assert ("新檀村", "special_family_visits") not in shown("xintan_president")


def test_a_contact_visit_counts_for_its_own_month_only(shown, add):
    last_day = dt.date(2031, 1, 31)
    family = add(_special_family())
    before = shown("xintan_president", last_day)[("新檀村", "special_family_visits")].count
    add(_visit(family, dt.date(2030, 12, 31)))  # last month's
    add(_visit(family, dt.date(2031, 2, 1)))  # next month's
    assert shown("xintan_president", last_day)[("新檀村", "special_family_visits")].count == before
    add(_visit(family, last_day))
    after = shown("xintan_president", last_day)[("新檀村", "special_family_visits")].count
    assert after == before - 1


# --- Pending applications ---


def test_pending_applications_counted_until_decided(app, shown):
    before = shown("xintan_president")[("新檀村", "pending_applications")]
    assert "await your decision" in before.message and before.link_label == "Review them"
    with app.app_context():
        session = app.appbuilder.session
        pending = session.query(Member).filter_by(
            village_id=village(session, "新檀村").id, status="applied"
        )
        count = pending.count()
        for applicant in pending.all():
            applicant.status, applicant.join_date = "active", TODAY
        session.commit()
    assert before.count == count
    assert ("新檀村", "pending_applications") not in shown("xintan_president")


# --- Scope ---


def test_a_village_sees_only_its_own_reminders(shown):
    for username, name in [
        ("xintan_president", "新檀村"),
        ("longwang_secretary", "龙王村"),
        ("xiaohe_president", "小河村"),
    ]:
        assert {v for v, _rule in shown(username, dt.date(2031, 4, 1))} == {name}


def test_the_township_sees_each_village(shown):
    seen = shown("township", dt.date(2031, 4, 1))
    assert {v for v, _rule in seen} == VILLAGES
    for name in VILLAGES:
        assert (name, "council_meeting") in seen and (name, "work_meeting") in seen
        assert "_flt_0_village=" in seen[(name, "council_meeting")].url


def test_a_group_leader_sees_its_groups_records_only(shown, add):
    seen = shown("longwang_group1", dt.date(2031, 4, 1))
    assert {rule for _v, rule in seen} <= {"pending_applications", "special_family_visits"}
    before = shown("xintan_group1").get(("新檀村", "special_family_visits"))
    add(_special_family(group_name="第二组"))  # another group's family
    assert shown("xintan_group1").get(("新檀村", "special_family_visits")) == before
    add(_special_family(group_name="第一组"))
    assert shown("xintan_group1")[("新檀村", "special_family_visits")].count == 1


def test_group_leader_sees_its_groups_applications(app, shown):
    with app.app_context():
        session = app.appbuilder.session
        g1 = group(session, "龙王村", "第一组")
        expected = session.query(Member).filter_by(group_id=g1.id, status="applied").count()
    assert shown("longwang_group1")[("龙王村", "pending_applications")].count == expected


def test_reminders_ask_the_database_once_per_rule_whatever_the_villages(app):
    from sqlalchemy import event

    from app.accounts import Scope

    statements = []

    def count(*_args):
        statements.append(1)

    with app.test_request_context():
        engine = app.appbuilder.session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            found = reminders_module.reminders(Scope("all"), dt.date(2031, 4, 1))
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len({r.village for r in found}) == 5  # the demo county's villages
    assert len(statements) <= len(reminders_module.RULES) + 1  # the rules, and village names


# --- The home page ---


def test_home_shows_the_villages_reminders_in_chinese(login_as):
    response = login_as("longwang_president").get("/")
    assert response.status_code == 200
    text = _reminders_section(response)
    assert "新檀村" not in text and "小河村" not in text
    for words in ["龙王村", "咨询投诉", "决议", "会议记录", "计生家庭（帮扶对象）", "去审批"]:
        assert words in text
    assert re.search(r"有\d+份入会申请等待您审批", text)
    assert re.search(r"已逾期 咨询投诉 1 决议 1", _text(response))


def test_home_reminders_in_english(login_as):
    client = login_as("longwang_secretary")
    client.get("/lang/en")
    text = _reminders_section(client.get("/"))
    assert "1 complaint(s) unresolved for more than 30 days." in text
    assert "1 resolution(s) past their due date." in text
    assert f"No monthly work meeting held yet in {TODAY:%Y-%m}." in text
    assert "1 special family(ies) not yet visited this month." in text
    assert "await the president's decision" in text and "Review them" not in text


def test_township_home_lists_reminders_per_village(login_as):
    text = _reminders_section(login_as("township").get("/"))
    for name in VILLAGES:
        assert name in text
    assert "去审批" not in text


def test_a_group_leader_with_nothing_due_is_told_so(login_as):
    client = login_as("xintan_group1")
    client.get("/lang/en")
    response = client.get("/")
    assert "Nothing needs your attention now." in _reminders_section(response)
    assert 'id="overdue-counts"' not in response.get_data(as_text=True)


def test_reminder_links_open_the_filtered_list(login_as):
    client = login_as("longwang_president")
    page = client.get("/").get_data(as_text=True)
    links = dict(
        re.findall(r'data-rule="(\w+)">.*?<a class="alert-link" href="([^"]+)"', page, re.S)
    )
    assert {"work_meeting", "special_family_visits", "overdue_complaints"} <= set(links)
    households = _text(client.get(html.unescape(links["special_family_visits"])))
    assert re.search(r"记录数: 3\b", households)  # 龙王村's three special families
    complaints = _text(client.get(html.unescape(links["overdue_complaints"])))
    assert re.search(r"记录数: 1\b", complaints) and "办理中" in complaints


# --- The household page: assistance per year ---


def test_household_page_shows_assistance_totals_per_year(app, add, login_as):
    family = add(_special_family())
    for date, amount in [
        (dt.date(2024, 2, 1), "100.50"),
        (dt.date(2024, 9, 9), "200.00"),
        (dt.date(2025, 1, 1), "50.25"),
        (dt.date(2025, 12, 31), None),
    ]:

        def make(s, date=date, amount=amount):
            record = _visit(family, date, kind="festival")(s)
            record.money = decimal.Decimal(amount) if amount else None
            return record

        add(make)
    text = _text(login_as("xintan_secretary").get(f"/householdview/show/{family}"))
    assert re.search(r"2025 2 50\.25 2024 2 300\.50", text)
    assert re.search(
        r"2025 2 50\.25", _text(login_as("township").get(f"/householdview/show/{family}"))
    )
    # Outside the scope the household does not exist.
    assert login_as("xintan_group1").get(f"/householdview/show/{family}").status_code == 404
    assert login_as("longwang_president").get(f"/householdview/show/{family}").status_code == 404


def test_household_totals_hidden_from_a_group_leader(app, add, login_as):
    family = add(_special_family(group_name="第一组"))
    add(_visit(family, TODAY))
    response = login_as("xintan_group1").get(f"/householdview/show/{family}")
    assert response.status_code == 200 and "郑德福" in _text(response)
    assert 'id="assistance-by-year"' not in response.get_data(as_text=True)


def test_a_county_reads_its_villages_by_township_and_a_bounded_list(login_as, monkeypatch):
    """Over several townships a reminder names the township too (二郎镇 龙王村), and a county of
    hundreds of villages gets the most urgent BOARD_SHOWN of them, then how many more, with the
    dashboard that sorts them out — not a page of thousands."""
    client = login_as("county")
    listed = re.findall(
        r'<div class="alert alert-(\w+) reminder"[^>]*>\s*<strong>([^<]+)</strong>',
        client.get("/").get_data(as_text=True),
    )
    names = {name for _severity, name in listed}
    assert "二郎镇 龙王村" in names and "太平镇 红岩村" in names, names
    assert all(" " in name for name in names), names
    assert len(listed) > 4
    monkeypatch.setattr(reminders_module, "BOARD_SHOWN", 4)
    page = client.get("/").get_data(as_text=True)
    kept = re.findall(r'<div class="alert alert-(\w+) reminder"', page)
    assert len(kept) == 4
    # The most urgent first: no reminder left out is more urgent than one kept.
    order = reminders_module.SEVERITY_ORDER
    left_out = sorted((order[s] for s, _n in listed))[4:]
    assert max(order[s] for s in kept) <= min(left_out)
    more = _text(client.get("/"))
    assert f"另有 {len(listed) - 4} 条提醒未在此列出：达标考核按乡镇列出每个村的情况。" in more
    assert 'id="reminders-more"' in page and 'href="/dashboard/"' in page


def test_a_township_reads_its_villages_by_their_own_names(login_as):
    page = login_as("township").get("/").get_data(as_text=True)
    names = set(
        re.findall(r'class="alert alert-\w+ reminder"[^>]*>\s*<strong>([^<]+)</strong>', page)
    )
    assert names and names <= {"新檀村", "龙王村", "小河村"}, names
    assert 'id="reminders-more"' not in page
