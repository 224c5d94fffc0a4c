"""Roster export (SPEC §3.3, §4; issue 5 item 7): the register layout, CSV with a BOM, masking
by role, formula escaping, an audit entry per export, and export → import --upsert changes
nothing."""

import csv
import io
import json
import re

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import get_column_letter

from app.exporter import escape_cell, unescape_cell
from app.models import AuditLog, Member
from app.resources import RESOURCES
from tests.helpers import member, village

FULL_ID = re.compile(r"^\d{17}[\dX]$")
MASKED_ID = re.compile(r"^\d{6}\*{8}[\dX]{4}$")
FULL_PHONE = re.compile(r"^1\d{10}$")
MASKED_PHONE = re.compile(r"^1\d{2}\*{4}\d{4}$")


def export(app, kind, path, village_name="新檀村", *extra):
    args = ["roster", "export", kind, "--village", village_name, "-o", str(path), *extra]
    return app.test_cli_runner().invoke(args=args)


def import_upsert(app, kind, path, village_name="新檀村"):
    args = ["roster", "import", kind, str(path), "--village", village_name, "--upsert"]
    return app.test_cli_runner().invoke(args=args)


def sheet_rows(data: bytes) -> list:
    """The rows of an exported workbook below its title row, header first."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(r) for r in sheet.iter_rows(min_row=2, values_only=True)]


def csv_rows(data: bytes) -> list:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


def audit_count(app, **where):
    with app.app_context():
        return app.appbuilder.session.query(AuditLog).filter_by(**where).count()


def web_export(client, kind, fmt, village_id=None):
    query = f"?village={village_id}" if village_id else ""
    return client.get(f"/roster/export/{kind}/{fmt}{query}")


def village_id(app, name):
    with app.app_context():
        return village(app.appbuilder.session, name).id


# --- Layout ---


def test_xlsx_is_in_register_layout(app, tmp_path):
    path = tmp_path / "members.xlsx"
    result = export(app, "members", path)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(path).active
    assert sheet["A1"].value == "新檀村计生协会员花名册"
    headers = [c.value for c in sheet[2]]
    assert headers[:5] == ["序号", "姓名", "性别", "身份证号", "出生日期"]
    assert {"联系电话", "小组", "类别", "状态", "入会时间", "是否党员"} <= set(headers)
    assert all(c.font.bold and c.border.bottom.style == "thin" for c in sheet[2])
    id_column = headers.index("身份证号") + 1
    ids = [row[id_column - 1] for row in sheet.iter_rows(min_row=3)]
    assert ids and all(c.data_type == "s" and c.number_format == "@" for c in ids)
    assert all(FULL_ID.match(c.value) for c in ids)
    assert sheet.column_dimensions[get_column_letter(id_column)].width >= 18
    setup = sheet.page_setup
    assert setup.orientation == "landscape" and str(setup.paperSize) == "9"  # A4
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and setup.fitToWidth == 1
    assert setup.fitToHeight == 0
    assert sheet.print_title_rows == "$1:$2"
    assert sheet.freeze_panes == "C3"


def test_cells_are_written_as_the_register_reads(app, tmp_path):
    path = tmp_path / "members.xlsx"
    assert export(app, "members", path, "新檀村", "--all").exit_code == 0
    rows = sheet_rows(path.read_bytes())
    headers, body = rows[0], rows[1:]
    with app.app_context():
        session = app.appbuilder.session
        known = member(session, "新檀村")
        stored = {m.id_number for m in session.query(Member).filter_by(village_id=known.village_id)}
        row = dict(zip(headers, next(r for r in body if r[3] == known.id_number), strict=True))
        assert row["姓名"] == known.name
        assert row["性别"] == {"male": "男", "female": "女"}[known.gender]
        assert row["小组"] == known.group.name
        assert row["状态"] == "在册"
        assert row["是否党员"] == ("是" if known.party_member else "否")
        assert row["入会时间"].date() == known.join_date
    # With --all: one row per person, every person of the village, numbered from 1.
    assert {r[3] for r in body} == stored and len(body) == len(stored)
    assert [r[0] for r in body] == list(range(1, len(body) + 1))


@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_every_kind_has_its_title_and_chinese_headers(app, tmp_path, kind):
    path = tmp_path / f"{kind}.xlsx"
    result = export(app, kind, path)
    assert result.exit_code == 0, result.output
    sheet = openpyxl.load_workbook(path).active
    assert sheet["A1"].value == f"新檀村计生协{RESOURCES[kind].title}"
    assert not sheet["A1"].value.startswith("新檀村村")
    headers = [c.value for c in sheet[2]]
    assert all(re.search(r"[\u4e00-\u9fff]", h) for h in headers), headers


def test_csv_is_utf8_with_bom_and_the_same_columns(app, tmp_path):
    assert export(app, "members", tmp_path / "m.csv").exit_code == 0
    assert export(app, "members", tmp_path / "m.xlsx").exit_code == 0
    rows = csv_rows((tmp_path / "m.csv").read_bytes())
    book = sheet_rows((tmp_path / "m.xlsx").read_bytes())
    assert rows[0] == book[0]
    assert len(rows) == len(book)
    assert all(FULL_ID.match(r[3]) for r in rows[1:])
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", next(r[4] for r in rows[1:] if r[4]))


@pytest.mark.parametrize(
    "args",
    [
        ["members", "--village", "新檀村", "-o", "out.txt"],
        ["members", "--village", "不存在村", "-o", "out.xlsx"],
        ["nobody", "--village", "新檀村", "-o", "out.xlsx"],
        ["members", "-o", "out.xlsx"],
    ],
)
def test_usage_errors_exit_2(app, tmp_path, args):
    args = [str(tmp_path / a) if a.startswith("out.") else a for a in args]
    result = app.test_cli_runner().invoke(args=["roster", "export", *args])
    assert result.exit_code == 2, result.output


# --- Who sees what ---


@pytest.mark.parametrize(
    "username,ids,phones",
    [
        ("admin", FULL_ID, FULL_PHONE),
        ("xintan_president", FULL_ID, FULL_PHONE),
        ("xintan_secretary", FULL_ID, FULL_PHONE),
        ("xintan_group1", MASKED_ID, FULL_PHONE),
        ("township", MASKED_ID, MASKED_PHONE),
        ("county", MASKED_ID, MASKED_PHONE),
    ],
)
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_id_numbers_and_phones_are_masked_for_the_roles_that_see_them_masked(
    app, login_as, username, ids, phones, fmt
):
    response = web_export(login_as(username), "members", fmt, village_id(app, "新檀村"))
    assert response.status_code == 200
    rows = sheet_rows(response.data) if fmt == "xlsx" else csv_rows(response.data)
    headers, body = rows[0], rows[1:]
    at_id, at_phone = headers.index("身份证号"), headers.index("联系电话")
    assert body and all(ids.match(r[at_id]) for r in body)
    assert all(phones.match(r[at_phone]) for r in body if r[at_phone])


def test_a_group_leader_exports_its_own_group_only(app, login_as):
    response = login_as("xintan_group1").get("/roster/export/members/xlsx?all=1")
    assert response.status_code == 200
    rows = sheet_rows(response.data)
    at_group = rows[0].index("小组")
    assert {r[at_group] for r in rows[1:]} == {"第一组"}
    with app.app_context():
        session = app.appbuilder.session
        first = member(session, "新檀村", group_name="第一组").group_id
        expected = {m.id_number[-4:] for m in session.query(Member).filter_by(group_id=first).all()}
    assert {r[3][-4:] for r in rows[1:]} == expected


def test_special_families_are_not_disclosed_to_the_township(app, login_as):
    """SPEC §4: a special family's type and notes stay within the village."""
    township = web_export(login_as("township"), "households", "xlsx", village_id(app, "新檀村"))
    president = web_export(login_as("xintan_president"), "households", "xlsx")
    seen = {"township": sheet_rows(township.data), "president": sheet_rows(president.data)}
    at_type, at_notes = seen["president"][0].index("家庭类型"), seen["president"][0].index("备注")

    def special(rows):
        return [r for r in rows[1:] if r[at_type] and r[at_type].startswith("计生特殊家庭")]

    def notes(rows):
        return {r[at_notes] for r in rows[1:] if r[at_notes]}

    assert special(seen["president"]) and not special(seen["township"])
    assert len(seen["township"]) == len(seen["president"])
    assert notes(seen["president"]) and not notes(seen["president"]) & notes(seen["township"])


