"""Roster export (SPEC §3.3): every KIND of app/resources.py back out, as the register it came from.

The columns are the resource's own declarations, written the way the importer reads them
(Chinese headers, Chinese labels, group names, 2023-05-01, 是/否), so that exporting a roster and
importing the same file with ``--upsert`` changes nothing. Rows are those of the caller's scope;
fields the caller sees masked are masked here too (SPEC §4).
"""

import csv
import datetime as dt
import decimal
import io
import math
import re
import unicodedata

from flask_babel import force_locale
from sqlalchemy import and_, select, true

from app import accounts, audit, security
from app.masking import MASKERS

FORMATS = ("xlsx", "csv")
# A spreadsheet evaluates a cell starting with one of these (formula injection, SPEC §4).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The escape character itself is escaped too, so that unescaping gives back exactly the value.
ESCAPED_START = (*FORMULA_START, "'")
NUMBER_HEADER = "序号"
YES, NO = "是", "否"
DATE_FORMAT = "yyyy-mm-dd"
# Column widths in Excel's units (one Latin character; a Chinese one takes two).
MAX_WIDTH = 40
# Long text (minutes, attendee lists, notes) wraps at most this narrow, and the columns of a
# sheet share what an A4 landscape page holds at a readable scale.
MIN_WRAP_WIDTH = 16
PAGE_WIDTH = 180
# Points per line of 11-point text, Chinese included; Excel's tallest row.
LINE_HEIGHT = 15
MAX_ROW_HEIGHT = 409
CJK = re.compile(r"[\u4e00-\u9fff]")


# --- Cells ---


def escape_cell(text: str) -> str:
    """``'=1+1`` for ``=1+1``: a text that a spreadsheet would evaluate is prefixed by a quote."""
    return "'" + text if text.startswith(ESCAPED_START) else text


def unescape_cell(text: str) -> str:
    """The value ``escape_cell`` was given: one leading quote before = + - @ tab CR or ' goes."""
    if text.startswith("'") and text[1:2] and text[1] in ESCAPED_START:
        return text[1:]
    return text


def header_of(column) -> str:
    """The column's first Chinese alias: the header the register prints."""
    return next((a for a in column.aliases if CJK.search(a)), column.aliases[0])


def register_title(resource, village) -> str:
    """新檀村计生协会员花名册: the village's name already says 村 or 社区."""
    name = village.name
    if not name.endswith(("村", "社区")):
        name += "社区" if village.kind == "community" else "村"
    return f"{name}计生协{resource.title}"


