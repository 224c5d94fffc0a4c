"""The compliance norms (SPEC §5, issue 6): every norm met, unmet and with nothing to judge, at
its edges (quarter and month boundaries, small and standard villages, term dates); norms
switched off per township; the score; the API of SPEC §6 with its scope and its 400s; the demo.

Most tests judge 样板村, a village of a township of its own built to keep every norm in 2025;
each test breaks one thing and reads what the township would read.
"""

import datetime as dt
import json
import os

import pytest
from flask_babel import force_locale
from sqlalchemy import delete, event, select, update

from app import compliance, db
from app.accounts import Scope
from app.models import (
    BUSINESS_MODELS,
    Activity,
    Agreement,
    Assistance,
    Complaint,
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    County,
    Document,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Notice,
    Survey,
    Task,
    TaskAssignment,
    Township,
    Venue,
    Village,
)
from tests.helpers import valid_id

YEAR = 2025
AFTER = dt.date(2026, 1, 15)  # the year 2025 is over: every quarter and month counts
NORM_IDS = [f"R{n}" for n in range(1, 22)]
SAMPLE = "样板村"
MODELS = {model.__tablename__: model for model in BUSINESS_MODELS}


def _sample_village(session):
    """测试镇 样板村: standard, population 100, 10 married women; keeps every norm in 2025."""
    township = Township(name="测试镇", county=County(name="测试县"))
    village = Village(
        township=township,
        name=SAMPLE,
        size_class="standard",
        population=100,
        married_women=10,
    )
    group = MemberGroup(village=village, name="第一组")
    session.add_all([township, village, group])
    members = [
        Member(
            village=village,
            group=group,
            name=f"会员{n}",
            gender="male",
            id_number=valid_id(birth=f"19600{n % 9 + 1}1{n % 10}", seq=f"{n:02d}"),
            status="active",
            category="other",
        )
        for n in range(11)
    ]
    session.add_all(members)
    session.flush()
    group.leader = members[0]
    group.contact_heads = members[1:3]
    term = CouncilTerm(
        village=village,
        number=1,
        elected_on=dt.date(2023, 1, 10),
        term_end=dt.date(2028, 1, 9),
        filed_on=dt.date(2023, 1, 20),
    )
    positions = ["president", "vice_president", "secretary"] + ["director"] * 8
    compositions = ["elder"] * 5 + ["notable"] * 3 + ["cadre"] * 3
    seats = [
        CouncilSeat(village=village, term=term, member=m, position=p, composition=c)
        for m, p, c in zip(members, positions, compositions, strict=True)
    ]
    records = [term, *seats]
    for month in range(1, 13):
        records.append(Meeting(village=village, type="work", date=dt.date(YEAR, month, 5)))
        records.append(Notice(village=village, title="公示", published_on=dt.date(YEAR, month, 6)))
    for quarter_month in (2, 5, 8, 11):
        records.append(
            Meeting(village=village, type="council", date=dt.date(YEAR, quarter_month, 10))
        )
        records.append(
            Meeting(village=village, type="review", date=dt.date(YEAR, quarter_month, 20))
        )
    records.append(
        Activity(village=village, group=group, kind="training", date=dt.date(YEAR, 3, 1))
    )
    for kind in ("charter", "self_governance", "network_diagram", "approval", "duties"):
        records.append(Document(village=village, kind=kind, title=kind, year=2023))
    records.append(Document(village=village, kind="work_plan", title="2025年工作计划", year=YEAR))
    household = Household(
        village=village,
        group=group,
        head_name="特殊户",
        family_type="special_lost",
        status="needs_help",
        surveyed_on=dt.date(YEAR, 2, 1),
        township_contact="镇干部",
        village_contact="村干部",
    )
    records.append(household)
    for month in range(1, 13):
        records.append(
            Assistance(
                village=village,
                household=household,
                date=dt.date(YEAR, month, 15),
                kind="contact_visit",
            )
        )
    records.append(
        ContactHousehold(village=village, group=group, member=members[1], head_name="联系户")
    )
    records += [
        Agreement(village=village, party_name=f"户{n}", signed_on=dt.date(2024, 1, 1))
        for n in range(8)
    ]
    records += [
        Venue(village=village, kind="office", signage=True),
        Venue(village=village, kind="activity_room", signage=True),
        Complaint(
            village=village,
            received_on=dt.date(YEAR, 3, 1),
            channel="phone",
            kind="consultation",
            description="咨询",
            status="resolved",
            resolved_on=dt.date(YEAR, 3, 10),
        ),
    ]
    # R19, R20: every rate exactly on its target; R21: a township task done on its due date.
    for kind, asked, well in (
        ("cadre_knowledge", 50, 45),
        ("resident_knowledge", 50, 40),
        ("satisfaction", 20, 17),
    ):
        records.append(
            Survey(village=village, year=YEAR, kind=kind, asked=asked, answered_well=well)
        )
    task = Task(township=township, title="报送半年总结", due_date=dt.date(YEAR, 7, 10))
    task.assignments.append(
        TaskAssignment(village=village, status="done", done_on=dt.date(YEAR, 7, 10))
    )
    records.append(task)
    session.add_all(records)
    session.commit()
    return village.id


