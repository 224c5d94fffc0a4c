"""The roster page (issue 5, items 5-7): upload → preview → confirm for each role, the upload
bound to its user, bad files answered with a message, the Township role reading only."""

import io
import os
import re
import time

import openpyxl
import pytest

from app.models import AuditLog, Member
from tests.helpers import village
from tests.rosters import roster_rows, write_csv

COUNT = re.compile(r'<tr data-count="(\w+)"[^>]*><th>[^<]*</th><td>(\d+)</td>')
TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')
# The row's 序号 and 姓名 cells, between its row number and its errors.
CITED = r'(?:<td data-column="\w+">[^<]*</td>)*'


@pytest.fixture
def web(login_as):
    """web(username) → a client signed in, reading the pages in English."""

    def signed_in(username):
        client = login_as(username)
        client.get("/lang/en")
        return client

    return signed_in


def upload(client, data: bytes, filename, kind="members", mode="insert", village_id=None):
    form = {"kind": kind, "mode": mode, "file": (io.BytesIO(data), filename)}
    if village_id is not None:
        form["village"] = str(village_id)
    return client.post("/roster/preview", data=form, content_type="multipart/form-data")


def counts(page) -> dict:
    return {k: int(v) for k, v in COUNT.findall(page.get_data(as_text=True))}


def token_of(page) -> str | None:
    match = TOKEN.search(page.get_data(as_text=True))
    return match.group(1) if match else None


def csv_bytes(tmp_path, rows, **kwargs) -> bytes:
    return write_csv(tmp_path / "upload.csv", rows, **kwargs).read_bytes()


def members_with(app, numbers) -> list:
    with app.app_context():
        query = app.appbuilder.session.query(Member).filter(Member.id_number.in_(numbers))
        return [(m.village.name, m.group.name if m.group else None, m.status) for m in query]


def member_count(app) -> int:
    with app.app_context():
        return app.appbuilder.session.query(Member).count()


def flashed(client) -> str:
    """The page the user lands on after a refusal, with its message."""
    return client.get("/roster/").get_data(as_text=True)


# --- The flow ---


def test_president_previews_then_confirms(app, web, tmp_path):
    client = web("xintan_president")
    page = client.get("/roster/")
    assert page.status_code == 200 and 'id="roster-import"' in page.get_data(as_text=True)
    rows = roster_rows(5)
    before = member_count(app)
    preview = upload(client, csv_bytes(tmp_path, rows), "会员.csv")
    assert preview.status_code == 200
    assert counts(preview) == {"inserted": 5, "updated": 0, "unchanged": 0, "rejected": 0}
    assert member_count(app) == before  # a preview writes nothing
    token = token_of(preview)
    assert token
    done = client.post("/roster/confirm", data={"token": token})
    assert done.status_code == 200
    assert counts(done)["inserted"] == 5
    assert "Imported 5 rows into 会员花名册: 5 added, 0 updated." in done.get_data(as_text=True)
    assert member_count(app) == before + 5
    stored = members_with(app, [r[3] for r in rows])
    assert {s[0] for s in stored} == {"新檀村"} and {s[2] for s in stored} == {"active"}
    with app.app_context():
        job = app.appbuilder.session.query(AuditLog).filter_by(action="import").one()
        assert job.username == "xintan_president"
    # The upload is gone once confirmed: the same token confirms nothing a second time.
    assert client.post("/roster/confirm", data={"token": token}).status_code == 404
    assert member_count(app) == before + 5


def test_upsert_mode_updates(app, web, tmp_path):
    client = web("xintan_president")
    rows = roster_rows(3)
    client.post(
        "/roster/confirm",
        data={"token": token_of(upload(client, csv_bytes(tmp_path, rows), "a.csv"))},
    )
    rows[1][4] = "13800000000"
    preview = upload(client, csv_bytes(tmp_path, rows), "a.csv", mode="upsert")
    assert counts(preview) == {"inserted": 0, "updated": 1, "unchanged": 2, "rejected": 0}
    insert_only = upload(client, csv_bytes(tmp_path, rows), "a.csv", mode="insert")
    assert counts(insert_only)["rejected"] == 3 and token_of(insert_only) is None


