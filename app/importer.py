"""The roster import pipeline (SPEC §3.2): read (app.roster_files), find the header, check
every row column by column, then write all rows or none. What a KIND imports is declared in
app/resources.py.
"""

import datetime as dt
import decimal
import hashlib
import itertools
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import inspect, select

from app import accounts, audit, fields, inputs, validation
from app.roster_files import HEADER_SCAN_ROWS, SEPARATOR, ImportUsageError, _joined, read_table

EXCEL_EPOCH = np.datetime64("1899-12-30", "D")
# One pattern per accepted layout, each with named year, month and day.
DATE_PATTERN = re.compile(
    r"^(?:(?P<y1>\d{4})(?P<sep>[-/.])(?P<m1>\d{1,2})(?P=sep)(?P<d1>\d{1,2})"
    r"(?:[ T]00:00:00)?"  # a date cell read from a workbook comes back at midnight
    r"|(?P<y2>\d{4})年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日?"
    r"|(?P<y3>\d{4})(?P<m3>\d{2})(?P<d3>\d{2}))$"
)
EXCEL_SERIAL = re.compile(r"^(\d{4,5})(?:\.0+)?$")
# Serials from 1910-01-01 to 2099-12-31: a bare year such as "2023" is not day 2023 of 1900.
EXCEL_SERIAL_RANGE = (3654, 73050)
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "党员", "志愿者", "已签约"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "×", "非党员", "未签约"}
LOOKUP_CHUNK = 900
# Rows per bulk write: progress moves between batches.
WRITE_BATCH = 20_000
ID_WEIGHTS = np.array(validation.ID_WEIGHTS)
ID_CHECK_BYTES = np.frombuffer(validation.ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)
MOBILE = validation.MOBILE_PATTERN.pattern.strip("^$")
LANDLINE = validation.LANDLINE_PATTERN.pattern.strip("^$")
INT_PATTERN = r"^\d+(?:\.0+)?$"
DECIMAL_PATTERN = r"^-?\d+(?:\.\d+)?$"


