"""The audit log (SPEC §3.4): every write path, sign-ins, append-only, tamper-evident, scoped."""

import datetime as dt
import json
import re
import threading

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import DatabaseError

from app import audit, crypto
from app.models import AuditLog, Member, MemberGroup
from tests.helpers import group, member, valid_id, village


def _entries(app, **where):
    with app.app_context():
        query = select(AuditLog).order_by(AuditLog.id)
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        rows = app.appbuilder.session.execute(query).scalars().all()
        return [
            {
                c: getattr(r, c)
                for c in (
                    "id",
                    "action",
                    "model",
                    "record_id",
                    "username",
                    "role",
                    "scope",
                    "ip",
                    "endpoint",
                    "village_id",
                    "group_id",
                    "township_id",
                )
            }
            | {"changes": json.loads(r.changes) if r.changes else None}
            for r in rows
        ]


def _last_id(app):
    with app.app_context():
        return app.appbuilder.session.execute(select(func.max(AuditLog.id))).scalar() or 0


def _new_entries(app, since):
    return [e for e in _entries(app) if e["id"] > since]


# --- Every write path produces exactly the expected entries ---


def test_html_add_writes_one_insert_entry(app, login_as):
    client = login_as("xintan_secretary")
    with app.app_context():
        session = app.appbuilder.session
        v, g = village(session, "新檀村"), group(session, "新檀村", "第二组")
        ids = (v.id, g.id)
    since = _last_id(app)
    number = valid_id("19900505", "44", "1")
    response = client.post(
        "/memberview/add",
        data={
            "village": ids[0],
            "group": ids[1],
            "name": "审计甲",
            "id_number": number,
            "category": "other",
            "status": "applied",
        },
    )
    assert response.status_code == 302
    [entry] = _new_entries(app, since)
    assert (entry["action"], entry["model"], entry["username"]) == (
        "insert",
        "Member",
        "xintan_secretary",
    )
    assert entry["role"] == "Secretary" and entry["scope"] == f"village:{ids[0]}"
    assert (entry["village_id"], entry["group_id"]) == ids
    assert entry["ip"] == "127.0.0.1" and entry["endpoint"] == "POST /memberview/add"
    assert entry["changes"]["name"] == [None, "审计甲"]
    # Sealed in the log as in the register (issue 7): never the plain ID number.
    before, after = entry["changes"]["id_number"]
    assert before is None and after != number and crypto.unseal(after) == number


def test_html_edit_writes_field_level_changes(app, login_as):
    with app.app_context():
        row = member(app.appbuilder.session, "新檀村")
        pk, old_phone = row.id, row.phone
        form = {
            "village": row.village_id,
            "group": row.group_id,
            "name": row.name,
            "gender": row.gender,
            "id_number": row.id_number,
            "birth_date": row.birth_date,
            "phone": "13900001111",
            "address": row.address,
            "category": row.category,
            "status": row.status,
            "join_date": row.join_date,
            "applied_on": row.applied_on,
        }
    client = login_as("xintan_secretary")
    since = _last_id(app)
    response = client.post(f"/memberview/edit/{pk}", data=form)
    assert response.status_code == 302
    [entry] = _new_entries(app, since)
    assert (entry["action"], entry["record_id"]) == ("update", pk)
    assert entry["changes"] == {"phone": [old_phone, "13900001111"]}


def test_html_delete_writes_the_deleted_values(app, login_as):
    with app.app_context():
        row = member(app.appbuilder.session, "新檀村", status="rejected")
        pk, name = row.id, row.name
    client = login_as("xintan_president")
    since = _last_id(app)
    assert client.post(f"/memberview/delete/{pk}").status_code == 302
    [entry] = _new_entries(app, since)
    assert (entry["action"], entry["record_id"], entry["username"]) == (
        "delete",
        pk,
        "xintan_president",
    )
    assert entry["changes"]["name"] == [name, None]