@pytest.fixture
def sample(app):
    """(village id, run): run(statement) executes and commits a change to the sample village."""
    with app.app_context():
        village_id = _sample_village(app.appbuilder.session)

    def run(*statements):
        # Through the ORM, row by row, so that every change is audited like a user's would be.
        with app.app_context():
            session = app.appbuilder.session
            for statement in statements:
                model = MODELS.get(statement.table.name)
                if model is None:
                    session.execute(statement)
                    continue
                rows = session.scalars(select(model).where(statement.whereclause)).all()
                params = statement.compile().params
                for row in rows:
                    if statement.is_delete:
                        session.delete(row)
                    for column in model.__table__.c if statement.is_update else ():
                        if column.key in params:
                            setattr(row, column.key, params[column.key])
                session.flush()
            session.commit()

    return village_id, run


@pytest.fixture
def judge(app):
    """judge(village_id, year, quarter, today) → {norm id: Result}, in English, plus the score."""

    def run(village_id, year=YEAR, quarter=None, today=AFTER):
        with app.test_request_context(), force_locale("en"):
            (result,) = compliance.evaluate(Scope("all"), year, quarter, today, village_id)
            rules = dict(result.rules)
            rules["score"] = result.score
            return rules

    return run


def _add(app, *records):
    with app.app_context():
        session = app.appbuilder.session
        session.add_all(records)
        session.commit()


def _seat(village_id, position):
    return (
        select(CouncilSeat.id)
        .where(CouncilSeat.village_id == village_id, CouncilSeat.position == position)
        .order_by(CouncilSeat.id)
        .limit(1)  # one seat: PostgreSQL refuses a subquery of several rows, SQLite took the first
        .scalar_subquery()
    )


# --- The sample village keeps every norm ---


def test_the_sample_village_keeps_every_norm(sample, judge):
    village_id, _run = sample
    rules = judge(village_id)
    assert {k: r.met for k, r in rules.items() if k != "score"} == dict.fromkeys(NORM_IDS, True)
    assert rules["score"] == 1.0
    assert rules["R2"].detail.startswith("Term 1 (5-3-3)")
    assert "11 active members" in rules["R5"].detail


def test_a_year_not_yet_begun_judges_nothing(sample, judge):
    village_id, _run = sample
    rules = judge(village_id, year=2026, today=dt.date(2025, 12, 31))
    assert all(rules[k].met is None for k in NORM_IDS) and rules["score"] is None
    assert rules["R6"].detail == "This period has not begun"


# --- R1–R3: the council ---


def test_r1_council_without_a_secretary_or_with_two_presidents(app, sample, judge):
    village_id, run = sample
    run(
        update(CouncilSeat)
        .where(CouncilSeat.id == _seat(village_id, "secretary"))
        .values(position="director")
    )
    rules = judge(village_id)
    assert rules["R1"].met is False and "no secretary-general" in rules["R1"].detail
    run(
        update(CouncilSeat)
        .where(CouncilSeat.id == _seat(village_id, "director"))
        .values(position="president")
    )
    assert "2 president(s), should be exactly 1" in judge(village_id)["R1"].detail


def test_r1_r2_without_a_council_term_have_nothing_to_judge_and_r3_is_unmet(sample, judge):
    village_id, run = sample
    run(
        delete(CouncilSeat).where(CouncilSeat.village_id == village_id),
        delete(CouncilTerm).where(CouncilTerm.village_id == village_id),
    )
    rules = judge(village_id)
    assert rules["R1"].met is None and rules["R2"].met is None
    assert rules["R3"].met is False and rules["R3"].detail == "No council term recorded"


