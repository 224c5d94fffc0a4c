"""The roster import pipeline (SPEC §3.2): read, find the header, check every row, then write
all rows or none. What a KIND imports is declared in app/resources.py.
"""

import datetime as dt
import hashlib
import io
import os
import re
from dataclasses import dataclass, field

import pandas as pd
from flask_babel import gettext as _
from sqlalchemy import select

from app import audit, records, validation

HEADER_SCAN_ROWS = 10
EXCEL_EPOCH = dt.date(1899, 12, 30)
DATE_PATTERNS = (
    re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    # A date cell read from a workbook comes back as a timestamp at midnight.
    re.compile(r"^(\d{4})(-)(\d{2})-(\d{2})[ T]00:00:00$"),
)
EXCEL_SERIAL = re.compile(r"^(\d{4,5})(\.0+)?$")
# Serials from 1910-01-01 to 2099-12-31: a bare year such as "2023" is not day 2023 of 1900.
EXCEL_SERIAL_RANGE = range(3654, 73051)
TRUE_WORDS = {"是", "y", "yes", "true", "1", "√", "✓", "党员", "志愿者"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "×", "非党员"}
LOOKUP_CHUNK = 900


class ImportUsageError(Exception):
    """The file cannot be read as a roster at all (no header, unknown format)."""


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

    @property
    def counts(self) -> dict:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


# --- Reading ---


def decode_csv(raw: bytes) -> str:
    """UTF-8, UTF-8 with BOM, then GB18030 (a superset of GBK), each tried on the whole file."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw[3:].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise ImportUsageError(_("The file is neither UTF-8 nor GBK text")) from exc


def read_table(filename: str, raw: bytes) -> pd.DataFrame:
    """Every cell as text ('' when empty); row i of the frame is spreadsheet row i + 1."""
    suffix = os.path.splitext(filename)[1].lower()
    if suffix in (".csv", ".txt"):
        frame = pd.read_csv(
            io.StringIO(decode_csv(raw)),
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    elif suffix in (".xlsx", ".xls", ".xlsm"):
        frame = pd.read_excel(io.BytesIO(raw), engine="calamine", header=None, dtype=str)
    else:
        raise ImportUsageError(_("Give a .csv, .xlsx or .xls file"))
    return frame.fillna("").astype(str)


def _header_key(text) -> str:
    return re.sub(r"[\s_*]+", "", str(text)).lower()


def find_header(frame: pd.DataFrame, resource):
    """The row among the first few that names the most columns, and column index → Column."""
    aliases = {_header_key(a): c for c in resource.columns for a in (c.name, *c.aliases)}
    best, best_map = None, {}
    for index in range(min(HEADER_SCAN_ROWS, len(frame))):
        mapping = {}
        for position, cell in enumerate(frame.iloc[index]):
            column = aliases.get(_header_key(cell))
            if column is not None and column not in mapping.values():
                mapping[position] = column
        if len(mapping) > len(best_map):
            best, best_map = index, mapping
    if best is None:
        raise ImportUsageError(_("No header row found in the first %(n)d rows", n=HEADER_SCAN_ROWS))
    missing = [c.aliases[0] for c in resource.columns if c.required and c not in best_map.values()]
    if missing:
        raise ImportUsageError(_("Columns missing: %(names)s", names=", ".join(missing)))
    return best, best_map


# --- Reading one cell ---


def labelled(label, message) -> str:
    """A problem prefixed by the column's header as the file spells it."""
    return _("%(label)s: %(message)s", label=label, message=message)


def parse_date(text: str) -> dt.date:
    """A date in one of the formats villages use, or ValueError; nothing is guessed."""
    text = text.strip()
    for pattern in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            numbers = [g for g in match.groups() if g.isdigit()]
            return dt.date(*(int(n) for n in numbers))
    match = EXCEL_SERIAL.match(text)
    if match and int(match.group(1)) in EXCEL_SERIAL_RANGE:
        return EXCEL_EPOCH + dt.timedelta(days=int(match.group(1)))
    raise ValueError(text)