def test_list_action_is_audited(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村", status="applied").id
    client = login_as("xintan_president")
    since = _last_id(app)
    client.post("/memberview/action_post", data={"action": "approve", "rowid": [pk]})
    [entry] = _new_entries(app, since)
    assert entry["action"] == "update" and entry["record_id"] == pk
    assert entry["changes"]["status"] == ["applied", "active"]
    assert entry["endpoint"] == "POST /memberview/action_post"


def test_api_writes_are_audited(app, client, api_token):
    headers = api_token("xintan_president")
    since = _last_id(app)
    created = client.post(
        "/api/v1/member/", headers=headers, json={"name": "审计乙", "id_number": valid_id(seq="45")}
    )
    pk = created.get_json()["id"]
    client.put(f"/api/v1/member/{pk}", headers=headers, json={"notes": "入户走访"})
    client.delete(f"/api/v1/member/{pk}", headers=headers)
    entries = [e for e in _new_entries(app, since) if e["model"] == "Member"]
    assert [(e["action"], e["record_id"]) for e in entries] == [
        ("insert", pk),
        ("update", pk),
        ("delete", pk),
    ]
    assert entries[1]["changes"] == {"notes": [None, "入户走访"]}
    assert all(e["endpoint"].endswith(f"/api/v1/member/{pk}") for e in entries[1:])


def test_a_refused_write_leaves_no_entry(app, client, api_token):
    since = _last_id(app)
    response = client.post(
        "/api/v1/member/",
        headers=api_token("xintan_secretary"),
        json={"name": "坏", "id_number": "110105194912310021"},
    )
    assert response.status_code == 400
    assert [e for e in _new_entries(app, since) if e["action"] != "login"] == []


def test_cli_writes_are_audited_as_the_system_user(app):
    since = _last_id(app)
    result = app.test_cli_runner().invoke(
        args=["users", "create", "cli_made", "--role", "Township", "--township", "二郎镇"],
        input="Strong#Pass2026\n",
    )
    assert result.exit_code == 0, result.output
    entries = _new_entries(app, since)
    # One entry: the account is inserted with its scope (issue 15).
    assert [e["action"] for e in entries] == ["insert"]
    assert entries[0]["township_id"] is not None
    assert all(
        e["username"] == "system" and e["endpoint"].endswith("users create") for e in entries
    )
    inserted = next(e for e in entries if e["action"] == "insert")
    # A keyed fingerprint of the stored hash, never the hash itself; the roles it was made with.
    before, after = inserted["changes"]["password"]
    assert before is None and after.startswith("hmac:") and len(after) == len("hmac:") + 64
    with app.app_context():
        session = app.appbuilder.session
        stored = session.execute(
            text("SELECT password FROM ab_user WHERE username = 'cli_made'")
        ).scalar()
        township = session.execute(text("SELECT id FROM ab_role WHERE name = 'Township'")).scalar()
        assert after == crypto.fingerprint(stored)
    assert stored not in json.dumps(inserted)
    assert inserted["changes"]["roles"] == [None, [township]]


def _bulk_members(session, village_name, count, group_name=None):
    v = village(session, village_name)
    g = group(session, village_name, group_name).id if group_name else None
    return [
        {
            "village_id": v.id,
            "group_id": g,
            "name": f"批量{i}",
            "gender": "male",
            "id_number": valid_id(
                birth=f"1960{1 + i % 12:02d}{1 + i % 28:02d}", seq=f"{i % 100:02d}", area="510524"
            ),
            "phone": f"139{i:08d}",
            "status": "applied",
            "category": "other",
            "party_member": False,
            "volunteer": False,
        }
        for i in range(count)
    ]


def test_bulk_insert_writes_batch_entries_covering_every_row(app, monkeypatch):
    monkeypatch.setattr(audit, "BATCH_ROWS", 8)
    with app.app_context():
        session = app.appbuilder.session
        rows = _bulk_members(session, "小河村", 20)
        since = _last_id(app)
        ids = audit.bulk_insert(session, Member, rows)
        session.commit()
        stored = session.query(Member).filter(Member.id.in_(ids)).count()
        ok, _summary = audit.verify(session)
    assert stored == 20 and ok
    entries = _new_entries(app, since)
    # 20 rows in batches of 8: three entries, spans back to back, every value of every row.
    assert [e["action"] for e in entries] == ["insert"] * 3
    assert [len(e["changes"]["rows"]) for e in entries] == [8, 8, 4]
    assert [row[0] for e in entries for row in e["changes"]["rows"]] == ids
    fields = entries[0]["changes"]["fields"]
    first = dict(zip(fields, entries[0]["changes"]["rows"][0][1:], strict=True))
    # The ID number is in the log encrypted, as in the register (issue 7).
    assert first["name"] == "批量0" and first["id_number"] != rows[0]["id_number"]
    with app.app_context():
        assert crypto.unseal(first["id_number"]) == rows[0]["id_number"]
    # What every row of an entry shares is written once.
    assert entries[0]["changes"]["same"]["status"] == "applied" and "status" not in fields
    assert all(
        e["village_id"] == rows[0]["village_id"] and e["username"] == "system" for e in entries
    )
    with app.app_context():
        spans = app.appbuilder.session.execute(
            select(AuditLog.record_id, AuditLog.record_last).where(AuditLog.id > since)
        ).all()
    assert [tuple(s) for s in spans] == [(ids[0], ids[7]), (ids[8], ids[15]), (ids[16], ids[19])]


def test_a_batch_entry_belongs_to_one_group_and_spans_only_its_rows(app):
    with app.app_context():
        session = app.appbuilder.session
        grouped = _bulk_members(session, "新檀村", 3, "第一组")
        loose = _bulk_members(session, "新檀村", 3)
        for i, row in enumerate(loose):
            row["id_number"] = valid_id(seq=f"{i:02d}", area="510523")
            row["name"] = f"散户{i}"
        # Interleaved in the file: the rows of each group still get consecutive ids.
        rows = [r for pair in zip(grouped, loose, strict=True) for r in pair]
        since = _last_id(app)
        ids = audit.bulk_insert(session, Member, rows)
        session.commit()
        names = {m.id: m.name for m in session.query(Member).filter(Member.id.in_(ids))}
        first = group(session, "新檀村", "第一组").id
    assert [names[pk] for pk in ids] == [r["name"] for r in rows]
    entries = _new_entries(app, since)
    assert sorted((e["group_id"] or 0, len(e["changes"]["rows"])) for e in entries) == [
        (0, 3),
        (first, 3),
    ]
    spans = [sorted(row[0] for row in e["changes"]["rows"]) for e in entries]
    assert all(span == list(range(span[0], span[0] + 3)) for span in spans)


def test_a_records_history_finds_its_bulk_write(app, login_as, api_token, client):
    with app.app_context():
        session = app.appbuilder.session
        rows = _bulk_members(session, "新檀村", 12)
        ids = audit.bulk_insert(session, Member, rows)
        session.commit()
    pk = ids[5]
    president = login_as("xintan_president")
    page = president.get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert f"_flt_0_record_id={pk}" in page
    history = president.get(f"/auditlogview/list/?_flt_3_model=Member&_flt_0_record_id={pk}")
    html = history.get_data(as_text=True)
    # The batch is listed, showing this record's row (full ID for the president), not the others.
    assert f"{ids[0]}–{ids[-1]}" in html
    assert rows[5]["id_number"] in html and rows[4]["id_number"] not in html
    # The township sees the same entry with the ID number masked.
    masked = (
        login_as("township")
        .get(f"/auditlogview/list/?_flt_3_model=Member&_flt_0_record_id={pk}")
        .get_data(as_text=True)
    )
    assert f"{ids[0]}–{ids[-1]}" in masked and rows[5]["id_number"] not in masked
    assert rows[5]["id_number"][:6] + "********" in masked
    # The API's "record" operator finds it as well, masked for the township.
    query = f"?q=(filters:!((col:model,opr:eq,value:Member),(col:record_id,opr:record,value:{pk})))"
    found = client.get(f"/api/v1/audit_log/{query}", headers=api_token("township")).get_json()
    assert found["count"] == 1 and found["result"][0]["record_last"] == ids[-1]
    batch = json.loads(found["result"][0]["changes"])
    at = batch["fields"].index("id_number") + 1
    assert all("********" in row[at] for row in batch["rows"])


def test_a_batch_entrys_detail_page_lists_its_rows(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        rows = _bulk_members(session, "新檀村", 7)
        since = _last_id(app)
        audit.bulk_insert(session, Member, rows)
        session.commit()
    entry = _new_entries(app, since)[0]
    client = login_as("xintan_secretary")
    listed = client.get("/auditlogview/list/").get_data(as_text=True)
    with app.test_request_context(), force_locale("zh"):
        caption = gettext("%(n)d records written in one batch", n=7)
    assert caption in listed and rows[0]["id_number"] not in listed
    shown = client.get(f"/auditlogview/show/{entry['id']}").get_data(as_text=True)
    assert all(row["name"] in shown for row in rows)


def test_bulk_update_writes_one_entry_per_changed_row(app):
    with app.app_context():
        session = app.appbuilder.session
        rows = session.query(Member).filter_by(status="applied").limit(3).all()
        before = {r.id: {"notes": r.notes} for r in rows}
        since = _last_id(app)
        audit.bulk_update(session, Member, [{"id": r.id, "notes": "已核实"} for r in rows], before)
        session.commit()
        ids = sorted(before)
    entries = _new_entries(app, since)
    assert sorted(e["record_id"] for e in entries) == ids
    assert all(e["changes"] == {"notes": [None, "已核实"]} for e in entries)


def test_an_unaudited_bulk_write_is_refused(app):
    with app.app_context():
        session = app.appbuilder.session
        with pytest.raises(RuntimeError, match="audit"):
            session.execute(update(Member).values(notes="x"))
        session.rollback()


def test_many_to_many_changes_are_recorded(app):
    with app.app_context():
        session = app.appbuilder.session
        g = session.get(MemberGroup, group(session, "新檀村", "第一组").id)
        before = sorted(m.id for m in g.contact_heads)
        g.contact_heads = g.contact_heads[:1]
        since = _last_id(app)
        session.commit()
    [entry] = _new_entries(app, since)
    assert entry["changes"]["contact_heads"] == [before, before[:1]]


# --- Sign-ins ---


def test_sign_ins_are_audited(app, client):
    since = _last_id(app)
    client.post("/login/", data={"username": "xintan_president", "password": "wrong"})
    client.post("/login/", data={"username": "no_such_user", "password": "wrong"})
    client.post(
        "/api/v1/security/login",
        json={"username": "xintan_president", "password": "DemoPass@2026", "provider": "db"},
    )
    client.post("/login/", data={"username": "xintan_president", "password": "DemoPass@2026"})
    client.get("/logout/")
    entries = _new_entries(app, since)
    assert [(e["action"], e["username"]) for e in entries] == [
        ("login_failed", "xintan_president"),
        ("login_failed", "no_such_user"),
        ("login", "xintan_president"),
        ("login", "xintan_president"),
        ("logout", "xintan_president"),
    ]
    assert entries[2]["endpoint"] == "POST /api/v1/security/login"
    with app.app_context():
        assert entries[3]["village_id"] == village(app.appbuilder.session, "新檀村").id


def test_throttled_sign_ins_are_audited(_app):
    from app import create_app

    throttled = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "AUTH_RATE_LIMIT": "2 per minute",
        }
    )
    client = throttled.test_client()
    since = _last_id(throttled)
    codes = [
        client.post(
            "/api/v1/security/login", json={"username": "guess", "password": "x", "provider": "db"}
        ).status_code
        for _ in range(3)
    ]
    assert codes[-1] == 429
    actions = [(e["action"], e["username"]) for e in _new_entries(throttled, since)]
    assert actions == [
        ("login_failed", "guess"),
        ("login_failed", "guess"),
        ("login_throttled", "guess"),
    ]


