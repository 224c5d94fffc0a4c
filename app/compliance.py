"""Compliance with the association norms of SPEC §5 (R1–R21): which village keeps them, and
what is missing where.

The norms themselves are declarations (``app.norms.NORMS``), built from the parts of
``app.norm_basics`` (periods, the Norm and Result types, the evaluation's translation). This
module judges a scope with them: ``evaluate`` runs one query per norm, whatever the number of
villages, and scores and ranks each village; ``list_filters`` and ``meetings_by_quarter`` serve
the dashboard.

Periods: a year, or one quarter of it. Quarters and months not yet begun (on ``today``) are not
counted; a period that has not begun at all judges nothing. Norms about a state (the council,
groups, venues, agreements) are judged on the period's last day, or today if that is earlier.

A township may switch norms off: ``COMPLIANCE_DISABLED`` (config, or the environment variable of
the same name as JSON) maps a township name — or ``"*"`` for every township — to norm ids, e.g.
``{"二郎镇": ["R13"]}``. A switched-off norm answers None and does not count in the score.
"""

import dataclasses
import datetime as dt
import functools
from collections import defaultdict

from flask import current_app
from flask_babel import get_translations
from sqlalchemy import extract, func, select

from app import security
from app.models import Branch, Meeting, Township, Village
from app.norm_basics import CATALOGUE, Norm, Period, Result, VillageFacts, _, in_villages
from app.norms import NORMS
from app.reminders import RELATION_EQUAL

# --- Judging a scope ---


@dataclasses.dataclass
class VillageCompliance:
    """One village's results: every norm's Result, and its score (met / judged)."""

    village_id: int
    name: str
    township: str
    rules: dict
    rank: int | None = None
    branch: str | None = None
    township_id: int | None = None

    # Worked out once, when read after the evaluation: a county's ranking reads them thousands
    # of times.
    @functools.cached_property
    def judged(self) -> int:
        return sum(1 for r in self.rules.values() if r.met is not None)

    @functools.cached_property
    def met(self) -> int:
        return sum(1 for r in self.rules.values() if r.met)

    @functools.cached_property
    def score(self) -> float | None:
        return round(self.met / self.judged, 4) if self.judged else None

    def as_json(self) -> dict:
        return {
            "village_id": self.village_id,
            "name": self.name,
            "score": self.score,
            "rules": {k: {"met": r.met, "detail": r.detail} for k, r in self.rules.items()},
        }


def disabled_norms() -> dict:
    """Township name (or "*") → the norm ids switched off there (config COMPLIANCE_DISABLED)."""
    setting = current_app.config.get("COMPLIANCE_DISABLED") or {}
    return {
        name: {str(i).strip().upper() for i in ([ids] if isinstance(ids, str) else ids)}
        for name, ids in setting.items()
    }


def villages_of(scope, session) -> list[VillageFacts]:
    """The villages of the scope, for compliance: a group leader answers for its village."""
    rows = session.execute(
        select(
            Village.id,
            Village.name,
            Township.name,
            Village.size_class,
            Village.population,
            Village.married_women,
            Village.branch_id,
            Branch.name,
            Village.township_id,
        )
        .join(Township, Township.id == Village.township_id)
        .outerjoin(Branch, Branch.id == Village.branch_id)
        .where(security.scope_criteria(Village, scope))
        .order_by(Village.township_id, Village.id)
    ).all()
    return [VillageFacts(*row) for row in rows]


def evaluate(
    scope,
    year: int,
    quarter: int | None = None,
    today=None,
    village_id=None,
    branch_id=None,
    township_id=None,
):
    """Every village of ``scope`` (or only ``village_id`` of it, or of branch ``branch_id``,
    or of township ``township_id``) judged on every norm, ranked among those judged."""
    token = CATALOGUE.set((get_translations(), {}))
    try:
        period = Period(year, quarter, today or dt.date.today())
        return _evaluate(scope, period, village_id, branch_id, township_id)
    finally:
        CATALOGUE.reset(token)