def test_a_rejected_file_shows_its_errors_and_cannot_be_confirmed(app, web, tmp_path):
    client = web("xintan_president")
    rows = roster_rows(4)
    rows[2][3] = rows[2][3][:-1] + ("0" if rows[2][3][-1] != "0" else "1")  # bad check digit
    before = member_count(app)
    preview = upload(client, csv_bytes(tmp_path, rows), "bad.csv")
    page = preview.get_data(as_text=True)
    assert counts(preview) == {"inserted": 3, "updated": 0, "unchanged": 0, "rejected": 1}
    # Title row 1, blank row 2, header row 3, then rows 4, 5, a blank row 6, row 7.
    assert re.search(rf"<td>7</td>{CITED}<td>[^<]*check digit", page), page
    assert 'id="roster-confirm"' not in page and token_of(preview) is None
    report = re.search(r'href="(/roster/errors/[0-9a-f]+)"', page).group(1)
    response = client.get(report)
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    lines = list(sheet.iter_rows(values_only=True))
    assert len(lines) == 2 and lines[1][0] == 7 and lines[1][4] == rows[2][3]
    # Posting the token anyway imports nothing.
    forced = client.post("/roster/confirm", data={"token": report.rsplit("/", 1)[1]})
    assert counts(forced)["rejected"] == 1
    assert member_count(app) == before


def test_the_first_twenty_errors_are_listed(app, web, tmp_path):
    client = web("xintan_president")
    rows = roster_rows(25)
    for row in rows:
        row[4] = "12345"
    page = upload(client, csv_bytes(tmp_path, rows), "bad.csv").get_data(as_text=True)
    listed = re.findall(rf"<tr><td>\d+</td>{CITED}<td>", page)
    assert len(listed) == 20 and "and 5 more rows" in page


def test_secretary_imports_members_as_applications(app, web, tmp_path):
    client = web("xintan_secretary")
    rows = roster_rows(3)
    preview = upload(client, csv_bytes(tmp_path, rows), "s.csv")
    assert counts(preview)["inserted"] == 3
    assert counts(preview).get("applied_instead") == 3
    client.post("/roster/confirm", data={"token": token_of(preview)})
    assert {s[2] for s in members_with(app, [r[3] for r in rows])} == {"applied"}


def test_group_leader_imports_into_its_group_only(app, web, tmp_path):
    client = web("xintan_group1")
    page = client.get("/roster/").get_data(as_text=True)
    # A group leader keeps no council: that register is not offered.
    assert 'value="members"' in page and 'value="council_seats"' not in page
    rows = roster_rows(3)
    rows[0][5], rows[1][5], rows[2][5] = "第一组", "", "第二组"
    preview = upload(client, csv_bytes(tmp_path, rows), "g.csv")
    assert counts(preview)["rejected"] == 1
    assert re.search(
        rf"<td>7</td>{CITED}<td>[^<]*another group than 第一组", preview.get_data(as_text=True)
    )
    preview = upload(client, csv_bytes(tmp_path, rows[:2]), "g.csv")
    assert counts(preview)["inserted"] == 2
    client.post("/roster/confirm", data={"token": token_of(preview)})
    assert {(s[0], s[1]) for s in members_with(app, [r[3] for r in rows[:2]])} == {
        ("新檀村", "第一组")
    }


def test_group_leader_cannot_import_the_council(app, web, tmp_path):
    before = member_count(app)
    response = upload(web("xintan_group1"), b"x", "c.csv", kind="council_seats")
    assert response.status_code == 302
    assert member_count(app) == before