# --- Append-only ---


@pytest.mark.parametrize(
    "method,path",
    [
        ("get", "/auditlogview/add"),
        ("get", "/auditlogview/edit/1"),
        ("post", "/auditlogview/delete/1"),
        ("post", "/auditlogview/action_post"),
    ],
)
def test_no_screen_changes_the_log(app, login_as, method, path):
    client = login_as("admin")
    assert getattr(client, method)(path).status_code in (404, 405)


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/api/v1/audit_log/"),
        ("put", "/api/v1/audit_log/1"),
        ("delete", "/api/v1/audit_log/1"),
    ],
)
def test_the_api_is_read_only_for_admin_too(app, client, api_token, method, path):
    before = _entries(app, id=1)
    response = getattr(client, method)(path, headers=api_token("admin"), json={"username": "x"})
    assert response.status_code == 405
    assert _entries(app, id=1) == before


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET username = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1"],
)
def test_the_database_refuses_update_and_delete(app, statement):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with pytest.raises(DatabaseError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


# --- Tamper evidence ---


def test_verify_passes_on_the_demo(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


def _tamper(app, statement):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    dialect = engine.dialect.name
    with engine.begin() as connection:
        for off in audit.TRIGGERS_OFF[dialect]:
            connection.execute(text(off))
        connection.execute(text(statement))
        for on in audit.TRIGGERS_ON[dialect]:
            connection.execute(text(on))
    engine.dispose()


@pytest.mark.parametrize(
    "statement,bad",
    [
        ("UPDATE audit_log SET username = 'someone_else' WHERE id = 5", "#5"),
        ("UPDATE audit_log SET changes = '{}' WHERE id = 7", "#7"),
        ("DELETE FROM audit_log WHERE id = 6", "#7"),
        ("DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)", "missing"),
    ],
)
def test_tampering_after_dropping_the_triggers_is_caught(app, statement, bad):
    _tamper(app, statement)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert bad in result.output


def test_concurrent_writers_keep_one_chain(app):
    errors = []

    def writer(n):
        try:
            with app.app_context():
                session = app.appbuilder.session
                for i in range(5):
                    audit.record("export", username=f"w{n}", details={"i": i}, session=session)
                session.remove() if hasattr(session, "remove") else None
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)

    since = _last_id(app)
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_new_entries(app, since)) == 30
    with app.app_context():
        assert audit.verify(app.appbuilder.session)[0]