def file_name(resource, village, fmt: str, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    return f"{register_title(resource, village)}-{today.isoformat()}.{fmt}"


# --- Rows ---


def _lookup_cells(session, column, village, user) -> dict:
    """Stored id → the cell naming it, as the importer reads it back: the most readable
    attribute that names one record of the village (a name, unless two people share it)."""
    lookup = column.lookup
    model, by, formats = lookup.model, lookup.by, lookup.formats
    if lookup.shown is not None:
        return _shown_cells(session, lookup, village)
    candidate = and_(true(), *(getattr(model, a).in_(values) for a, values in lookup.where))
    found = session.execute(
        select(model.id, candidate, *(getattr(model, attr) for attr in by)).where(
            model.village_id == village.id
        )
    ).all()
    counts = [{} for _attr in by]
    for _pk, is_candidate, *values in found:
        for position, value in enumerate(values):
            if is_candidate:
                counts[position][value] = counts[position].get(value, 0) + 1
    cells = {}
    for pk, is_candidate, *values in found:
        # A record the importer would not consider anyway is named by its first attribute.
        position = next(
            (
                p
                for p in reversed(range(len(by)))
                if is_candidate and values[p] is not None and counts[p].get(values[p]) == 1
            ),
            0,
        )
        value = values[position]
        if value is None:
            continue
        attr = by[position]
        if user is not None and attr in MASKERS and accounts.masks(attr, user, model):
            cells[pk] = str(MASKERS[attr](value))
        else:
            cells[pk] = formats[-1].format(value)
    return cells


def _shown_cells(session, lookup, village) -> dict:
    """Stored id → its ``shown`` value (a member's name), qualified where records the importer
    would consider share it (邓才（第二组）), which the importer reads back."""
    model = lookup.model
    candidate = and_(true(), *(getattr(model, a).in_(values) for a, values in lookup.where))
    qualifier = getattr(model, lookup.qualifier)
    target = qualifier.property.mapper.class_
    found = session.execute(
        select(model.id, candidate, getattr(model, lookup.shown), target.name)
        .outerjoin(target, qualifier)
        .where(model.village_id == village.id)
    ).all()
    counts = {}
    for _pk, is_candidate, value, _qualifier in found:
        if is_candidate:
            counts[value] = counts.get(value, 0) + 1
    return {
        pk: lookup.qualified(value, name)
        if is_candidate and counts[value] > 1 and name
        else str(value)
        for pk, is_candidate, value, name in found
        if value is not None
    }


def _one_per_key(resource, items: list) -> list:
    """One row per natural key, the one an upsert would update: a live one, else the latest.

    A person who left and joined again has two rows; the register lists the current one, and a
    file with the same ID number twice could not be imported back.
    """
    keys = resource.natural_key
    live = set(resource.live_statuses)
    best = {}
    for item in items:
        value = tuple(getattr(item, k, None) for k in keys)
        if None in value:
            continue
        rank = (getattr(item, "status", None) in live, item.id)
        if value not in best or rank > best[value][0]:
            best[value] = (rank, item.id)
    kept = {pk for _rank, pk in best.values()}
    return [i for i in items if None in (getattr(i, k, None) for k in keys) or i.id in kept]


def select_rows(session, resource, village, user=None, every_status=False) -> list:
    """The village's rows of this register inside the user's scope (``user`` None: the system):
    those the register lists today (在册, ``resource.current_statuses``), or every row."""
    model = resource.model
    scope = accounts.user_scope(user) if user is not None else accounts.Scope("all")
    village_column = getattr(model, model.__scope__["village"])
    query = select(model).where(village_column == village.id, security.scope_criteria(model, scope))
    if resource.current_statuses and not every_status:
        query = query.where(model.status.in_(resource.current_statuses))
    group_column = getattr(model, "group_id", None)
    if group_column is not None:
        query = query.order_by(group_column.is_(None), group_column)
    items = list(session.scalars(query.order_by(model.id)))
    return _one_per_key(resource, items)


def table(session, resource, village, items, user=None) -> tuple[list, list]:
    """(headers, rows) as the register shows them: labels, names, masked where the user sees so."""
    model = resource.model
    columns = resource.columns
    lookups = {
        c.name: _lookup_cells(session, c, village, user) for c in columns if c.kind == "lookup"
    }
    masked = {
        c.name: MASKERS[c.name]
        for c in columns
        if user is not None and c.name in MASKERS and accounts.masks(c.name, user, model)
    }
    headers = [NUMBER_HEADER] + [header_of(c) for c in columns]
    rows = []
    with force_locale("zh"):
        for number, item in enumerate(items, start=1):
            row = [number]
            for column in columns:
                value = getattr(item, column.name)
                if value is None:
                    row.append(None)
                elif column.name in masked:
                    row.append(str(masked[column.name](value)))
                elif column.kind == "lookup":
                    row.append(lookups[column.name].get(value))
                elif column.kind == "choice":
                    row.append(str(column.choices.label(value)))
                elif column.kind == "bool" or isinstance(value, bool):
                    row.append(YES if value else NO)
                else:
                    row.append(value)
            rows.append(row)
    return headers, rows


# --- Files ---


def _text_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _width(value) -> int:
    """The width of a cell's widest line."""
    if value is None:
        return 0
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return max(_text_width(line) for line in text.split("\n"))


def _lines(value, width: float) -> int:
    """Lines a cell's text takes when wrapped in a column this wide."""
    if not isinstance(value, str):
        return 1
    room = max(width - 1, 1)
    return sum(max(1, math.ceil(_text_width(line) / room)) for line in value.split("\n"))


def _natural_widths(headers: list, rows: list) -> list:
    return [max([_width(h)] + [_width(r[n]) for r in rows]) + 2 for n, h in enumerate(headers)]


def column_widths(headers: list, rows: list, natural: list | None = None) -> list:
    """Each column as wide as its widest cell, up to MAX_WIDTH; when a page cannot hold them
    all, the widest give up room, down to MIN_WRAP_WIDTH, and their text wraps."""
    natural = natural or _natural_widths(headers, rows)
    widths = [min(w, MAX_WIDTH) for w in natural]
    excess = sum(widths) - PAGE_WIDTH
    room = sum(w - MIN_WRAP_WIDTH for w in widths if w > MIN_WRAP_WIDTH)
    if excess > 0 and room > 0:
        share = min(excess / room, 1)
        widths = [w - (w - MIN_WRAP_WIDTH) * share if w > MIN_WRAP_WIDTH else w for w in widths]
    return [round(w, 1) for w in widths]


def lay_out(sheet, headers: list, rows: list, header_row: int = 2) -> None:
    """Column widths for the page, and rows tall enough for their wrapped text: a printed
    register shows every line of the minutes instead of cutting them off."""
    from openpyxl.utils import get_column_letter

    natural = _natural_widths(headers, rows)
    widths = column_widths(headers, rows, natural)
    for n, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(n)].width = width
    # Only a column narrower than its widest cell, or holding line breaks, wraps.
    wrapping = [
        n
        for n, w in enumerate(widths)
        if w < natural[n] or any(isinstance(r[n], str) and "\n" in r[n] for r in rows)
    ]
    for number, values in enumerate([headers, *rows], start=header_row):
        lines = max((_lines(values[n], widths[n]) for n in wrapping), default=1)
        if lines > 1:
            sheet.row_dimensions[number].height = min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT)