def test_r1_judges_the_term_in_office_on_the_periods_last_day(app, sample, judge):
    village_id, _run = sample
    # Term 2 is elected in 2026 with no seats yet: 2025 is judged on term 1, 2026 on term 2.
    _add(app, CouncilTerm(village_id=village_id, number=2, elected_on=dt.date(2026, 1, 5)))
    assert judge(village_id)["R1"].met is True
    rules = judge(village_id, year=2026, today=dt.date(2026, 1, 15))
    assert rules["R1"].met is False and rules["R1"].detail.startswith("Term 2:")
    assert "not filed" in rules["R3"].detail


def test_r2_standard_and_small_villages(sample, judge):
    village_id, run = sample
    # One elder fewer: short of 5-3-3, but a small village's 3-2-1 is kept.
    elder = (
        select(CouncilSeat.id)
        .where(CouncilSeat.village_id == village_id, CouncilSeat.composition == "elder")
        .limit(1)
        .scalar_subquery()
    )
    run(update(CouncilSeat).where(CouncilSeat.id == elder).values(composition="cadre"))
    rules = judge(village_id)
    assert rules["R2"].met is False
    assert "Five elders 4, at least 5" in rules["R2"].detail
    run(update(Village).where(Village.id == village_id).values(size_class="small"))
    rules = judge(village_id)
    assert rules["R2"].met is True and "(3-2-1)" in rules["R2"].detail


@pytest.mark.parametrize(
    "change,expected",
    [
        ({"term_end": dt.date(2025, 12, 30)}, "the term ended on 2025-12-30"),
        ({"filed_on": None}, "not filed with the township"),
        (
            {"elected_on": dt.date(2020, 12, 1), "term_end": None},
            "elected on 2020-12-01, more than 5 years ago",
        ),
    ],
)
def test_r3_term_dates_and_filing(sample, judge, change, expected):
    village_id, run = sample
    run(update(CouncilTerm).where(CouncilTerm.village_id == village_id).values(**change))
    rules = judge(village_id)
    assert rules["R3"].met is False and expected in rules["R3"].detail


def test_r3_a_term_ending_on_the_last_day_of_the_year_still_counts(sample, judge):
    village_id, run = sample
    run(
        update(CouncilTerm)
        .where(CouncilTerm.village_id == village_id)
        .values(term_end=dt.date(2025, 12, 31))
    )
    assert judge(village_id)["R3"].met is True


# --- R4, R12: member groups ---


def test_r4_contact_heads_and_leader(app, sample, judge):
    village_id, run = sample
    group_id = select(MemberGroup.id).where(MemberGroup.village_id == village_id).scalar_subquery()
    with app.app_context():
        session = app.appbuilder.session
        group = session.scalars(select(MemberGroup).where(MemberGroup.id == group_id)).one()
        group.contact_heads = group.contact_heads[:1]
        session.commit()
    rules = judge(village_id)
    assert rules["R4"].met is False
    assert rules["R4"].detail == "第一组 has 1 contact household head(s), should have 2–3"
    run(update(MemberGroup).where(MemberGroup.id == group_id).values(leader_id=None))
    assert "第一组 has no group leader" in judge(village_id)["R4"].detail


def test_r4_r12_a_village_without_groups(app, sample, judge):
    village_id, _run = sample
    with app.app_context():
        other = Village(
            township_id=select(Village.township_id)
            .where(Village.id == village_id)
            .scalar_subquery(),
            name="无组村",
            population=10,
        )
        session = app.appbuilder.session
        session.add(other)
        session.commit()
        other_id = other.id
    rules = judge(other_id)
    assert rules["R4"].met is False and rules["R4"].detail == "No member groups"
    assert rules["R12"].met is None


def test_r12_a_group_without_an_activity_in_the_year(sample, judge):
    village_id, run = sample
    run(update(Activity).where(Activity.village_id == village_id).values(group_id=None))
    rules = judge(village_id)
    assert rules["R12"].met is False
    assert rules["R12"].detail == "第一组 lacks a group activity this year"
    assert rules["R9"].met is True  # the training itself still counts for the village