# --- Retention ---


def test_prune_refuses_entries_younger_than_six_months(app):
    recent = (dt.date.today() - dt.timedelta(days=90)).isoformat()
    result = app.test_cli_runner().invoke(args=["audit", "prune", "--before", recent])
    assert result.exit_code == 2
    assert _entries(app, id=1)


def test_prune_keeps_the_chain_verifiable_and_logs_itself(tmp_path):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prune.db'}"})
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        old = [
            {"action": "export", "username": f"old{i}", "ts": dt.datetime(2020, 1, 1 + i)}
            for i in range(5)
        ]
        audit.write_entries(session.connection(), old)
        audit.write_entries(session.connection(), [{"action": "export", "username": "new"}])
        session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    result = runner.invoke(args=["audit", "prune", "--before", "2021-01-01"])
    assert result.exit_code == 0, result.output
    entries = _entries(app)
    assert [(e["action"], e["username"]) for e in entries] == [
        ("export", "new"),
        ("prune", "system"),
    ]
    assert entries[1]["changes"]["deleted"] == 5 and entries[1]["endpoint"].endswith("audit prune")
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    # Tampering with what is left is still caught.
    _tamper(app, "UPDATE audit_log SET username = 'newer' WHERE username = 'new'")
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1


# --- Who sees what ---


