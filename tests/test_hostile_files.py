"""No file can take the server down (issue 15, class 3): hostile rosters and attachments, each
made here at test time, are answered within 5 s with a message, and the server keeps serving.

The rosters go through the web roster page as a village user (and one through the CLI); the
attachments through a document's upload form. The messages are checked in Chinese, the
language a village user sees by default.
"""

import http.cookiejar
import io
import json
import os
import re
import runpy
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path

import pytest
import xlwt

from app import importer, roster_files, untrusted
from app.models import Attachment, AuditLog, Document, Member
from tests.databases import TEST_PASSWORD, close_connections
from tests.files import make, png_bytes
from tests.files import upload as upload_attachment
from tests.rosters import HEADER, roster_rows, write_csv
from tests.servers import GUNICORN, ROOT, free_port

SECONDS = 5
TOO_LARGE = "表格太大"
LIMITS = "文件太大或结构异常"
BUSY = "服务器正忙"
ZIP_BOMB = "疑似压缩炸弹"

# --- Making hostile files ---

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006"
SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def workbook_parts(sheet_xml: str) -> dict:
    return {
        "[Content_Types].xml": (
            f'<Types xmlns="{PACKAGE}/content-types"><Default Extension="rels" ContentType='
            '"application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{SHEET}.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{SHEET}.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
            f'Type="{RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
            '<sheet name="花名册" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'<Relationships xmlns="{PACKAGE}/relationships"><Relationship Id="rId1" '
            f'Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
        ),
        "xl/worksheets/sheet1.xml": sheet_xml,
    }


def zipped(parts: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def header_row() -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for i, name in enumerate(HEADER)
    )
    return f'<row r="1">{cells}</row>'


def far_cell_xlsx(dimension: str | None) -> bytes:
    """A roster header and one number at XFD1048576, the last cell a sheet can have: read as
    a dense table, 17 billion cells (512 GB). ``dimension`` is what the sheet claims to span
    (None: no claim, as some writers leave it out)."""
    claim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        f'<worksheet xmlns="{MAIN}">{claim}<sheetData>{header_row()}'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>'
    )
    return zipped(workbook_parts(sheet))


def zip_bomb_xlsx() -> bytes:
    """A workbook whose sheet expands 1,000 times: 300 MB of blanks from 300 KB."""
    start = f'<worksheet xmlns="{MAIN}"><sheetData>{header_row()}'.encode()
    end = b"</sheetData></worksheet>"
    blanks = b" " * (1 << 20)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in workbook_parts("").items():
            if name != "xl/worksheets/sheet1.xml":
                archive.writestr(name, content)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(start)
            for _ in range(300):
                sheet.write(blanks)
            sheet.write(end)
    return buffer.getvalue()


def far_cell_xls() -> bytes:
    """An Excel 97 workbook with its last cell, IV65536, filled: 16.7 million cells."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    for c, name in enumerate(HEADER):
        sheet.write(0, c, name)
    sheet.write(65535, 255, 1)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def wide_csv() -> bytes:
    """A 100 KB CSV whose header row has 100,000 columns."""
    return (",".join(["姓名"] + ["x"] * 99_999) + "\n").encode()


def long_cell_csv() -> bytes:
    """A cell of 200,000 characters: past the csv module's field limit."""
    return ("姓名,性别\n" + "张" * 200_000 + ",男\n").encode()


def tall_csv() -> bytes:
    """A header, then 400,000 lines of one cell: more rows than a roster may have."""
    return "姓名,性别\n".encode() + b"x\n" * 400_000