def test_r12_a_survey_from_last_year_does_not_count(sample, judge):
    village_id, run = sample
    run(
        update(Household)
        .where(Household.village_id == village_id)
        .values(surveyed_on=dt.date(2024, 12, 31))
    )
    rules = judge(village_id)
    assert "a difficult-household survey this year" in rules["R12"].detail
    assert "roster of households in difficulty" in rules["R11"].detail


# --- R5: members and population ---


def test_r5_exactly_ten_percent_and_below(sample, judge):
    village_id, run = sample
    run(update(Village).where(Village.id == village_id).values(population=110))
    assert judge(village_id)["R5"].met is True  # 11 of 110
    run(update(Village).where(Village.id == village_id).values(population=111))
    rules = judge(village_id)
    assert rules["R5"].met is False and "(at least 12)" in rules["R5"].detail
    run(update(Village).where(Village.id == village_id).values(population=None))
    assert judge(village_id)["R5"].met is None


# --- R6–R8, R17: quarters and months ---


@pytest.mark.parametrize(
    "rule,kind,label", [("R6", "council", "council meeting"), ("R7", "review", "review meeting")]
)
def test_quarterly_meetings_at_quarter_edges(app, sample, judge, rule, kind, label):
    village_id, run = sample
    run(delete(Meeting).where(Meeting.village_id == village_id, Meeting.type == kind))
    _add(app, Meeting(village_id=village_id, type=kind, date=dt.date(YEAR, 4, 1)))
    rules = judge(village_id)
    assert rules[rule].met is False
    assert (
        rules[rule].detail == f"No {label} in Q1 2025; No {label} in Q3 2025; No {label} in Q4 2025"
    )
    # Asked for Q2 only, the meeting of its first day is enough.
    assert judge(village_id, quarter=2)[rule].met is True
    _add(app, Meeting(village_id=village_id, type=kind, date=dt.date(YEAR, 3, 31)))
    assert judge(village_id, quarter=1)[rule].met is True


def test_quarter_in_progress_counts_and_quarters_ahead_do_not(app, sample, judge):
    village_id, run = sample
    run(delete(Meeting).where(Meeting.village_id == village_id, Meeting.type == "council"))
    _add(app, Meeting(village_id=village_id, type="council", date=dt.date(YEAR, 2, 1)))
    # On 1 April the second quarter has begun: no council meeting yet is already a gap.
    rules = judge(village_id, today=dt.date(YEAR, 4, 1))
    assert rules["R6"].detail == "No council meeting in Q2 2025"
    # On 31 March only Q1 counts.
    assert judge(village_id, today=dt.date(YEAR, 3, 31))["R6"].met is True
    # A quarter not begun at all judges nothing.
    rules = judge(village_id, quarter=3, today=dt.date(YEAR, 6, 30))
    assert rules["R6"].met is None and rules["R6"].detail == "This period has not begun"


def test_r8_a_work_meeting_every_month(app, sample, judge):
    village_id, run = sample
    run(
        delete(Meeting).where(
            Meeting.village_id == village_id,
            Meeting.type == "work",
            Meeting.date == dt.date(YEAR, 2, 5),
        )
    )
    _add(app, Meeting(village_id=village_id, type="work", date=dt.date(YEAR, 1, 31)))
    rules = judge(village_id)
    assert rules["R8"].met is False and rules["R8"].detail == "No work meeting in 2025-02"
    _add(app, Meeting(village_id=village_id, type="work", date=dt.date(YEAR, 2, 28)))
    assert judge(village_id)["R8"].met is True
    # A month in progress counts from its first day.
    assert (
        judge(village_id, year=2026, today=dt.date(2026, 1, 1))["R8"].detail
        == "No work meeting in 2026-01"
    )


def test_r17_a_notice_every_quarter(sample, judge):
    village_id, run = sample
    run(
        delete(Notice).where(
            Notice.village_id == village_id,
            Notice.published_on.between(dt.date(YEAR, 7, 1), dt.date(YEAR, 9, 30)),
        )
    )
    rules = judge(village_id)
    assert rules["R17"].met is False and rules["R17"].detail == "No public notice in Q3 2025"


# --- R9–R11: training, plan, archive ---


def test_r9_training_on_the_years_edges(app, sample, judge):
    village_id, run = sample
    run(update(Activity).where(Activity.village_id == village_id).values(date=dt.date(2026, 1, 1)))
    rules = judge(village_id)
    assert rules["R9"].met is False and rules["R9"].detail == "No member training in 2025"
    run(
        update(Activity).where(Activity.village_id == village_id).values(date=dt.date(YEAR, 12, 31))
    )
    assert judge(village_id)["R9"].met is True


