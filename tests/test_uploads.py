"""Uploads (issue 4, item 5): type by content, size limit, clean names, scoped and
permission-checked downloads, audited writes, files outside the web root.

Every file here is made by the test itself; owners are created per test in the demo villages.
"""

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Activity, Attachment, AuditLog, Venue
from app.uploads import clean_filename
from tests.files import (
    docx_bytes,
    jpeg_bytes,
    make,
    pdf_bytes,
    png_bytes,
    upload,
    xlsx_bytes,
    zip_bytes,
)
from tests.helpers import group, member

FIRST_NEW = 1
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(autouse=True)
def _first_new_attachment(app):
    """Attachments the demo may hold are not this test's: ``attachments()`` skips them."""
    global FIRST_NEW
    with app.app_context():
        FIRST_NEW = (app.appbuilder.session.scalar(select(func.max(Attachment.id))) or 0) + 1


def attachments(app):
    """The attachments made by this test, oldest first."""
    with app.app_context():
        session = app.appbuilder.session
        rows = session.scalars(
            select(Attachment).where(Attachment.id >= FIRST_NEW).order_by(Attachment.id)
        ).all()
        session.expunge_all()
        return rows


def stored_files(app):
    folder = Path(app.config["UPLOAD_FOLDER"])
    return set(folder.iterdir()) if folder.exists() else set()


def audit_count(app, action):
    with app.app_context():
        return app.appbuilder.session.scalar(
            select(func.count()).where(
                AuditLog.model == "Attachment",
                AuditLog.action == action,
                AuditLog.record_id >= FIRST_NEW,
            )
        )


def english(client):
    assert client.get("/lang/en").status_code == 302
    return client


def flashed(client, response):
    """The page the refused upload sent the user back to, as text."""
    assert response.status_code == 302
    html = client.get(response.location).get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- Accepted types ---


@pytest.mark.parametrize(
    "data,name,content_type",
    [
        (pdf_bytes(), "章程.pdf", PDF),
        (jpeg_bytes(), "照片.jpg", "image/jpeg"),
        (png_bytes(), "示意图.png", "image/png"),
        (docx_bytes(), "工作计划.docx", DOCX),
        (xlsx_bytes(), "花名册.xlsx", XLSX),
    ],
)
def test_each_accepted_type_is_stored_with_its_detected_type(
    app, login_as, document, data, name, content_type
):
    client = login_as("xintan_president")
    response = upload(client, "Document", document, data, name)
    assert response.status_code == 302
    assert response.location.endswith(f"/documentview/show/{document}")
    [row] = attachments(app)
    assert (row.filename, row.content_type, row.size) == (name, content_type, len(data))
    assert re.fullmatch(r"[0-9a-f]{32}", row.stored_name)
    assert (Path(app.config["UPLOAD_FOLDER"]) / row.stored_name).read_bytes() == data
    page = client.get(response.location).get_data(as_text=True)
    assert name in page and f"/attachment/{row.id}" in page


def test_type_comes_from_content_not_from_name(app, login_as, document):
    """A PDF called .docx is a PDF: stored as one, and its download name says so."""
    upload(login_as("xintan_president"), "Document", document, pdf_bytes(), "报告.docx")
    [row] = attachments(app)
    assert row.content_type == PDF and row.filename == "报告.docx.pdf"


# --- Refused files: a reason in the user's language, nothing written ---

NOT_ACCEPTED = "is not a PDF, JPEG, PNG, Word (.docx) or Excel (.xlsx) file"


