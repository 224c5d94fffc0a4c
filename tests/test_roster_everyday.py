"""An import the secretary finishes alone (issue 17 part 4): errors that name the row's 序号 and
姓名, a blank template per KIND, a result page in the past tense with a link to the rows, and an
error report that reads in Excel."""

import csv
import datetime as dt
import io
import re

import openpyxl
import pytest
from flask_babel import force_locale

from app import importer, roster_template
from app.models import CouncilTerm, Member, MemberGroup, Township, Village
from app.resources import RESOURCES
from tests import registers
from tests.helpers import valid_id
from tests.rosters import roster_rows, write_csv

KINDS = sorted(registers.rosters())


def _zh(login_as, username):
    client = login_as(username)
    client.get("/lang/zh")
    return client


def _upload(client, data: bytes, filename, kind="members", mode="insert", village_id=None):
    form = {"kind": kind, "mode": mode, "file": (io.BytesIO(data), filename)}
    if village_id is not None:
        form["village"] = str(village_id)
    return client.post("/roster/preview", data=form, content_type="multipart/form-data")


def _token(page) -> str:
    return re.search(r'name="token" value="([0-9a-f]+)"', page.get_data(as_text=True)).group(1)


def _bad_roster(tmp_path):
    """A clean roster whose third row (序号 3, 测试2, sheet row 7) has a wrong check digit."""
    rows = roster_rows(4)
    rows[2][3] = rows[2][3][:-1] + ("0" if rows[2][3][-1] != "0" else "1")
    return write_csv(tmp_path / "bad.csv", rows), rows


def _csv(header, rows) -> bytes:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(header)
    out.writerows(rows)
    return buffer.getvalue().encode("utf-8")


# --- 1. Each error names the row's 序号 and 姓名 ---


def test_the_preview_names_each_rejected_rows_serial_and_name(login_as, tmp_path):
    client = _zh(login_as, "xintan_secretary")
    path, _rows = _bad_roster(tmp_path)
    page = _upload(client, path.read_bytes(), "bad.csv").get_data(as_text=True)
    table = page[page.index('id="roster-errors"') :]
    assert '<th data-column="serial">序号</th>' in table
    assert '<th data-column="name">姓名</th>' in table
    row = re.search(r"<tr><td>7</td>.*?</tr>", table, re.S).group(0)
    assert '<td data-column="serial">3</td>' in row
    assert '<td data-column="name">测试2</td>' in row
    assert "校验位" in row


def test_the_cli_names_the_serial_and_the_name(app, tmp_path):
    path, _rows = _bad_roster(tmp_path)
    args = ["roster", "import", "members", str(path), "--village", "新檀村", "--dry-run"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("第 7 行"))
    assert line.startswith("第 7 行（序号 3，测试2）：身份证号码"), line
    assert "校验位" in line


def test_the_error_report_names_the_serial_and_the_name(login_as, tmp_path):
    client = _zh(login_as, "xintan_secretary")
    path, rows = _bad_roster(tmp_path)
    page = _upload(client, path.read_bytes(), "bad.csv").get_data(as_text=True)
    report = re.search(r'href="(/roster/errors/[0-9a-f]+)"', page).group(1)
    response = client.get(report)
    assert response.status_code == 200
    assert "bad-" in response.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    # 4. A named sheet, not Sheet1, whose columns fit their text.
    assert book.sheetnames == ["错误报告"]
    sheet = book["错误报告"]
    lines = list(sheet.iter_rows(values_only=True))
    assert lines[0][0] == "行号" and lines[0][1] == "序号" and lines[0][-1] == "错误"
    assert lines[1][0] == 7 and lines[1][4] == rows[2][3]
    assert lines[1][-1].startswith("第 7 行（序号 3，测试2）：身份证号码")
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    assert widths["E"] >= 18  # the ID number shows whole
    assert widths["C"] < widths["E"]  # a name column is narrower
    assert widths[openpyxl.utils.get_column_letter(len(lines[0]))] >= 40  # the errors
    assert sheet["A1"].font.bold and sheet.freeze_panes == "B2"