def test_r10_last_years_plan_is_not_this_years(sample, judge):
    village_id, run = sample
    run(
        update(Document)
        .where(Document.village_id == village_id, Document.kind == "work_plan")
        .values(year=2024)
    )
    rules = judge(village_id)
    assert rules["R10"].met is False and rules["R10"].detail == "No work plan for 2025"


def test_r11_names_what_the_archive_lacks(sample, judge):
    village_id, run = sample
    run(
        delete(Document).where(
            Document.village_id == village_id, Document.kind.in_(("network_diagram", "duties"))
        )
    )
    rules = judge(village_id)
    assert rules["R11"].met is False
    assert rules["R11"].detail == (
        "Missing from the archive: organisation network diagram、"
        "job duties of president and secretary-general"
    )


# --- R13: venues ---


def test_r13_office_and_activity_room_with_signage(sample, judge):
    village_id, run = sample
    run(
        update(Venue)
        .where(Venue.village_id == village_id, Venue.kind == "activity_room")
        .values(signage=False)
    )
    assert judge(village_id)["R13"].detail == "the member activity room has no signage"
    run(delete(Venue).where(Venue.village_id == village_id, Venue.kind == "office"))
    rules = judge(village_id)
    assert rules["R13"].met is False and "no association office" in rules["R13"].detail


# --- R14, R18: households ---


def test_r14_a_household_needing_help_without_assistance(app, sample, judge):
    village_id, run = sample
    group_id = select(MemberGroup.id).where(MemberGroup.village_id == village_id).scalar_subquery()
    with app.app_context():
        gid = app.appbuilder.session.execute(select(group_id)).scalar()
    _add(
        app, Household(village_id=village_id, group_id=gid, head_name="困难户", status="needs_help")
    )
    rules = judge(village_id)
    assert rules["R14"].met is False
    assert rules["R14"].detail == "1 of 2 households needing help have no assistance record in 2025"
    run(update(Household).where(Household.village_id == village_id).values(status="recovered"))
    assert judge(village_id)["R14"].met is None


def test_r18_contacts_and_monthly_visits(sample, judge):
    village_id, run = sample
    run(
        delete(Assistance).where(
            Assistance.village_id == village_id, Assistance.date == dt.date(YEAR, 6, 15)
        )
    )
    rules = judge(village_id)
    assert rules["R18"].met is False
    assert rules["R18"].detail == "1 special family(ies) not visited in 2025-06"
    assert judge(village_id, quarter=3)["R18"].met is True
    run(update(Household).where(Household.village_id == village_id).values(village_contact=None))
    assert (
        "1 special family(ies) without two contact persons"
        in judge(village_id, quarter=3)["R18"].detail
    )
    run(
        update(Household)
        .where(Household.village_id == village_id)
        .values(family_type="only_child", special=False)
    )
    assert judge(village_id)["R18"].met is None


# --- R15, R16: complaints and agreements ---


def _complaint(village_id, received, status="handling", resolved=None):
    return Complaint(
        village_id=village_id,
        received_on=received,
        channel="phone",
        kind="consultation",
        description="咨询",
        status=status,
        resolved_on=resolved,
    )


def test_r15_overdue_at_the_years_end(app, sample, judge):
    village_id, _run = sample
    # Received 1 December: 30 days later it is not yet overdue on 31 December.
    _add(app, _complaint(village_id, dt.date(YEAR, 12, 1)))
    assert judge(village_id)["R15"].met is True
    # Received 1 November, resolved only in January: it was overdue when 2025 ended.
    _add(app, _complaint(village_id, dt.date(YEAR, 11, 1), "resolved", dt.date(2026, 1, 10)))
    rules = judge(village_id)
    assert (
        rules["R15"].met is False
        and rules["R15"].detail == "1 complaint(s) unresolved after 30 days"
    )


def test_r15_no_complaint_at_all(sample, judge):
    village_id, run = sample
    run(delete(Complaint).where(Complaint.village_id == village_id))
    assert judge(village_id)["R15"].met is None


