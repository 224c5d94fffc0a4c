"""The demo's year of work records (issue 4, item 9): twelve months up to the day it is loaded,
with duties done in 新檀村 and some missed in 龙王村 and 小河村, as reminders and the dashboard
(SPEC §5 R6-R18) will judge them."""

import datetime as dt
import decimal

import pytest
from sqlalchemy import func, select

from app.demo import load_demo
from app.models import (
    SPECIAL_FAMILY_TYPES,
    Activity,
    Agreement,
    Assistance,
    AuditLog,
    Complaint,
    Document,
    Household,
    Meeting,
    Notice,
    Resolution,
    Venue,
)
from app.reminders import month_start, quarter_start
from tests.databases import TEST_PASSWORD
from tests.helpers import village

TODAY = dt.date.today()
YEAR_START = month_start(TODAY, 11)
MONTHS = [month_start(TODAY, back) for back in range(12)]


@pytest.fixture
def s(db_session):
    return db_session


def _months_with(s, name, meeting_type):
    dates = s.scalars(
        select(Meeting.date).where(
            Meeting.village_id == village(s, name).id, Meeting.type == meeting_type
        )
    ).all()
    return {month_start(d) for d in dates}


def _quarters_with(s, name, meeting_type):
    return {quarter_start(m) for m in _months_with(s, name, meeting_type)}


def test_the_year_ends_today_and_spans_twelve_months(s):
    first, last = s.execute(select(func.min(Meeting.date), func.max(Meeting.date))).one()
    assert YEAR_START <= first and last <= TODAY
    for model in (Activity, Assistance, Notice, Complaint):
        column = {Complaint: Complaint.received_on, Notice: Notice.published_on}.get(
            model, getattr(model, "date", None)
        )
        assert s.execute(select(func.max(column))).scalar() <= TODAY


def test_work_meetings_monthly_in_xintan_one_missed_in_longwang(s):
    assert _months_with(s, "新檀村", "work") == set(MONTHS)
    longwang = _months_with(s, "龙王村", "work")
    assert MONTHS[4] not in longwang and MONTHS[0] not in longwang
    assert MONTHS[1] in longwang


def test_council_and_review_each_quarter_with_gaps(s):
    quarters = {quarter_start(m) for m in MONTHS}
    assert _quarters_with(s, "新檀村", "council") == quarters
    assert _quarters_with(s, "新檀村", "review") == quarters
    assert quarter_start(TODAY) not in _quarters_with(s, "龙王村", "review")
    assert quarter_start(TODAY) in _quarters_with(s, "龙王村", "council")
    assert quarter_start(TODAY) not in _quarters_with(s, "小河村", "council")
    assert quarter_start(TODAY) in _quarters_with(s, "小河村", "review")


def test_meetings_have_attendees_of_their_village_and_groups_meet(s):
    for meeting in s.scalars(select(Meeting)).all():
        assert meeting.attendees, meeting
        assert {m.village_id for m in meeting.attendees} == {meeting.village_id}
        if meeting.group_id:
            assert {m.group_id for m in meeting.attendees} == {meeting.group_id}
    group_meetings = s.scalars(select(Meeting.group_id).where(Meeting.type == "group")).all()
    assert len(set(group_meetings)) == 12 + 5  # every group of 二郎镇's and 太平镇's villages


def test_resolutions_open_done_and_one_overdue_in_longwang(s):
    statuses = set(s.scalars(select(Resolution.status)).all())
    assert {"open", "done"} <= statuses
    overdue = s.scalars(
        select(Resolution).where(Resolution.status == "open", Resolution.due_date < TODAY)
    ).all()
    assert [r.village.name for r in overdue] == ["龙王村"]
    assert all(r.meeting.date < r.due_date for r in overdue)


def test_activities_of_every_kind_with_participants(s):
    kinds = set(s.scalars(select(Activity.kind)).all())
    assert {"parenting", "youth_health", "family_health", "marriage_culture", "training"} <= kinds
    themes = s.scalars(select(Activity.theme)).all()
    if dt.date(TODAY.year, 5, 29) <= TODAY or dt.date(TODAY.year - 1, 5, 29) >= YEAR_START:
        assert any("5·29" in theme for theme in themes)
    for activity in s.scalars(select(Activity)).all():
        assert activity.participants and activity.participants_count >= len(activity.participants)
    grouped = set(s.scalars(select(Activity.group_id).where(Activity.group_id.is_not(None))))
    assert len(grouped) == 11 + 5  # 小河村 第二组 has had no activity this year