def _listed_usernames(client, path="/api/v1/audit_log/?q=(page_size:100)"):
    response = client.get(path)
    return response.status_code, response.get_json()


def test_township_sees_its_township_not_unknown_sign_ins(app, client, api_token):
    client.post("/login/", data={"username": "no_such_user", "password": "wrong"})
    headers = api_token("township")
    rows = client.get(
        "/api/v1/audit_log/?q=(page_size:100,filters:!((col:username,opr:eq,value:no_such_user)))",
        headers=headers,
    ).get_json()
    assert rows["count"] == 0
    admin = client.get(
        "/api/v1/audit_log/?q=(page_size:100,filters:!((col:username,opr:eq,value:no_such_user)))",
        headers=api_token("admin"),
    ).get_json()
    assert admin["count"] == 1


def test_county_sees_the_entries_of_its_townships_and_no_others(app, client, api_token):
    """Issue 18: the County reads the entries of every township of its county (a township added
    to it too), none of another county's, and no unknown sign-in."""
    from app.models import County, Township

    with app.app_context():
        session = app.appbuilder.session
        gulin = session.query(County).filter_by(name="古蔺县").one()
        session.add_all(
            [
                Township(name="太平测试镇", county=gulin),
                Township(name="叙永测试镇", county=County(name="叙永县")),
            ]
        )
        session.commit()
        own = {t.id for t in session.query(Township).filter_by(county_id=gulin.id)}
        added = session.query(Township).filter_by(name="太平测试镇").one().id
        other = session.query(Township).filter_by(name="叙永测试镇").one().id
    client.post("/login/", data={"username": "no_such_user", "password": "wrong"})
    query = "/api/v1/audit_log/?q=(page_size:100,filters:!((col:model,opr:eq,value:Township)))"
    seen = client.get(query, headers=api_token("county")).get_json()
    # 二郎镇's entry from the demo's load, and the one just added.
    assert added in own and {r["township_id"] for r in seen["result"]} == own
    everything = client.get(query, headers=api_token("admin")).get_json()
    assert {added, other} <= {r["township_id"] for r in everything["result"]}
    rows = client.get("/api/v1/audit_log/?q=(page_size:100)", headers=api_token("county"))
    assert rows.get_json()["count"] > 0
    assert {r["township_id"] for r in rows.get_json()["result"]} <= own
    unknown = client.get(
        "/api/v1/audit_log/?q=(filters:!((col:username,opr:eq,value:no_such_user)))",
        headers=api_token("county"),
    ).get_json()
    assert unknown["count"] == 0