def test_r16_agreements_for_eighty_percent(sample, judge):
    village_id, run = sample
    assert "8 agreements in force for 10 married women" in judge(village_id)["R16"].detail
    one = select(Agreement.id).where(Agreement.village_id == village_id).limit(1).scalar_subquery()
    run(update(Agreement).where(Agreement.id == one).values(expires_on=dt.date(YEAR, 12, 30)))
    rules = judge(village_id)
    assert rules["R16"].met is False and "70.0%" in rules["R16"].detail
    run(update(Village).where(Village.id == village_id).values(married_women=None))
    assert judge(village_id)["R16"].met is None


# --- Switched off, score ---


def test_a_norm_switched_off_for_a_township_is_not_judged(app, sample, judge, monkeypatch):
    village_id, run = sample
    run(delete(Venue).where(Venue.village_id == village_id))
    rules = judge(village_id)
    assert rules["R13"].met is False and rules["score"] == round(20 / 21, 4)
    monkeypatch.setitem(app.config, "COMPLIANCE_DISABLED", {"测试镇": ["R13"]})
    rules = judge(village_id)
    assert rules["R13"].met is None and rules["R13"].detail == "Switched off for this township"
    assert rules["score"] == 1.0
    # Another township's setting leaves this one alone; "*" is every township.
    monkeypatch.setitem(app.config, "COMPLIANCE_DISABLED", {"二郎镇": ["R13"]})
    assert judge(village_id)["R13"].met is False
    monkeypatch.setitem(app.config, "COMPLIANCE_DISABLED", {"*": ["r13", "R1"]})
    rules = judge(village_id)
    assert rules["R13"].met is None and rules["R1"].met is None
    # A single id needs no list.
    monkeypatch.setitem(app.config, "COMPLIANCE_DISABLED", {"测试镇": "R13"})
    rules = judge(village_id)
    assert rules["R13"].met is None and rules["R1"].met is True


def test_the_number_of_queries_does_not_grow_with_villages(app, sample):
    """Set-based: one query per norm, however many villages the scope holds."""
    village_id, _run = sample

    def statements(scope):
        seen = []
        with app.test_request_context():
            engine = db.engine
            listener = lambda *args: seen.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listener)
            try:
                results = compliance.evaluate(scope, YEAR, None, AFTER)
            finally:
                event.remove(engine, "before_cursor_execute", listener)
        return len(results), len(seen)

    one = statements(Scope("village", village_id=village_id))
    four = statements(Scope("all"))
    assert one[0] == 1 and four[0] == 4
    assert one[1] == four[1]


# --- The demo township ---


def test_the_demo_shows_met_and_unmet_norms(judge, app):
    today = dt.date.today()
    with app.test_request_context(), force_locale("en"):
        results = {r.name: r for r in compliance.evaluate(Scope("all"), today.year, None, today)}
    longwang = results["龙王村"].rules
    assert (
        longwang["R4"].met is False
        and "第三组 has 1 contact household head(s)" in longwang["R4"].detail
    )
    assert longwang["R15"].met is False and longwang["R16"].met is False
    assert results["小河村"].rules["R3"].detail.endswith("not filed with the township")
    assert results["小河村"].rules["R10"].met is False
    assert results["小河村"].rules["R13"].detail == "the member activity room has no signage"
    assert results["新檀村"].score > results["龙王村"].score
    assert results["新檀村"].rank == 1
    flags = {r.met for village in results.values() for r in village.rules.values()}
    assert {True, False} <= flags


# --- The API (SPEC §6) ---


def test_api_shape(client, api_token):
    year = dt.date.today().year
    response = client.get(f"/api/v1/compliance/?year={year}", headers=api_token("township"))
    assert response.status_code == 200
    villages = response.get_json()["villages"]
    assert [v["name"] for v in villages] == ["新檀村", "龙王村", "小河村"]
    for village in villages:
        assert set(village) == {"village_id", "name", "score", "rules"}
        assert set(village["rules"]) == set(NORM_IDS)
        for rule in village["rules"].values():
            assert set(rule) == {"met", "detail"}
            assert rule["met"] in (True, False, None) and isinstance(rule["detail"], str)
        judged = [r["met"] for r in village["rules"].values() if r["met"] is not None]
        assert village["score"] == round(sum(judged) / len(judged), 4)
    # A quarter narrows the periods.
    quarter = client.get(
        f"/api/v1/compliance/?year={year}&quarter=1", headers=api_token("township")
    )
    assert quarter.status_code == 200 and len(quarter.get_json()["villages"]) == 3