def many_parts_docx() -> bytes:
    """A Word document of 10,001 empty parts: a directory slow to parse, for nothing."""
    parts = {"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}
    parts.update({f"word/media/{i}.xml": "" for i in range(9_999)})
    return zipped(parts)


def malformed_gb18030() -> bytes:
    """GB18030 cut short in the middle of its four-byte sequences, neither UTF-8 nor GBK."""
    return "姓名,性别\n张三,男\n".encode("gb18030") + b"\x81\x30\x81" + b"\xff\xfe\x81\x30"


def nul_csv() -> bytes:
    return "姓名,性别,身份证号码\n张\x00三,男,1\x00\n".encode()


def png_of(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height; a tiny compressed body (a decompression bomb
    to any viewer that trusts the header)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
        + chunk(b"IEND", b"")
    )


def jpeg_of(width: int, height: int) -> bytes:
    """A JPEG with a JFIF segment and a baseline frame header of width × height."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x0b\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def docx_bomb() -> bytes:
    """A Word document whose body expands 1,000 times."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as body:
            for _ in range(300):
                body.write(b" " * (1 << 20))
    return buffer.getvalue()


def nested_docx_bomb() -> bytes:
    """A Word document with an embedded workbook that holds the bomb: the outer archive's
    own sizes are harmless."""
    inner = docx_bomb()
    return zipped(
        {
            "[Content_Types].xml": "<Types/>",
            "word/document.xml": "<w:document/>",
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner,
        }
    )


HOSTILE_ROSTERS = {
    # name: (bytes, file name, what the message says)
    "huge dimensions": (lambda: far_cell_xlsx("A1:XFD1048576"), "花名册.xlsx", TOO_LARGE),
    "huge dimensions, no claim": (lambda: far_cell_xlsx(None), "花名册.xlsx", LIMITS),
    "huge dimensions, false claim": (lambda: far_cell_xlsx("A1:I2"), "花名册.xlsx", LIMITS),
    "huge dimensions, .xls": (far_cell_xls, "花名册.xls", TOO_LARGE),
    "huge width": (wide_csv, "花名册.csv", TOO_LARGE),
    "huge height": (tall_csv, "花名册.csv", TOO_LARGE),
    "zip bomb": (zip_bomb_xlsx, "花名册.xlsx", ZIP_BOMB),
    "malformed GB18030": (malformed_gb18030, "花名册.csv", "既不是 UTF-8 也不是 GBK"),
    "NULs": (nul_csv, "花名册.csv", "不是 CSV"),
    "a cell too long": (long_cell_csv, "花名册.csv", "无法将文件读取为表格"),
}

HOSTILE_ATTACHMENTS = {
    "image bomb, PNG": (lambda: png_of(100_000, 100_000), "示意图.png", "像素"),
    "image bomb, JPEG": (lambda: jpeg_of(65_000, 65_000), "照片.jpg", "像素"),
    "PNG without its header": (
        lambda: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        "示意图.png",
        "文件头已损坏",
    ),
    "JPEG without a frame": (
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
        "照片.jpg",
        "文件头已损坏",
    ),
    "zip bomb, .docx": (docx_bomb, "工作计划.docx", ZIP_BOMB),
    "zip bomb, .xlsx": (zip_bomb_xlsx, "花名册.xlsx", ZIP_BOMB),
    "nested zip bomb, .docx": (nested_docx_bomb, "工作计划.docx", ZIP_BOMB),
    "too many parts, .docx": (many_parts_docx, "工作计划.docx", "10001 个部分"),
}


def write_csv_bytes(rows) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return write_csv(Path(folder) / "r.csv", rows).read_bytes()


def upload_roster(client, data: bytes, filename: str):
    form = {"kind": "members", "mode": "insert", "file": (io.BytesIO(data), filename)}
    return client.post("/roster/preview", data=form, content_type="multipart/form-data")


def attachments_of(app, document) -> list:
    with app.app_context():
        query = app.appbuilder.session.query(Attachment).filter_by(
            owner_model="Document", owner_id=document
        )
        return [a.filename for a in query]


def member_count(app) -> int:
    with app.app_context():
        return app.appbuilder.session.query(Member).count()


# --- The roster page ---


@pytest.mark.parametrize("case", list(HOSTILE_ROSTERS))
def test_a_hostile_roster_is_answered_quickly_with_a_message(app, login_as, case):
    make_file, filename, message = HOSTILE_ROSTERS[case]
    data = make_file()
    client = login_as("xintan_secretary")
    before = member_count(app)
    started = time.monotonic()
    response = upload_roster(client, data, filename)
    elapsed = time.monotonic() - started
    print(f"{case}: {len(data):,} bytes, answered in {elapsed:.2f} s")
    assert elapsed < SECONDS
    assert response.status_code == 302 and response.location.endswith("/roster/")
    page = client.get("/roster/")
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert member_count(app) == before
    # The server keeps serving: another page, then a good file.
    assert client.get("/").status_code == 200


def refusals(app) -> list:
    """The details of every import_refused entry, oldest first."""
    with app.app_context():
        query = app.appbuilder.session.query(AuditLog).filter_by(action="import_refused")
        return [json.loads(e.changes) | {"_user": e.username} for e in query.order_by(AuditLog.id)]


REFUSED_UNREAD = {
    **{case: (make_file, filename) for case, (make_file, filename, _m) in HOSTILE_ROSTERS.items()},
    "empty": (lambda: b"  \n", "花名册.csv"),
    "not a table": (lambda: b"%PDF-1.4\n" + b"x" * 100, "花名册.csv.pdf"),
}


@pytest.mark.parametrize("case", [*REFUSED_UNREAD, "too large"])
def test_every_refused_roster_is_an_audit_entry(app, login_as, monkeypatch, case):
    """Issue 15, class 8 (second review): a file refused unread (too large, malformed, past a
    limit, not a table) is an import_refused entry naming the file and why, as a file
    refused for its rows already was."""
    client = login_as("xintan_secretary")
    if case == "too large":
        monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 100)
        data, filename = wide_csv()[:500], "花名册.csv"
    else:
        make_file, filename = REFUSED_UNREAD[case]
        data = make_file()
    before = len(refusals(app))
    response = upload_roster(client, data, filename)
    assert response.status_code == 302
    entries = refusals(app)
    assert len(entries) == before + 1, entries
    entry = entries[-1]
    assert entry["_user"] == "xintan_secretary" and entry["reason"]
    flashed = client.get("/roster/").get_data(as_text=True)
    assert entry["reason"][:20] in flashed