@pytest.mark.parametrize(
    "username,village_name",
    [("xintan_president", "龙王村"), ("xintan_group1", "龙王村"), ("longwang_secretary", "新檀村")],
)
def test_another_village_cannot_be_exported(app, login_as, username, village_name):
    before = audit_count(app, action="export")
    response = web_export(login_as(username), "members", "xlsx", village_id(app, village_name))
    assert response.status_code == 404
    assert audit_count(app, action="export") == before


def test_a_register_the_role_may_not_read_is_refused(app, login_as):
    # A group leader keeps no council: the council register is not its to export.
    assert web_export(login_as("xintan_group1"), "council_seats", "xlsx").status_code == 403


# --- Formula injection (SPEC §4) ---


@pytest.mark.parametrize(
    "text", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "'=1", "'quoted", "plain"]
)
def test_escaping_is_undone_exactly(text):
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_unescaping_leaves_an_ordinary_quote_alone():
    assert unescape_cell("'abc") == "'abc" and unescape_cell("abc") == "abc"


DANGEROUS = {"address": '=HYPERLINK("http://x","y")', "notes": "-2+3", "name": "@SUM"}


def _plant_formulas(app):
    """One member whose text fields would run as formulas in a spreadsheet."""
    with app.app_context():
        session = app.appbuilder.session
        target = member(session, "新檀村")
        for key, value in DANGEROUS.items():
            setattr(target, key, value)
        session.commit()
        return target.id_number


