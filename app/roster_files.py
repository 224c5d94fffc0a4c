"""Reading a roster file (SPEC §3.2, §4): its bytes → a table of text cells, row i of the
table being spreadsheet row i + 1. The cells are read in a child process with memory and time
limits (app.untrusted); this module is all the child imports, so it stays light: pandas and
calamine, no model (app.importer checks and writes the rows)."""

import csv
import datetime as dt
import io
import itertools
import os
import re
import zipfile
from typing import NamedTuple

import pandas as pd
from flask import current_app
from flask_babel import gettext as _
from python_calamine import CalamineWorkbook

from app import untrusted
from app.exporter import ESCAPED_START

# The header is looked for in this many rows at the top (app.importer.find_header).
HEADER_SCAN_ROWS = 10


class ImportUsageError(Exception):
    """The file cannot be read as a roster at all (no header, unknown format)."""


class Limits(NamedTuple):
    """How large a table may be read (config: IMPORT_MAX_ROWS, _COLUMNS, _CELLS)."""

    rows: int
    columns: int
    cells: int


class TooLarge(Exception):
    """A table past the limits: (rows, columns) as the file has them or claims them."""


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
    """Every cell as text ('' when empty); row i of the frame is spreadsheet row i + 1.

    No file may take the server down (SPEC §4): what needs no reading is checked here (an
    archive's directory, NUL bytes); the cells are read in a child process with a memory and
    time limit (app.untrusted), which refuses a table past the limits before reading it.
    """
    config = current_app.config
    limits = Limits(
        config["IMPORT_MAX_ROWS"], config["IMPORT_MAX_COLUMNS"], config["IMPORT_MAX_CELLS"]
    )
    suffix = os.path.splitext(filename)[1].lower()
    if suffix in (".csv", ".txt"):
        payload = decode_csv(raw)
        if "\x00" in payload:
            raise ImportUsageError(
                _(
                    "The file holds NUL characters, so it is not a CSV text file: save it from "
                    "Excel as CSV UTF-8 or as .xlsx"
                )
            )
    elif suffix in (".xlsx", ".xls", ".xlsm"):
        payload = raw
        problem = untrusted.zip_problem(raw, config) if raw.startswith(b"PK\x03\x04") else None
        if problem:
            raise ImportUsageError(problem)
    else:
        raise ImportUsageError(_("Give a .csv, .xlsx or .xls file"))
    seconds, memory = config["IMPORT_PARSE_SECONDS"], config["IMPORT_PARSE_MEMORY_MB"]
    try:
        packed = untrusted.run_limited(
            _parse,
            (suffix, payload, limits),
            seconds,
            memory,
            concurrency=config["IMPORT_PARSE_CONCURRENCY"],
        )
    except untrusted.Busy:
        current_app.logger.warning("roster reader refused: %d readers running", untrusted._running)
        raise ImportUsageError(
            _("The server is busy reading other files: try again in a minute")
        ) from None
    except TooLarge as exc:
        rows, columns = exc.args
        raise ImportUsageError(
            _(
                "The table is too large: %(rows)d rows and %(columns)d columns; at most "
                "%(max_rows)d rows, %(max_columns)d columns and %(max_cells)d cells are read. "
                "Delete what lies past the roster, or split the file",
                rows=rows,
                columns=columns,
                max_rows=limits.rows,
                max_columns=limits.columns,
                max_cells=limits.cells,
            )
        ) from None
    except (untrusted.LimitExceeded, MemoryError) as exc:
        current_app.logger.warning("roster reader stopped: %r", exc)
        raise ImportUsageError(
            _(
                "The file is too large or malformed: reading it went past the server's limits "
                "(%(memory)d MB of memory, %(seconds)d seconds)",
                memory=memory,
                seconds=seconds,
            )
        ) from None
    except ImportUsageError:
        # Raised by _read_workbook in the child, which may not know the user's language.
        raise ImportUsageError(_("The file is not a readable workbook")) from None
    except (ValueError, csv.Error) as exc:
        # pandas' parser, the csv module (a cell past its field limit), an empty file.
        raise ImportUsageError(
            _("The file could not be read as a table: %(problem)s", problem=exc)
        ) from None
    return _unpack(packed)


def _parse(suffix: str, payload, limits: Limits):
    """In the child process: the cells, packed for the way back."""
    return _pack(_cells(suffix, payload, limits))


def _cells(suffix: str, payload, limits: Limits) -> pd.DataFrame:
    """The cells of a CSV text or of a workbook's first sheet, as text."""
    if suffix in (".csv", ".txt"):
        frame = _read_csv(payload, limits)
        if "'" in payload:
            frame = frame.apply(_unescape)
    else:
        frame = _read_workbook(payload, limits)
    _check_size(*frame.shape, limits)
    # Object columns: pandas' string methods run several times faster on them.
    return frame.astype(object).fillna("")


def _check_size(rows: int, columns: int, limits: Limits | None) -> None:
    """TooLarge when a table of rows × columns is past ``limits`` (None: no limits)."""
    if limits is not None and (
        rows > limits.rows or columns > limits.columns or rows * columns > limits.cells
    ):
        raise TooLarge(rows, columns)


def _pack(frame: pd.DataFrame):
    """The frame as one string per column, its cells joined by SEPARATOR: pickled, sent and
    split back for about half the CPU the frame's own pickle costs (100k rows of .xlsx). The
    frame itself when it is empty or a cell holds SEPARATOR."""
    columns = [_joined(frame[c].to_numpy()) for c in frame.columns]
    if not len(frame) or any(c is None for c in columns):
        return frame
    return columns