@dataclass
class Result:
    """What an import did, or would do: counts and the rejected rows with their messages."""

    header: list
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list = field(default_factory=list)  # (row number, original cells, messages)
    sha256: str = ""
    committed: bool = False
    # Inserted rows whose status the importer may not decide: they enter as applications.
    applied_instead: int = 0
    # Rows not compared with the stored records (the user sees their key masked): each is
    # added as a new row, and the president or secretary settles a clash.
    deferred: bool = False

    @property
    def counts(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


# --- Reading cells, as text ---


def _strip(cells: pd.Series) -> pd.Series:
    """Each cell (all text) without surrounding blanks; twice as fast as ``.str.strip()``."""
    return pd.Series([c.strip() for c in cells.to_numpy()], index=cells.index, dtype=object)


def _fullmatch(texts: pd.Series, pattern: str) -> pd.Series:
    """``texts.str.fullmatch(pattern)`` for cells of text; when every cell matches (a clean
    file), one match over the joined column says so. ``pattern`` never matches SEPARATOR,
    so the joined text matches only if each cell does."""
    text = _joined(texts.to_numpy())
    whole = rf"(?:{pattern})(?:{SEPARATOR}(?:{pattern}))*"
    if len(texts) and text is not None and re.fullmatch(whole, text):
        return pd.Series(True, index=texts.index)
    return texts.str.fullmatch(pattern).fillna(False).astype(bool)


def _without_blanks(texts: pd.Series, upper=False) -> pd.Series:
    """Each cell without spaces (and in capitals): in one pass over the joined column."""
    text = _joined(texts.to_numpy())
    if text is None:
        texts = texts.str.replace(" ", "", regex=False)
        return texts.str.upper() if upper else texts
    text = text.replace(" ", "")
    cells = (text.upper() if upper else text).split(SEPARATOR)
    return pd.Series(cells if len(texts) else [], index=texts.index, dtype=object)


def _header_key(text) -> str:
    return re.sub(r"[\s_*]+", "", str(text)).lower()


def find_header(frame: pd.DataFrame, resource):
    """The row among the first few that names the most columns, and column index → Column.

    When two cells name the same field, the one whose alias comes first in the declaration
    wins, wherever it stands in the row.
    """
    aliases = {}
    for column in resource.columns:
        for rank, alias in enumerate((column.name, *column.aliases)):
            aliases.setdefault(_header_key(alias), (column, rank))
    best, best_map = None, {}
    for index in range(min(HEADER_SCAN_ROWS, len(frame))):
        chosen = {}  # column name → (rank, position, Column)
        for position, cell in enumerate(frame.iloc[index]):
            hit = aliases.get(_header_key(cell))
            if hit is None:
                continue
            column, rank = hit
            if column.name not in chosen or rank < chosen[column.name][0]:
                chosen[column.name] = (rank, position, column)
        mapping = {position: column for _rank, position, column in chosen.values()}
        if len(mapping) > len(best_map):
            best, best_map = index, dict(sorted(mapping.items()))
    if best is None:
        raise ImportUsageError(_("No header row found in the first %(n)d rows", n=HEADER_SCAN_ROWS))
    missing = [c.aliases[0] for c in resource.columns if c.required and c not in best_map.values()]
    if missing:
        raise ImportUsageError(_("Columns missing: %(names)s", names=", ".join(missing)))
    return best, best_map


# --- Reading cells, a column at a time ---


def labelled(label, message) -> str:
    """A problem prefixed by the column's header as the file spells it."""
    return _("%(label)s: %(message)s", label=label, message=message)


def parse_dates(texts: pd.Series) -> pd.Series:
    """Dates in the formats villages use (datetime64; NaT where a cell is not one of them).

    A strict parser of ours: nothing is guessed ("2023.05" is not a date, "2023" not a serial).
    """
    texts = texts.astype(str).str.strip()
    # 2023-05-01 (and 2023-5-1) in C; the regular expression reads what is left.
    iso = pd.to_datetime(texts, format="%Y-%m-%d", errors="coerce")
    rest = iso.isna()
    if not rest.any():
        return iso
    return iso.fillna(_parse_other_dates(texts[rest]))


def _parse_other_dates(texts: pd.Series) -> pd.Series:
    parts = texts.str.extract(DATE_PATTERN)
    year = parts["y1"].fillna(parts["y2"]).fillna(parts["y3"])
    month = parts["m1"].fillna(parts["m2"]).fillna(parts["m3"])
    day = parts["d1"].fillna(parts["d2"]).fillna(parts["d3"])
    numbers = pd.DataFrame(
        {
            "year": pd.to_numeric(year, errors="coerce"),
            "month": pd.to_numeric(month, errors="coerce"),
            "day": pd.to_numeric(day, errors="coerce"),
        }
    )
    # Out-of-range parts (month 13, 30 February) come back as NaT, never rolled over.
    dates = pd.to_datetime(numbers, errors="coerce")
    serial = pd.to_numeric(texts.str.extract(EXCEL_SERIAL)[0], errors="coerce")
    low, high = EXCEL_SERIAL_RANGE
    serial = serial.where((serial >= low) & (serial <= high))
    from_serial = pd.Series(
        EXCEL_EPOCH + serial.fillna(0).to_numpy(dtype="int64").astype("timedelta64[D]"),
        index=texts.index,
    ).where(serial.notna())
    return dates.fillna(from_serial)


def parse_date(text: str) -> dt.date:
    """One date in one of the formats villages use, or ValueError."""
    value = parse_dates(pd.Series([text])).iloc[0]
    if pd.isna(value):
        raise ValueError(text)
    return value.date()


def _as_dates(stamps: pd.Series) -> pd.Series:
    """datetime64 → datetime.date objects, None for NaT."""
    dates = pd.Series(stamps.dt.date, index=stamps.index, dtype=object)
    return dates.where(stamps.notna(), None)


def id_facts(numbers: pd.Series) -> pd.DataFrame:
    """For normalised ID numbers: well formed (17 digits and a digit or X), check character
    right, birth date (NaT when none), male; computed on the bytes, a row per number."""
    well_formed = _fullmatch(numbers, r"[0-9]{17}[0-9X]").to_numpy(dtype=bool)
    n = len(numbers)
    check_ok = np.zeros(n, dtype=bool)
    rounded = np.zeros(n, dtype=bool)
    male = np.zeros(n, dtype=bool)
    year, month, day = (np.full(n, np.nan) for _ in range(3))
    if well_formed.any():
        raw = "".join(numbers.to_numpy()[well_formed]).encode("ascii")
        chars = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
        digits = chars[:, :17].astype(np.int64) - ord("0")
        check_ok[well_formed] = ID_CHECK_BYTES[(digits @ ID_WEIGHTS) % 11] == chars[:, 17]
        rounded[well_formed] = (chars[:, 15:] == ord("0")).all(axis=1)
        male[well_formed] = digits[:, 16] % 2 == 1
        year[well_formed] = digits[:, 6:10] @ [1000, 100, 10, 1]
        month[well_formed] = digits[:, 10:12] @ [10, 1]
        day[well_formed] = digits[:, 12:14] @ [10, 1]
    # Out-of-range parts (month 13, 30 February) give NaT, never a rolled-over date.
    birth = pd.to_datetime(
        pd.DataFrame({"year": year, "month": month, "day": day}), errors="coerce"
    )
    return pd.DataFrame(
        {
            "well_formed": well_formed,
            "check_ok": check_ok,
            "rounded": rounded,
            "male": male,
            "birth": birth.to_numpy(),
        },
        index=numbers.index,
    )


def id_problems(numbers: pd.Series, facts: pd.DataFrame) -> pd.Series:
    """validation.id_number_problem, column-wise, for non-empty normalised ID numbers."""
    problems = pd.Series(None, index=numbers.index, dtype=object)

    def mark(mask, message):
        problems[mask & problems.isna()] = message

    odd = numbers[~facts["well_formed"]]
    if len(odd):
        mark(
            odd.str.match(r"^\d(\.\d+)?E\+?\d+$").reindex(numbers.index, fill_value=False),
            _(
                "The ID number was turned into scientific notation by Excel; "
                "format the column as text and type it again"
            ),
        )
        lengths = odd.str.len()
        for n in sorted(lengths[lengths != 18].unique()):
            mark(
                (lengths == n).reindex(numbers.index, fill_value=False),
                _("An ID number has 18 characters (this one has %(n)d)", n=n),
            )
        mark(~facts["well_formed"], _("An ID number is 17 digits followed by a digit or X"))
    wrong_check = facts["well_formed"] & ~facts["check_ok"]
    mark(
        wrong_check & facts["rounded"],
        _(
            "The ID number was rounded by Excel (it ends in 000); "
            "format the column as text and type it again"
        ),
    )
    birth = facts["birth"]
    mark(
        facts["well_formed"] & (birth.isna() | (birth > pd.Timestamp(dt.date.today()))),
        _("The ID number holds no valid birth date"),
    )
    mark(wrong_check, _("The ID number's check digit is wrong; please check it"))
    return problems


def phone_problems(texts: pd.Series) -> pd.Series:
    """validation.phone_problem, column-wise, for non-empty phone numbers."""
    texts = _without_blanks(texts)
    problems = pd.Series(None, index=texts.index, dtype=object)
    fine = _fullmatch(texts, MOBILE)
    rest = texts[~fine]
    if rest.empty:
        return problems
    rest = rest[~rest.str.fullmatch(LANDLINE)]
    mobile_like = rest.str.fullmatch(r"1\d*")
    lengths = rest.str.len()
    for n in sorted(lengths[mobile_like].unique()):
        problems[(mobile_like & (lengths == n)).reindex(texts.index, fill_value=False)] = _(
            "A mobile number has 11 digits (this one has %(n)d)", n=n
        )
    problems[rest[~mobile_like].index] = _(
        "Not a phone number: give an 11-digit mobile or a landline such as 0830-7123456"
    )
    return problems


class Lookups:
    """Cell text → primary key for each lookup column, from the village's records."""

    def __init__(self, session, village, group, user=None):
        self.session, self.village, self.group = session, village, group
        # Who imports: a record is found by a field they see masked (a member by ID number)
        # only if they see it in full, else a dry run would confirm a guessed number.
        self.user = user
        # What the ID number column says (birth date, gender), once it has been read.
        self.id_facts = None

    def table(self, lookup) -> dict:
        model = lookup.model
        seen = [a for a in lookup.by if not self._masked(a, model)]
        attrs = [getattr(model, a) for a in seen]
        query = select(model.id, *attrs).where(model.village_id == self.village.id)
        if self.group is not None and hasattr(model, "group_id"):
            query = query.where(model.group_id == self.group.id)
        for attr, values in lookup.where:
            query = query.where(getattr(model, attr).in_(values))
        table = {}
        for pk, *names in self.session.execute(query):
            for name in names:
                if name is None:
                    continue
                for layout in lookup.formats:
                    table.setdefault(layout.format(name).strip().lower(), set()).add(pk)
        return table

    def _masked(self, attr, model) -> bool:
        return self.user is not None and accounts.masks(attr, self.user, model)

    def copied(self, lookup, pks: pd.Series) -> dict:
        """For the records ``pks`` names: field → Series of what the lookup ``copies``."""
        model = lookup.model
        wanted = sorted({int(pk) for pk in pks.dropna()})
        attrs = [attr for _field, attr in lookup.copies]
        found = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            query = select(model.id, *(getattr(model, a) for a in attrs))
            for pk, *values in self.session.execute(query.where(model.id.in_(chunk))):
                found[pk] = values
        # Object Series of ints and None: a Series.map mixing the two turns them into floats
        # and NaN, which PostgreSQL refuses for an integer column.
        return {
            field_name: pd.Series(
                [found[pk][i] if pk in found else None for pk in pks.tolist()],
                index=pks.index,
                dtype=object,
            )
            for i, (field_name, _attr) in enumerate(lookup.copies)
        }


def _copy_from_lookups(rows, resource, lookups):
    """Fields a lookup fills when the row leaves them empty (a contact household's group is
    its member's)."""
    for column in resource.columns:
        if column.kind != "lookup" or not column.lookup.copies or column.name not in rows.values:
            continue
        for field_name, values in lookups.copied(column.lookup, rows.values[column.name]).items():
            mine = rows.column(field_name).astype(object)
            rows.values[field_name] = mine.where(mine.notna(), values)


def read_column(column, texts: pd.Series, lookups: Lookups, model_columns) -> tuple:
    """(values, problems) of one column's non-empty cells; value None where a problem is.

    Only free text can be longer than its database column: the other kinds are checked
    against their patterns, choices or lookups.
    """
    kind = column.kind
    problems = pd.Series(None, index=texts.index, dtype=object)
    if kind == "id_number":
        values = _without_blanks(texts, upper=True)
        facts = id_facts(values)
        problems = id_problems(values, facts)
        lookups.id_facts = facts
    elif kind == "phone":
        values = texts
        text = _joined(texts.to_numpy())
        if text is None or "." in text:
            values = texts.str.replace(r"\.0+$", "", regex=True)
        problems = phone_problems(values)
    elif kind == "date":
        stamps = parse_dates(texts)
        values = _as_dates(stamps)
        problems = _messages(
            texts,
            stamps.isna(),
            lambda text: _(
                "%(value)s is not a date: write 2023-05-01, 2023/5/1, 2023.5.1, "
                "2023年5月1日 or 20230501",
                value=text,
            ),
        )
    elif kind in ("choice", "bool", "lookup"):
        values, problems = _by_words(column, texts, lookups)
    elif kind == "int":
        fine = texts.str.fullmatch(INT_PATTERN)
        values = texts.where(fine).str.replace(r"\.0+$", "", regex=True)
        values = values.map(int, na_action="ignore").astype(object)
        problems = _messages(
            texts, ~fine, lambda text: _("%(value)s is not a whole number", value=text)
        )
        problems = _past_column(texts, values, problems, model_columns[column.name])
    elif kind == "decimal":
        fine = texts.str.fullmatch(DECIMAL_PATTERN)
        values = texts.where(fine).map(decimal.Decimal, na_action="ignore").astype(object)
        problems = _messages(texts, ~fine, lambda text: _("%(value)s is not an amount", value=text))
        problems = _past_column(texts, values, problems, model_columns[column.name])
    else:
        values = texts
        length = getattr(model_columns[column.name].type, "length", None)
        if length:
            too_long = texts.str.len() > length
            problems[too_long] = _("At most %(n)d characters", n=length)
    values = values.astype(object).where(problems.isna(), None)
    return values, problems


def _past_column(texts, values, problems, model_column) -> pd.Series:
    """The problems, and a message for each number past what its column holds on every
    database (an int4 count, a Numeric(12, 2) amount: PostgreSQL refused the whole import with
    a 500). Only cells as long as the limit are looked at."""
    limit = inputs.number_limit(model_column.type)
    if limit is None:
        return problems
    long = problems.isna() & (texts.str.len() >= len(str(int(limit))))
    past = values[long].map(lambda value: inputs.number_problem(model_column.type, value))
    return problems.where(
        ~long,
        _messages(
            texts,
            long & past.reindex(texts.index).notna(),
            lambda text: _("%(value)s is more than %(n)s", value=text, n=limit),
        ),
    )


def _messages(texts, mask, message) -> pd.Series:
    """``message(text)`` for the cells of ``mask``, each distinct text formatted once."""
    said = {text: message(text) for text in texts[mask].unique()}
    return texts.map(said).where(mask, None).astype(object)


def _by_words(column, texts, lookups):
    """Choices, yes/no words and lookups: each distinct cell text is read once."""
    table = lookups.table(column.lookup) if column.kind == "lookup" else None
    answers = {text: _word(column, text, table, lookups.village) for text in texts.unique()}
    values = texts.map({t: a[0] for t, a in answers.items()}).astype(object)
    problems = texts.map({t: a[1] for t, a in answers.items()}).astype(object)
    return values, problems.where(problems.notna(), None)


def _word(column, text, table, village):
    if column.kind == "choice":
        code = dict(column.synonyms).get(text) or column.choices.by_label(text)
        if code is None:
            return None, _("%(value)s is not one of the choices", value=text)
        return code, None
    if column.kind == "bool":
        word = text.lower()
        if word in TRUE_WORDS:
            return True, None
        if word in FALSE_WORDS:
            return False, None
        return None, _("%(value)s: write 是 or 否", value=text)
    pks = table.get(text.lower(), set())
    if not pks:
        return None, str(column.lookup.missing % {"village": village.name, "value": text})
    if len(pks) > 1:
        return None, _("%(value)s names several records: give the ID number", value=text)
    return next(iter(pks)), None


# --- The pipeline ---


class Rows:
    """The body of the file: values per model field and problems per row, column-wise."""

    def __init__(self, cells: pd.DataFrame, texts: pd.DataFrame, numbers: list):
        self.cells = cells.reset_index(drop=True)  # as the file has them, for the error report
        self.body = texts.reset_index(drop=True)
        self.numbers = numbers
        self.values: dict[str, pd.Series] = {}
        self.problems: dict[int, list] = {}  # position → messages, for the rows with any

    def __len__(self):
        return len(self.body)

    def flag(self, mask_or_messages, message=None, label=None):
        """Add a message to the rows of a boolean mask, or each message of a Series."""
        if message is not None:
            mask = np.asarray(mask_or_messages, dtype=bool)
            messages = ((p, message) for p in np.flatnonzero(mask).tolist())
        else:
            messages = mask_or_messages.dropna().items()
        for position, text in messages:
            self.add(position, labelled(label, text) if label else text)

    def add(self, position, message):
        self.problems.setdefault(position, []).append(message)

    def ok(self) -> np.ndarray:
        mask = np.ones(len(self), dtype=bool)
        mask[list(self.problems)] = False
        return mask

    def column(self, name) -> pd.Series:
        if name in self.values:
            return self.values[name]
        return pd.Series([None] * len(self), dtype=object)

    def rejected(self) -> list:
        """(row number, the cells as the file has them, messages) of each rejected row."""
        positions = sorted(self.problems)
        cells = self.cells.to_numpy()[positions].tolist() if positions else []
        return [
            (self.numbers[p], row, self.problems[p])
            for p, row in zip(positions, cells, strict=True)
        ]


def blind_to_stored(resource, user) -> bool:
    """Whether ``user`` sees a field of the register's natural key masked (an ID number): an
    import of theirs must not tell which of its keys are stored (issue 15)."""
    model = resource.model
    return user is not None and any(accounts.masks(k, user, model) for k in resource.natural_key)


def import_roster(
    session,
    resource,
    filename,
    raw,
    village,
    group=None,
    upsert=False,
    dry_run=False,
    user=None,
    progress=None,
) -> Result:
    """Check every row of ``raw``; write them all (unless ``dry_run``) only if none is rejected.

    ``user`` is the person importing (None: the CLI, with every right). ``progress(done,
    total)`` is called a handful of times; the first half of ``total`` is checking, the
    second writing.
    """
    model = resource.model
    if group is not None and "group" not in getattr(model, "__scope__", {}):
        raise ImportUsageError(_("This register is kept by the village, not by a group"))
    # One who sees the key masked neither updates by it (which rows would update tells which
    # numbers are stored) nor learns, in a dry run or on import, whether a number is stored:
    # their rows are never compared with the stored records (see ``existing`` below).
    blind = blind_to_stored(resource, user)
    try:
        if blind and upsert:
            raise ImportUsageError(
                _(
                    "You see ID numbers masked: an import of yours adds new rows only; the "
                    "president or secretary updates rows by ID number"
                )
            )
        frame = read_table(filename, raw)
        header_index, header_map = find_header(frame, resource)
    except ImportUsageError as exc:
        # A file refused unread (too large, malformed, busy) is in the log too (issue 15).
        audit_refused(session, str(exc), resource, filename, raw, village, user)
        raise
    header_cells = list(frame.iloc[header_index])
    result = Result(header=header_cells, sha256=hashlib.sha256(raw).hexdigest())
    labels = {c.name: str(header_cells[p]).strip() for p, c in header_map.items()}

    body = frame.iloc[header_index + 1 :]
    texts = body.apply(_strip)
    # Which cells are given, compared once for the blank rows and every column's checks.
    given_cells = (texts != "").to_numpy()
    filled = given_cells.any(axis=1)
    given_cells = given_cells[filled]
    numbers = (np.flatnonzero(filled) + header_index + 2).tolist()
    rows = Rows(body[filled], texts[filled], numbers)
    total = 2 * len(rows)
    step = _progress(progress, total)
    stages = len(header_map) + 2

    step(0)
    lookups = Lookups(session, village, group, user)
    model_columns = _model_columns(model)
    for done, (position, column) in enumerate(header_map.items(), start=1):
        column_texts = rows.body[position]
        given = pd.Series(given_cells[:, texts.columns.get_loc(position)], index=column_texts.index)
        label = labels[column.name]
        if column.required:
            rows.flag(~given, _("This field is required"), label=label)
        values, problems = read_column(column, column_texts[given], lookups, model_columns)
        values = values.reindex(rows.body.index).astype(object)
        rows.values[column.name] = values.where(values.notna(), None)
        rows.flag(problems, label=label)
        step(len(rows) * done // stages)
    _copy_from_lookups(rows, resource, lookups)
    _fill_scope(rows, resource, labels, village, group)
    if lookups.id_facts is not None:
        _agree_with_id(rows, resource, labels, lookups.id_facts)
    _duplicates(rows, resource, labels)
    step(len(rows) * (stages - 1) // stages)

    # A blind import adds every row as a new one, whatever is stored, as the API does: a
    # refusal of the file when one row meets a stored number confirmed a guessed number by a
    # binary search over files. A member enters as an application and a clash is met by the
    # president on approving it (records.member_errors); a household register has no
    # uniqueness (a second row is what the API writes too), and the database's one active
    # row per ID number holds, since a masked role never decides.
    result.deferred = blind
    existing = {} if blind else _existing(session, resource, rows, village, own_group(user))
    plan = _Plan(resource, labels, village, group, upsert, user, result)
    inserts, updates, before = plan.run(rows, existing)
    step(len(rows))
    result.rejected = rows.rejected()
    result.inserted, result.updated = _count(inserts), len(updates)
    if result.rejected or dry_run:
        # Every check that writes nothing is in the audit log too (issue 15): a preview tells
        # what a file would do.
        _audit_check(session, resource, filename, result, village, user, dry_run)
        return result

    def writing(done, of):
        step(len(rows) + len(rows) * done // max(of, 1))

    try:
        _write(session, resource, inserts, updates, before, filename, result, village, writing)
    except Exception:
        session.rollback()
        raise
    result.committed = True
    step(total)
    return result


def _progress(progress, total):
    def step(done):
        if progress is not None:
            progress(min(done, total), total)

    return step


def _fill_scope(rows, resource, labels, village, group):
    """The village for every row; the group bound, refusing rows that name another."""
    n = len(rows)
    rows.values["village_id"] = pd.Series([village.id] * n, dtype=object)
    if group is None or "group_id" not in _model_columns(resource.model):
        return
    named = rows.values.get("group_id")
    if named is not None:
        other = named.notna() & (named != group.id)
        rows.flag(
            other,
            _(
                "%(label)s: the row names another group than %(group)s",
                label=labels.get("group_id", ""),
                group=group.name,
            ),
        )
    rows.values["group_id"] = pd.Series([group.id] * n, dtype=object)


def _agree_with_id(rows, resource, labels, facts):
    """Fields declared ``from_id``: blanks take what the ID number says; given ones agree."""
    derived = [c for c in resource.columns if c.from_id]
    numbers = rows.values.get("id_number")
    if not derived or numbers is None:
        return
    valid = numbers.notna()
    facts = facts.reindex(numbers.index)
    said = {
        "gender": pd.Series(np.where(facts["male"], "male", "female"), dtype=object).where(
            valid, None
        ),
        "birth_date": _as_dates(facts["birth"].where(valid)),
    }
    for column in derived:
        truth = said[column.from_id]
        given = rows.values.get(column.name)
        if given is None:
            rows.values[column.name] = truth
            continue
        disagree = valid & given.notna() & (given != truth)
        if column.from_id == "gender":
            message = _("The gender does not agree with the ID number")
            rows.flag(disagree, message, label=labels[column.name])
        else:
            for date in truth[disagree].unique():
                rows.flag(
                    disagree & (truth == date),
                    _(
                        "The birth date does not agree with the ID number (%(date)s)",
                        date=date.isoformat(),
                    ),
                    label=labels[column.name],
                )
        rows.values[column.name] = given.where(given.notna(), truth)


def _key_frame(rows, resource) -> pd.DataFrame:
    return pd.DataFrame({k: rows.column(k) for k in resource.natural_key})


def _key_label(resource, labels) -> str:
    return "、".join(labels.get(k, k) for k in resource.natural_key)


def _duplicates(rows, resource, labels):
    """A second row with the same natural key names the first."""
    keys = _key_frame(rows, resource)
    # Only the rows whose key another row shares (a hash table; mostly none) are grouped.
    complete = keys.notna().all(axis=1) & keys.duplicated(keep=False)
    if not complete.any():
        return
    numbers = pd.Series(rows.numbers)
    first = (
        numbers[complete]
        .groupby([keys[k][complete] for k in resource.natural_key])
        .transform("first")
    )
    again = first[first != numbers[complete]]
    single_id = resource.natural_key == ("id_number",)
    for position, row in again.items():
        if single_id:
            message = _(
                "%(label)s: the same ID number as row %(row)d",
                label=labels["id_number"],
                row=row,
            )
        else:
            message = _(
                "%(label)s: the same as row %(row)d", label=_key_label(resource, labels), row=row
            )
        rows.add(position, message)


def _model_columns(model) -> dict:
    return {c.key: c for c in inspect(model).columns}


def own_group(user):
    """The group a group-bound account (a group leader) keeps, else None."""
    scope = accounts.user_scope(user) if user is not None else None
    return scope.group_id if scope is not None and scope.level == "group" else None


def _existing(session, resource, rows, village, group_id=None) -> dict:
    """Natural key → stored rows (as dicts) holding that key: in any village for a resource
    with live statuses (one live membership per person), else in this village — and, for a
    group leader (``group_id``), in her group only: another group's records are as if they
    did not exist to her (SPEC §1), so that a file cannot ask whether they do.

    A big file first reads the stored keys alone (one query) and fetches the full rows of
    those it meets; a small one asks for its keys in chunks.
    """
    model = resource.model
    keys = _key_frame(rows, resource).dropna()
    wanted = set(keys.itertuples(index=False, name=None))
    key_columns = [getattr(model, k) for k in resource.natural_key]
    # Core rows, not ORM results: thousands of plain tuples.
    connection = session.connection()
    here = () if resource.live_statuses else (model.village_id == village.id,)
    if group_id is not None and not resource.live_statuses and hasattr(model, "group_id"):
        here = (*here, model.group_id == group_id)
    if len(wanted) > LOOKUP_CHUNK:
        stored = connection.execute(select(*key_columns).where(*here))
        wanted &= set(map(tuple, stored))
    candidates = sorted({k[0] for k in wanted}, key=str)
    names = [c.key for c in model.__table__.columns]
    found = {}
    for start in range(0, len(candidates), LOOKUP_CHUNK):
        chunk = candidates[start : start + LOOKUP_CHUNK]
        query = select(*model.__table__.columns).where(key_columns[0].in_(chunk), *here)
        for values in connection.execute(query):
            row = dict(zip(names, values, strict=True))
            key = tuple(row[k] for k in resource.natural_key)
            if key in wanted:
                found.setdefault(key, []).append(row)
    return found


def _match(resource, stored: list, village_id: int, upsert: bool):
    """(the row to update or None, a message when the key is taken)."""
    here = [r for r in stored if r["village_id"] == village_id]
    if not resource.live_statuses:
        if here and upsert:
            return max(here, key=lambda r: r["id"]), None
        if here:
            return None, _("This record is already in the register; choose upsert to update it")
        return None, None
    live = [r for r in stored if r.get("status") in resource.live_statuses]
    if upsert and here:
        target = next((r for r in here if r in live), max(here, key=lambda r: r["id"]))
        elsewhere = [r for r in live if r["village_id"] != village_id]
        if elsewhere:
            return None, _("This person is already a member, or has applied, in another village")
        return target, None
    if live:
        return None, _("This person is already a member, or has applied, in an association")
    return None, None


class _Plan:
    """Which rows insert, update or stay unchanged, and the field errors of each.

    Rows whose key nothing stored holds are checked column-wise; the few that meet a stored
    record go one by one.
    """

    def __init__(self, resource, labels, village, group, upsert, user, result):
        self.resource, self.labels, self.result = resource, labels, result
        self.village, self.group, self.upsert = village, group, upsert
        model = resource.model
        self.columns = _model_columns(model)
        self.names = [n for n in self.columns if n != "id"]
        decider = user is None or accounts.can(user, accounts.APPROVE, model.__name__)
        # Who may not decide admissions files applications, whatever the file says.
        self.admission = None if decider else resource.admission
        self.key_label = _key_label(resource, labels)

    def run(self, rows, existing):
        """(the rows to insert, column by column: field → list of values; the rows to update,
        as dicts; id → the stored row, for each update)."""
        if existing:
            keys = _key_frame(rows, self.resource)
            complete = keys.notna().all(axis=1).to_numpy()
            key_tuples = list(keys.itertuples(index=False, name=None))
            met = np.array(
                [c and k in existing for c, k in zip(complete, key_tuples, strict=True)],
                dtype=bool,
            )
        else:  # nothing stored shares a key with the file: every row is new
            met = np.zeros(len(rows), dtype=bool)
        inserts = self.fresh(rows, rows.ok() & ~met)
        again = []  # a person who left, joining again: a new row beside the old one
        updates, before = [], {}
        given = {n: rows.values[n].to_numpy() for n in rows.values if n in self.columns}
        for position in np.flatnonzero(met & rows.ok()).tolist():
            cells = {n: v[position] for n, v in given.items() if v[position] is not None}
            problems = self.row(cells, existing[key_tuples[position]])
            if problems:
                for problem in problems:
                    rows.add(position, problem)
            elif self.target is None:
                again.append(self.full)
            elif self.same and self.resource.skip_unchanged:
                self.result.unchanged += 1
            else:
                updates.append({n: self.full.get(n) for n in self.target})
                before[self.target["id"]] = self.target
        if again:
            # One statement writes them all: every row names every column.
            count = _count(inserts)
            inserts = {
                n: inserts.get(n, [None] * count) + [r.get(n) for r in again] for n in self.names
            }
        return inserts, updates, before

    def fresh(self, rows, mask) -> dict:
        """The rows that meet nothing stored, checked column by column: the rows to insert,
        as field → list of values (no dict per row)."""
        resource = self.resource
        full = {}
        for name in self.names:
            series = rows.column(name)
            default = resource.defaults.get(name)
            if default is not None:
                series = series.where(series.notna(), default)
            full[name] = series
        if self.admission:
            name, applied, _decisions = self.admission
            self.result.applied_instead += int((mask & (full[name] != applied)).sum())
            full[name] = full[name].where(~mask, applied)
        required = {c.name for c in resource.columns if c.required}
        for name, column in self.columns.items():
            if name not in full:
                continue
            series = full[name]
            if fields.required(column) and name not in required:
                rows.flag(mask & series.isna(), _("This field is required"), self.label(name))
        for column in resource.columns:
            if column.required_when:
                other, values = column.required_when
                missing = mask & full[column.name].isna() & full[other].isin(values)
                rows.flag(missing, column.message, self.label(column.name))
        mask = mask & rows.ok()
        # A column empty on every row is left to the database (NULL): smaller rows to write.
        chosen = {n: full[n][mask] for n in self.names}
        columns = {n: s.tolist() for n, s in chosen.items() if s.notna().any()}
        clean = getattr(resource.model, "clean", None)
        if not (clean and resource.row_clean):
            return columns
        names = list(columns)
        kept = []
        records = zip(*columns.values(), strict=True)
        for position, values in zip(np.flatnonzero(mask).tolist(), records, strict=True):
            errors = clean(dict(zip(names, values, strict=True)))
            for key, message in errors.items():
                rows.add(position, labelled(self.label(key), message))
            kept.append(not errors)
        if all(kept):
            return columns
        return {n: list(itertools.compress(v, kept)) for n, v in columns.items()}

    def row(self, given, stored) -> list:
        """The problems of a row whose key is stored; sets ``target``, ``full`` and ``same``
        (the row would change nothing)."""
        resource = self.resource
        self.same = False
        self.target, clash = _match(resource, stored, self.village.id, self.upsert)
        if clash:
            return [labelled(self.key_label, clash)]
        target = self.target
        if target is not None and self.group is not None and target["group_id"] != self.group.id:
            return [_("This record belongs to another group than %(group)s", group=self.group.name)]
        if self.admission:
            name, applied, decisions = self.admission
            if target is None:
                if given.get(name, resource.defaults.get(name)) != applied:
                    self.result.applied_instead += 1
                given[name] = applied
            elif given.get(name, target[name]) != target[name] and given[name] in decisions:
                message = _("Only the president approves or rejects an application")
                return [labelled(self.label(name), message)]
        self.full = {**(target or resource.defaults), **given}
        if target is not None:
            self.same = all(self.full[n] == v for n, v in target.items())
            if self.same:
                return []  # what is stored stays as it is: nothing to check
        # Text lengths were checked with their column; stored values are there already.
        errors = {
            key: _("This field is required")
            for key, column in self.columns.items()
            if self.full.get(key) is None and fields.required(column)
        }
        clean = getattr(resource.model, "clean", None)
        if clean and not errors:
            errors = clean(dict(self.full))
        return [labelled(self.label(k), m) for k, m in errors.items()]

    def label(self, name):
        if name in self.labels:
            return self.labels[name]
        return str(self.columns[name].info.get("label", name))


def _count(columns: dict) -> int:
    """How many rows a dict of columns holds."""
    return len(next(iter(columns.values()), []))


def _write(session, resource, inserts, updates, before, filename, result, village, step) -> None:
    """The rows, their audit entries and the job entry, in one transaction."""
    model = resource.model
    count = _count(inserts)
    total = count + len(updates)
    for start in range(0, count, WRITE_BATCH):
        batch = {n: values[start : start + WRITE_BATCH] for n, values in inserts.items()}
        audit.bulk_insert_columns(session, model, batch)
        step(min(start + WRITE_BATCH, count), total)
    audit.bulk_update(session, model, updates, before)
    audit.record(
        "import",
        model=model,
        village_id=village.id,
        details={
            "kind": resource.kind,
            "file": os.path.basename(filename),
            "sha256": result.sha256,
            **result.counts,
        },
        session=session,
        commit=False,
    )
    session.commit()


def _audit_check(session, resource, filename, result, village, user, dry_run) -> None:
    """The audit entry of a dry run (a preview) or of an import refused with nothing written."""
    audit.record(
        "import_preview" if dry_run else "import_refused",
        user=user,
        model=resource.model,
        village_id=village.id,
        details={
            "kind": resource.kind,
            "file": os.path.basename(filename),
            "sha256": result.sha256,
            **result.counts,
        },
        session=session,
    )


def audit_refused(
    session, reason, resource=None, filename=None, raw=None, village=None, user=None
) -> None:
    """The audit entry of an upload refused before its rows were checked: unreadable, too
    large, the reader busy, or not a table at all; what is known of the file, and why."""
    details = {"reason": str(reason)[:500]}
    if resource is not None:
        details["kind"] = resource.kind
    if filename:
        details["file"] = os.path.basename(filename)[:200]
    if raw is not None:
        details.update(size=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    audit.record(
        "import_refused",
        user=user,
        model=resource.model if resource is not None else None,
        village_id=village.id if village is not None else None,
        details=details,
        session=session,
    )


def write_errors(result: Result, target) -> None:
    """The rejected rows as they were, with their row numbers and an error column (.xlsx);
    ``target`` is a path or a binary file object."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append([_("Row"), *[str(h) for h in result.header], _("Errors")])
    for row_number, cells, problems in result.rejected:
        # Every cell is written as text: "=1+1" must not become a formula (SPEC §4).
        sheet.append([row_number, *(_text_cell(sheet, c) for c in cells), "; ".join(problems)])
    book.save(target)


def _text_cell(sheet, value):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=str(value))
    cell.data_type = "s"
    cell.number_format = "@"
    return cell