def _evaluate(scope, period: Period, village_id, branch_id=None, township_id=None):
    session = current_app.appbuilder.session
    villages = villages_of(scope, session)
    in_scope = select(Village.id).where(security.scope_criteria(Village, scope))
    for column, wanted, attribute in (
        (Village.id, village_id, "id"),
        (Village.branch_id, branch_id, "branch_id"),
        (Village.township_id, township_id, "township_id"),
    ):
        if wanted is not None:
            villages = [v for v in villages if getattr(v, attribute) == wanted]
            in_scope = in_scope.where(column == wanted)
    off = disabled_norms()
    switched_off_in = {
        v.township: off.get(v.township, set()) | off.get("*", set()) for v in villages
    }
    results = {
        v.id: VillageCompliance(
            v.id, v.name, v.township, {}, branch=v.branch, township_id=v.township_id
        )
        for v in villages
    }
    not_begun = Result(None, _("This period has not begun"))
    switched_off = Result(None, _("Switched off for this township"))
    # Plain rows, not ORM results: a county's norms return tens of thousands of them.
    connection = session.connection()
    begun = period.begun
    for norm in NORMS:
        rows = defaultdict(list)
        if villages and begun:
            for row in connection.execute(norm.query(in_scope, period)):
                rows[row[0]].append(row)
        for village in villages:
            if norm.id in switched_off_in[village.township]:
                result = switched_off
            elif not begun:
                result = not_begun
            else:
                result = Result(*norm.judge(rows.get(village.id, ()), village, period))
            results[village.id].rules[norm.id] = result
    ranked = sorted(results.values(), key=lambda r: (-(r.score or 0), r.village_id))
    for position, result in enumerate(ranked, start=1):
        result.rank = position
    return [results[v.id] for v in villages]


# --- A county: its townships ranked ---


@dataclasses.dataclass
class TownshipCompliance:
    """A township's villages taken together. Its score is the mean of its villages' scores
    (each village weighs the same, whatever its size; a village with nothing judged is left
    out), so that a township ranks by the scores its own dashboard shows."""

    township_id: int
    name: str
    villages: list
    rank: int | None = None

    @functools.cached_property
    def score(self) -> float | None:
        scores = [v.score for v in self.villages if v.score is not None]
        return round(sum(scores) / len(scores), 4) if scores else None

    @functools.cached_property
    def lowest(self) -> VillageCompliance | None:
        """The village with the lowest score (the first of them on a tie)."""
        scored = [v for v in self.villages if v.score is not None]
        return min(scored, key=lambda v: (v.score, v.village_id)) if scored else None

    def norm_counts(self, norm_id: str) -> tuple[int, int]:
        """(villages meeting the norm, villages it judged)."""
        outcomes = [v.rules[norm_id].met for v in self.villages]
        return sum(1 for met in outcomes if met), sum(1 for met in outcomes if met is not None)


def townships_of(scope, session) -> list[tuple[int, str]]:
    """(id, name) of the townships of the scope, villages or not."""
    return session.execute(
        select(Township.id, Township.name)
        .where(security.scope_criteria(Township, scope))
        .order_by(Township.id)
    ).all()


def rank_townships(results, townships) -> list[TownshipCompliance]:
    """The townships (``(id, name)``) with their villages' results, ranked by score (a township
    with no score last)."""
    by_township = {pk: TownshipCompliance(pk, name, []) for pk, name in townships}
    for result in results:
        if result.township_id in by_township:
            by_township[result.township_id].villages.append(result)
    ranked = sorted(
        by_township.values(),
        key=lambda t: (t.score is None, -(t.score or 0), t.township_id),
    )
    for position, township in enumerate(ranked, start=1):
        township.rank = position
    return ranked


def list_filters(norm: Norm, period: Period, village_id: int) -> dict:
    """The URL arguments of the norm's list page, narrowed to one village."""
    return {f"_flt_{RELATION_EQUAL}_village": village_id, **norm.filters(period)}


def meetings_by_quarter(scope, year: int, township_id=None) -> dict:
    """Meeting type → [count in Q1, Q2, Q3, Q4] over the villages of the scope (of one township
    of it, if given): one query."""
    session = current_app.appbuilder.session
    in_scope = select(Village.id).where(security.scope_criteria(Village, scope))
    if township_id is not None:
        in_scope = in_scope.where(Village.township_id == township_id)
    month = extract("month", Meeting.date)
    counts = defaultdict(lambda: [0, 0, 0, 0])
    for kind, m, n in session.execute(
        select(Meeting.type, month, func.count())
        .where(
            in_villages(Meeting, in_scope),
            Meeting.date.between(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        )
        .group_by(Meeting.type, month)
    ).all():
        counts[kind][(int(m) - 1) // 3] += n
    return dict(counts)