def test_village_sees_only_its_village(app, client, api_token):
    headers = api_token("longwang_secretary")
    with app.app_context():
        longwang = village(app.appbuilder.session, "龙王村").id
    rows = client.get("/api/v1/audit_log/?q=(page_size:100)", headers=headers).get_json()
    assert rows["count"] > 0
    assert {r["village_id"] for r in rows["result"]} == {longwang}


def test_group_leader_has_no_access_to_the_log(app, client, api_token, login_as):
    assert client.get("/api/v1/audit_log/", headers=api_token("xintan_group1")).status_code == 403
    assert login_as("xintan_group1").get("/auditlogview/list/").status_code == 403


def test_township_sees_masked_id_numbers_in_the_log(app, client, api_token):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    rows = client.get(
        f"/api/v1/audit_log/?q=(filters:!((col:model,opr:eq,value:Member),(col:record_id,opr:eq,value:{pk})))",
        headers=api_token("township"),
    ).get_json()["result"]
    changes = json.loads(rows[0]["changes"])
    assert "********" in changes["id_number"][1]
    html = client.get(f"/api/v1/audit_log/{rows[0]['id']}", headers=api_token("xintan_president"))
    assert "********" not in json.loads(html.get_json()["result"]["changes"])["id_number"][1]


def test_a_records_page_links_to_its_history(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    client = login_as("xintan_president")
    page = client.get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert "_flt_3_model=Member" in page and f"_flt_0_record_id={pk}" in page
    history = client.get(f"/auditlogview/list/?_flt_3_model=Member&_flt_0_record_id={pk}")
    assert history.status_code == 200
    rows = re.findall(r"<tr[^>]*>.*?</tr>", history.get_data(as_text=True), re.S)
    # The demo's insert, by the command line (系统（命令行）).
    assert len([r for r in rows if "xintan" in r or "系统" in r]) == 1
    leader_page = login_as("xintan_group1").get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert "_flt_3_model" not in leader_page


def test_a_record_number_beyond_64_bits_is_a_bad_request(login_as):
    client = login_as("admin")
    response = client.get(f"/auditlogview/list/?_flt_0_record_id={2**70}")
    assert response.status_code == 400


def test_entries_are_keyed_not_a_plain_sha256(app):
    """Issue 15, class 8: an entry's hash is an HMAC under a key derived from ID_ENCRYPTION_KEY
    (not in the database), so the public SHA-256 of its content is not what it carries."""
    with app.app_context():
        session = app.appbuilder.session
        member(session, "新檀村")
        row = session.execute(select(AuditLog).order_by(AuditLog.id.desc()).limit(1)).scalar()
        values = {name: getattr(row, name) for name in audit.HASHED_FIELDS}
        values["record_last"] = row.record_last
        assert row.hash == audit.entry_mac(values, row.prev_hash)
        assert row.hash != audit.entry_hash(values, row.prev_hash)
        other = crypto._keys_for("another host's key")["audit"]
        assert row.hash != audit.entry_mac(values, row.prev_hash, other)
