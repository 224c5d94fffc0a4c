"""Roster import (SPEC §3.2, issue 5): `flask roster import members FILE --village NAME`."""

import csv
import datetime as dt
import io
import json
import shutil
import sys
from pathlib import Path

import openpyxl
import pytest
import xlwt
from flask_babel import force_locale

from app import importer
from app.cli import ProgressBar
from app.importer import parse_date
from app.models import AuditLog, Member
from app.resources import RESOURCES
from app.validation import id_check_char
from tests.helpers import group, member, village
from tests.rosters import HEADER, counts, refused, roster_rows, run, write_csv, zh

# The two sample rosters, kept with the tests (tests/data/README.md says what each holds).
SAMPLES = Path(__file__).parent / "data"


@pytest.fixture
def samples(tmp_path):
    """The two sample rosters, copied where the test may read them."""
    names = {"xintan": "新檀村会员花名册.xlsx", "longwang": "龙王村会员花名册-GBK.csv"}
    paths = {}
    for key, name in names.items():
        paths[key] = tmp_path / name
        shutil.copy(SAMPLES / name, paths[key])
    return paths


def write_xlsx(path, rows, header=HEADER):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["新檀村计生协会员花名册"])
    sheet.append([])
    sheet.append(header)
    for i, row in enumerate(rows):
        sheet.append(row)
        if i == 1:
            sheet.append([])
    for cells in sheet.iter_rows(min_row=4):
        for cell in cells:
            cell.number_format = "@"
    book.save(path)
    return path