@pytest.mark.parametrize(
    "username,villages",
    [
        ("township", ["新檀村", "龙王村", "小河村"]),
        ("xintan_president", ["新檀村"]),
        ("longwang_secretary", ["龙王村"]),
        ("xintan_group1", ["新檀村"]),
        ("xiaohe_president", ["小河村"]),
    ],
)
def test_api_scope_per_role(client, api_token, username, villages):
    response = client.get("/api/v1/compliance/?year=2026", headers=api_token(username))
    assert response.status_code == 200
    assert [v["name"] for v in response.get_json()["villages"]] == villages


def test_api_admin_sees_every_township(app, client, api_token, sample):
    response = client.get("/api/v1/compliance/?year=2025", headers=api_token("admin"))
    names = [v["name"] for v in response.get_json()["villages"]]
    assert names == ["新檀村", "龙王村", "小河村", SAMPLE]
    township = client.get("/api/v1/compliance/?year=2025", headers=api_token("township"))
    assert SAMPLE not in [v["name"] for v in township.get_json()["villages"]]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?year=",
        "?year=abc",
        "?year=1999",
        "?year=2101",
        "?year=2026&quarter=0",
        "?year=2026&quarter=5",
        "?year=2026&quarter=x",
        "?year=99999999999999999999999",
    ],
)
def test_api_bad_year_or_quarter_is_400(client, api_token, query):
    response = client.get(f"/api/v1/compliance/{query}", headers=api_token("township"))
    assert response.status_code == 400
    assert "2000–2100" in response.get_json()["message"]


def test_api_needs_a_login_and_takes_a_session_too(client, login_as):
    assert client.get("/api/v1/compliance/?year=2026").status_code == 401
    browser = login_as("xintan_secretary")
    response = browser.get("/api/v1/compliance/?year=2026")
    assert response.status_code == 200
    assert [v["name"] for v in response.get_json()["villages"]] == ["新檀村"]


@pytest.mark.parametrize(
    "elected_on,met", [(dt.date(2020, 12, 31), True), (dt.date(2020, 12, 30), False)]
)
def test_r3_a_term_without_an_end_lasts_five_years_to_the_day(sample, judge, elected_on, met):
    village_id, run = sample
    run(
        update(CouncilTerm)
        .where(CouncilTerm.village_id == village_id)
        .values(elected_on=elected_on, term_end=None)
    )
    assert judge(village_id)["R3"].met is met


def test_switched_off_norms_are_read_from_the_environment(tmp_path):
    """COMPLIANCE_DISABLED in the environment, as JSON, reaches the configuration."""
    import subprocess
    import sys

    script = (
        "import config, json; print(json.dumps(config.COMPLIANCE_DISABLED, ensure_ascii=False))"
    )
    env = {
        **os.environ,
        "COMPLIANCE_DISABLED": '{"二郎镇": ["R13", "R16"]}',
        "INSTANCE_DIR": str(tmp_path),
    }
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == {"二郎镇": ["R13", "R16"]}


def test_details_speak_chinese_by_default(client, api_token):
    """The app's language: what the township reads says exactly what is missing, in Chinese."""
    response = client.get(
        f"/api/v1/compliance/?year={dt.date.today().year}", headers=api_token("township")
    )
    longwang = next(v for v in response.get_json()["villages"] if v["name"] == "龙王村")
    assert longwang["rules"]["R4"]["detail"] == "第三组联系户长 1 人，应为 2–3 人"


# --- R19–R21: surveys and township tasks (issue 9) ---


def _set_survey(app, village_id, kind, asked, well, year=YEAR):
    with app.app_context():
        session = app.appbuilder.session
        survey = session.scalars(
            select(Survey).where(
                Survey.village_id == village_id, Survey.kind == kind, Survey.year == year
            )
        ).one()
        survey.asked, survey.answered_well = asked, well
        session.commit()


@pytest.mark.parametrize(
    "rule, kind, asked, well, met",
    [
        ("R19", "cadre_knowledge", 50, 45, True),  # 90% exactly
        ("R19", "cadre_knowledge", 1000, 899, False),  # 89.9% shows as 89.9%, not 90%
        ("R19", "resident_knowledge", 5, 4, True),  # 80% exactly
        ("R19", "resident_knowledge", 25, 19, False),  # 76%
        ("R20", "satisfaction", 20, 17, True),  # 85% exactly
        ("R20", "satisfaction", 200, 169, False),  # 84.5%
    ],
)
def test_r19_r20_rates_at_their_targets(app, sample, judge, rule, kind, asked, well, met):
    village_id, _run = sample
    _set_survey(app, village_id, kind, asked, well)
    assert judge(village_id)[rule].met is met