@pytest.mark.parametrize(
    "data,name,reason",
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 50, "报告.pdf", NOT_ACCEPTED),
        (b"<html><script>alert(1)</script></html>", "通知.pdf", NOT_ACCEPTED),
        (b"GIF89a\x01\x00\x01\x00", "照片.png", NOT_ACCEPTED),
        (zip_bytes({"readme.txt": "hi"}), "计划.docx", NOT_ACCEPTED),
        (
            zip_bytes({"word/document.xml": "<w/>", "word/vbaProject.bin": "macro"}),
            "计划.docx",
            NOT_ACCEPTED,
        ),
        (b"PK\x03\x04 not really a zip", "花名册.xlsx", NOT_ACCEPTED),
        (b"", "空.pdf", "is empty"),
    ],
)
def test_refused_upload_says_why_and_writes_nothing(app, login_as, document, data, name, reason):
    client = english(login_as("xintan_president"))
    files_before = stored_files(app)
    response = upload(client, "Document", document, data, name)
    text = flashed(client, response)
    assert reason in text and name in text
    assert attachments(app) == []
    assert stored_files(app) == files_before
    assert audit_count(app, "insert") == 0


def test_no_file_chosen(login_as, document):
    client = english(login_as("xintan_president"))
    response = client.post(
        f"/attachment/upload/Document/{document}", data={}, content_type="multipart/form-data"
    )
    assert "Choose a file to upload" in flashed(client, response)


def test_file_over_the_limit_is_refused(app, login_as, document, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    client = english(login_as("xintan_president"))
    files_before = stored_files(app)
    data = pdf_bytes() + b"0" * 1000
    text = flashed(client, upload(client, "Document", document, data, "大文件.pdf"))
    assert "The file is too large: at most 1000 B can be uploaded" in text
    assert attachments(app) == [] and stored_files(app) == files_before
    # Exactly at the limit is fine.
    assert upload(client, "Document", document, data[:1000], "正好.pdf").status_code == 302
    assert len(attachments(app)) == 1


def test_body_past_max_content_length_is_explained_not_a_bare_413(
    app, login_as, document, monkeypatch
):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 1000)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4000)
    client = english(login_as("xintan_president"))
    response = upload(client, "Document", document, pdf_bytes() + b"0" * 10_000, "大.pdf")
    assert response.status_code == 302
    assert "The file is too large: at most 1000 B can be uploaded" in flashed(client, response)
    # With CSRF on, the body is cut off while the token is read: the same answer.
    app.config["WTF_CSRF_ENABLED"] = True
    response = upload(client, "Document", document, pdf_bytes() + b"0" * 10_000, "大.pdf")
    assert response.status_code == 302
    assert "The file is too large" in flashed(client, response)
    assert attachments(app) == []


def test_default_limits_come_from_config(app):
    assert app.config["UPLOAD_MAX_BYTES"] == 10 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] > app.config["UPLOAD_MAX_BYTES"]


# --- File names ---


@pytest.mark.parametrize(
    "raw,content_type,clean",
    [
        ("2024年工作计划.pdf", PDF, "2024年工作计划.pdf"),
        ("C:\\Users\\张三\\桌面\\2024年工作计划.pdf", PDF, "2024年工作计划.pdf"),
        ("../../etc/会员\x07名册\u202e.xlsx", XLSX, "会员名册.xlsx"),
        ("...隐藏.pdf", PDF, "隐藏.pdf"),
        ('活动<照片>:"1"|?*.JPG', "image/jpeg", "活动照片1.JPG"),
        ("扫描件", "image/jpeg", "扫描件.jpg"),
        ("../..", PDF, "file.pdf"),
        ("", "image/png", "file.png"),
        ("长" * 300 + ".docx", DOCX, "长" * 95 + ".docx"),
    ],
)
def test_clean_filename(raw, content_type, clean):
    assert clean_filename(raw, content_type) == clean


def test_chinese_name_kept_and_path_removed_end_to_end(app, login_as, document):
    client = login_as("xintan_president")
    upload(client, "Document", document, pdf_bytes(), "../../资料/二〇二四年 工作总结.pdf")
    [row] = attachments(app)
    assert row.filename == "二〇二四年 工作总结.pdf"
    response = client.get(f"/attachment/{row.id}")
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    assert "%E5%B7%A5%E4%BD%9C%E6%80%BB%E7%BB%93.pdf" in response.headers["Content-Disposition"]


# --- Downloads: scope (404), then rights (403) ---