def excel_rounded(number: str) -> bool:
    """18 digits ending in 000 with a wrong check digit: a float round-trip through Excel."""
    return (
        bool(re.match(r"^\d{18}$", number))
        and number.endswith("000")
        and validation.id_check_char(number[:17]) != number[17]
    )


class RowReader:
    """Turns one row of cells into model values, collecting the problems found."""

    def __init__(self, resource, header_map, header_cells, village, group, session):
        self.resource = resource
        self.header_map = header_map
        self.labels = {c.name: str(header_cells[p]).strip() for p, c in header_map.items()}
        self.village = village
        self.group = group
        self.lookups = {}
        for column in resource.columns:
            if column.kind == "lookup":
                model, attr = column.lookup
                rows = session.execute(
                    select(model.id, getattr(model, attr)).where(model.village_id == village.id)
                ).all()
                self.lookups[column.name] = {str(name).strip(): pk for pk, name in rows}

    def read(self, cells) -> tuple[dict, list]:
        values, problems = {}, []
        for position, column in self.header_map.items():
            text = str(cells[position]).strip()
            label = self.labels[column.name]
            try:
                values[column.name] = self.cell(column, text)
            except ValueError as exc:
                problems.append(labelled(label, exc.args[0]))
        if self.group is not None:
            named = values.get("group_id")
            if named not in (None, self.group.id):
                problems.append(
                    _(
                        "%(label)s: the row names another group than %(group)s",
                        label=self.labels.get("group_id", ""),
                        group=self.group.name,
                    )
                )
            values["group_id"] = self.group.id
        values["village_id"] = self.village.id
        return values, problems

    def cell(self, column, text):
        if text == "":
            return None
        if column.kind == "id_number":
            number = validation.normalise_id_number(text)
            if excel_rounded(number):
                raise ValueError(
                    _(
                        "The ID number was rounded by Excel (it ends in 000); "
                        "format the column as text and type it again"
                    )
                )
            problem = validation.id_number_problem(number)
            if problem:
                raise ValueError(str(problem))
            return number
        if column.kind == "phone":
            text = re.sub(r"\.0+$", "", text)
            problem = validation.phone_problem(text)
            if problem:
                raise ValueError(str(problem))
            return text
        if column.kind == "date":
            try:
                return parse_date(text)
            except ValueError:
                raise ValueError(
                    _(
                        "%(value)s is not a date: write 2023-05-01, 2023/5/1, 2023.5.1, "
                        "2023年5月1日 or 20230501",
                        value=text,
                    )
                ) from None
        if column.kind == "choice":
            code = column.choices.by_label(text)
            if code is None:
                raise ValueError(_("%(value)s is not one of the choices", value=text))
            return code
        if column.kind == "bool":
            word = text.lower()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise ValueError(_("%(value)s: write 是 or 否", value=text))
        if column.kind == "lookup":
            pk = self.lookups[column.name].get(text)
            if pk is None:
                raise ValueError(
                    _("%(village)s has no group %(value)s", village=self.village.name, value=text)
                )
            return pk
        return text


# --- The pipeline ---


def _existing(session, resource, keys: list) -> dict:
    """Natural key → stored rows (as dicts) holding that key, in any village."""
    model = resource.model
    key_column = getattr(model, resource.natural_key)
    names = ["id", "village_id", "status"] + [c.name for c in resource.columns]
    names += [n for n in ("gender", "birth_date") if n not in names]
    found = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        query = select(*(getattr(model, n) for n in dict.fromkeys(names))).where(
            key_column.in_(chunk)
        )
        for row in session.execute(query).mappings():
            found.setdefault(row[resource.natural_key], []).append(dict(row))
    return found