def write_xls(path, rows, header=HEADER):
    """An Excel 97-2003 workbook (xlwt), title row and all."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    sheet.write(0, 0, "新檀村计生协会员花名册")
    for r, row in enumerate([header, *rows], start=2):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.save(str(path))
    return path


@pytest.mark.parametrize(
    "suffix,encoding",
    [
        (".csv", "utf-8"),
        (".csv", "utf-8-sig"),
        (".csv", "gbk"),
        (".csv", "gb18030"),
        (".xlsx", None),
        (".xls", None),
    ],
)
def test_each_encoding_and_format_imports(app, tmp_path, suffix, encoding):
    rows = roster_rows(5)
    path = tmp_path / f"roster{suffix}"
    if suffix == ".csv":
        write_csv(path, rows, encoding)
    elif suffix == ".xlsx":
        write_xlsx(path, rows)
    else:
        write_xls(path, rows)
    members_before, _ = counts(app)
    result = run(app, path)
    assert result.exit_code == 0, result.output
    assert "新增 5 条" in result.output
    with app.app_context():
        session = app.appbuilder.session
        assert session.query(Member).count() == members_before + 5
        stored = session.query(Member).filter_by(id_number=rows[3][3]).one()  # category "activist"
        assert stored.name == "测试3" and stored.village.name == "新檀村"
        assert stored.group_id == group(session, "新檀村", "第四组").id
        assert stored.category == "activist" and stored.status == "active"
        assert stored.gender == "male" and stored.phone == rows[3][4]
        assert stored.join_date == dt.date(2023, 5, 1)
        assert stored.birth_date.strftime("%Y%m%d") == rows[3][3][6:14]


def test_english_headers_and_codes(app, tmp_path):
    header = ["No", "Name", "Gender", "ID number", "Phone", "Group", "Category", "Join date", "x"]
    rows = roster_rows(2)
    rows[0][2], rows[1][2] = "female", "Male"
    result = run(app, write_csv(tmp_path / "en.csv", rows, header=header))
    assert result.exit_code == 0, result.output


def test_the_clean_sample_imports_into_xintan(app, samples):
    book = openpyxl.load_workbook(samples["xintan"])
    named = {row[5] for row in book.active.iter_rows(min_row=4, values_only=True) if row[5]}
    with app.app_context():
        session = app.appbuilder.session
        for name in named:
            group(session, "新檀村", name)  # every group of the file exists in the demo
    members_before, _ = counts(app)
    result = run(app, samples["xintan"])
    assert result.exit_code == 0, result.output
    assert "新增 60 条" in result.output
    with app.app_context():
        session = app.appbuilder.session
        assert session.query(Member).count() == members_before + 60
        wu = session.query(Member).filter_by(id_number="510524195008302654").one()
        assert (wu.name, wu.category, wu.join_date) == ("吴福", "elder", dt.date(2022, 8, 21))
        assert wu.group.name == "第五组" and wu.address == "第一组3号"


def test_the_gbk_sample_is_rejected_with_its_seven_errors(app, samples, tmp_path):
    before = counts(app)
    out = tmp_path / "errors.xlsx"
    result = run(app, samples["longwang"], "--errors-out", str(out), village_name="龙王村")
    assert result.exit_code == 1, result.output
    assert counts(app) == refused(before)
    sheet = openpyxl.load_workbook(out).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "行号" and rows[0][1] == "序号" and rows[0][-1] == "错误"
    errors = {int(row[1]): row[-1] for row in rows[1:]}
    assert sorted(errors) == [5, 10, 15, 20, 25, 30, 34]
    assert "校验位" in errors[5]
    assert "性别" in errors[10]
    assert "11位" in errors[15]
    assert "重复" in errors[20] and "第 4 行" in errors[20]
    assert "科学计数法" in errors[25] and "文本格式" in errors[25]
    assert "第九组" in errors[30]
    assert "2023.13.5" in errors[34]
    # Row numbers are the file's own: 序号 20 is line 21, and 序号 25 follows the blank line.
    assert {row[1]: row[0] for row in rows[1:]}["25"] == 27
    assert sheet.cell(row=2, column=5).value == "510524194905223170"


def test_dry_run_counts_and_writes_nothing(app, samples):
    before = counts(app)
    result = run(app, samples["longwang"], "--dry-run", village_name="龙王村")
    assert result.exit_code == 1
    assert "将新增 33 条，更新 0 条；未变 0 条，有误 7 条" in result.output
    result = run(app, samples["xintan"], "--dry-run")
    assert result.exit_code == 0, result.output
    assert "将新增 60 条，更新 0 条；未变 0 条，有误 0 条" in result.output
    # No member written; each dry run is in the audit log (issue 15).
    assert counts(app) == (before[0], before[1] + 2)


def test_upsert_updates_changed_rows_and_leaves_the_rest(app, tmp_path):
    rows = roster_rows(6)
    path = write_csv(tmp_path / "r.csv", rows)
    assert run(app, path).exit_code == 0
    rows[2][4] = "13800000000"
    rows[4][6] = "村干部"
    write_csv(path, rows)
    result = run(app, path, "--upsert", "--dry-run")
    assert "将新增 0 条，更新 2 条；未变 4 条" in result.output
    result = run(app, path, "--upsert")
    assert result.exit_code == 0, result.output
    _, audit_after = counts(app)
    with app.app_context():
        session = app.appbuilder.session
        assert session.query(Member).filter_by(id_number=rows[2][3]).one().phone == "13800000000"
        assert session.query(Member).filter_by(id_number=rows[4][3]).one().category == "cadre"
        assert session.query(Member).filter_by(id_number=rows[0][3]).one().phone == rows[0][4]
        job = session.query(AuditLog).filter_by(action="import").order_by(AuditLog.id.desc())
        assert json.loads(job.first().changes)["updated"] == 2
    # The second run finds nothing to change: only its job entry is logged.
    result = run(app, path, "--upsert")
    assert result.exit_code == 0 and "更新 0 条，未变 6 条" in result.output
    assert counts(app)[1] == audit_after + 1


def test_insert_mode_refuses_a_live_member(app, tmp_path):
    with app.app_context():
        known = member(app.appbuilder.session, "龙王村")
        row = roster_rows(1)[0]
        row[1], row[3], row[2] = (
            known.name,
            known.id_number,
            "男" if known.gender == "male" else "女",
        )
    before = counts(app)
    result = run(app, write_csv(tmp_path / "dup.csv", [row, *roster_rows(2, start=1)]))
    assert result.exit_code == 1
    assert "已是计生协会员" in result.output
    assert counts(app) == refused(before)
    # Nor does upsert into another village move a live member across.
    result = run(app, tmp_path / "dup.csv", "--upsert")
    assert result.exit_code == 1 and "已是计生协会员" in result.output


def test_one_bad_row_writes_nothing(app, tmp_path):
    rows = roster_rows(5)
    rows[4][3] = rows[4][3][:-1] + ("0" if rows[4][3][-1] != "0" else "1")
    before = counts(app)
    result = run(app, write_csv(tmp_path / "bad.csv", rows))
    assert result.exit_code == 1
    assert "校验位" in result.output
    assert counts(app) == refused(before)


def test_an_import_job_entry_is_logged_and_the_chain_holds(app, tmp_path):
    """The job entry (file, hash, counts); how each row is logged is audit.bulk_insert's."""
    path = write_xlsx(tmp_path / "r.xlsx", roster_rows(7))
    _, audit_before = counts(app)
    assert run(app, path).exit_code == 0
    _, audit_after = counts(app)
    assert audit_after > audit_before + 1
    with app.app_context():
        session = app.appbuilder.session
        job = session.query(AuditLog).filter_by(action="import").one()
        details = json.loads(job.changes)
        assert details["file"] == "r.xlsx" and details["inserted"] == 7
        assert len(details["sha256"]) == 64 and job.username == "system"
        assert job.village_id == village(session, "新檀村").id
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_excel_mangled_ids_are_named(app, tmp_path):
    rows = roster_rows(3)
    rows[0][3] = "5.10525E+17"
    # 18 digits ending in 000 whose check digit is wrong: a float round-trip, not a typo.
    rounded = [r[3][:15] + "000" for r in roster_rows(12)]
    rows[1][3] = next(n for n in rounded if id_check_char(n[:17]) != "0")
    result = run(app, write_csv(tmp_path / "excel.csv", rows))
    assert result.exit_code == 1
    assert result.output.count("文本格式") == 2, result.output


