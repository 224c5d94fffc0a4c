"""The association norms of SPEC §5 (R1–R21), one declaration each (``NORMS``).

A norm is its id, title, source article, the period it speaks of, one set-based query that
answers for every village of the scope at once, a judge that reads a village's rows into
``met`` (True / False / None: nothing to judge) with a detail saying exactly what is missing,
and the list (register and filters) that shows the records which would fix it. What a norm is
lives in ``app.norm_basics``; ``app.compliance`` runs the norms over a scope.

Norms about a state (the council, groups, venues, agreements) are judged on the period's last
day, or today if that is earlier; quarters and months not yet begun are not counted.
"""

import datetime as dt
from collections import defaultdict

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, extract, func, or_, select
from sqlalchemy.orm import aliased

from app.models import (
    COMPLAINT_OPEN,
    MEMBER_STATUS,
    SEAT_COMPOSITION,
    SURVEY_KIND,
    Activity,
    Agreement,
    Assistance,
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
    Survey,
    Task,
    TaskAssignment,
    Venue,
    Village,
    complaint_deadline,
    group_contact_head,
)
from app.norm_basics import Norm, _, count_if, in_villages, join_details, share, translated
from app.reminders import BOOL_EQUAL, DATE_BEFORE, NUMBER_EQUAL, TEXT_EQUAL, TEXT_IN

# Seeds 000 Art. 3: elders / notables, entrepreneurs and activists / village cadres.
COUNCIL_MODEL = {"standard": (5, 3, 3), "small": (3, 2, 1)}
COMPOSITIONS = ("elder", "notable", "cadre")
CONTACT_HEADS = (2, 3)  # Art. 4: two to three contact household heads per group
MEMBER_SHARE = 0.10  # seeds 003 (二)4: members at least 10% of the population
AGREEMENT_SHARE = 0.80  # seeds 001/002: agreements for 80% of married women
TERM_YEARS = 5  # default length of a council term; COUNCIL_TERM_YEARS overrides it
DATE_AFTER = 1  # FAB's "greater than" filter on a date column


# --- R1–R3: the council ---


def _term_years() -> int:
    return int(current_app.config.get("COUNCIL_TERM_YEARS", TERM_YEARS))