def test_download_in_the_same_village(login_as, uploaded):
    pk, data = uploaded
    response = login_as("xintan_secretary").get(f"/attachment/{pk}")
    assert response.status_code == 200
    assert response.data == data
    assert response.mimetype == PDF
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_photo_is_shown_inline_and_downloadable(app, login_as):
    activity = make(app, Activity, "新檀村")
    client = login_as("xintan_secretary")
    assert upload(client, "Activity", activity, jpeg_bytes(), "5·29活动.jpg").status_code == 302
    [row] = attachments(app)
    shown = client.get(f"/attachment/{row.id}")
    assert shown.mimetype == "image/jpeg"
    assert shown.headers["Content-Disposition"].startswith("inline;")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    saved = client.get(f"/attachment/{row.id}?download=1")
    assert saved.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(
    "username", ["longwang_president", "longwang_secretary", "xiaohe_president"]
)
def test_another_village_gets_404(app, login_as, uploaded, username):
    """Not 403: nothing tells another village that the file or its record exists."""
    activity = make(app, Activity, "新檀村")
    secretary = login_as("xintan_secretary")
    assert upload(secretary, "Activity", activity, png_bytes(), "合影.png").status_code == 302
    client = login_as(username)
    for pk in (row.id for row in attachments(app)):
        assert client.get(f"/attachment/{pk}").status_code == 404
        assert client.get(f"/attachment/{pk}?download=1").status_code == 404
        assert client.post(f"/attachment/{pk}/delete").status_code == 404
    assert upload(client, "Activity", activity, pdf_bytes(), "x.pdf").status_code == 404
    assert len(attachments(app)) == 2


def test_group_leader_sees_only_its_own_groups_attachments(app, login_as):
    own = make(app, Activity, "新檀村", "第一组")
    other = make(app, Activity, "新檀村", "第二组")
    village_wide = make(app, Activity, "新檀村")
    president = login_as("xintan_president")
    for pk in (own, other, village_wide):
        assert upload(president, "Activity", pk, png_bytes(), "合影.png").status_code == 302
    by_owner = {row.owner_id: row.id for row in attachments(app)}
    leader = login_as("xintan_group1")
    assert leader.get(f"/attachment/{by_owner[own]}").status_code == 200
    assert leader.get(f"/attachment/{by_owner[other]}").status_code == 404
    assert leader.get(f"/attachment/{by_owner[village_wide]}").status_code == 404
    assert leader.post(f"/attachment/{by_owner[other]}/delete").status_code == 404
    assert login_as("longwang_group1").get(f"/attachment/{by_owner[own]}").status_code == 404
    # The group leader edits its group's activities, so it may add their photos too.
    assert upload(leader, "Activity", own, jpeg_bytes(), "签到.jpg").status_code == 302
    assert upload(leader, "Activity", other, jpeg_bytes(), "签到.jpg").status_code == 404
    assert len(attachments(app)) == 4


def test_reading_needs_the_right_to_read_the_record(app, login_as):
    """A group leader does not read venues, even its own group's (会员小组之家)."""
    venue = make(app, Venue, "新檀村", "第一组", kind="group_home")
    upload(login_as("xintan_president"), "Venue", venue, jpeg_bytes(), "门牌.jpg")
    [row] = attachments(app)
    assert login_as("xintan_group1").get(f"/attachment/{row.id}").status_code == 403


def test_township_reads_but_does_not_write(app, login_as, uploaded, document):
    pk, data = uploaded
    township = login_as("township")
    response = township.get(f"/attachment/{pk}")
    assert response.status_code == 200 and response.data == data
    assert upload(township, "Document", document, pdf_bytes(), "x.pdf").status_code == 403
    assert township.post(f"/attachment/{pk}/delete").status_code == 403
    assert len(attachments(app)) == 1
    page = township.get(f"/documentview/show/{document}").get_data(as_text=True)
    assert f"/attachment/{pk}" in page
    assert "/attachment/upload/" not in page and f"/attachment/{pk}/delete" not in page