def test_admin_chooses_the_village(app, web, tmp_path):
    client = web("admin")
    page = client.get("/roster/").get_data(as_text=True)
    assert 'name="village"' in page
    with app.app_context():
        longwang = village(app.appbuilder.session, "龙王村").id
    rows = roster_rows(2)
    for row in rows:
        row[5] = "第二组"
    preview = upload(client, csv_bytes(tmp_path, rows), "a.csv", village_id=longwang)
    assert counts(preview)["inserted"] == 2
    client.post("/roster/confirm", data={"token": token_of(preview)})
    assert {(s[0], s[1]) for s in members_with(app, [r[3] for r in rows])} == {("龙王村", "第二组")}


def test_admin_without_a_village_is_asked_for_one(app, web, tmp_path):
    client = web("admin")
    response = upload(client, csv_bytes(tmp_path, roster_rows(1)), "a.csv")
    assert response.status_code == 302
    assert "Choose the village" in flashed(client)


def test_a_village_account_cannot_import_into_another_village(app, web, tmp_path):
    """A village field sent by a village account is ignored: its rows go to its own village."""
    client = web("xintan_president")
    with app.app_context():
        longwang = village(app.appbuilder.session, "龙王村").id
    rows = roster_rows(1)
    preview = upload(client, csv_bytes(tmp_path, rows), "a.csv", village_id=longwang)
    client.post("/roster/confirm", data={"token": token_of(preview)})
    assert [s[0] for s in members_with(app, [rows[0][3]])] == ["新檀村"]


# --- The Township role reads only ---


