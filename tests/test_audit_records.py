"""The records against the log (issue 15): `flask audit verify --records` and `flask backup
verify` name every audited record changed, added or removed behind the app's back."""

import datetime as dt
import json
import types

from sqlalchemy import create_engine, func, select, text

from app import audit, crypto
from app.models import Household, Member, Township, Village
from tests.helpers import member, valid_id
from tests.rosters import roster_rows, write_csv


def _verify(app):
    return app.test_cli_runner().invoke(args=["audit", "verify", "--records"])


def _sql(app, statement, **params):
    """A statement run on the database file directly: no ORM, no listener, no audit entry."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        result = connection.execute(text(statement), params)
        value = result.scalar() if result.returns_rows else None
    engine.dispose()
    return value


def _member_id(app, village_name="新檀村"):
    with app.app_context():
        return member(app.appbuilder.session, village_name).id


def test_the_demo_matches_its_log(app):
    with app.app_context():
        members = app.appbuilder.session.query(Member).count()
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "chain intact" in result.output
    checked = int(result.output.split("个登记簿中的 ")[1].split(" ")[0])
    assert checked > members
    # What the log does not keep is named, not silently passed over; the password hash and
    # the account's roles are compared (through the log's keyed fingerprint, and its lists).
    assert "ScopedUser.session_epoch" in result.output and "Survey.rate" in result.output
    assert "ScopedUser.password" not in result.output and "ScopedUser.roles" not in result.output


def test_a_name_changed_in_the_database_file_is_named(app):
    member_id = _member_id(app)
    with app.app_context():
        before = app.appbuilder.session.get(Member, member_id).name
    _sql(app, "UPDATE member SET name = '改名' WHERE id = :id", id=member_id)
    # The chain alone cannot see it: it protects the log, not the records.
    chain = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert chain.exit_code == 0
    result = _verify(app)
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if f"Member #{member_id} " in line)
    assert "name" in line and repr(before) in line and "'改名'" in line
    assert "1 条记录与审计日志不符" in result.output


def test_a_row_inserted_behind_the_apps_back_has_no_entry(app):
    source = _member_id(app)
    _sql(
        app,
        "INSERT INTO member (village_id, group_id, name, id_number, category, party_member, "
        "volunteer, status) SELECT village_id, group_id, '冒名', id_number, category, "
        "party_member, volunteer, 'applied' FROM member WHERE id = :id",
        id=source,
    )
    new_id = _sql(app, "SELECT max(id) FROM member")
    result = _verify(app)
    assert result.exit_code == 1, result.output
    assert f"Member #{new_id} 在审计日志中没有记录" in result.output


def test_a_row_deleted_behind_the_apps_back_is_missing(app, client, api_token):
    response = client.post(
        "/api/v1/member/",
        headers=api_token("admin"),
        json={
            "village_id": 1,
            "name": "将被删",
            "id_number": valid_id(birth="19800202", seq="77"),
            "status": "applied",
        },
    )
    assert response.status_code == 201, response.get_json()
    new_id = response.get_json()["id"]
    assert _verify(app).exit_code == 0
    _sql(app, "DELETE FROM member WHERE id = :id", id=new_id)
    result = _verify(app)
    assert result.exit_code == 1, result.output
    assert f"Member #{new_id} 在审计日志中存在，数据库中却没有" in result.output


def test_a_row_put_back_after_its_audited_delete_is_named(app, client, api_token):
    headers = api_token("admin")
    response = client.post(
        "/api/v1/member/",
        headers=headers,
        json={
            "village_id": 1,
            "name": "回来",
            "id_number": valid_id(seq="88"),
            "status": "applied",
        },
    )
    new_id = response.get_json()["id"]
    with app.app_context():
        row = dict(
            app.appbuilder.session.execute(text(f"SELECT * FROM member WHERE id = {new_id}"))
            .mappings()
            .one()
        )
    assert client.delete(f"/api/v1/member/{new_id}", headers=headers).status_code == 200
    assert _verify(app).exit_code == 0
    columns = ", ".join(row)
    _sql(app, f"INSERT INTO member ({columns}) VALUES ({', '.join(':' + k for k in row)})", **row)
    result = _verify(app)
    assert result.exit_code == 1, result.output
    assert f"Member #{new_id} 按审计日志已删除，数据库中却仍然存在" in result.output


def test_an_id_number_swapped_for_another_ciphertext_is_named_without_its_value(app):
    member_id = _member_id(app)
    other = valid_id(birth="19700303", seq="55")
    with app.app_context():
        stored = app.appbuilder.session.get(Member, member_id).id_number
        sealed = crypto.seal(other)
    _sql(
        app,
        "UPDATE member SET id_number = :v, id_number_hash = :h WHERE id = :id",
        v=sealed,
        h="0" * 64,
        id=member_id,
    )
    result = _verify(app)
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if f"Member #{member_id} " in line)
    assert line.endswith("id_number")
    # Neither number shows, nor their ciphertext.
    assert stored not in result.output and other not in result.output and sealed not in line


def test_a_household_type_flag_changed_alone_is_named(app):
    with app.app_context():
        household_id = app.appbuilder.session.execute(
            select(func.min(Household.id)).where(Household.special.is_(False))
        ).scalar()
    _sql(app, "UPDATE household SET special = :on WHERE id = :id", on=True, id=household_id)
    result = _verify(app)
    assert result.exit_code == 1
    assert f"Household #{household_id} " in result.output and "special" in result.output


def test_writes_through_the_app_still_match(app, client, api_token):
    headers = api_token("admin")
    member_id = _member_id(app)
    response = client.put(
        f"/api/v1/member/{member_id}",
        headers=headers,
        json={"name": "新名字", "address": "新地址", "party_member": True},
    )
    assert response.status_code == 200, response.get_json()
    other = _member_id(app, "龙王村")
    with app.app_context():
        session = app.appbuilder.session
        session.get(Member, other).join_date = dt.date(2024, 2, 29)
        session.commit()
    result = _verify(app)
    assert result.exit_code == 0, result.output


def test_a_roster_import_and_an_upsert_still_match(app, tmp_path):
    path = write_csv(tmp_path / "roster.csv", roster_rows(40))
    runner = app.test_cli_runner()
    imported = runner.invoke(args=["roster", "import", "members", str(path), "--village", "新檀村"])
    assert imported.exit_code == 0, imported.output
    rows = roster_rows(40)
    for row in rows[:10]:
        row[1] += "改"
    again = write_csv(tmp_path / "again.csv", rows)
    upserted = runner.invoke(
        args=["roster", "import", "members", str(again), "--village", "新檀村", "--upsert"]
    )
    assert upserted.exit_code == 0, upserted.output
    result = _verify(app)
    assert result.exit_code == 0, result.output
    # And a row of the batch changed afterwards is named.
    with app.app_context():
        last = app.appbuilder.session.execute(select(Member.id).order_by(Member.id.desc())).first()
    _sql(app, "UPDATE member SET phone = '13900000000' WHERE id = :id", id=last.id)
    result = _verify(app)
    assert result.exit_code == 1 and f"Member #{last.id} " in result.output
    assert "phone" in result.output and "13900000000" not in result.output


def test_a_backup_of_tampered_records_is_named_and_refused(app, tmp_path):
    member_id = _member_id(app)
    _sql(app, "UPDATE member SET name = '改名' WHERE id = :id", id=member_id)
    path = tmp_path / "tampered.bak"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create", str(path)]).exit_code == 0
    verified = runner.invoke(args=["backup", "verify", str(path)])
    assert verified.exit_code == 1, verified.output
    assert f"Member #{member_id} " in verified.output and "此备份不能恢复" in verified.output
    restored = runner.invoke(args=["backup", "restore", "--yes", str(path)])
    assert restored.exit_code == 1 and "未做任何更改" in restored.output


def test_a_sound_backup_says_its_records_match(app, tmp_path):
    path = tmp_path / "sound.bak"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create", str(path)]).exit_code == 0
    verified = runner.invoke(args=["backup", "verify", str(path)])
    assert verified.exit_code == 0, verified.output
    assert "条记录与审计日志一致" in verified.output


class _Then(dt.datetime):
    """The clock of 2020: entries written now look six years old."""

    @classmethod
    def now(cls, tz=None):
        return dt.datetime(2020, 1, 1, 8, tzinfo=tz)


def test_records_whose_entries_were_pruned_are_not_called_unaudited(tmp_path, monkeypatch):
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prune.db'}",
            "ID_ENCRYPTION_KEY": "test-id-encryption-key",
        }
    )
    clock = types.SimpleNamespace(datetime=_Then, date=dt.date, time=dt.time, UTC=dt.UTC)
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        with monkeypatch.context() as old_times:
            old_times.setattr(audit, "dt", clock)
            township = Township(name="旧镇")
            village = Village(township=township, name="旧村")
            old = [
                Member(village=village, name=f"旧{i}", id_number=valid_id(seq=f"{i:02d}"))
                for i in range(3)
            ]
            session.add_all([township, village, *old])
            session.commit()
        old[0].name = "旧改"  # an update after the prune date: its entry stays
        session.add(Member(village=village, name="新", id_number=valid_id(seq="50")))
        session.commit()
        first_old = old[0].id
    runner = app.test_cli_runner()
    pruned = runner.invoke(args=["audit", "prune", "--before", "2021-01-01"])
    assert pruned.exit_code == 0, pruned.output
    result = _verify(app)
    assert result.exit_code == 0, result.output
    # The township, the village and two old members: their entries are gone.
    assert "4 条记录未核对" in result.output
    _sql(app, "UPDATE member SET name = '又改' WHERE id = :id", id=first_old)
    _sql(
        app,
        "INSERT INTO member (village_id, name, id_number, category, party_member, volunteer, "
        "status) SELECT village_id, '冒名', id_number, category, :off, :off, 'applied' "
        "FROM member WHERE id = :id",
        off=False,
        id=first_old,
    )
    result = _verify(app)
    assert result.exit_code == 1, result.output
    assert f"Member #{first_old} " in result.output
    assert f"Member #{first_old + 4} 在审计日志中没有记录" in result.output


def test_entries_in_older_formats_still_match(app):
    """An insert entry holding the plain ID number (written before migration 0006 encrypted the
    register) and a batch entry without shared values (before they were written once)."""
    number, others = valid_id(birth="19600606", seq="66"), [valid_id(seq=f"{i}7") for i in (6, 8)]
    with app.app_context():
        session = app.appbuilder.session
        connection = session.connection()
        village_id = member(session, "新檀村").village_id
        first = session.execute(select(func.max(Member.id))).scalar() + 1
        rows = [
            (first, "旧格式", number),
            *((first + i, f"旧批{i}", n) for i, n in ((1, others[0]), (2, others[1]))),
        ]
        for record_id, name, plain in rows:
            connection.execute(
                text(
                    "INSERT INTO member (id, village_id, name, id_number, category, party_member, "
                    "volunteer, status, join_date) VALUES (:id, :village, :name, :number, "
                    "'other', :off, :off, 'applied', '2019-03-01')"
                ),
                {
                    "id": record_id,
                    "village": village_id,
                    "name": name,
                    "off": False,
                    "number": crypto.seal(plain),
                },
            )
        values = {
            "village_id": village_id,
            "category": "other",
            "party_member": False,
            "volunteer": False,
            "status": "applied",
            "join_date": "2019-03-01",
        }
        single = {
            k: [None, v] for k, v in {**values, "name": "旧格式", "id_number": number}.items()
        }
        where = {"village_id": village_id}
        batch = {
            "fields": ["name", "id_number", *values],
            "rows": [[i, name, plain, *values.values()] for i, name, plain in rows[1:]],
        }
        entries = [
            audit.make_entry("insert", Member, first, single, where, {}),
            {
                **audit.make_entry("insert", Member, first + 1, batch, where, {}),
                "record_last": first + 2,
            },
        ]
        audit.write_entries(connection, entries)
        session.commit()
    result = _verify(app)
    assert result.exit_code == 0, result.output
    _sql(app, "UPDATE member SET join_date = '2019-03-02' WHERE id = :id", id=first + 2)
    result = _verify(app)
    assert result.exit_code == 1 and f"Member #{first + 2} " in result.output


def test_the_listing_stops_at_fifty_records_and_counts_the_rest(app):
    with app.app_context():
        members = app.appbuilder.session.query(Member).count()
    _sql(app, "UPDATE member SET address = '同一地址'")
    result = _verify(app)
    assert result.exit_code == 1
    named = [line for line in result.output.splitlines() if line.startswith("Member #")]
    assert len(named) == 50
    assert f"……另有 {members - 50} 条记录" in result.output
    assert f"{members} 条记录与审计日志不符" in result.output


def test_a_prune_entry_that_does_not_say_which_records_still_lets_new_ones_be_named(app):
    """A prune logged before prunes said which records they covered: records older than the
    oldest insert entry left are taken as pruned; a row added since is still named."""
    with app.app_context():
        audit.record("prune", details={"before": "2020-01-01", "deleted": 5, "anchor": None})
    assert _verify(app).exit_code == 0
    source = _member_id(app)
    _sql(
        app,
        "INSERT INTO member (village_id, name, id_number, category, party_member, volunteer, "
        "status) SELECT village_id, '冒名', id_number, category, :off, :off, 'applied' "
        "FROM member WHERE id = :id",
        off=False,
        id=source,
    )
    new_id = _sql(app, "SELECT max(id) FROM member")
    result = _verify(app)
    assert result.exit_code == 1
    assert f"Member #{new_id} 在审计日志中没有记录" in result.output


def test_sign_outs_and_sign_ins_leave_the_records_matching(app, login_as):
    """A sign-out raises the account's session epoch and a sign-in its login count: bookkeeping
    the log does not copy (issue 15), so the accounts still match their entries."""
    web = login_as("xintan_secretary")
    web.get("/logout/")
    login_as("xintan_president").post("/users/signout-everywhere", data={})
    result = _verify(app)
    assert result.exit_code == 0, result.output
    with app.app_context():
        from app.accounts import ScopedUser

        epochs = app.appbuilder.session.scalars(
            select(ScopedUser.session_epoch).where(
                ScopedUser.username.in_(["xintan_secretary", "xintan_president"])
            )
        ).all()
    assert min(epochs) >= 1


# --- A keyed chain (issue 15, class 8, second review) ---


def _append_entry(app, changes, record_id, sign):
    """Append an entry as someone with the database file would: ``sign(entry, prev_hash)``
    gives its hash (the public SHA-256, or an HMAC under a key they guessed)."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        last_id, prev = connection.execute(
            text("SELECT last_id, last_hash FROM audit_head WHERE id = 1")
        ).one()
        place = connection.execute(
            text(
                "SELECT m.village_id, m.group_id, v.township_id FROM member m "
                "JOIN village v ON v.id = m.village_id WHERE m.id = :id"
            ),
            {"id": record_id},
        ).one()
        entry = {
            "id": last_id + 1,
            "ts": dt.datetime(2026, 1, 5, 9, 30),
            "user_id": None,
            "username": "xintan_secretary",
            "role": "Secretary",
            "scope": f"village:{place.village_id}",
            "ip": "10.0.0.8",
            "endpoint": f"PUT /api/v1/member/{record_id}",
            "action": "update",
            "model": "Member",
            "record_id": record_id,
            "township_id": place.township_id,
            "village_id": place.village_id,
            "group_id": place.group_id,
            "changes": json.dumps(changes, ensure_ascii=False),
        }
        digest = sign(entry, prev)
        columns = list(entry) + ["prev_hash", "hash"]
        connection.execute(
            text(
                f"INSERT INTO audit_log ({', '.join(columns)}) "
                f"VALUES ({', '.join(':' + c for c in columns)})"
            ),
            {**entry, "prev_hash": prev, "hash": digest},
        )
        connection.execute(
            text("UPDATE audit_head SET last_id = :i, last_hash = :h WHERE id = 1"),
            {"i": last_id + 1, "h": digest},
        )
    engine.dispose()
    return last_id + 1