def test_a_file_without_serials_names_the_household_head(login_as):
    """A KIND's own name column (户主姓名), and 编号 as the file's serial column."""
    client = _zh(login_as, "xintan_president")
    bad = valid_id(birth="19700101", area="110101")[:-1] + "0"
    if bad == valid_id(birth="19700101", area="110101"):
        bad = bad[:-1] + "1"
    page = _upload(client, _csv(["户主姓名", "身份证号"], [["赵六", bad]]), "h.csv", "households")
    text = page.get_data(as_text=True)
    assert '<th data-column="name">户主姓名</th>' in text and 'data-column="serial"' not in text
    assert '<td data-column="name">赵六</td>' in text
    page = _upload(
        client,
        _csv(["编号", "户主姓名", "身份证号"], [["A-9", "赵六", bad]]),
        "h.csv",
        "households",
    )
    text = page.get_data(as_text=True)
    assert '<th data-column="serial">编号</th>' in text
    assert '<td data-column="serial">A-9</td>' in text


def test_row_labels_in_every_combination(app):
    result = importer.Result(header=[], serial_header="No.", name_header="姓名")
    result.who = {4: ("12", "张三"), 5: ("13", None), 6: (None, "李四"), 7: (None, None)}
    with app.test_request_context(), force_locale("zh"):
        assert result.row_label(4) == "第 4 行（No. 12，张三）"
        assert result.row_label(5) == "第 5 行（No. 13）"
        assert result.row_label(6) == "第 6 行（李四）"
        assert result.row_label(7) == "第 7 行"
        assert result.message(6, ["a", "b"]) == "第 6 行（李四）：a; b"
    with app.test_request_context(), force_locale("en"):
        assert result.row_label(4) == "Row 4 (No. 12, 张三)"


def test_a_masked_role_learns_nothing_new_from_the_names(login_as, app):
    """A group leader's rejected row cites only what her own file says: the name she typed,
    not the stored member the ID number belongs to."""
    with app.app_context():
        stored = app.appbuilder.session.query(Member).filter_by(status="active").first()
        number, stored_name = stored.id_number, stored.name
    client = _zh(login_as, "xintan_group1")
    page = _upload(
        client, _csv(["序号", "姓名", "身份证号码"], [["1", "某某", number[:-1]]]), "m.csv"
    )
    text = page.get_data(as_text=True)
    assert '<td data-column="name">某某</td>' in text
    assert stored_name not in text[text.index('id="roster-errors"') :]


# --- 2. A blank template per KIND ---


def _template(resource) -> openpyxl.Workbook:
    out = io.BytesIO()
    roster_template.write_template(resource, out)
    return openpyxl.load_workbook(io.BytesIO(out.getvalue()))


def test_every_registered_roster_has_a_template(app):
    """The KINDs come from the registry: a new register's roster has one without code."""
    assert KINDS == sorted(RESOURCES)
    with app.test_request_context():
        for kind in KINDS:
            book = _template(RESOURCES[kind])
            assert book.sheetnames == [RESOURCES[kind].title, "填写说明"], kind