def test_group_option_puts_every_row_in_one_group(app, tmp_path):
    rows = roster_rows(3)
    for row in rows:
        row[5] = ""
    result = run(app, write_csv(tmp_path / "g.csv", rows), "--group", "第二组")
    assert result.exit_code == 0, result.output
    with app.app_context():
        session = app.appbuilder.session
        second = group(session, "新檀村", "第二组").id
        assert {session.query(Member).filter_by(id_number=r[3]).one().group_id for r in rows} == {
            second
        }


@pytest.mark.parametrize(
    "extra,village_name",
    [([], "不存在村"), (["--group", "第九组"], "新檀村")],
)
def test_unknown_village_or_group_is_a_usage_error(app, tmp_path, extra, village_name):
    path = write_csv(tmp_path / "r.csv", roster_rows(2))
    before = counts(app)
    result = run(app, path, *extra, village_name=village_name)
    assert result.exit_code == 2
    assert counts(app) == before


def test_a_file_without_a_header_is_a_usage_error(app, tmp_path):
    path = tmp_path / "nothing.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    assert run(app, path).exit_code == 2


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2023-05-01", dt.date(2023, 5, 1)),
        ("2023/5/1", dt.date(2023, 5, 1)),
        ("2023.5.1", dt.date(2023, 5, 1)),
        ("2023年5月1日", dt.date(2023, 5, 1)),
        ("20230501", dt.date(2023, 5, 1)),
        ("45047", dt.date(2023, 5, 1)),
        ("2023-05-01 00:00:00", dt.date(2023, 5, 1)),
    ],
)
def test_dates_in_the_formats_villages_use(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2023.05", "2023-02-30", "2023/13/1", "2023-5/1", "May 1 2023", "20231301", "0", "2023"],
)
def test_dates_that_are_not_dates_are_refused(text):
    with pytest.raises(ValueError):
        parse_date(text)