def test_a_row_changed_with_a_forged_unkeyed_entry_is_still_named(app):
    """The sqlite3 shell changes a name and appends the entry the app would have written,
    hashed with the public SHA-256: the chain no longer verifies, and says where."""
    member_id = _member_id(app)
    with app.app_context():
        before = app.appbuilder.session.get(Member, member_id).name
    _sql(app, "UPDATE member SET name = '冒改' WHERE id = :id", id=member_id)
    forged = _append_entry(app, {"name": [before, "冒改"]}, member_id, audit.entry_hash)
    for args in (["audit", "verify"], ["audit", "verify", "--records"]):
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code != 0, result.output
        assert f"#{forged}: content does not match its hash" in result.output


def test_an_entry_keyed_with_another_key_is_refused(app):
    member_id = _member_id(app)
    other = crypto._keys_for("a guessed key")["audit"]
    forged = _append_entry(
        app,
        {"name": ["x", "y"]},
        member_id,
        lambda entry, prev: audit.entry_mac(entry, prev, other),
    )
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code != 0 and f"#{forged}:" in result.output, result.output


def _account(app, username):
    return _sql(app, "SELECT id FROM ab_user WHERE username = :u", u=username)


def test_a_role_granted_behind_the_apps_back_is_named(app):
    """`INSERT INTO ab_user_role` makes a group leader an Admin: the account's roles are in its
    insert entry, and compared."""
    user_id = _account(app, "xintan_group1")
    admin = _sql(app, "SELECT id FROM ab_role WHERE name = 'Admin'")
    _sql(
        app,
        "INSERT INTO ab_user_role (id, user_id, role_id) "
        "SELECT max(id) + 1, :u, :r FROM ab_user_role",
        u=user_id,
        r=admin,
    )
    result = _verify(app)
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if f"ScopedUser #{user_id} " in line)
    assert "roles" in line and str(admin) in line


