"""Home page reminders (SPEC §3.6): what each village in the user's scope should see to now.

The rules are declarations (``RULES``): each names its register, a severity, the scope levels it
speaks to, one set-based query that answers for every village of the scope at once, a message
and the list filters of the page that shows the problem or takes the record that fixes it.

Who sees what: a township (or the administrator) sees every rule, village by village; a
president or secretary sees its village's. A group leader is not answerable for the village's
meetings, complaints, resolutions or council, and may not read those registers: it sees only
the rules about its own group's records — membership applications waiting for a decision, and
its special families not yet visited this month.
"""

import dataclasses
import datetime as dt
from collections.abc import Callable

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, literal, select
from sqlalchemy.orm import aliased

from app import accounts, security
from app.models import (
    BUSINESS_MODELS,
    COMPLAINT_OPEN,
    Assistance,
    Complaint,
    CouncilTerm,
    Household,
    Meeting,
    Member,
    Resolution,
    Township,
    Village,
    complaint_deadline,
)

TERM_WARNING_DAYS = 90
VILLAGE_LEVELS = ("all", "county", "township", "village")
# Scopes over several townships: their villages are named with the township.
WIDE_LEVELS = ("all", "county")
# Reminders the home page lists at most (a county has hundreds of villages): the most urgent
# first, then a line saying how many more, with the compliance dashboard that sorts them out.
BOARD_SHOWN = 30
SEVERITY_ORDER = {"danger": 0, "warning": 1, "info": 2}
GROUP_LEVELS = VILLAGE_LEVELS + ("group",)
LABELS = {model.__name__: model.__label__ for model in BUSINESS_MODELS}

# FAB's URL filter numbers (``_flt_<n>_<column>``), by column type.
TEXT_EQUAL, TEXT_IN = 3, 8
# FAB's boolean filters: [FilterEqual, FilterNotEqual].
BOOL_EQUAL = 0
NUMBER_EQUAL = 0
DATE_BEFORE = 2
RELATION_EQUAL = 0


# --- Periods ---


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """The first day of the month ``back`` months before the month of ``day``."""
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


def quarter_start(day: dt.date, back: int = 0) -> dt.date:
    """The first day of the quarter ``back`` quarters before the quarter of ``day``."""
    return month_start(day, (day.month - 1) % 3 + 3 * back)


# --- What a reminder is ---


@dataclasses.dataclass(frozen=True)
class Reminder:
    """One thing a village should do, in the user's language, with a link to the list."""

    rule: str
    village: str
    message: str
    severity: str  # a Bootstrap alert class: danger, warning or info
    url: str
    link_label: str
    count: int = 1


@dataclasses.dataclass(frozen=True)
class Rule:
    """A reminder rule: its query yields (village_id, count, detail) for each village concerned."""

    key: str
    register: str
    severity: str
    levels: tuple[str, ...]
    rows: Callable  # (scope, today) -> a select of (village_id, count, detail)
    message: Callable  # (count, detail, today) -> str
    filters: Callable  # today -> FAB list filters, besides the village


def _meeting_missing(meeting_type: str, period_start: Callable):
    """Villages of the scope with no meeting of this type from the period's start to today."""

    def rows(scope, today):
        held = exists().where(
            Meeting.village_id == Village.id,
            Meeting.type == meeting_type,
            Meeting.date.between(period_start(today), today),
        )
        return select(Village.id, literal(1), literal(None)).where(
            security.scope_criteria(Village, scope), ~held
        )

    return rows


def _counted(model, *conditions):
    """Records of the scope meeting ``conditions`` (callables of today), counted per village."""

    def rows(scope, today):
        return (
            select(model.village_id, func.count(), literal(None))
            .where(security.scope_criteria(model, scope), *(c(today) for c in conditions))
            .group_by(model.village_id)
        )

    return rows