def _unpack(packed) -> pd.DataFrame:
    if isinstance(packed, pd.DataFrame):
        return packed
    return pd.DataFrame(
        {i: pd.Series(text.split(SEPARATOR), dtype=object) for i, text in enumerate(packed)}
    )


def _unescape(cells: pd.Series) -> pd.Series:
    """A CSV export quotes a cell that a spreadsheet would evaluate ('=1+1, SPEC §4): read back,
    the cell is the text it was (app.exporter.unescape_cell, a column at a time)."""
    quoted = cells.str.match("'[" + re.escape("".join(ESCAPED_START)) + "]")
    return cells.where(~quoted, cells.str[1:])


def _read_workbook(raw: bytes, limits: Limits | None = None) -> pd.DataFrame:
    """The first sheet through calamine (.xlsx and .xls alike), each cell as the text pandas'
    read_excel(dtype=str) would give, without its per-cell conversions.

    calamine lays the sheet out as a dense table from A1 to its last cell, so a single cell at
    XFD1048576 would cost 512 GB: the sheet's dimension (as an .xlsx declares it, then as
    calamine found it) is checked against ``limits`` before a cell becomes Python. A sheet
    that lies about its dimension meets the child process's memory limit instead.
    """
    if raw.startswith(b"PK\x03\x04"):
        _check_size(*_declared_size(raw), limits)
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(raw))
        sheet = book.get_sheet_by_index(0)
    except Exception as exc:  # calamine raises its own errors, and zip or OLE ones
        raise ImportUsageError(_("The file is not a readable workbook")) from exc
    if sheet.end is not None:
        _check_size(sheet.end[0] + 1, sheet.end[1] + 1, limits)
    try:
        cells = sheet.to_python(skip_empty_area=False)
    except Exception as exc:
        raise ImportUsageError(_("The file is not a readable workbook")) from exc
    frame = pd.DataFrame(cells, dtype=object)
    for position in frame.columns:
        # A column of text only (most of them) is left as it is, checked in C.
        if pd.api.types.infer_dtype(frame[position], skipna=False) != "string":
            frame[position] = frame[position].map(_cell_text)
    return frame


FIRST_SHEET = re.compile(r'<(?:\w+:)?sheet\b[^>]*?\w+:id="([^"]+)"')
RELATIONSHIP = re.compile(r"<(?:\w+:)?Relationship\b([^>]*)>")
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="(?:[^":]*:)?([A-Z]{1,3})(\d+)"')
# The parts read to find the dimension are read this far at most: they hold it near the top.
HEAD_BYTES = 256 * 1024


def _declared_size(raw: bytes) -> tuple[int, int]:
    """(rows, columns) that the first sheet of an .xlsx declares in its ``<dimension>``;
    (0, 0) when it declares none or cannot be found (calamine then says what is wrong)."""

    def head(book, name) -> str:
        with book.open(name) as part:
            return part.read(HEAD_BYTES).decode("utf-8", "replace")

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as book:
            first = FIRST_SHEET.search(head(book, "xl/workbook.xml")).group(1)
            targets = {}
            for attributes in RELATIONSHIP.findall(head(book, "xl/_rels/workbook.xml.rels")):
                values = dict(ATTRIBUTE.findall(attributes))
                targets[values.get("Id")] = values.get("Target", "")
            target = targets[first]
            path = target[1:] if target.startswith("/") else f"xl/{target}"
            with book.open(path) as part:
                found = DIMENSION.search(part.read(HEAD_BYTES))
    except (KeyError, AttributeError, OSError, ValueError, zipfile.BadZipFile, EOFError):
        return 0, 0
    if found is None:
        return 0, 0
    column = 0
    for letter in found.group(1).decode():
        column = column * 26 + ord(letter) - ord("A") + 1
    return int(found.group(2)), column


def _cell_text(value) -> str:
    """A typed workbook cell as text: whole numbers without .0, dates at midnight."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return f"{value.isoformat()} 00:00:00"
    return str(value)


def _read_csv(text: str, limits: Limits | None = None) -> pd.DataFrame:
    """pandas' C reader, told the width: a title row of one cell may sit above a header of
    nine, and a blank line keeps its row number. A longer row further down falls back to the
    csv module. The width and the number of lines are checked against ``limits`` first (a
    header of 100,000 columns would cost pandas 660 MB)."""
    head = itertools.islice(csv.reader(io.StringIO(text, newline="")), HEADER_SCAN_ROWS * 10)
    width = max((len(row) for row in head), default=1)
    _check_size(text.count("\n") + 1, width, limits)
    try:
        return pd.read_csv(
            io.StringIO(text),
            header=None,
            names=range(width),
            dtype=object,
            keep_default_na=False,
            skip_blank_lines=False,
        )
    except pd.errors.ParserError:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        width = max(len(row) for row in rows)
        _check_size(len(rows), width, limits)
        return pd.DataFrame([row + [""] * (width - len(row)) for row in rows], dtype=object)


# Separates a column's cells in one string (see _joined); a cell holding it is met by the
# slower per-cell path.
SEPARATOR = "\x00"


def _joined(values) -> str | None:
    """A column of text cells as one string, cells separated by SEPARATOR: one pass in C
    (a regular expression, a replace) checks or changes every cell. None when a cell holds
    SEPARATOR itself (or a cell is not text), so that the string splits back into exactly
    the cells."""
    try:
        text = SEPARATOR.join(values)
    except TypeError:
        return None
    return text if text.count(SEPARATOR) == len(values) - 1 else None