def test_a_reader_past_the_concurrency_cap_is_refused_not_queued(app, login_as, monkeypatch):
    """Issue 15, second review: each reader may take IMPORT_PARSE_MEMORY_MB for
    IMPORT_PARSE_SECONDS; past IMPORT_PARSE_CONCURRENCY readers in one process, an upload is
    answered at once ("busy, try again"), audited, and the next one is read."""
    assert app.config["IMPORT_PARSE_CONCURRENCY"] == 2
    monkeypatch.setitem(app.config, "IMPORT_PARSE_CONCURRENCY", 1)
    client = login_as("xintan_secretary")
    data = write_csv_bytes(roster_rows(3))
    with untrusted.reader_slot(1):  # another upload's reader, still running
        started = time.monotonic()
        response = upload_roster(client, data, "good.csv")
        assert time.monotonic() - started < SECONDS
    assert response.status_code == 302
    assert BUSY in client.get("/roster/").get_data(as_text=True)
    assert BUSY in refusals(app)[-1]["reason"]
    assert upload_roster(client, data, "good.csv").status_code == 200


def test_the_concurrency_cap_counts_running_children():
    """Two readers at once in one process with a cap of 1: the second is refused while the
    first runs, and the slot is free again once it is done."""
    import threading

    outcome = {}

    def first():
        outcome["first"] = untrusted.run_limited(time.sleep, (1.5,), 10, 256, concurrency=1)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while untrusted._running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(untrusted.Busy):
        untrusted.run_limited(time.sleep, (0,), 10, 256, concurrency=1)
    thread.join()
    assert "first" in outcome and untrusted._running == 0
    assert untrusted.run_limited(abs, (-3,), 10, 256, concurrency=1) == 3


def test_a_good_roster_still_imports_after_the_hostile_ones(app, login_as, tmp_path):
    client = login_as("xintan_secretary")
    for make_file, filename, _message in HOSTILE_ROSTERS.values():
        upload_roster(client, make_file(), filename)
    data = write_csv(tmp_path / "good.csv", roster_rows(3)).read_bytes()
    response = upload_roster(client, data, "good.csv")
    assert response.status_code == 200
    assert 'data-count="inserted"' in response.get_data(as_text=True)


def test_the_cli_refuses_a_huge_workbook_with_a_message(app, tmp_path):
    path = tmp_path / "花名册.xlsx"
    path.write_bytes(far_cell_xlsx("A1:XFD1048576"))
    started = time.monotonic()
    result = app.test_cli_runner().invoke(
        args=["roster", "import", "members", str(path), "--village", "新檀村"]
    )
    assert time.monotonic() - started < SECONDS
    assert result.exit_code == 2
    assert TOO_LARGE in result.output and "16384" in result.output