@pytest.mark.parametrize("auditor", ["county", "township"])
def test_township_exports_but_cannot_import(app, web, tmp_path, auditor):
    client = web(auditor)
    page = client.get("/roster/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'id="roster-import"' not in text and 'id="roster-export"' in text
    assert 'name="village"' in text  # three villages to choose from
    before = member_count(app)
    assert upload(client, csv_bytes(tmp_path, roster_rows(1)), "t.csv").status_code == 403
    assert client.post("/roster/confirm", data={"token": "0" * 32}).status_code == 403
    assert client.get("/roster/errors/" + "0" * 32).status_code == 403
    assert member_count(app) == before
    with app.app_context():
        xintan = village(app.appbuilder.session, "新檀村").id
    assert client.get(f"/roster/export/members/xlsx?village={xintan}").status_code == 200


@pytest.mark.parametrize(
    "username",
    ["admin", "county", "township", "xintan_president", "xintan_secretary", "xintan_group1"],
)
def test_the_menu_leads_to_the_page(app, web, username):
    home = web(username).get("/").get_data(as_text=True)
    assert 'href="/roster/"' in home and "Roster import and export" in home


def test_signed_out_visitors_are_sent_to_the_login(client):
    response = client.get("/roster/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


# --- The upload is bound to its user ---


def _pending_token(web, tmp_path):
    client = web("xintan_president")
    preview = upload(client, csv_bytes(tmp_path, roster_rows(2)), "p.csv")
    return client, token_of(preview)


@pytest.mark.parametrize("other", ["xintan_secretary", "longwang_president", "admin"])
def test_another_user_cannot_confirm_the_upload(app, web, tmp_path, other):
    owner, token = _pending_token(web, tmp_path)
    before = member_count(app)
    intruder = web(other)
    assert intruder.post("/roster/confirm", data={"token": token}).status_code == 404
    assert intruder.get(f"/roster/errors/{token}").status_code == 404
    assert member_count(app) == before
    # The owner still can.
    assert owner.post("/roster/confirm", data={"token": token}).status_code == 200
    assert member_count(app) == before + 2


@pytest.mark.parametrize("tamper", ["flip", "short", "path", "empty"])
def test_a_tampered_token_is_not_found(app, web, tmp_path, tamper):
    client, token = _pending_token(web, tmp_path)
    bad = {
        "flip": token[:-1] + ("0" if token[-1] != "0" else "1"),
        "short": token[:-2],
        "path": "../" + token,
        "empty": "",
    }[tamper]
    before = member_count(app)
    assert client.post("/roster/confirm", data={"token": bad}).status_code == 404
    assert member_count(app) == before


def test_an_upload_older_than_an_hour_is_gone(app, web, tmp_path):
    client, token = _pending_token(web, tmp_path)
    folder = os.path.join(app.instance_path, "roster_uploads")
    old = time.time() - 2 * 3600
    for name in os.listdir(folder):
        if name.startswith(token):
            os.utime(os.path.join(folder, name), (old, old))
    before = member_count(app)
    assert client.post("/roster/confirm", data={"token": token}).status_code == 404
    assert member_count(app) == before
    # The next upload sweeps it away.
    upload(client, csv_bytes(tmp_path, roster_rows(1)), "p.csv")
    assert not [n for n in os.listdir(folder) if n.startswith(token)]


def test_a_changed_file_on_the_server_is_not_imported(app, web, tmp_path):
    client, token = _pending_token(web, tmp_path)
    path = os.path.join(app.instance_path, "roster_uploads", token + ".bin")
    with open(path, "ab") as fh:
        fh.write(b"\n")
    assert client.post("/roster/confirm", data={"token": token}).status_code == 404


# --- Bad files ---


def _xlsx_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


BAD_FILES = {
    "png named csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a.csv", "is not a CSV"),
    "pdf": (b"%PDF-1.4 hello", "a.pdf", "is not a CSV"),
    "zip named xlsx": (b"PK\x03\x04not really a zip", "a.xlsx", "is not a CSV"),
    "broken xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 600, "a.xls", "readable"),
    "empty": (b"", "a.csv", "is empty"),
    "blank": (b"  \r\n \r\n", "a.csv", "is empty"),
    "no header": ("甲,乙\n1,2\n".encode(), "a.csv", "No header row"),
    "no header xlsx": (None, "a.xlsx", "No header row"),
    "undecodable": (b"\xff\xfe\xfa,\xff\n\xfe\xff,\xff\n", "a.csv", "neither UTF-8 nor GBK"),
    "no file": (None, None, "Choose a file"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_refused_with_a_message(app, web, case):
    data, name, message = BAD_FILES[case]
    client = web("xintan_president")
    before = member_count(app)
    if case == "no file":
        response = client.post("/roster/preview", data={"kind": "members"})
    else:
        if data is None:
            data = _xlsx_bytes([["甲", "乙"], [1, 2]])
        response = upload(client, data, name)
    assert response.status_code == 302 and response.headers["Location"].endswith("/roster/")
    assert message in flashed(client)
    assert member_count(app) == before


def test_a_file_too_large_is_refused(app, web, tmp_path):
    client = web("xintan_president")
    limit = app.config["UPLOAD_MAX_BYTES"]
    app.config["UPLOAD_MAX_BYTES"] = 1000
    try:
        response = upload(client, csv_bytes(tmp_path, roster_rows(30)), "big.csv")
    finally:
        app.config["UPLOAD_MAX_BYTES"] = limit
    assert response.status_code == 302
    assert "too large" in flashed(client)


def test_a_body_past_the_request_limit_is_refused(app, web):
    client = web("xintan_president")
    limit = app.config["MAX_CONTENT_LENGTH"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    try:
        response = upload(client, b"x" * 5000, "big.csv")
    finally:
        app.config["MAX_CONTENT_LENGTH"] = limit
    assert response.status_code == 302
    assert "too large" in flashed(client)


def test_an_unknown_register_is_refused(app, web):
    client = web("xintan_president")
    assert upload(client, b"a,b\n", "a.csv", kind="nothing").status_code == 302
    assert "Choose a register" in flashed(client)


# --- CSRF ---


def test_posts_need_the_csrf_token(app, web, tmp_path):
    client = web("xintan_president")
    app.config["WTF_CSRF_ENABLED"] = True
    before = member_count(app)
    assert upload(client, csv_bytes(tmp_path, roster_rows(1)), "a.csv").status_code == 400
    assert client.post("/roster/confirm", data={"token": "0" * 32}).status_code == 400
    page = client.get("/roster/").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert member_count(app) == before


def test_an_account_without_scope_imports_and_exports_nothing(app, web, tmp_path):
    from app.accounts import create_account
    from tests.databases import TEST_PASSWORD

    with app.app_context():
        create_account(app.appbuilder.session, "roster_noscope", "President", TEST_PASSWORD)
    client = web("roster_noscope")
    page = client.get("/roster/")
    assert page.status_code == 200 and 'id="roster-import"' not in page.get_data(as_text=True)
    before = member_count(app)
    assert upload(client, csv_bytes(tmp_path, roster_rows(1)), "a.csv").status_code == 302
    assert member_count(app) == before
    assert client.get("/roster/export/members/xlsx").status_code == 404


# --- An import preview does not confirm a stored ID to who sees it masked (issue 15) ---


def _stored_ids(app):
    """ID numbers (members, household heads) of the group leader's own group: the people whose
    full numbers it sees masked."""
    from app.models import Household
    from tests.helpers import group

    with app.app_context():
        session = app.appbuilder.session
        bound = group(session, "新檀村", "第一组")
        members = session.query(Member).filter_by(group_id=bound.id, status="active")
        households = session.query(Household).filter_by(group_id=bound.id)
        return [m.id_number for m in members][:1], [h.id_number for h in households][:1]


def _household_csv(numbers) -> bytes:
    lines = ["户主姓名,户主身份证号,家庭类型"]
    lines += [f"户主{i},{n},其他" for i, n in enumerate(numbers)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _page_text(page):
    text = re.sub(r'name="token" value="[0-9a-f]+"', "", page.get_data(as_text=True))
    text = re.sub(r"/roster/errors/[0-9a-f]+", "", text)
    text = re.sub(r'name="csrf_token" value="[^"]*"', "", text)
    return text


@pytest.mark.parametrize("kind", ["members", "households"])
def test_a_group_leaders_dry_run_does_not_tell_which_ids_are_stored(app, web, tmp_path, kind):
    """Thousands of candidate numbers in one dry run: the answer is the same whether one of them
    is stored or none is."""
    member_ids, household_ids = _stored_ids(app)
    stored = (member_ids if kind == "members" else household_ids)[0]
    candidates = [r[3] for r in roster_rows(3000)]
    with_hit = candidates[:1500] + [stored] + candidates[1500:2999]
    without = candidates
    client = web("xintan_group1")

    def preview(numbers):
        if kind == "members":
            rows = roster_rows(3000)
            for row, number in zip(rows, numbers, strict=True):
                row[3], row[5] = number, "第一组"
                # The gender agrees with the ID number (its 17th digit).
                row[2] = "男" if int(number[16]) % 2 else "女"
            return upload(client, csv_bytes(tmp_path, rows), "候选.csv")
        return upload(client, _household_csv(numbers), "候选.csv", kind="households")

    hit, miss = preview(with_hit), preview(without)
    assert hit.status_code == miss.status_code == 200
    assert counts(hit) == counts(miss)
    assert counts(hit)["rejected"] == 0 and counts(hit)["updated"] == 0
    assert _page_text(hit) == _page_text(miss)


def _household_count(app) -> int:
    from app.models import Household

    with app.app_context():
        return app.appbuilder.session.query(Household).count()


@pytest.mark.parametrize("kind", ["members", "households"])
def test_a_group_leaders_confirm_does_not_tell_whether_an_id_is_stored(app, web, tmp_path, kind):
    """A confirm that refused the file when one row met a stored number confirmed a guessed
    number (one row per file, or a binary search over the ~33 candidates): the rows of one who
    sees the numbers masked are added whatever is stored, a member as an application."""
    from tests.helpers import wrong_guess

    member_ids, household_ids = _stored_ids(app)
    stored = (member_ids if kind == "members" else household_ids)[0]
    client = web("xintan_group1")
    stored_count = member_count if kind == "members" else _household_count

    def confirm(number, start):
        if kind == "members":
            rows = roster_rows(6, start=start)
            for row in rows:
                row[5] = "第一组"
            rows[3][3] = number
            rows[3][2] = "男" if int(number[16]) % 2 else "女"
            data = csv_bytes(tmp_path, rows)
        else:
            data = _household_csv([r[3] for r in roster_rows(5, start=start)] + [number])
        before = stored_count(app)
        preview = upload(client, data, "候选.csv", kind=kind)
        assert counts(preview)["rejected"] == 0 and token_of(preview)
        done = client.post(
            "/roster/confirm", data={"token": token_of(preview)}, follow_redirects=True
        )
        return done.status_code, counts(done), _page_text(done), stored_count(app) - before

    right, wrong = confirm(stored, 10), confirm(wrong_guess(stored), 20)
    assert right == wrong
    assert right[0] == 200 and right[3] == 6 and "The roster was imported" in right[2]
    if kind == "members":
        # Applications all: the president meets the clash on approving (test_admission).
        assert {status for *_place, status in members_with(app, [stored])} == {
            "active",
            "applied",
        }


@pytest.mark.parametrize(
    "lang,said", [("en", "not compared with the stored"), ("zh", "不与已登记")]
)
def test_a_group_leaders_preview_says_its_rows_are_added_as_new(
    app, login_as, tmp_path, lang, said
):
    client = login_as("xintan_group1")
    client.get(f"/lang/{lang}")
    preview = upload(client, csv_bytes(tmp_path, roster_rows(2)), "p.csv")
    assert 'id="roster-deferred"' in preview.get_data(as_text=True)
    assert said in preview.get_data(as_text=True)


def test_a_group_leader_cannot_upsert_by_id_number(app, web, tmp_path):
    member_ids, _household_ids = _stored_ids(app)
    rows = roster_rows(2)
    rows[0][3] = member_ids[0]
    client = web("xintan_group1")
    response = upload(client, csv_bytes(tmp_path, rows), "u.csv", mode="upsert")
    assert response.status_code == 302
    assert "adds new rows only" in flashed(client)


@pytest.mark.parametrize("username", ["xintan_president", "xintan_group1"])
def test_every_preview_is_audited(app, web, tmp_path, username):
    def previews():
        with app.app_context():
            return app.appbuilder.session.query(AuditLog).filter_by(action="import_preview").all()

    before = len(previews())
    client = web(username)
    rows = roster_rows(3)
    for row in rows:
        row[5] = "第一组"
    preview = upload(client, csv_bytes(tmp_path, rows), "p.csv")
    assert preview.status_code == 200
    client.get(f"/roster/errors/{token_of(preview)}")
    entries = previews()
    assert len(entries) == before + 2
    assert entries[-1].username == username and entries[-1].model == "Member"
    assert '"file": "p.csv"' in entries[-1].changes


def test_a_group_leaders_dry_run_finds_no_member_by_a_guessed_id(app, web):
    """A contact household names its member by ID number or name: by ID number for those who
    see it in full only, else the dry run would answer 'found' for the one right guess."""
    member_ids, _household_ids = _stored_ids(app)
    candidates = [r[3] for r in roster_rows(20)]
    client = web("xintan_group1")

    def preview(numbers):
        lines = ["联系会员,户主姓名"] + [f"{n},户主{i}" for i, n in enumerate(numbers)]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        return upload(client, data, "联系户.csv", kind="contact_households")

    hit = preview(candidates[:10] + member_ids[:1] + candidates[10:19])
    miss = preview(candidates)
    assert counts(hit) == counts(miss) and counts(hit)["rejected"] == 20
    assert f"has no member {member_ids[0]}" in hit.get_data(as_text=True)
    # The secretary, who sees the numbers, is answered by them.
    found = upload(
        web("xintan_secretary"),
        ("联系会员,户主姓名\n" + f"{member_ids[0]},户主甲\n").encode("utf-8"),
        "联系户.csv",
        kind="contact_households",
    )
    assert counts(found)["rejected"] == 0