def _years_after(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def current_term(village_ids, day: dt.date):
    """Each village's latest council term elected by ``day`` (used by the reports too)."""
    later = aliased(CouncilTerm)
    newer = exists().where(
        later.village_id == CouncilTerm.village_id,
        later.elected_on <= day,
        later.number > CouncilTerm.number,
    )
    return and_(in_villages(CouncilTerm, village_ids), CouncilTerm.elected_on <= day, ~newer)


def _seats(village_ids, period):
    position, composition = CouncilSeat.position, CouncilSeat.composition
    return (
        select(
            CouncilTerm.village_id,
            CouncilTerm.number,
            count_if(position == "president"),
            count_if(position.in_(("vice_president", "executive_vice"))),
            count_if(position == "secretary"),
            *(count_if(composition == c) for c in COMPOSITIONS),
        )
        .outerjoin(CouncilSeat, CouncilSeat.term_id == CouncilTerm.id)
        .where(current_term(village_ids, period.ref))
        .group_by(CouncilTerm.village_id, CouncilTerm.id, CouncilTerm.number)
    )


def _judge_positions(rows, village, period):
    if not rows:
        return None, _("No council term recorded")
    _v, number, presidents, vices, secretaries, *_c = rows[0]
    problems = []
    if presidents != 1:
        problems.append(_("%(n)d president(s), should be exactly 1", n=presidents))
    if not vices:
        problems.append(_("no vice-president"))
    if not secretaries:
        problems.append(_("no secretary-general"))
    if problems:
        return False, _(
            "Term %(number)d: %(problems)s", number=number, problems=join_details(problems)
        )
    return True, _(
        "Term %(number)d: %(presidents)d president, %(vices)d vice-president(s), "
        "%(secretaries)d secretary-general(s)",
        number=number,
        presidents=presidents,
        vices=vices,
        secretaries=secretaries,
    )


def _judge_composition(rows, village, period):
    if not rows:
        return None, _("No council term recorded")
    _v, number, _p, _vp, _s, *counts = rows[0]
    needed = COUNCIL_MODEL.get(village.size_class, COUNCIL_MODEL["standard"])
    model = "-".join(str(n) for n in needed)
    problems = [
        _(
            "%(label)s %(n)d, at least %(needed)d",
            label=translated(SEAT_COMPOSITION.label(code)),
            n=n,
            needed=want,
        )
        for code, n, want in zip(COMPOSITIONS, counts, needed, strict=True)
        if n < want
    ]
    if problems:
        return False, _(
            "Term %(number)d (%(model)s): %(problems)s",
            number=number,
            model=model,
            problems=join_details(problems),
        )
    counted = join_details(
        f"{translated(SEAT_COMPOSITION.label(code))} {n}"
        for code, n in zip(COMPOSITIONS, counts, strict=True)
    )
    return True, _(
        "Term %(number)d (%(model)s): %(counts)s", number=number, model=model, counts=counted
    )


def _terms(village_ids, period):
    return select(
        CouncilTerm.village_id,
        CouncilTerm.number,
        CouncilTerm.elected_on,
        CouncilTerm.term_end,
        CouncilTerm.filed_on,
    ).where(current_term(village_ids, period.ref))


def _judge_term(rows, village, period):
    if not rows:
        return False, _("No council term recorded")
    _v, number, elected_on, term_end, filed_on = rows[0]
    years = _term_years()
    problems = []
    if term_end is not None and term_end < period.ref:
        problems.append(_("the term ended on %(date)s", date=term_end.isoformat()))
    elif _years_after(elected_on, years) < period.ref:
        problems.append(
            _(
                "elected on %(date)s, more than %(years)d years ago",
                date=elected_on.isoformat(),
                years=years,
            )
        )
    if filed_on is None:
        problems.append(_("not filed with the township"))
    if problems:
        return False, _(
            "Term %(number)d: %(problems)s", number=number, problems=join_details(problems)
        )
    return True, _(
        "Term %(number)d elected on %(elected)s, filed on %(filed)s",
        number=number,
        elected=elected_on.isoformat(),
        filed=filed_on.isoformat(),
    )


# --- R4, R12: member groups ---


def _group_heads(village_ids, period):
    heads = (
        select(func.count())
        .select_from(group_contact_head)
        .where(group_contact_head.c.group_id == MemberGroup.id)
        .scalar_subquery()
    )
    return (
        select(MemberGroup.village_id, MemberGroup.name, MemberGroup.leader_id, heads)
        .where(in_villages(MemberGroup, village_ids))
        .order_by(MemberGroup.village_id, MemberGroup.id)
    )


def _judge_groups(rows, village, period):
    if not rows:
        return False, _("No member groups")
    low, high = CONTACT_HEADS
    problems = []
    for _v, name, leader_id, heads in rows:
        if leader_id is None:
            problems.append(_("%(group)s has no group leader", group=name))
        if not low <= heads <= high:
            problems.append(
                _(
                    "%(group)s has %(n)d contact household head(s), should have %(low)d–%(high)d",
                    group=name,
                    n=heads,
                    low=low,
                    high=high,
                )
            )
    if problems:
        return False, join_details(problems)
    return True, _(
        "%(n)d groups, each with a leader and %(low)d–%(high)d contact household heads",
        n=len(rows),
        low=low,
        high=high,
    )


def _group_records(village_ids, period):
    """Per group: the four records of Art. 13 for the year, each as a yes/no column."""
    year_start, ref = period.year_start, period.ref
    checks = [
        exists().where(Member.group_id == MemberGroup.id, Member.status == "active"),
        exists().where(ContactHousehold.group_id == MemberGroup.id),
        exists().where(Activity.group_id == MemberGroup.id, Activity.date.between(year_start, ref)),
        exists().where(
            Household.group_id == MemberGroup.id,
            Household.surveyed_on.between(year_start, ref),
        ),
    ]
    return (
        select(
            MemberGroup.village_id,
            MemberGroup.name,
            *(c.label(f"c{n}") for n, c in enumerate(checks)),
        )
        .where(in_villages(MemberGroup, village_ids))
        .order_by(MemberGroup.village_id, MemberGroup.id)
    )


GROUP_RECORDS = (
    _l("roster of members"),
    _l("contact households"),
    _l("a group activity this year"),
    _l("a difficult-household survey this year"),
)


def _judge_group_records(rows, village, period):
    if not rows:
        return None, _("No member groups")
    problems = []
    for _v, name, *present in rows:
        missing = [
            translated(label) for label, ok in zip(GROUP_RECORDS, present, strict=True) if not ok
        ]
        if missing:
            problems.append(_("%(group)s lacks %(items)s", group=name, items="、".join(missing)))
    if problems:
        return False, join_details(problems)
    return True, _(
        "%(n)d groups, each with its roster, contact households, an activity and a survey "
        "in %(year)d",
        n=len(rows),
        year=period.year,
    )


# --- R5: members and population ---


def _active_members(village_ids, period):
    # Every member through the village index (no row read), less the few who are not active:
    # counting the active ones directly reads every member row (150k members: 67 → 15 ms).
    total = (
        select(func.count()).select_from(Member).where(Member.village_id == Village.id)
    ).scalar_subquery()
    # The villages judged, here too: one township of a county reads its own members only
    # (900 villages, 270k members: 34 → 2 ms for 30 of them).
    gone = (
        select(Member.village_id, func.count().label("n"))
        .where(
            in_villages(Member, village_ids),
            Member.status.in_([c for c in MEMBER_STATUS.codes if c != "active"]),
        )
        .group_by(Member.village_id)
        .subquery()
    )
    return (
        select(Village.id, total - func.coalesce(gone.c.n, 0))
        .outerjoin(gone, gone.c.village_id == Village.id)
        .where(Village.id.in_(village_ids))
    )


def _judge_members(rows, village, period):
    if not village.population:
        return None, _("The village's population is not recorded")
    members = rows[0][1] if rows else 0
    needed = -(-village.population * int(MEMBER_SHARE * 100) // 100)
    detail = _(
        "%(members)d active members, %(share)s of a population of %(population)d "
        "(at least %(needed)d)",
        members=members,
        share=share(members, village.population),
        population=village.population,
        needed=needed,
    )
    return members >= needed, detail


# --- R6–R8, R17: meetings and notices by quarter and month ---


def _held(model, date_column, *conditions):
    """(village_id, month) of every such record in the period.

    Not grouped in SQL: SQLite sorts for a GROUP BY on a computed month at a higher cost than
    reading the rows (6,000 work meetings: 23 → 8 ms); the months are plain integers, not dates.
    """

    def query(village_ids, period):
        return select(model.village_id, extract("month", date_column)).where(
            in_villages(model, village_ids),
            date_column.between(period.start, period.ref),
            *conditions,
        )

    return query


def _each_quarter(missing_message, met_message):
    def judge(rows, village, period):
        held = {(int(month) - 1) // 3 + 1 for _v, month in rows}
        missing = [q for q in period.quarters if q not in held]
        if missing:
            return False, join_details(missing_message(period.year, q) for q in missing)
        return True, met_message(len(period.quarters))

    return judge


def _each_month(missing_message, met_message):
    def judge(rows, village, period):
        held = {int(month) for _v, month in rows}
        missing = [m for m in period.months if m not in held]
        if missing:
            return False, join_details(missing_message(period.year, m) for m in missing)
        return True, met_message(len(period.months))

    return judge


def _meeting_filters(kind):
    def filters(period):
        return {
            f"_flt_{TEXT_EQUAL}_type": kind,
            f"_flt_{DATE_AFTER}_date": (period.start - dt.timedelta(days=1)).isoformat(),
        }

    return filters


# --- R9–R11: training, plan, archive ---


def _trainings(village_ids, period):
    return (
        select(Activity.village_id, func.count())
        .where(
            in_villages(Activity, village_ids),
            Activity.kind == "training",
            Activity.date.between(period.year_start, period.ref),
        )
        .group_by(Activity.village_id)
    )


def _judge_trainings(rows, village, period):
    n = rows[0][1] if rows else 0
    if not n:
        return False, _("No member training in %(year)d", year=period.year)
    return True, _("%(n)d training(s) in %(year)d", n=n, year=period.year)


def _work_plans(village_ids, period):
    return select(Document.village_id, Document.title).where(
        in_villages(Document, village_ids),
        Document.kind == "work_plan",
        Document.year == period.year,
    )


def _judge_work_plan(rows, village, period):
    if not rows:
        return False, _("No work plan for %(year)d", year=period.year)
    return True, _("Work plan for %(year)d: %(title)s", year=period.year, title=rows[0][1])


def _document(kind):
    def present(period):
        return exists().where(
            Document.village_id == Village.id,
            Document.kind == kind,
            or_(Document.year.is_(None), Document.year <= period.year),
        )

    return present


def _record(model, conditions):
    def present(period):
        return exists().where(model.village_id == Village.id, *conditions(period))

    return present


# Art. 12, item by item, as far as the registers hold it.
ARCHIVE = (
    (_l("association charter"), _document("charter")),
    (_l("villagers' self-governance charter"), _document("self_governance")),
    (_l("organisation network diagram"), _document("network_diagram")),
    (_l("council and member group rosters"), _record(CouncilSeat, lambda p: ())),
    (
        _l("roster of households in difficulty for the year"),
        _record(Household, lambda p: (Household.surveyed_on.between(p.year_start, p.ref),)),
    ),
    (
        _l("activity record book"),
        _record(Activity, lambda p: (Activity.date.between(p.year_start, p.ref),)),
    ),
    (
        _l("council meeting record book"),
        _record(
            Meeting,
            lambda p: (Meeting.type == "council", Meeting.date.between(p.year_start, p.ref)),
        ),
    ),
    (
        _l("training record book"),
        _record(
            Activity,
            lambda p: (Activity.kind == "training", Activity.date.between(p.year_start, p.ref)),
        ),
    ),
    (
        _l("self-governance agreements"),
        _record(Agreement, lambda p: (Agreement.signed_on <= p.ref,)),
    ),
    (_l("approval from the association above"), _document("approval")),
    (_l("job duties of president and secretary-general"), _document("duties")),
)


def _archive(village_ids, period):
    return select(
        Village.id, *(present(period).label(f"a{n}") for n, (_label, present) in enumerate(ARCHIVE))
    ).where(Village.id.in_(village_ids))


def _judge_archive(rows, village, period):
    present = rows[0][1:] if rows else [False] * len(ARCHIVE)
    missing = [
        translated(label) for (label, _q), ok in zip(ARCHIVE, present, strict=True) if not ok
    ]
    if missing:
        return False, _("Missing from the archive: %(items)s", items="、".join(missing))
    return True, _("The archive holds all %(n)d items of Art. 12", n=len(ARCHIVE))


# --- R13: venues ---

VENUES = (("office", _l("association office")), ("activity_room", _l("member activity room")))


def _venues(village_ids, period):
    return (
        select(Venue.village_id, Venue.kind, func.max(case((Venue.signage, 1), else_=0)))
        .where(in_villages(Venue, village_ids), Venue.kind.in_([kind for kind, _label in VENUES]))
        .group_by(Venue.village_id, Venue.kind)
    )


def _judge_venues(rows, village, period):
    signage = {kind: bool(sign) for _v, kind, sign in rows}
    problems = []
    for kind, label in VENUES:
        if kind not in signage:
            problems.append(_("no %(venue)s", venue=translated(label)))
        elif not signage[kind]:
            problems.append(_("the %(venue)s has no signage", venue=translated(label)))
    if problems:
        return False, join_details(problems)
    return True, _("Office and member activity room, both with signage")


# --- R14, R18: households ---


def _helped(village_ids, period):
    assisted = exists().where(
        Assistance.household_id == Household.id,
        Assistance.date.between(period.year_start, period.ref),
    )
    return (
        select(Household.village_id, func.count(), count_if(~assisted))
        .where(in_villages(Household, village_ids), Household.status == "needs_help")
        .group_by(Household.village_id)
    )


def _judge_helped(rows, village, period):
    if not rows:
        return None, _("No household needs help")
    _v, total, unassisted = rows[0]
    if unassisted:
        return False, _(
            "%(n)d of %(total)d households needing help have no assistance record in %(year)d",
            n=unassisted,
            total=total,
            year=period.year,
        )
    return True, _(
        "All %(total)d households needing help were assisted in %(year)d",
        total=total,
        year=period.year,
    )


def _special_visits(village_ids, period):
    """Per special family: whether it has both contacts, and the month of each contact visit of
    the period (not grouped: see ``_held``)."""
    both = and_(
        func.coalesce(Household.township_contact, "") != "",
        func.coalesce(Household.village_contact, "") != "",
    )
    visit = and_(
        Assistance.household_id == Household.id,
        Assistance.kind == "contact_visit",
        Assistance.date.between(period.start, period.ref),
    )
    return (
        select(
            Household.village_id,
            Household.id,
            case((both, 1), else_=0),
            extract("month", Assistance.date),
        )
        .outerjoin(Assistance, visit)
        .where(
            in_villages(Household, village_ids),
            # The clear flag: the family type itself is encrypted (issue 7).
            Household.special.is_(True),
            Household.status.notin_(("moved", "closed")),
        )
    )


def _judge_special(rows, village, period):
    if not rows:
        return None, _("No special family")
    contacts, visited = {}, defaultdict(set)
    for _v, household, both, month in rows:
        contacts[household] = bool(both)
        if month is not None:
            visited[household].add(int(month))
    problems = []
    lacking = sum(1 for ok in contacts.values() if not ok)
    if lacking:
        problems.append(_("%(n)d special family(ies) without two contact persons", n=lacking))
    for month in period.months:
        unvisited = sum(1 for h in contacts if month not in visited[h])
        if unvisited:
            problems.append(
                _(
                    "%(n)d special family(ies) not visited in %(year)d-%(month)02d",
                    n=unvisited,
                    year=period.year,
                    month=month,
                )
            )
    if problems:
        return False, join_details(problems)
    return True, _(
        "%(n)d special family(ies): two contact persons each, visited every month",
        n=len(contacts),
    )


# --- R15–R16: complaints and agreements ---


def _complaints(village_ids, period):
    ref = period.ref
    late = and_(
        Complaint.received_on < complaint_deadline(ref),
        or_(
            Complaint.status.in_(COMPLAINT_OPEN),
            and_(Complaint.resolved_on.is_not(None), Complaint.resolved_on > ref),
        ),
    )
    return (
        select(Complaint.village_id, func.count(), count_if(late))
        .where(in_villages(Complaint, village_ids), Complaint.received_on <= ref)
        .group_by(Complaint.village_id)
    )


def _judge_complaints(rows, village, period):
    days = current_app.config.get("COMPLAINT_DEADLINE_DAYS", 30)
    if not rows:
        return None, _("No complaint received")
    _v, _total, late = rows[0]
    if late:
        return False, _("%(n)d complaint(s) unresolved after %(days)d days", n=late, days=days)
    return True, _("No complaint unresolved after %(days)d days", days=days)


def _agreements(village_ids, period):
    ref = period.ref
    return (
        select(Agreement.village_id, func.count())
        .where(
            in_villages(Agreement, village_ids),
            Agreement.status == "in_force",
            Agreement.signed_on <= ref,
            or_(Agreement.expires_on.is_(None), Agreement.expires_on >= ref),
        )
        .group_by(Agreement.village_id)
    )


def _judge_agreements(rows, village, period):
    if not village.married_women:
        return None, _("Married women of childbearing age are not recorded")
    n = rows[0][1] if rows else 0
    return n >= village.married_women * AGREEMENT_SHARE, _(
        "%(n)d agreements in force for %(women)d married women of childbearing age: %(share)s "
        "(at least %(needed)s)",
        n=n,
        women=village.married_women,
        share=share(n, village.married_women),
        needed=f"{AGREEMENT_SHARE:.0%}",
    )


# --- R19, R20: knowledge and satisfaction surveys; R21: township tasks ---

# Seeds 002 standards 3, 4 and 7: the lowest acceptable rate of each survey kind, in percent.
SURVEY_TARGETS = {"cadre_knowledge": 90, "resident_knowledge": 80, "satisfaction": 85}


def _percent(value) -> str:
    """76%, 76.5%: a rate as the seeds write it."""
    return f"{value:.1f}".removesuffix(".0") + "%"


def _surveys(kinds):
    def query(village_ids, period):
        return select(Survey.village_id, Survey.kind, Survey.asked, Survey.answered_well).where(
            in_villages(Survey, village_ids), Survey.year == period.year, Survey.kind.in_(kinds)
        )

    return query


def _judge_surveys(kinds):
    """Each kind's rate for the year against its target; a kind not surveyed is said so."""

    def judge(rows, village, period):
        found = {kind: (asked, well) for _v, kind, asked, well in rows if asked}
        if not found:
            return None, _(
                "No %(kinds)s survey for %(year)d",
                kinds="、".join(translated(SURVEY_KIND.label(k)) for k in kinds),
                year=period.year,
            )
        problems, rates = [], []
        for kind in kinds:
            label = translated(SURVEY_KIND.label(kind))
            if kind not in found:
                problems.append(_("no %(kind)s survey", kind=label))
                continue
            asked, well = found[kind]
            target = SURVEY_TARGETS[kind]
            rate = _percent(well * 100 / asked)
            # Compared in whole numbers: 179 of 200 is not 90%, whatever the rounding shows.
            if well * 100 < target * asked:
                problems.append(
                    _(
                        "%(kind)s %(rate)s, should be at least %(target)s",
                        kind=label,
                        rate=rate,
                        target=_percent(target),
                    )
                )
            else:
                rates.append(f"{label} {rate}")
        if problems:
            return False, f"{period.year} " + join_details(problems)
        return True, _("%(year)d %(rates)s, on target", year=period.year, rates="、".join(rates))

    return judge


def _tasks(village_ids, period):
    return (
        select(
            TaskAssignment.village_id,
            Task.title,
            Task.due_date,
            TaskAssignment.status,
            TaskAssignment.done_on,
        )
        .join(Task, Task.id == TaskAssignment.task_id)
        .where(
            in_villages(TaskAssignment, village_ids),
            Task.due_date.between(period.start, period.ref),
        )
        .order_by(TaskAssignment.village_id, Task.due_date, Task.id)
    )


def _judge_tasks(rows, village, period):
    """Done by the due date; a task still open on its due date is not late yet."""
    problems, judged = [], 0
    for _v, title, due, status, done_on in rows:
        if status == "open" and due >= period.today:
            continue
        judged += 1
        if status == "open":
            problems.append(
                _("「%(task)s」 due %(due)s, not done", task=title, due=due.isoformat())
            )
        elif done_on is not None and done_on > due:
            problems.append(
                _(
                    "「%(task)s」 done on %(done)s, after its due date %(due)s",
                    task=title,
                    done=done_on.isoformat(),
                    due=due.isoformat(),
                )
            )
    if not judged:
        return None, _("No township task was due")
    if problems:
        return False, join_details(problems)
    return True, _("%(n)d township task(s) due, all done on time", n=judged)


# --- The norms ---

NORMS = [
    Norm(
        "R1",
        _l("Council has a president, a vice-president and a secretary-general"),
        "000 Art. 3",
        "state",
        _seats,
        _judge_positions,
        "CouncilSeat",
    ),
    Norm(
        "R2",
        _l("Council composition 5-3-3 (small village 3-2-1)"),
        "000 Art. 3",
        "state",
        _seats,
        _judge_composition,
        "CouncilSeat",
    ),
    Norm(
        "R3",
        _l("A current council term, filed with the township"),
        "000 Art. 8.1",
        "state",
        _terms,
        _judge_term,
        "CouncilTerm",
    ),
    Norm(
        "R4",
        _l("Every member group has a leader and 2–3 contact household heads"),
        "000 Art. 4",
        "state",
        _group_heads,
        _judge_groups,
        "MemberGroup",
    ),
    Norm(
        "R5",
        _l("Active members at least 10 percent of the population"),
        "003 (二)4",
        "state",
        _active_members,
        _judge_members,
        "Member",
        lambda period: {f"_flt_{TEXT_EQUAL}_status": "active"},
    ),
    Norm(
        "R6",
        _l("A council meeting every quarter"),
        "000 Art. 8.1",
        "quarter",
        _held(Meeting, Meeting.date, Meeting.type == "council"),
        _each_quarter(
            lambda y, q: _("No council meeting in Q%(quarter)d %(year)d", year=y, quarter=q),
            lambda n: _("A council meeting in each of %(n)d quarter(s)", n=n),
        ),
        "Meeting",
        _meeting_filters("council"),
    ),
    Norm(
        "R7",
        _l("A review meeting every quarter"),
        "000 Art. 8.8",
        "quarter",
        _held(Meeting, Meeting.date, Meeting.type == "review"),
        _each_quarter(
            lambda y, q: _("No review meeting in Q%(quarter)d %(year)d", year=y, quarter=q),
            lambda n: _("A review meeting in each of %(n)d quarter(s)", n=n),
        ),
        "Meeting",
        _meeting_filters("review"),
    ),
    Norm(
        "R8",
        _l("A work meeting every month"),
        "003 (一)1",
        "month",
        _held(Meeting, Meeting.date, Meeting.type == "work"),
        _each_month(
            lambda y, m: _("No work meeting in %(year)d-%(month)02d", year=y, month=m),
            lambda n: _("A work meeting in each of %(n)d month(s)", n=n),
        ),
        "Meeting",
        _meeting_filters("work"),
    ),
    Norm(
        "R9",
        _l("At least one member training a year"),
        "000 Art. 8.9",
        "year",
        _trainings,
        _judge_trainings,
        "Activity",
        lambda period: {f"_flt_{TEXT_EQUAL}_kind": "training"},
    ),
    Norm(
        "R10",
        _l("An annual work plan"),
        "000 Art. 8.1",
        "year",
        _work_plans,
        _judge_work_plan,
        "Document",
        lambda period: {f"_flt_{TEXT_EQUAL}_kind": "work_plan"},
    ),
    Norm(
        "R11",
        _l("The village archive of Art. 12 is complete"),
        "000 Art. 12",
        "year",
        _archive,
        _judge_archive,
        "Document",
    ),
    Norm(
        "R12",
        _l("Every member group keeps its Art. 13 records"),
        "000 Art. 13",
        "year",
        _group_records,
        _judge_group_records,
        "MemberGroup",
    ),
    Norm(
        "R13",
        _l("An office and a member activity room with signage"),
        "000 Art. 6",
        "state",
        _venues,
        _judge_venues,
        "Venue",
    ),
    Norm(
        "R14",
        _l("Every household needing help is assisted in the year"),
        "000 Art. 8.3",
        "year",
        _helped,
        _judge_helped,
        "Household",
        lambda period: {f"_flt_{TEXT_EQUAL}_status": "needs_help"},
    ),
    Norm(
        "R15",
        _l("No complaint unresolved past the deadline"),
        "000 Art. 8.5",
        "state",
        _complaints,
        _judge_complaints,
        "Complaint",
        lambda period: {
            f"_flt_{TEXT_IN}_status": list(COMPLAINT_OPEN),
            f"_flt_{DATE_BEFORE}_received_on": complaint_deadline(period.ref).isoformat(),
        },
    ),
    Norm(
        "R16",
        _l("Agreements in force for 80 percent of married women of childbearing age"),
        "001, 002",
        "state",
        _agreements,
        _judge_agreements,
        "Agreement",
        lambda period: {f"_flt_{TEXT_EQUAL}_status": "in_force"},
    ),
    Norm(
        "R17",
        _l("A public notice every quarter"),
        "000 Art. 8.8",
        "quarter",
        _held(Notice, Notice.published_on),
        _each_quarter(
            lambda y, q: _("No public notice in Q%(quarter)d %(year)d", year=y, quarter=q),
            lambda n: _("A public notice in each of %(n)d quarter(s)", n=n),
        ),
        "Notice",
        lambda period: {
            f"_flt_{DATE_AFTER}_published_on": (period.start - dt.timedelta(days=1)).isoformat()
        },
    ),
    Norm(
        "R18",
        _l("Every special family has two contact persons and a visit each month"),
        "双岗联系人",
        "month",
        _special_visits,
        _judge_special,
        "Household",
        lambda period: {f"_flt_{BOOL_EQUAL}_special": "y"},
    ),
    Norm(
        "R19",
        _l("Knowledge rates: cadres at least 90 percent, residents at least 80 percent"),
        "002 standards 3, 4",
        "year",
        _surveys(("cadre_knowledge", "resident_knowledge")),
        _judge_surveys(("cadre_knowledge", "resident_knowledge")),
        "Survey",
        lambda period: {f"_flt_{NUMBER_EQUAL}_year": period.year},
    ),
    Norm(
        "R20",
        _l("Satisfaction at least 85 percent"),
        "002 standard 7",
        "year",
        _surveys(("satisfaction",)),
        _judge_surveys(("satisfaction",)),
        "Survey",
        lambda period: {
            f"_flt_{NUMBER_EQUAL}_year": period.year,
            f"_flt_{TEXT_EQUAL}_kind": "satisfaction",
        },
    ),
    Norm(
        "R21",
        _l("Every township task done by its due date"),
        "000 Art. 8.13",
        "year",
        _tasks,
        _judge_tasks,
        "TaskAssignment",
    ),
]
NORMS_BY_ID = {norm.id: norm for norm in NORMS}

# What the dashboard's column headers call each norm: its title in a few words.
SHORT_TITLES = {
    "R1": _l("Council officers"),
    "R2": _l("Council make-up"),
    "R3": _l("Council term"),
    "R4": _l("Member groups"),
    "R5": _l("Membership"),
    "R6": _l("Council meetings"),
    "R7": _l("Review meetings"),
    "R8": _l("Work meetings"),
    "R9": _l("Member training"),
    "R10": _l("Work plan"),
    "R11": _l("Village archive"),
    "R12": _l("Group records"),
    "R13": _l("Venues"),
    "R14": _l("Assistance"),
    "R15": _l("Complaints"),
    "R16": _l("Agreements"),
    "R17": _l("Public notices"),
    "R18": _l("Special families"),
    "R19": _l("Knowledge rates"),
    "R20": _l("Satisfaction"),
    "R21": _l("Township tasks"),
}
assert SHORT_TITLES.keys() == NORMS_BY_ID.keys()