def test_the_cli_refuses_nuls_and_long_cells_with_a_message(app, tmp_path):
    for name, data, message in (
        ("nul.csv", nul_csv(), "不是 CSV"),
        ("long.csv", long_cell_csv(), "无法将文件读取为表格"),
    ):
        path = tmp_path / name
        path.write_bytes(data)
        result = app.test_cli_runner().invoke(
            args=["roster", "import", "members", str(path), "--village", "新檀村"]
        )
        assert result.exit_code == 2, result.output
        assert message in result.output


# --- The limits themselves ---


def test_the_limits_come_from_config(app):
    assert app.config["IMPORT_MAX_ROWS"] >= 200_000  # bench/import_roster.py reads 100k rows
    assert app.config["IMPORT_MAX_COLUMNS"] == 200
    assert app.config["IMPORT_MAX_CELLS"] >= 100_000 * 9
    assert app.config["IMPORT_PARSE_SECONDS"] > 0 and app.config["IMPORT_PARSE_MEMORY_MB"] > 0
    assert app.config["UPLOAD_MAX_PIXELS"] == 50_000_000


@pytest.mark.parametrize("env", ["0", "-1", "2.5"])
@pytest.mark.parametrize(
    "name",
    [
        "UPLOAD_MAX_PIXELS",
        "ZIP_MAX_UNCOMPRESSED_MB",
        "ZIP_MAX_RATIO",
        "ZIP_MAX_ENTRIES",
        "IMPORT_MAX_ROWS",
        "IMPORT_MAX_COLUMNS",
        "IMPORT_MAX_CELLS",
        "IMPORT_PARSE_SECONDS",
        "IMPORT_PARSE_MEMORY_MB",
        "IMPORT_PARSE_CONCURRENCY",
    ],
)
def test_a_limit_below_one_is_refused_at_start(monkeypatch, name, env):
    """0 would refuse every roster or attachment, or stop every reader as it starts: the
    server does not start with it, and says which setting is wrong."""
    monkeypatch.setenv(name, env)
    with pytest.raises(ValueError, match=name):
        runpy.run_path(str(ROOT / "config.py"))


def test_a_table_past_a_configured_limit_is_refused(app, monkeypatch, tmp_path):
    data = write_csv(tmp_path / "r.csv", roster_rows(30)).read_bytes()
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 20)
    with app.app_context(), pytest.raises(importer.ImportUsageError, match=TOO_LARGE):
        importer.read_table("r.csv", data)
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 1000)
    monkeypatch.setitem(app.config, "IMPORT_MAX_CELLS", 100)
    with app.app_context(), pytest.raises(importer.ImportUsageError, match=TOO_LARGE):
        importer.read_table("r.csv", data)


def test_a_child_that_runs_out_of_memory_is_answered_not_a_500(app, login_as, monkeypatch):
    """A reader that dies (here: a memory allowance far too small for any workbook) is a
    message on the page, and the next request is served."""
    monkeypatch.setitem(app.config, "IMPORT_PARSE_MEMORY_MB", 1)
    client = login_as("xintan_secretary")
    response = upload_roster(client, far_cell_xlsx("A1:I2"), "花名册.xlsx")
    assert response.status_code == 302
    assert LIMITS in client.get("/roster/").get_data(as_text=True)


def test_a_child_that_stalls_is_stopped_at_the_time_limit(app, login_as, monkeypatch):
    def stall(*_args):
        time.sleep(60)

    monkeypatch.setattr(roster_files, "_parse", stall)
    monkeypatch.setitem(app.config, "IMPORT_PARSE_SECONDS", 1)
    client = login_as("xintan_secretary")
    started = time.monotonic()
    response = upload_roster(client, wide_csv()[:100], "花名册.csv")
    assert time.monotonic() - started < SECONDS
    assert response.status_code == 302
    assert LIMITS in client.get("/roster/").get_data(as_text=True)


def test_a_threaded_server_reads_through_the_forkserver(app, login_as, monkeypatch, tmp_path):
    """Under a threaded server (make run) the reader is not forked from the server itself."""
    monkeypatch.setattr(untrusted, "start_method", lambda: "forkserver")
    client = login_as("xintan_secretary")
    data = write_csv(tmp_path / "good.csv", roster_rows(3)).read_bytes()
    assert upload_roster(client, data, "good.csv").status_code == 200
    upload_roster(client, far_cell_xlsx(None), "花名册.xlsx")
    assert LIMITS in client.get("/roster/").get_data(as_text=True)


