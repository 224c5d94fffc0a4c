"""What a compliance norm is, and the words it speaks in (SPEC §5): what the norms
(``app.norms``) and the engine that judges a scope with them (``app.compliance``) share.

- ``Period``: a year or one quarter of it, judged on ``today`` (``parse_period`` reads one
  from request arguments); ``PERIODS`` says what each norm's period means on the dashboard.
- ``Norm``, ``Result``, ``VillageFacts``: a norm's declaration, its verdict on a village, and
  what the judges know of a village.
- ``_`` and ``translated``: gettext from the evaluation's catalogue (``CATALOGUE``, set once per
  evaluation by ``app.compliance.evaluate``), so that a county's thousands of details do not
  look the catalogue up string by string.
- ``SOURCES`` and ``source_label``: the seeds a norm cites, as a reader cites them.
- ``in_villages``, ``count_if``, ``join_details``, ``share``: small query and text helpers.
"""

import contextvars
import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Callable

from flask_babel import get_locale, get_translations, pgettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func

# What each norm's period means, as the dashboard says it.
PERIODS = {
    "year": _l("each year"),
    "quarter": _l("each quarter"),
    "month": _l("each month"),
    "state": _l("at the end of the period"),
}


# --- Translation, once per evaluation ---

# A county is thousands of details: the catalogue is looked up once per evaluation, not per
# string (flask_babel's gettext finds the request's locale and catalogue on every call).
CATALOGUE = contextvars.ContextVar("compliance_catalogue", default=None)


def _(msgid: str, **params) -> str:
    """gettext, from the evaluation's catalogue."""
    catalogue = CATALOGUE.get()
    if catalogue is None:
        catalogue = (get_translations(), {})
    text = catalogue[0].gettext(msgid)
    return text % params if params else text


def translated(lazy) -> str:
    """A lazy label (a choice, an archive item) as text, translated once per evaluation."""
    catalogue = CATALOGUE.get()
    if catalogue is None:
        return str(lazy)
    memo = catalogue[1]
    if id(lazy) not in memo:
        memo[id(lazy)] = str(lazy)
    return memo[id(lazy)]


# --- Periods ---


@dataclasses.dataclass(frozen=True)
class Period:
    """A year, or one quarter of it, judged on ``today``."""

    year: int
    quarter: int | None
    today: dt.date

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * (self.quarter or 1) - 2, 1)

    @property
    def end(self) -> dt.date:
        if self.quarter in (None, 4):
            return dt.date(self.year, 12, 31)
        return dt.date(self.year, 3 * self.quarter + 1, 1) - dt.timedelta(days=1)

    @property
    def year_start(self) -> dt.date:
        return dt.date(self.year, 1, 1)

    @property
    def ref(self) -> dt.date:
        """The day a state is judged on: the period's last day, or today if that comes first."""
        return min(self.end, self.today)

    @property
    def begun(self) -> bool:
        return self.start <= self.today

    @functools.cached_property
    def months(self) -> list[int]:
        """The months of the period that have begun."""
        first = self.start.month
        last = self.end.month
        return [m for m in range(first, last + 1) if dt.date(self.year, m, 1) <= self.today]

    @functools.cached_property
    def quarters(self) -> list[int]:
        """The quarters of the period that have begun."""
        return sorted({(m - 1) // 3 + 1 for m in self.months})


def parse_period(year, quarter=None, today: dt.date | None = None) -> Period:
    """A Period from request arguments; ValueError for a year or quarter that is not one."""
    try:
        year = int(str(year).strip())
        quarter = None if quarter in (None, "") else int(str(quarter).strip())
    except (TypeError, ValueError):
        raise ValueError("year or quarter") from None
    if not 2000 <= year <= 2100 or quarter not in (None, 1, 2, 3, 4):
        raise ValueError("year or quarter")
    return Period(year, quarter, today or dt.date.today())


# --- What a norm is ---


@dataclasses.dataclass(frozen=True)
class VillageFacts:
    """What the judges need to know of a village, read once for the whole scope."""

    id: int
    name: str
    township: str
    size_class: str
    population: int | None
    married_women: int | None
    branch_id: int | None = None
    branch: str | None = None
    township_id: int | None = None


@dataclasses.dataclass(frozen=True)
class Result:
    """A norm's verdict on one village: met (None: nothing to judge) and what was found."""

    met: bool | None
    detail: str


@dataclasses.dataclass(frozen=True)
class Norm:
    """A norm of SPEC §5: its query answers for all villages; its judge reads one village."""

    id: str
    title: object  # a lazy string
    source: str
    period: str  # "year", "quarter", "month" or "state" (judged on the period's last day)
    query: Callable  # (village_ids, period) -> a select whose first column is village_id
    judge: Callable  # (rows, village, period) -> (met, detail)
    register: str  # the model whose list shows what is missing
    filters: Callable = lambda period: {}  # FAB list filters, besides the village


def in_villages(model, village_ids):
    return model.village_id.in_(village_ids)


def count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def join_details(parts) -> str:
    """The parts of a norm's detail in one sentence: "；" in Chinese, "; " in English."""
    return _("; ").join(str(p) for p in parts)


# The seeds a norm cites, by the number of their file (../shared/seeds/README.md).
SOURCES = {
    "000": _l("Village association work norms"),
    "001": _l("Township association work report"),
    "002": _l("Self-governance standards"),
    "003": _l("Plan for village service positions"),
    "004": _l("Rural association work plan"),
}


CHINESE_DIGITS = "〇一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1–99 as Chinese numerals, as articles are numbered: 3 → 三, 13 → 十三, 21 → 二十一."""
    if not 0 < n < 100:
        return str(n)
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CHINESE_DIGITS[tens] + "十")
    return head + (CHINESE_DIGITS[ones] if ones else "")


def _numeral(number: str) -> str:
    """An article's number as the reader's language writes it: 第三条 in Chinese."""
    locale = get_locale()
    if locale is None or locale.language != "zh" or not number.isdigit():
        return number
    return chinese_number(int(number))


def source_label(source: str) -> str:
    """A norm's source as a reader cites it: "000 Art. 8.1" → 《村级计划生育协会工作管理规范》
    第八条第一项 (the seeds number their articles and items in Chinese numerals)."""
    documents = source.split(", ")
    if len(documents) > 1 and all(d in SOURCES for d in documents):
        cited = (translated(SOURCES[d]) for d in documents)
        return _(", ").join(pgettext("citation", "%(document)s", document=d) for d in cited)
    document, _sep, place = source.partition(" ")
    if document not in SOURCES:
        return source
    article = re.fullmatch(r"Art\. (\d+)(?:\.(\d+))?", place)
    standards = re.fullmatch(r"standards? ([\d, ]+)", place)
    if article and article[2]:
        place = _(
            "Art. %(article)s item %(item)s",
            article=_numeral(article[1]),
            item=_numeral(article[2]),
        )
    elif article:
        place = _("Art. %(article)s", article=_numeral(article[1]))
    elif standards:
        numbers = _(", ").join(_numeral(n.strip()) for n in standards[1].split(","))
        place = _("standards %(numbers)s", numbers=numbers)
    return _("%(document)s, %(place)s", document=translated(SOURCES[document]), place=place)


def share(part, whole) -> str:
    return f"{part / whole:.1%}"