def test_special_families_two_contacts_and_a_visit_each_month(s):
    for name, missing_contact in [("新檀村", 0), ("龙王村", 1), ("小河村", 0)]:
        families = s.scalars(
            select(Household).where(
                Household.village_id == village(s, name).id,
                Household.special.is_(True),
            )
        ).all()
        assert families
        without = [f for f in families if not (f.township_contact and f.village_contact)]
        assert len(without) == missing_contact
        for family in families:
            visited = {month_start(a.date) for a in family.assistance if a.kind == "contact_visit"}
            expected = set(MONTHS) - ({MONTHS[0]} if family in without else set())
            assert visited == expected, family
            assert family.paired_member is not None and family.family_doctor


def test_households_needing_help_assisted_this_year_but_one_in_longwang(s):
    this_year = dt.date(TODAY.year, 1, 1)
    for name, unassisted in [("新檀村", 0), ("龙王村", 1), ("小河村", 0)]:
        needing = s.scalars(
            select(Household).where(
                Household.village_id == village(s, name).id, Household.status == "needs_help"
            )
        ).all()
        left_out = [h for h in needing if not any(a.date >= this_year for a in h.assistance)]
        assert len(left_out) == unassisted, name
    types = set(s.scalars(select(Household.family_type)).all())
    assert {"only_child", "two_daughters", *SPECIAL_FAMILY_TYPES} <= types


def test_assistance_money_is_exact_yuan(s):
    amounts = s.scalars(select(Assistance.money).where(Assistance.money.is_not(None))).all()
    assert amounts and all(isinstance(a, decimal.Decimal) for a in amounts)
    assert all(a == a.quantize(decimal.Decimal("0.01")) and a > 0 for a in amounts)


def test_agreements_cover_80_percent_in_xintan_not_in_longwang(s):
    for name, met in [("新檀村", True), ("龙王村", False), ("小河村", True)]:
        v = village(s, name)
        in_force = s.execute(
            select(func.count()).where(Agreement.village_id == v.id, Agreement.status == "in_force")
        ).scalar()
        assert (in_force >= 0.8 * v.married_women) is met, name


def test_archive_work_plan_venues_and_notices(s):
    def kinds(name, year=None):
        query = select(Document.kind).where(Document.village_id == village(s, name).id)
        if year:
            query = query.where(Document.year == year)
        return set(s.scalars(query).all())

    for name in ("新檀村", "龙王村", "小河村"):
        assert {"charter", "network_diagram", "approval", "duties"} <= kinds(name)
    assert "work_plan" in kinds("新檀村", TODAY.year) and "work_plan" in kinds("龙王村", TODAY.year)
    assert "work_plan" not in kinds("小河村", TODAY.year)

    def signage(name):
        venues = s.scalars(select(Venue).where(Venue.village_id == village(s, name).id)).all()
        return {v.kind: v.signage for v in venues if v.group_id is None}

    assert signage("新檀村")["office"] and signage("新檀村")["activity_room"]
    assert signage("小河村")["office"] and not signage("小河村")["activity_room"]

    def notice_quarters(name):
        dates = s.scalars(
            select(Notice.published_on).where(Notice.village_id == village(s, name).id)
        ).all()
        return {quarter_start(d) for d in dates}

    assert {quarter_start(m) for m in MONTHS} == notice_quarters("新檀村")
    assert quarter_start(TODAY, 1) not in notice_quarters("小河村")


def test_complaints_resolved_handled_and_one_overdue(app, s):
    deadline = TODAY - dt.timedelta(days=app.config["COMPLAINT_DEADLINE_DAYS"])
    statuses = set(s.scalars(select(Complaint.status)).all())
    assert {"resolved", "received", "handling", "referred"} <= statuses
    overdue = s.scalars(
        select(Complaint).where(
            Complaint.status.in_(("received", "handling")), Complaint.received_on < deadline
        )
    ).all()
    assert [c.village.name for c in overdue] == ["龙王村"]
    assert all(c.overdue for c in overdue)


def test_loading_again_changes_nothing_and_every_record_is_audited(app, s):
    counts = {
        m: s.execute(select(func.count()).select_from(m)).scalar() for m in (Meeting, Agreement)
    }
    assert "0 work records created" in load_demo(s, TEST_PASSWORD)
    assert counts == {m: s.execute(select(func.count()).select_from(m)).scalar() for m in counts}
    audited = s.execute(
        select(func.count()).where(AuditLog.model == "Meeting", AuditLog.action == "insert")
    ).scalar()
    assert audited == counts[Meeting]