def _term_ending(scope, today):
    """Each village's latest council term, where it ends within TERM_WARNING_DAYS or has ended."""
    later = aliased(CouncilTerm)
    newer = exists().where(
        later.village_id == CouncilTerm.village_id, later.number > CouncilTerm.number
    )
    return select(CouncilTerm.village_id, literal(1), CouncilTerm.term_end).where(
        security.scope_criteria(CouncilTerm, scope),
        CouncilTerm.term_end <= today + dt.timedelta(days=TERM_WARNING_DAYS),
        ~newer,
    )


def _not_visited(today):
    visited = exists().where(
        Assistance.household_id == Household.id,
        Assistance.kind == "contact_visit",
        Assistance.date.between(month_start(today), today),
    )
    return and_(
        # The clear flag: the family type itself is encrypted (issue 7).
        Household.special.is_(True),
        Household.status == "needs_help",
        ~visited,
    )


def _term_message(_count, term_end, today):
    if term_end < today:
        return _("The council term ended on %(date)s: elect a new council.", date=term_end)
    return _("The council term ends on %(date)s: prepare the election.", date=term_end)


def _quarter(today):
    return {"year": today.year, "quarter": (today.month - 1) // 3 + 1}


RULES = [
    Rule(
        "overdue_complaints",
        "Complaint",
        "danger",
        VILLAGE_LEVELS,
        _counted(
            Complaint,
            lambda today: Complaint.status.in_(COMPLAINT_OPEN),
            lambda today: Complaint.received_on < complaint_deadline(today),
        ),
        lambda n, _d, today: _(
            "%(n)d complaint(s) unresolved for more than %(days)d days.",
            n=n,
            days=(today - complaint_deadline(today)).days,
        ),
        lambda today: {
            f"_flt_{TEXT_IN}_status": list(COMPLAINT_OPEN),
            f"_flt_{DATE_BEFORE}_received_on": complaint_deadline(today).isoformat(),
        },
    ),
    Rule(
        "overdue_resolutions",
        "Resolution",
        "danger",
        VILLAGE_LEVELS,
        _counted(
            Resolution,
            lambda today: Resolution.status == "open",
            lambda today: Resolution.due_date < today,
        ),
        lambda n, _d, _t: _("%(n)d resolution(s) past their due date.", n=n),
        lambda today: {
            f"_flt_{TEXT_EQUAL}_status": "open",
            f"_flt_{DATE_BEFORE}_due_date": today.isoformat(),
        },
    ),
    Rule(
        "council_meeting",
        "Meeting",
        "warning",
        VILLAGE_LEVELS,
        _meeting_missing("council", quarter_start),
        lambda _n, _d, today: _(
            "No council meeting held yet in Q%(quarter)d %(year)d.", **_quarter(today)
        ),
        lambda today: {f"_flt_{TEXT_EQUAL}_type": "council"},
    ),
    Rule(
        "review_meeting",
        "Meeting",
        "warning",
        VILLAGE_LEVELS,
        _meeting_missing("review", quarter_start),
        lambda _n, _d, today: _(
            "No review meeting held yet in Q%(quarter)d %(year)d.", **_quarter(today)
        ),
        lambda today: {f"_flt_{TEXT_EQUAL}_type": "review"},
    ),
    Rule(
        "work_meeting",
        "Meeting",
        "warning",
        VILLAGE_LEVELS,
        _meeting_missing("work", month_start),
        lambda _n, _d, today: _(
            "No monthly work meeting held yet in %(year)d-%(month)02d.",
            year=today.year,
            month=today.month,
        ),
        lambda today: {f"_flt_{TEXT_EQUAL}_type": "work"},
    ),
    Rule(
        "special_family_visits",
        "Household",
        "warning",
        GROUP_LEVELS,
        _counted(Household, _not_visited),
        lambda n, _d, _t: _("%(n)d special family(ies) not yet visited this month.", n=n),
        lambda today: {
            f"_flt_{BOOL_EQUAL}_special": "y",
            f"_flt_{TEXT_EQUAL}_status": "needs_help",
        },
    ),
    Rule(
        "council_term",
        "CouncilTerm",
        "warning",
        VILLAGE_LEVELS,
        _term_ending,
        _term_message,
        lambda today: {},
    ),
    Rule(
        "pending_applications",
        "Member",
        "info",
        GROUP_LEVELS,
        _counted(Member, lambda today: Member.status == "applied"),
        lambda n, _d, _t: _("%(n)d membership application(s) await the president's decision.", n=n),
        lambda today: {f"_flt_{TEXT_EQUAL}_status": "applied"},
    ),
]
RULES_BY_KEY = {rule.key: rule for rule in RULES}


def list_url(rule: Rule, today: dt.date, village_id: int | None = None) -> str:
    """The rule's register, filtered to what shows the problem (and to one village, if given)."""
    filters = dict(rule.filters(today))
    if village_id is not None:
        filters[f"_flt_{RELATION_EQUAL}_village"] = village_id
    return url_for(f"{rule.register}View.list", **filters)


def village_name(scope):
    """A village's name as a reader of ``scope`` reads it (an SQL expression over Village and
    Township joined): over several townships with its township, 二郎镇 龙王村."""
    return Township.name + " " + Village.name if scope.level in WIDE_LEVELS else Village.name


def reminders(scope, today: dt.date, user=None) -> list[Reminder]:
    """The reminders of every village in ``scope`` on ``today``: most urgent first per village.

    ``user``, when given, shapes the wording: one who may approve applications is asked to.
    """
    session = current_app.appbuilder.session
    named = select(Village.id, village_name(scope)).join(
        Township, Village.township_id == Township.id
    )
    if scope.level in WIDE_LEVELS:
        named = named.order_by(Township.name, Village.id)
    else:
        named = named.order_by(Village.id)
    villages = dict(session.execute(named.where(security.scope_criteria(Village, scope))).all())
    position = {village_id: n for n, village_id in enumerate(villages)}
    approver = user is not None and accounts.can(user, accounts.APPROVE, "Member")
    found = []
    for order, rule in enumerate(RULES):
        if scope.level not in rule.levels:
            continue
        for village_id, count, detail in session.execute(rule.rows(scope, today)).all():
            if village_id not in villages:
                continue
            message = rule.message(count, detail, today)
            link_label = LABELS[rule.register]
            if rule.key == "pending_applications" and approver:
                message = _("%(n)d membership application(s) await your decision.", n=count)
                link_label = _("Review them")
            reminder = Reminder(
                rule=rule.key,
                village=villages[village_id],
                message=message,
                severity=rule.severity,
                url=list_url(rule, today, village_id),
                link_label=str(link_label),
                count=count,
            )
            found.append((position[village_id], order, reminder))
    return [reminder for *_key, reminder in sorted(found, key=lambda f: f[:2])]


@dataclasses.dataclass(frozen=True)
class Overdue:
    """A count of overdue records across the scope, with the list that shows them."""

    rule: str
    label: str
    count: int
    url: str


@dataclasses.dataclass(frozen=True)
class Board:
    """What the home page shows: the reminders, and the overdue totals the user may read."""

    reminders: list[Reminder]
    overdue: list[Overdue]
    # Reminders not listed (beyond BOARD_SHOWN).
    more: int = 0


def board(scope, today: dt.date, user) -> Board:
    """The home page's reminders and overdue complaint and resolution totals for the scope."""
    items = reminders(scope, today, user)
    overdue = []
    for key in ("overdue_complaints", "overdue_resolutions"):
        rule = RULES_BY_KEY[key]
        if scope.level in rule.levels and accounts.can(user, accounts.READ, rule.register):
            overdue.append(
                Overdue(
                    rule=key,
                    label=str(LABELS[rule.register]),
                    count=sum(r.count for r in items if r.rule == key),
                    url=list_url(rule, today),
                )
            )
    shown = items
    if len(items) > BOARD_SHOWN:
        urgent = sorted(range(len(items)), key=lambda n: SEVERITY_ORDER.get(items[n].severity, 3))
        kept = sorted(urgent[:BOARD_SHOWN])
        shown = [items[n] for n in kept]
    return Board(reminders=shown, overdue=overdue, more=len(items) - len(shown))