def test_a_password_hash_written_behind_the_apps_back_is_named_without_it(app):
    """A known password's hash copied over an Admin's: the log keeps a keyed fingerprint of
    each stored hash, so the account is named; neither hash nor fingerprint is printed."""
    admin = _account(app, "admin")
    known = _sql(app, "SELECT password FROM ab_user WHERE username = 'xintan_group1'")
    _sql(app, "UPDATE ab_user SET password = :p WHERE id = :id", p=known, id=admin)
    result = _verify(app)
    assert result.exit_code == 1, result.output
    line = next(line for line in result.output.splitlines() if f"ScopedUser #{admin} " in line)
    assert "password" in line and "hmac:" not in result.output and known not in result.output


def test_roles_and_passwords_changed_through_the_app_still_match(app):
    from werkzeug.security import generate_password_hash

    with app.app_context():
        session = app.appbuilder.session
        security = app.appbuilder.sm
        user = security.find_user(username="xintan_group1")
        user.roles = [*user.roles, security.find_role("Secretary")]
        user.password = generate_password_hash("Another#Pass2026")
        session.commit()
        user.roles = user.roles[:1]
        session.commit()
    result = _verify(app)
    assert result.exit_code == 0, result.output


class _Unkeyed:
    """Entries written as before migration 0011: the plain SHA-256."""

    @staticmethod
    def entry_mac(entry, prev_hash, keyed=None):
        return audit.entry_hash(entry, prev_hash)