def test_r19_detail_says_the_rate_and_its_target(app, sample, judge):
    village_id, _run = sample
    _set_survey(app, village_id, "resident_knowledge", 25, 19)
    rules = judge(village_id)
    assert rules["R19"].detail == "2025 Resident knowledge rate 76%, should be at least 80%"
    with app.test_request_context(), force_locale("zh"):
        (result,) = compliance.evaluate(Scope("all"), YEAR, None, AFTER, village_id)
    assert result.rules["R19"].detail == "2025 群众知晓率 76%，应不低于 80%"
    _set_survey(app, village_id, "satisfaction", 1000, 845)
    assert judge(village_id)["R20"].detail == "2025 Satisfaction 84.5%, should be at least 85%"


def test_r19_r20_without_a_survey_have_nothing_to_judge(app, sample, judge):
    village_id, run = sample
    run(delete(Survey).where(Survey.village_id == village_id, Survey.kind == "cadre_knowledge"))
    rules = judge(village_id)
    assert rules["R19"].met is False and "no Cadre knowledge rate survey" in rules["R19"].detail
    run(delete(Survey).where(Survey.village_id == village_id))
    rules = judge(village_id)
    assert rules["R19"].met is None and rules["R20"].met is None
    assert rules["R20"].detail == "No Satisfaction survey for 2025"
    # Last year's survey does not answer for this year.
    assert judge(village_id, year=2026, today=dt.date(2026, 3, 1))["R19"].met is None


def _sample_task(app, village_id, due, status="open", done_on=None):
    with app.app_context():
        session = app.appbuilder.session
        village = session.get(Village, village_id)
        task = Task(township_id=village.township_id, title="统计走访情况", due_date=due)
        task.assignments.append(
            TaskAssignment(village_id=village_id, status=status, done_on=done_on)
        )
        session.add(task)
        session.commit()


def test_r21_a_task_due_today_is_not_late_yet_one_due_yesterday_is(app, sample, judge):
    village_id, _run = sample
    today = dt.date(YEAR, 11, 20)
    _sample_task(app, village_id, today)
    rules = judge(village_id, today=today)
    assert rules["R21"].met is True
    assert rules["R21"].detail == "1 township task(s) due, all done on time"
    rules = judge(village_id, today=today + dt.timedelta(days=1))
    assert rules["R21"].met is False
    assert rules["R21"].detail == "「统计走访情况」 due 2025-11-20, not done"


def test_r21_done_late_is_unmet_done_on_the_day_is_met(app, sample, judge):
    village_id, _run = sample
    _sample_task(app, village_id, dt.date(YEAR, 9, 30), "done", dt.date(YEAR, 10, 1))
    rules = judge(village_id)
    assert rules["R21"].met is False
    assert "done on 2025-10-01, after its due date 2025-09-30" in rules["R21"].detail
    # The quarter the task was due in judges it; the quarter before has nothing due.
    assert judge(village_id, quarter=3)["R21"].met is False
    assert judge(village_id, quarter=1)["R21"].met is None


def test_r19_r21_can_be_switched_off_per_township(app, sample, judge, monkeypatch):
    village_id, _run = sample
    _set_survey(app, village_id, "resident_knowledge", 25, 19)
    monkeypatch.setitem(app.config, "COMPLIANCE_DISABLED", {"测试镇": ["R19", "R21"]})
    rules = judge(village_id)
    assert rules["R19"].met is None and rules["R19"].detail == "Switched off for this township"
    assert rules["R21"].met is None and rules["R20"].met is True


def test_the_demo_has_one_village_under_its_knowledge_target_and_an_overdue_task(app):
    today = dt.date.today()
    with app.test_request_context(), force_locale("zh"):
        results = {r.name: r for r in compliance.evaluate(Scope("all"), today.year, None, today)}
    longwang = results["龙王村"].rules
    assert longwang["R19"].met is False
    assert longwang["R19"].detail == f"{today.year} 群众知晓率 76%，应不低于 80%"
    assert results["新檀村"].rules["R19"].met is True
    assert {results[name].rules["R20"].met for name in results} == {True}