def test_cells_that_would_be_formulas_are_escaped(app, tmp_path):
    number = _plant_formulas(app)
    assert export(app, "members", tmp_path / "m.csv").exit_code == 0
    rows = csv_rows((tmp_path / "m.csv").read_bytes())
    row = dict(zip(rows[0], next(r for r in rows if r[3] == number), strict=True))
    assert row["姓名"] == "'@SUM" and row["备注"] == "'-2+3"
    assert row["住址"] == "'" + DANGEROUS["address"]

    assert export(app, "members", tmp_path / "m.xlsx").exit_code == 0
    sheet = openpyxl.load_workbook(tmp_path / "m.xlsx").active
    line = next(r for r in sheet.iter_rows(min_row=3) if r[3].value == number)
    cells = {sheet.cell(row=2, column=c.column).value: c for c in line}
    for header, key in (("姓名", "name"), ("住址", "address"), ("备注", "notes")):
        cell = cells[header]
        # Text, shown as typed after an apostrophe: never a formula.
        assert cell.data_type == "s" and cell.quotePrefix and cell.value == DANGEROUS[key]
    # What the importer reads from the workbook is the text itself.
    frame = pd.read_excel(tmp_path / "m.xlsx", engine="calamine", header=None, dtype=str)
    assert DANGEROUS["address"] in frame.values


# --- Audit ---


def test_every_export_is_audited(app, tmp_path, login_as):
    before = audit_count(app, action="export")
    assert export(app, "members", tmp_path / "m.xlsx").exit_code == 0
    response = web_export(login_as("xintan_secretary"), "households", "csv")
    assert response.status_code == 200
    assert audit_count(app, action="export") == before + 2
    with app.app_context():
        session = app.appbuilder.session
        cli, web = (
            session.query(AuditLog).filter_by(action="export").order_by(AuditLog.id).all()[-2:]
        )
        xintan = village(session, "新檀村").id
        assert cli.username == "system" and cli.model == "Member" and cli.village_id == xintan
        details = json.loads(cli.changes)
        assert details["kind"] == "members" and details["format"] == "xlsx"
        assert (
            details["file"] == "m.xlsx"
            and details["rows"] == len(sheet_rows((tmp_path / "m.xlsx").read_bytes())) - 1
        )
        assert web.username == "xintan_secretary" and web.model == "Household"
        details = json.loads(web.changes)
        assert details["kind"] == "households" and details["format"] == "csv"
        assert details["file"].startswith("新檀村计生协") and details["file"].endswith(".csv")
        assert details["rows"] == len(csv_rows(response.data)) - 1
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


# --- Round trip ---


def _snapshot(app, model):
    with app.app_context():
        session = app.appbuilder.session
        columns = [c.key for c in model.__table__.columns]
        return sorted(tuple(getattr(r, c) for c in columns) for r in session.query(model).all())


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
@pytest.mark.parametrize("kind", sorted(RESOURCES))
def test_export_then_upsert_import_changes_nothing(app, tmp_path, kind, fmt):
    path = tmp_path / f"{kind}.{fmt}"
    assert export(app, kind, path).exit_code == 0
    model = RESOURCES[kind].model
    before, audit_before = _snapshot(app, model), audit_count(app)
    result = import_upsert(app, kind, path)
    assert result.exit_code == 0, result.output
    assert _snapshot(app, model) == before
    # Nothing but the job entry is logged, and the job says every row was unchanged.
    assert audit_count(app) == audit_before + 1
    with app.app_context():
        job = app.appbuilder.session.query(AuditLog).order_by(AuditLog.id.desc()).first()
        details = json.loads(job.changes)
    assert job.action == "import"
    assert (details["inserted"], details["updated"], details["rejected"]) == (0, 0, 0)
    rows = sheet_rows(path.read_bytes()) if fmt == "xlsx" else csv_rows(path.read_bytes())
    assert details["unchanged"] == len(rows) - 1 > 0


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_escaped_cells_import_as_the_original_text(app, tmp_path, fmt):
    _plant_formulas(app)
    path = tmp_path / f"m.{fmt}"
    assert export(app, "members", path).exit_code == 0
    before = _snapshot(app, Member)
    result = import_upsert(app, "members", path)
    assert result.exit_code == 0, result.output
    assert _snapshot(app, Member) == before