def test_secretary_reads_archive_files_but_does_not_add_them(app, login_as, uploaded, document):
    """Documents are the president's (SPEC §1): the secretary reads them only."""
    client = login_as("xintan_secretary")
    assert upload(client, "Document", document, pdf_bytes(), "x.pdf").status_code == 403
    assert len(attachments(app)) == 1


def test_anonymous_is_sent_to_login(client, uploaded):
    pk, _data = uploaded
    response = client.get(f"/attachment/{pk}")
    assert response.status_code == 302 and "/login/" in response.location


@pytest.mark.parametrize(
    "path",
    [
        "/attachment/999999",
        "/attachment/99999999999999999999999",
        "/attachment/upload/Member/1",
        "/attachment/upload/Document/99999999999999999999999",
    ],
)
def test_unknown_is_not_found(login_as, path):
    client = login_as("admin")
    response = client.post(path) if "upload" in path else client.get(path)
    assert response.status_code == 404


# --- Writes: CSRF, audit, delete ---


def test_upload_and_delete_are_audited(app, login_as, uploaded, document):
    pk, _data = uploaded
    assert audit_count(app, "insert") == 1
    [row] = attachments(app)
    path = Path(app.config["UPLOAD_FOLDER"]) / row.stored_name
    client = login_as("xintan_president")
    assert client.get(f"/attachment/{pk}/delete").status_code == 405
    response = client.post(f"/attachment/{pk}/delete")
    assert response.status_code == 302
    assert response.location.endswith(f"/documentview/show/{document}")
    assert attachments(app) == [] and not path.exists()
    assert audit_count(app, "delete") == 1


def test_upload_and_delete_need_the_csrf_token(app, login_as, uploaded, document):
    pk, _data = uploaded
    client = login_as("xintan_president")
    app.config["WTF_CSRF_ENABLED"] = True
    assert upload(client, "Document", document, pdf_bytes(), "x.pdf").status_code == 400
    assert client.post(f"/attachment/{pk}/delete").status_code == 400
    assert len(attachments(app)) == 1


def test_file_is_stored_under_the_instance_folder_not_under_static(app, uploaded):
    [row] = attachments(app)
    path = (Path(app.config["UPLOAD_FOLDER"]) / row.stored_name).resolve()
    assert path.is_file()
    assert path.is_relative_to(Path(app.instance_path).resolve())
    assert not path.is_relative_to(Path(app.static_folder).resolve())
    assert not path.is_relative_to(Path(app.root_path).resolve())
    assert row.stored_name != row.filename and "章程" not in path.name
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert app.test_client().get(f"/static/{row.stored_name}").status_code == 404


def test_attachments_follow_their_record(app, login_as):
    """Moved to another group, the photos go with it; deleted, they go too (rows and files)."""
    activity = make(app, Activity, "新檀村", "第一组")
    upload(login_as("xintan_president"), "Activity", activity, png_bytes(), "合影.png")
    [row] = attachments(app)
    with app.app_context():
        session = app.appbuilder.session
        second = group(session, "新檀村", "第二组")
        session.get(Activity, activity).group = second
        session.commit()
        second = second.id
    assert attachments(app)[0].group_id == second
    assert audit_count(app, "update") == 1
    assert login_as("xintan_group1").get(f"/attachment/{row.id}").status_code == 404
    with app.app_context():
        session = app.appbuilder.session
        session.delete(session.get(Activity, activity))
        session.commit()
    assert attachments(app) == []
    assert not (Path(app.config["UPLOAD_FOLDER"]) / row.stored_name).exists()


# --- The panel on detail pages ---


def test_panel_only_on_registers_that_take_attachments(app, login_as):
    client = login_as("xintan_secretary")
    activity = make(app, Activity, "新檀村")
    page = client.get(f"/activityview/show/{activity}").get_data(as_text=True)
    assert f"/attachment/upload/Activity/{activity}" in page
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    page = client.get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert "attachment-upload" not in page and 'class="attachments"' not in page