@pytest.mark.parametrize("kind", KINDS)
def test_the_cli_writes_the_template(app, tmp_path, kind):
    resource = RESOURCES[kind]
    out = tmp_path / "t.xlsx"
    result = app.test_cli_runner().invoke(args=["roster", "template", kind, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"{resource.title}的模板已写入" in result.output
    book = openpyxl.load_workbook(out)
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[roster_template.HEADER_ROW]]
    example = [c.value for c in sheet[roster_template.EXAMPLE_ROW]]
    assert headers[0] == "序号" and example[0] == "1"
    assert len(headers) == len(resource.columns) + 1
    for header, column in zip(headers[1:], resource.columns, strict=True):
        # Chinese headers, the required ones marked.
        assert re.search(r"[\u4e00-\u9fff]", header), header
        assert header.endswith("*") == column.required, header
    assert "带 * 的列必填" in sheet.cell(roster_template.NOTE_ROW, 1).value
    for position, column in enumerate(resource.columns, start=2):
        letter = openpyxl.utils.get_column_letter(position)
        if column.kind == "id_number":
            # Text, so Excel keeps 18 digits; the example is a valid number, stored as text.
            assert sheet.column_dimensions[letter].number_format == "@"
            cell = sheet.cell(roster_template.EXAMPLE_ROW, position)
            assert cell.number_format == "@" and cell.data_type == "s"
            assert cell.value == valid_id(
                birth=cell.value[6:14],
                seq=cell.value[14:16],
                sex_digit=cell.value[16],
                area="110101",
            )
        if column.required:
            assert example[position - 1], (kind, column.name)
    guide = [r for r in book["填写说明"].iter_rows(values_only=True)]
    assert guide[0] == ("列名", "是否必填", "怎样填写") and len(guide) == len(resource.columns) + 1


def test_the_cli_refuses_a_template_name_that_is_not_xlsx(app, tmp_path):
    args = ["roster", "template", "members", "-o", str(tmp_path / "t.csv")]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2 and ".xlsx" in result.output


def test_the_cli_names_the_template_after_the_register(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = app.test_cli_runner().invoke(args=["roster", "template", "members"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "会员花名册导入模板.xlsx").exists()


@pytest.fixture
def fresh_village(app):
    """A new village of 二郎镇 with a 第一组 and a first council term, and nothing else."""
    with app.app_context():
        session = app.appbuilder.session
        township = session.query(Township).filter_by(name="二郎镇").one()
        new = Village(township=township, name="模板村")
        session.add(new)
        session.flush()
        session.add(MemberGroup(village_id=new.id, name="第一组"))
        session.add(CouncilTerm(village_id=new.id, number=1, elected_on=dt.date(2023, 1, 10)))
        session.commit()
        return new.id


def test_each_templates_example_row_imports_as_it_stands(app, fresh_village):
    """Downloaded and imported unchanged, in the roster page's order (the seat names the
    example member), each template adds its example row, every column read."""
    with app.test_request_context(), force_locale("zh"):
        session = app.appbuilder.session
        place = session.get(Village, fresh_village)
        for kind, resource in RESOURCES.items():
            out = io.BytesIO()
            roster_template.write_template(resource, out)
            raw = out.getvalue()
            frame = importer.read_table("t.xlsx", raw)
            _index, mapping = importer.find_header(frame, resource)
            assert len(mapping) == len(resource.columns), kind
            result = importer.import_roster(session, resource, "t.xlsx", raw, place)
            assert result.rejected == [] and result.committed, (kind, result.rejected)
            assert result.inserted == 1, kind
        member = session.query(Member).filter_by(village_id=fresh_village).one()
        assert (member.name, member.gender, member.status) == ("张三", "male", "active")
        assert member.birth_date == dt.date(1980, 3, 15) and member.group.name == "第一组"


def test_the_roster_page_offers_a_template_per_kind(login_as):
    client = _zh(login_as, "xintan_president")
    page = client.get("/roster/").get_data(as_text=True)
    block = page[page.index('id="roster-templates"') :]
    assert "空白模板" in block
    for kind, resource in RESOURCES.items():
        assert f'href="/roster/template/{kind}"' in block
        assert f"{resource.title}模板" in block
    response = client.get("/roster/template/members")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert sheet.cell(roster_template.HEADER_ROW, 2).value == "姓名*"


def test_a_group_leader_gets_the_templates_she_may_import(login_as):
    client = _zh(login_as, "xintan_group1")
    page = client.get("/roster/").get_data(as_text=True)
    assert 'href="/roster/template/members"' in page
    assert 'href="/roster/template/council_seats"' not in page
    assert client.get("/roster/template/members").status_code == 200
    assert client.get("/roster/template/council_seats").status_code == 404


@pytest.mark.parametrize("kind", ["members", "nonsense", "..%2f..%2fetc", "%00"])
def test_the_township_gets_no_template_and_no_error(login_as, kind):
    client = _zh(login_as, "township")
    page = client.get("/roster/").get_data(as_text=True)
    assert 'id="roster-templates"' not in page
    assert client.get(f"/roster/template/{kind}").status_code in (302, 403, 404)


def test_an_unknown_kind_has_no_template(login_as):
    client = _zh(login_as, "xintan_president")
    assert client.get("/roster/template/nonsense").status_code == 404


# --- 3. After an import: what was done, and a link to the rows ---


def test_after_an_import_the_page_says_what_was_done_and_links_to_the_rows(login_as, tmp_path):
    client = _zh(login_as, "xintan_president")
    rows = roster_rows(5)
    data = write_csv(tmp_path / "ok.csv", rows).read_bytes()
    done = client.post("/roster/confirm", data={"token": _token(_upload(client, data, "ok.csv"))})
    text = done.get_data(as_text=True)
    assert "花名册已导入" in text
    assert "已导入 5 行到会员花名册：新增 5，更新 0。" in text
    link = re.search(r'id="roster-rows" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert link.startswith("/memberview/list/?") and "_flt_0_village=" in link
    assert "查看会员花名册中导入的记录" in text
    listing = client.get(link)
    assert listing.status_code == 200
    shown = listing.get_data(as_text=True)
    assert all(r[1] in shown for r in rows)
    # Updating two rows and leaving three: said in the past tense too.
    rows[0][4], rows[1][4] = "13800000001", "13800000002"
    data = write_csv(tmp_path / "ok.csv", rows).read_bytes()
    page = _upload(client, data, "ok.csv", mode="upsert")
    text = client.post("/roster/confirm", data={"token": _token(page)}).get_data(as_text=True)
    assert "已导入 2 行到会员花名册：新增 0，更新 2。" in text
    assert "另有 3 行与已登记的相同，未作改动。" in text


def test_a_secretarys_import_says_the_members_entered_as_applications(login_as, tmp_path):
    client = _zh(login_as, "xintan_secretary")
    data = write_csv(tmp_path / "ok.csv", roster_rows(3)).read_bytes()
    done = client.post("/roster/confirm", data={"token": _token(_upload(client, data, "ok.csv"))})
    text = done.get_data(as_text=True)
    assert "已导入 3 行到会员花名册：新增 3，更新 0。" in text
    assert "3 名新会员已作为入会申请录入，待会长批准。" in text
    assert "待会长批准。" in text and "会长批准他们" not in text
    link = re.search(r'id="roster-rows" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert client.get(link).status_code == 200


def test_each_template_through_the_page_ends_on_its_rows(login_as, fresh_village):
    """Admin downloads each KIND's template, imports it into the new village unchanged, reads
    what was done and follows the link to the register's list, filtered to that village."""
    client = _zh(login_as, "admin")
    for kind, resource in RESOURCES.items():
        template = client.get(f"/roster/template/{kind}")
        assert template.status_code == 200, kind
        page = _upload(client, template.data, "模板.xlsx", kind=kind, village_id=fresh_village)
        done = client.post("/roster/confirm", data={"token": _token(page)})
        text = done.get_data(as_text=True)
        assert f"已导入 1 行到{resource.title}：新增 1，更新 0。" in text, kind
        link = re.search(r'id="roster-rows" href="([^"]+)"', text).group(1).replace("&amp;", "&")
        assert f"_flt_0_village={fresh_village}" in link, link
        listing = client.get(link)
        assert listing.status_code == 200, (kind, link)
        if kind == "members":
            assert "张三" in listing.get_data(as_text=True)