def _match(resource, stored: list, village_id: int, upsert: bool):
    """(the row to update or None, a message when the key is taken)."""
    live = [r for r in stored if r.get("status") in resource.live_statuses]
    here = [r for r in stored if r["village_id"] == village_id]
    if upsert and here:
        target = next((r for r in here if r in live), max(here, key=lambda r: r["id"]))
        elsewhere = [r for r in live if r["village_id"] != village_id]
        if elsewhere:
            return None, _("This person is already a member, or has applied, in another village")
        return target, None
    if live:
        return None, _("This person is already a member, or has applied, in an association")
    return None, None


def import_roster(
    session, resource, filename, raw, village, group=None, upsert=False, dry_run=False
) -> Result:
    """Check every row of ``raw``; write them all (unless ``dry_run``) only if none is rejected."""
    frame = read_table(filename, raw)
    header_index, header_map = find_header(frame, resource)
    header_cells = list(frame.iloc[header_index])
    result = Result(header=header_cells, sha256=hashlib.sha256(raw).hexdigest())
    reader = RowReader(resource, header_map, header_cells, village, group, session)
    model = resource.model
    key = resource.natural_key

    parsed = []  # (row number, cells, values, problems)
    body = frame.iloc[header_index + 1 :]
    for offset, cells in enumerate(body.itertuples(index=False, name=None)):
        if not any(str(c).strip() for c in cells):
            continue
        row_number = header_index + 2 + offset
        values, problems = reader.read(cells)
        parsed.append((row_number, cells, values, problems))

    seen = {}
    for row_number, _cells, values, problems in parsed:
        number = values.get(key)
        if number and number in seen:
            problems.append(
                _(
                    "%(label)s: the same ID number as row %(row)d",
                    label=reader.labels[key],
                    row=seen[number],
                )
            )
        elif number:
            seen[number] = row_number

    existing = _existing(session, resource, list(seen))
    inserts, updates, before = [], [], {}
    columns = [c.key for c in model.__table__.columns if c.key != "id"]
    for row_number, cells, values, problems in parsed:
        target = None
        if values.get(key) and not problems:
            target, clash = _match(resource, existing.get(values[key], []), village.id, upsert)
            if clash:
                problems.append(labelled(reader.labels[key], clash))
        full = None
        if not problems:
            full, errors = _complete(resource, values, target)
            problems.extend(labelled(reader.labels.get(k, k), m) for k, m in errors.items())
        if problems:
            result.rejected.append((row_number, cells, problems))
        elif target is None:
            inserts.append({name: full.get(name) for name in columns})
        elif resource.skip_unchanged and all(full.get(n) == target.get(n) for n in target):
            result.unchanged += 1
        else:
            updates.append({n: full.get(n) for n in target})
            before[target["id"]] = target

    result.inserted, result.updated = len(inserts), len(updates)
    if result.rejected or dry_run:
        return result
    try:
        _write(session, resource, inserts, updates, before, filename, result, village)
    except Exception:
        session.rollback()
        raise
    result.committed = True
    return result


def _write(session, resource, inserts, updates, before, filename, result, village) -> None:
    """The rows, their audit entries and the job entry, in one transaction."""
    model = resource.model
    audit.bulk_insert(session, model, inserts)
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


def _complete(resource, values, target) -> tuple[dict, dict]:
    """The row as it would be stored, and its field errors (via app.records).

    An empty cell keeps what is stored; a new row takes the resource's defaults.
    """
    given = {k: v for k, v in values.items() if v is not None}
    full = {**(target or resource.defaults), **given}
    fill = getattr(resource.model, "fill", None)
    if fill:
        fill(full)
    return full, records.value_errors(resource.model, full, filled={"id"})


def write_errors(result: Result, path: str) -> None:
    """The rejected rows as they were, with their row numbers and an error column (.xlsx)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([_("Row"), *[str(h) for h in result.header], _("Errors")])
    for row_number, cells, problems in result.rejected:
        sheet.append([row_number, *(str(c) for c in cells), "; ".join(problems)])
    for row in sheet.iter_rows(min_row=2, min_col=2):
        for cell in row:
            # Text stays text: a cell such as "=1+1" must not become a formula (SPEC §4).
            cell.data_type = "s"
            cell.number_format = "@"
    book.save(path)