# --- Attachments ---


@pytest.mark.parametrize("case", list(HOSTILE_ATTACHMENTS))
def test_a_hostile_attachment_is_answered_quickly_with_a_message(app, login_as, case):
    make_file, filename, message = HOSTILE_ATTACHMENTS[case]
    data = make_file()
    document = make(app, Document, "新檀村")
    client = login_as("xintan_president")
    started = time.monotonic()
    response = upload_attachment(client, "Document", document, data, filename)
    elapsed = time.monotonic() - started
    print(f"{case}: {len(data):,} bytes, answered in {elapsed:.2f} s")
    assert elapsed < SECONDS
    assert response.status_code == 302
    page = client.get(response.location)
    assert page.status_code == 200
    assert message in page.get_data(as_text=True)
    assert attachments_of(app, document) == []


@pytest.mark.parametrize(
    "data,name", [(png_of(2000, 1500), "大图.png"), (jpeg_of(6000, 4000), "照片.jpg")]
)
def test_a_large_photo_within_the_limit_is_accepted(app, login_as, data, name):
    document = make(app, Document, "新檀村")
    client = login_as("xintan_president")
    assert upload_attachment(client, "Document", document, data, name).status_code == 302
    assert attachments_of(app, document) == [name]


def test_image_sizes_are_read_from_the_header():
    assert untrusted.image_size(png_bytes()) == (1, 1)
    assert untrusted.image_size(png_of(2000, 1500)) == (2000, 1500)
    assert untrusted.image_size(jpeg_of(6000, 4000)) == (6000, 4000)


# --- A real server: the process that reads is not the process that serves ---


class Browser:
    """A signed-in browser on a running server, CSRF tokens and all (urllib only)."""

    def __init__(self, base):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.status, response.read().decode()

    def token(self, path) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', self.get(path)[1]).group(1)

    def sign_in(self, username):
        form = {
            "username": username,
            "password": TEST_PASSWORD,
            "csrf_token": self.token("/login/"),
        }
        self.opener.open(self.base + "/login/", urllib.parse.urlencode(form).encode(), timeout=30)

    def upload_roster(self, data: bytes, filename: str) -> tuple[int, str]:
        fields = {"kind": "members", "mode": "insert", "csrf_token": self.token("/roster/")}
        boundary = "----hostile" + "0" * 16
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body += data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            self.base + "/roster/preview",
            data=body,
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with self.opener.open(request, timeout=30) as response:
            return response.status, response.read().decode()


@pytest.mark.parametrize(
    "command,threads",
    [
        ([sys.executable, "run.py"], "1"),
        ([str(GUNICORN), "-c", "gunicorn.conf.py"], "1"),
        ([str(GUNICORN), "-c", "gunicorn.conf.py"], "2"),
    ],
    ids=["make run", "make serve", "make serve, 2 threads"],
)
def test_a_running_server_answers_the_huge_workbook_and_keeps_serving(
    app, tmp_path, command, threads
):
    """Before: `make run` aborted at the first such upload (calamine asks for 512 GB)."""
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed")
    close_connections(app)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "ID_ENCRYPTION_KEY": app.config["ID_ENCRYPTION_KEY"],
        "INSTANCE_DIR": str(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": threads,
        "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/rl.db",
        "GUNICORN_ACCESS_LOG": "",
    }
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        browser = Browser(f"http://127.0.0.1:{port}")
        deadline = time.time() + 90
        while True:
            try:
                browser.get("/login/")
                break
            except OSError:
                assert server.poll() is None and time.time() < deadline, "the server did not start"
                time.sleep(0.5)
        browser.sign_in("xintan_secretary")
        for data, filename, message in (
            (far_cell_xlsx("A1:XFD1048576"), "花名册.xlsx", TOO_LARGE),
            (far_cell_xlsx(None), "花名册.xlsx", LIMITS),
            (zip_bomb_xlsx(), "花名册.xlsx", ZIP_BOMB),
        ):
            started = time.monotonic()
            status, page = browser.upload_roster(data, filename)
            assert time.monotonic() - started < SECONDS
            assert status == 200 and message in page
        assert server.poll() is None
        assert browser.get("/roster/")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