def write_xlsx(title: str, headers: list, rows: list, out) -> None:
    """The register layout: title row, bold bordered headers, text IDs, A4 landscape pages."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    width = len(headers)
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font = Font(size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 30
    thin = Side(style="thin")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet.append(headers)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.border = box
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for values in rows:
        sheet.append([None] * width)
        for position, value in enumerate(values, start=1):
            cell = sheet.cell(row=sheet.max_row, column=position)
            cell.border = box
            cell.alignment = wrap
            if isinstance(value, str):
                # Text stays text: an 18-digit ID is never turned into 5.10525E+17.
                cell.value = value
                cell.data_type = "s"
                cell.number_format = "@"
                if value.startswith(FORMULA_START):
                    # Excel's own form of a typed apostrophe: shown and printed as the text.
                    cell.quotePrefix = True
                elif value.startswith("'"):
                    cell.value = escape_cell(value)
            elif isinstance(value, dt.date):
                cell.value = value
                cell.number_format = DATE_FORMAT
            else:
                cell.value = value
    lay_out(sheet, headers, rows)
    sheet.freeze_panes = "C3"
    sheet.print_title_rows = "1:2"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_options.horizontalCentered = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4
    sheet.oddFooter.center.text = "第 &P 页，共 &N 页"
    book.save(out)


def _csv_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | int | float):
        return str(value)
    return escape_cell(str(value))


def write_csv(headers: list, rows: list, out) -> None:
    """UTF-8 with a BOM (Excel's way of knowing it is UTF-8), every text escaped."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    data = b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
    if hasattr(out, "write"):
        out.write(data)
    else:
        with open(out, "wb") as fh:
            fh.write(data)


def export_roster(
    session, resource, village, fmt: str, out, user=None, filename=None, every_status=False
) -> int:
    """Write the register to ``out`` (a path or a binary file) and audit the export; rows written.

    ``user`` is the signed-in user whose scope and masking apply; None is the command line
    (the whole village, full ID numbers). The rows are those on the register today (在册)
    unless ``every_status`` asks for all, those who left included.
    """
    if fmt not in FORMATS:
        raise ValueError(fmt)
    items = select_rows(session, resource, village, user, every_status)
    headers, rows = table(session, resource, village, items, user)
    if fmt == "xlsx":
        write_xlsx(register_title(resource, village), headers, rows, out)
    else:
        write_csv(headers, rows, out)
    audit.record(
        "export",
        user=user,
        model=resource.model,
        village_id=village.id,
        details={
            "kind": resource.kind,
            "format": fmt,
            "rows": len(rows),
            "statuses": "all" if every_status or not resource.current_statuses else "current",
            "file": filename or file_name(resource, village, fmt),
        },
        session=session,
    )
    return len(rows)
