"""The blank template of each roster KIND (issue 17): an .xlsx a village fills in and imports.

Built from the KIND's declaration alone (app/resources.py), so a new register's roster has its
template without code here: the headers the register prints (app.exporter.header_of), the
required ones marked with *, one invented example row that imports as it stands, the ID number
and other text columns formatted as text (Excel keeps an 18-digit ID as typed), a drop-down
list of the choices, and a sheet saying how each column is filled. Chinese, like the register
layout.
"""

import datetime as dt
import unicodedata

from flask_babel import force_locale

from app import validation
from app.exporter import NO, NUMBER_HEADER, YES, header_of
from app.resources import EXAMPLE_DATE, EXAMPLE_MEMBER, RESOURCES

TITLE_ROW, NOTE_ROW, HEADER_ROW, EXAMPLE_ROW = 1, 2, 3, 4
# Rows below the header that offer the drop-down lists.
LIST_ROWS = 1000
TEXT_KINDS = ("text", "id_number", "phone")
REQUIRED_MARK = "*"
EXAMPLE_PHONE = "13800138000"
NOTE = (
    "带 * 的列必填。第 {row} 行是示例，导入前请改写或删除。身份证号码等列已设为文本格式，"
    "18 位号码可直接输入；各列怎样填写见“填写说明”。"
)


def text_width(value) -> int:
    """How many columns of a sheet a value takes: a Chinese character two, others one."""
    if value is None:
        return 0
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def file_name(resource) -> str:
    return f"{resource.title}导入模板.xlsx"


def header(column) -> str:
    """The register's header, with * when the column is required (the importer ignores *)."""
    return header_of(column) + (REQUIRED_MARK if column.required else "")


def _choice_labels(column) -> list[str]:
    if column.kind == "bool":
        return [YES, NO]
    with force_locale("zh"):
        return [str(label) for _code, label in column.choices.pairs]


def _lookup_example(lookup) -> str:
    """The example record of the roster that keeps what the lookup names (the example member
    for a seat), by its most readable attribute; else the lookup's own example."""
    for other in RESOURCES.values():
        if other.model is lookup.model:
            for attr in reversed(lookup.by):
                if other.example.get(attr):
                    return other.example[attr]
    return lookup.example


def example_cells(resource) -> list[str]:
    """The example row's cells, one per column of the resource, as typed."""
    given = resource.example
    id_number = given.get("id_number", "")
    cells = []
    for column in resource.columns:
        if column.name in given:
            cells.append(given[column.name])
        elif column.from_id == "gender" and id_number:
            with force_locale("zh"):
                cells.append(str(column.choices.label(validation.id_gender(id_number))))
        elif column.from_id == "birth_date" and id_number:
            cells.append(validation.id_birth_date(id_number).isoformat())
        elif column.kind == "lookup":
            cells.append(_lookup_example(column.lookup))
        elif column.name == resource.name_column and column.kind == "text":
            # A register that declares no example names the example member (志愿者姓名).
            cells.append(EXAMPLE_MEMBER[0])
        elif column.kind in ("choice", "bool"):
            cells.append(_choice_labels(column)[0])
        else:
            cells.append(_by_kind(column))
    return cells


def _by_kind(column) -> str:
    return {
        "id_number": "",
        "phone": EXAMPLE_PHONE,
        "date": EXAMPLE_DATE,
        "int": "1",
        "decimal": "1",
    }.get(column.kind, "示例" if column.required else "")


def _how(resource, column) -> str:
    """How the column is filled, in a sentence."""
    kind = column.kind
    if kind == "id_number":
        text = "18 位身份证号码，最后一位可为 X；本列为文本格式"
    elif kind == "phone":
        text = "11 位手机号码，或固定电话如 0830-7123456"
    elif kind == "date":
        text = "日期，如 2024-03-01、2024/3/1、2024.3.1、2024年3月1日 或 20240301"
    elif kind in ("choice", "bool"):
        text = "下列之一：" + "、".join(_choice_labels(column))
    elif kind == "int":
        text = "整数"
    elif kind == "decimal":
        text = "金额，数字，可带两位小数"
    elif kind == "lookup":
        model = column.lookup.model
        with force_locale("zh"):
            what = str(getattr(model, "__label__", model.__name__))
            by = "或".join(
                str(getattr(model, attr).info.get("label", attr)) for attr in column.lookup.by
            )
        text = f"本村已登记的{what}，填写其{by}"
    else:
        length = getattr(resource.model.__table__.columns[column.name].type, "length", None)
        text = f"文字，至多 {length} 字" if length else "文字"
    if column.from_id:
        text += "；留空则按身份证号码填写"
    return text


def write_template(resource, out) -> None:
    """The blank template of ``resource`` to ``out`` (a path or a binary file)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = resource.title[:31]
    headers = [NUMBER_HEADER] + [header(c) for c in resource.columns]
    example = ["1", *example_cells(resource)]
    width = len(headers)
    sheet.cell(TITLE_ROW, 1, f"{resource.title}（导入模板）").font = Font(size=14, bold=True)
    sheet.merge_cells(start_row=NOTE_ROW, start_column=1, end_row=NOTE_ROW, end_column=width)
    note = sheet.cell(NOTE_ROW, 1, NOTE.format(row=EXAMPLE_ROW))
    note.alignment = Alignment(wrap_text=True, vertical="top")
    note.font = Font(color="C00000")
    sheet.row_dimensions[NOTE_ROW].height = 36
    columns = (None, *resource.columns)
    for position, (text, column) in enumerate(zip(headers, columns, strict=True), start=1):
        cell = sheet.cell(HEADER_ROW, position, text)
        cell.font = Font(bold=True, color="C00000" if column and column.required else None)
        cell.fill = PatternFill("solid", fgColor="DDDDDD")
        cell.alignment = Alignment(horizontal="center")
        letter = get_column_letter(position)
        value = sheet.cell(EXAMPLE_ROW, position)
        value.value = example[position - 1] or None
        if column is not None and column.kind in TEXT_KINDS:
            # The whole column is text: what is typed below stays as typed (no 5.1E+17).
            sheet.column_dimensions[letter].number_format = "@"
            value.number_format = "@"
            value.data_type = "s"
        widest = max(text_width(text), text_width(example[position - 1]))
        sheet.column_dimensions[letter].width = min(max(widest + 4, 8), 40)
        if column is not None and column.kind in ("choice", "bool"):
            labels = ",".join(_choice_labels(column))
            if len(labels) <= 250:
                lists = DataValidation(type="list", formula1=f'"{labels}"', allow_blank=True)
                # A synonym the importer reads (已故, 失独) is not refused by Excel.
                lists.showErrorMessage = False
                lists.add(f"{letter}{EXAMPLE_ROW}:{letter}{EXAMPLE_ROW + LIST_ROWS}")
                sheet.add_data_validation(lists)
    sheet.freeze_panes = sheet.cell(EXAMPLE_ROW, 2)

    guide = book.create_sheet("填写说明")
    guide.append(["列名", "是否必填", "怎样填写"])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for column in resource.columns:
        guide.append([header_of(column), "必填" if column.required else "", _how(resource, column)])
    for letter, size in (("A", 16), ("B", 10), ("C", 80)):
        guide.column_dimensions[letter].width = size
    book.properties.title = f"{resource.title}导入模板"
    book.save(out)