def test_a_partial_date_in_the_file_is_rejected(app, tmp_path):
    rows = roster_rows(2)
    rows[1][7] = "2023.05"
    result = run(app, write_csv(tmp_path / "d.csv", rows))
    assert result.exit_code == 1
    assert "2023.05 不是有效日期" in result.output


def test_typed_excel_cells(app, tmp_path):
    """Number and date cells as Excel stores them: dates pass, a numeric ID is named."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号码", "联系电话", "入会时间", "出生日期"])
    good, spoilt = roster_rows(2)
    birth = dt.datetime.strptime(good[3][6:14], "%Y%m%d")
    sheet.append([good[1], good[3], int(good[4]), dt.datetime(2023, 5, 1), birth])
    # Excel keeps 15 significant digits: the last three of an 18-digit ID become 000.
    sheet.append([spoilt[1], float(spoilt[3][:15] + "000"), spoilt[4], 45047, ""])
    path = tmp_path / "typed.xlsx"
    book.save(path)
    result = run(app, path, "--dry-run")
    assert result.exit_code == 1
    assert "第 3 行" in result.output and "文本格式" in result.output
    assert "第 2 行" not in result.output


def test_upsert_does_not_revive_a_person_live_in_another_village(app, tmp_path):
    row = roster_rows(1)[0]
    header = [*HEADER, "状态"]
    path = tmp_path / "s.csv"
    assert run(app, write_csv(path, [[*row, "rejected"]], header=header)).exit_code == 0
    row[5] = "第一组"
    result = run(app, write_csv(path, [[*row, "在册"]], header=header), village_name="龙王村")
    assert result.exit_code == 0, result.output
    before = counts(app)
    result = run(app, path, "--upsert")
    assert result.exit_code == 1 and "其他村" in result.output
    assert counts(app) == refused(before)


def test_a_row_naming_another_group_than_the_option_is_rejected(app, tmp_path):
    rows = roster_rows(2)
    rows[0][5] = "第二组"
    rows[1][5] = "第三组"
    result = run(app, write_csv(tmp_path / "g.csv", rows), "--group", "第二组")
    assert result.exit_code == 1
    # Title row 1, blank row 2, header row 3: the second data row is row 5.
    assert "第 5 行" in result.output and "第 4 行" not in result.output


def test_a_title_row_of_one_cell_above_the_header(app, tmp_path):
    """A CSV saved by a tool that does not pad the title row to the header's width."""
    rows = roster_rows(3)
    path = tmp_path / "short-title.csv"
    with open(path, "w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["新檀村计生协会员花名册"])
        out.writerow(HEADER)
        out.writerows(rows)
    result = run(app, path)
    assert result.exit_code == 0, result.output
    assert "新增 3 条" in result.output


@pytest.mark.parametrize(
    "column,value,expected",
    [
        (2, "女", "性别"),  # the second row's ID number says a man
        (4, "1391234567", "11位"),
        (4, "电话号码", "0830-7123456"),
        (6, "五好", "不是可选的值"),
        (1, "张" * 40, None),
    ],
)
def test_bad_cells_are_named_per_row(app, tmp_path, column, value, expected):
    rows = roster_rows(3)
    rows[1][column] = value
    before = counts(app)
    result = run(app, write_csv(tmp_path / "bad.csv", rows))
    assert result.exit_code == 1
    assert "第 5 行" in result.output and "第 4 行" not in result.output
    if expected:
        assert expected in result.output
    else:
        assert zh(app, "At most %(n)d characters", n=32) in result.output
    assert counts(app) == refused(before)


def test_a_birth_date_that_disagrees_with_the_id_is_rejected(app, tmp_path):
    header = [*HEADER, "出生日期"]
    rows = [[*row, "1960-01-01"] for row in roster_rows(2)]
    rows[0][-1] = dt.datetime.strptime(rows[0][3][6:14], "%Y%m%d").strftime("%Y年%m月%d日")
    result = run(app, write_csv(tmp_path / "b.csv", rows, header=header))
    assert result.exit_code == 1
    expected = dt.datetime.strptime(rows[1][3][6:14], "%Y%m%d").date().isoformat()
    assert expected in result.output and "第 5 行" in result.output
    assert "第 4 行" not in result.output


def test_a_leaver_needs_the_date_they_left(app, tmp_path):
    header = [*HEADER, "状态", "退会日期", "是否党员"]
    rows = [[*row, "退会", "", "是"] for row in roster_rows(2)]
    rows[1][-2] = "2024.6.30"
    result = run(app, write_csv(tmp_path / "l.csv", rows, header=header))
    assert result.exit_code == 1
    assert zh(app, "Give the date the member left") in result.output
    assert "第 4 行" in result.output and "第 5 行" not in result.output
    rows[0][-2] = "45473"  # an Excel serial: 2024-06-30
    assert run(app, write_csv(tmp_path / "l.csv", rows, header=header)).exit_code == 0
    with app.app_context():
        session = app.appbuilder.session
        left = session.query(Member).filter_by(id_number=rows[0][3]).one()
        assert (left.status, left.left_on, left.party_member) == (
            "withdrawn",
            dt.date(2024, 6, 30),
            True,
        )


def test_an_empty_required_cell_is_rejected(app, tmp_path):
    rows = roster_rows(2)
    rows[0][3] = ""
    result = run(app, write_csv(tmp_path / "e.csv", rows))
    assert result.exit_code == 1
    assert zh(app, "This field is required") in result.output and "第 4 行" in result.output


# --- Web imports: the admission rule (seeds 003) ---


def call(app, path, username=None, upsert=False, dry_run=False, group_name=None, **kw):
    """import_roster as the web page calls it, for ``username`` (None: the system)."""
    with app.test_request_context(), force_locale("zh"):
        session = app.appbuilder.session
        user = app.appbuilder.sm.find_user(username=username) if username else None
        bound = group(session, "新檀村", group_name) if group_name else None
        return importer.import_roster(
            session,
            RESOURCES["members"],
            str(path),
            path.read_bytes(),
            village(session, "新檀村"),
            bound,
            upsert=upsert,
            dry_run=dry_run,
            user=user,
            **kw,
        )


def statuses(app, rows):
    with app.app_context():
        session = app.appbuilder.session
        return [session.query(Member).filter_by(id_number=r[3]).one().status for r in rows]


@pytest.mark.parametrize("username", ["xintan_secretary", "xintan_group1"])
def test_who_may_not_approve_files_applications(app, tmp_path, username):
    header = [*HEADER, "状态"]
    rows = [
        [*row, status] for row, status in zip(roster_rows(3), ["在册", "", "申请"], strict=True)
    ]
    for row in rows:
        row[5] = "第一组"
    path = write_csv(tmp_path / "w.csv", rows, header=header)
    preview = call(app, path, username, dry_run=True, group_name="第一组")
    assert preview.counts["inserted"] == 3 and preview.applied_instead == 2
    result = call(app, path, username, group_name="第一组")
    assert result.committed and result.applied_instead == 2
    assert statuses(app, rows) == ["applied"] * 3


def test_the_president_and_the_cli_admit_as_the_file_says(app, tmp_path):
    header = [*HEADER, "状态"]
    rows = [[*row, "在册"] for row in roster_rows(2)]
    path = write_csv(tmp_path / "p.csv", rows, header=header)
    result = call(app, path, "xintan_president")
    assert result.committed and result.applied_instead == 0
    assert statuses(app, rows) == ["active", "active"]
    rows = [[*row, ""] for row in roster_rows(2, start=2)]
    assert run(app, write_csv(tmp_path / "c.csv", rows, header=header)).exit_code == 0
    assert statuses(app, rows) == ["active", "active"]  # the resource's default


def test_an_upsert_may_not_decide_an_application_without_the_right(app, tmp_path):
    header = [*HEADER, "状态"]
    rows = [[*row, "申请"] for row in roster_rows(2)]
    path = write_csv(tmp_path / "u.csv", rows, header=header)
    assert call(app, path, "xintan_secretary").committed
    rows[0][-1] = "在册"
    rows[1][4] = "13800000000"
    write_csv(path, rows, header=header)
    result = call(app, path, "xintan_secretary", upsert=True)
    assert not result.committed and [r[0] for r in result.rejected] == [4]
    message = zh(app, "Only the president approves or rejects an application")
    assert message in result.rejected[0][2][0]
    assert statuses(app, rows) == ["applied", "applied"]
    result = call(app, path, "xintan_president", upsert=True)
    assert result.committed and result.updated == 2
    assert statuses(app, rows) == ["active", "applied"]


def test_a_group_leader_cannot_take_over_another_groups_member(app, tmp_path):
    rows = roster_rows(1)
    rows[0][5] = "第二组"
    path = write_csv(tmp_path / "g.csv", rows)
    assert run(app, path).exit_code == 0
    rows[0][5] = ""
    rows[0][4] = "13800000000"
    write_csv(path, rows)
    # A group leader sees ID numbers masked: it adds rows, it does not update by ID number
    # (issue 15: which rows an upsert would update would tell which numbers are stored).
    with pytest.raises(importer.ImportUsageError):
        call(app, path, "xintan_group1", upsert=True, group_name="第一组")
    with app.app_context():
        session = app.appbuilder.session
        stored = session.query(Member).filter_by(id_number=rows[0][3]).one()
        assert stored.group_id == group(session, "新檀村", "第二组").id
        assert stored.phone != "13800000000"


# --- Progress, the error report as a download ---


def test_progress_is_reported_a_handful_of_times_up_to_the_end(app, tmp_path):
    path = write_csv(tmp_path / "p.csv", roster_rows(30))
    calls = []
    result = call(app, path, progress=lambda done, total: calls.append((done, total)))
    assert result.committed
    assert 3 <= len(calls) <= 30
    assert {total for _done, total in calls} == {60}  # each row checked, then written
    done = [d for d, _total in calls]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 60


def test_the_error_report_can_be_written_to_a_file_object(app, tmp_path):
    rows = roster_rows(3)
    rows[2][1] = '=HYPERLINK("http://x")'
    rows[2][3] = "123"
    result = call(app, write_csv(tmp_path / "x.csv", rows))
    out = io.BytesIO()
    with app.test_request_context(), force_locale("zh"):
        importer.write_errors(result, out)
    sheet = openpyxl.load_workbook(io.BytesIO(out.getvalue())).active
    got = list(sheet.iter_rows(values_only=True))
    assert got[0][0] == "行号" and got[0][-1] == "错误"
    assert got[1][0] == 7 and got[1][2] == '=HYPERLINK("http://x")'
    assert sheet.cell(row=2, column=3).data_type == "s"  # text, not a formula
    assert "18" in got[1][-1]


def test_the_cli_shows_no_progress_bar_when_stderr_is_not_a_terminal(app, tmp_path):
    path = write_csv(tmp_path / "big.csv", roster_rows(5_100))
    result = app.test_cli_runner().invoke(
        args=["roster", "import", "members", str(path), "--village", "新檀村", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("将新增 5100 条")
    assert "%" not in result.stderr


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_appears_on_a_terminal_for_big_files_only(monkeypatch, app):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with app.test_request_context():
        small = ProgressBar()
        small(0, 2 * 5_000)
        small(10_000, 2 * 5_000)
        small.close()
        assert terminal.getvalue() == ""
        big = ProgressBar()
        for done in (0, 6_000, 12_002):
            big(done, 12_002)
        big.close()
    assert "100%" in terminal.getvalue()


def test_a_quoted_formula_in_a_csv_reads_back_as_its_text(app, tmp_path):
    """The CSV export quotes =, +, -, @ at the start of a cell; the import takes the quote off."""
    rows = roster_rows(3)
    rows[0][8], rows[1][8], rows[2][8] = "'=1+1", "'-已退休", "'张"
    assert run(app, write_csv(tmp_path / "q.csv", rows)).exit_code == 0
    with app.app_context():
        session = app.appbuilder.session
        notes = [session.query(Member).filter_by(id_number=r[3]).one().notes for r in rows]
    assert notes == ["=1+1", "-已退休", "'张"]


def test_a_member_who_left_joins_again_beside_new_members(app, tmp_path):
    header = [*HEADER, "状态", "退会日期"]
    first = roster_rows(1)[0]
    path = write_csv(tmp_path / "left.csv", [[*first, "退会", "2022-01-01"]], header=header)
    assert run(app, path).exit_code == 0
    again = [*first, "", ""]
    again[8] = "重新入会"
    rows = [again, *([*row, "", ""] for row in roster_rows(2, start=1))]
    result = run(app, write_csv(tmp_path / "again.csv", rows, header=header))
    assert result.exit_code == 0, result.output
    assert "新增 3 条" in result.output
    with app.app_context():
        session = app.appbuilder.session
        stored = session.query(Member).filter_by(id_number=first[3]).order_by(Member.id).all()
        assert [(m.status, m.notes) for m in stored] == [
            ("withdrawn", None),
            ("active", "重新入会"),
        ]


@pytest.mark.parametrize("name", ["broken.xlsx", "broken.xls", "roster.pdf"])
def test_a_file_that_is_no_roster_is_a_usage_error(app, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4 not a workbook")
    before = counts(app)
    result = run(app, path)
    assert result.exit_code == 2
    # Refused unread, and the refusal is in the log too (issue 15, second review).
    assert counts(app) == refused(before)


def test_an_upsert_that_changes_a_row_checks_it_against_the_models_rules(app, tmp_path):
    header = [*HEADER, "状态"]
    rows = [[*row, "在册"] for row in roster_rows(2)]
    path = write_csv(tmp_path / "u.csv", rows, header=header)
    assert run(app, path).exit_code == 0
    rows[1][-1] = "退会"  # a leaver, but no date
    write_csv(path, rows, header=header)
    result = run(app, path, "--upsert")
    assert result.exit_code == 1
    assert zh(app, "Give the date the member left") in result.output
    assert "第 5 行" in result.output and "第 4 行" not in result.output
    assert statuses(app, rows) == ["active", "active"]


def test_a_row_longer_than_the_header_still_reads(app, tmp_path):
    """A stray cell right of the table (a note typed in column J) does not stop the import."""
    rows = roster_rows(120)
    rows[-1] = [*rows[-1], "", "备用"]  # below the lines the reader sizes the table on
    result = run(app, write_csv(tmp_path / "wide.csv", rows))
    assert result.exit_code == 0, result.output
    assert "新增 120 条" in result.output


def test_a_dry_run_is_an_audit_entry(app, tmp_path):
    path = write_csv(tmp_path / "d.csv", roster_rows(4))
    members, entries = counts(app)
    result = run(app, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert counts(app) == (members, entries + 1)
    with app.app_context():
        entry = app.appbuilder.session.query(AuditLog).order_by(AuditLog.id.desc()).first()
        details = json.loads(entry.changes)
        assert entry.action == "import_preview" and entry.username == "system"
        assert details["file"] == "d.csv" and details["inserted"] == 4
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0