def test_an_upgraded_database_keeps_its_unkeyed_entries_and_refuses_new_ones(tmp_path, monkeypatch):
    """Entries written before the chain was keyed still verify after `flask db upgrade`
    (0011 seals them with a keyed entry); an unkeyed entry appended after does not; and a log
    with no keyed entry at all (rewritten by someone without the key) does not either."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}",
            "ID_ENCRYPTION_KEY": "test-id-encryption-key",
        }
    )
    with app.app_context():
        upgrade(revision="0010_session_epoch")
        with monkeypatch.context() as old_program:
            old_program.setattr(audit, "entry_mac", _Unkeyed.entry_mac)
            session = app.appbuilder.session
            # The township as the program of 0010 wrote it (its model has a county since 0014):
            # the row and its insert entry, as the listener made them.
            session.execute(text("INSERT INTO township (id, name) VALUES (1, '旧镇')"))
            where = {"township_id": 1, "village_id": None, "group_id": None}
            audit.write_entries(
                session.connection(),
                [audit.make_entry("insert", Township, 1, {"name": [None, "旧镇"]}, where, {})],
            )
            village = Village(township_id=1, name="旧村")
            old = Member(village=village, name="旧", id_number=valid_id(seq="01"))
            session.add_all([village, old])
            session.commit()
            member_id = old.id
    before = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert before.exit_code != 0 and "no entry of the chain is keyed" in before.output
    with app.app_context():
        upgrade()
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "3 from before the chain was keyed" in result.output
    with app.app_context():
        marker = app.appbuilder.session.execute(
            select(audit.AuditLog).order_by(audit.AuditLog.id.desc()).limit(1)
        ).scalar()
        assert marker.action == "chain_keyed" and json.loads(marker.changes)["keyed_from"] == 4
    _sql(app, "UPDATE member SET name = '冒改' WHERE id = :id", id=member_id)
    forged = _append_entry(app, {"name": ["旧", "冒改"]}, member_id, audit.entry_hash)
    result = _verify(app)
    assert result.exit_code != 0 and f"#{forged}:" in result.output, result.output
