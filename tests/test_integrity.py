"""Records never cross villages (issue 15, SPEC §4): foreign keys enforced on every database,
ids never reused, the group scope pinned to its village, and a record still referenced not
deleted out from under its references — the same answer on SQLite and PostgreSQL."""

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from app import audit
from app.models import (
    Activity,
    Assistance,
    Branch,
    CouncilTerm,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Township,
    Village,
)
from tests.helpers import group, village

KEY = "test-id-encryption-key"
FOREIGN_KEY_ORPHANS = """
SELECT count(*) FROM {child} c LEFT JOIN {parent} p ON p.id = c.{column}
WHERE c.{column} IS NOT NULL AND p.id IS NULL
"""


def orphans(session) -> int:
    """Rows, in every table, whose foreign key names a record that does not exist."""
    from flask_appbuilder import Model

    total = 0
    for table in Model.metadata.sorted_tables:
        for fk in table.foreign_keys:
            total += session.execute(
                text(
                    FOREIGN_KEY_ORPHANS.format(
                        child=table.name, parent=fk.column.table.name, column=fk.parent.name
                    )
                )
            ).scalar()
    return total


def count(session, model, **where) -> int:
    return session.scalar(select(func.count()).select_from(model).filter_by(**where))


# --- Foreign keys on every connection ---


def test_a_row_pointing_at_a_missing_record_is_refused(app, db_session):
    """SQLite used to store it: a household of a group that does not exist."""
    xintan = village(db_session, "新檀村")
    db_session.add(
        Household(village_id=xintan.id, group_id=987654, head_name="孤儿户", family_type="other")
    )
    with pytest.raises(IntegrityError):
        db_session.commit()
    db_session.rollback()
    assert count(db_session, Household, head_name="孤儿户") == 0


def test_every_sqlite_engine_enforces_foreign_keys(app, tmp_path):
    """Not only the app's engine: one a command or a backup opens on its own, too."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL always enforces foreign keys")
    engine = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


# --- Ids never reused ---


def test_a_deleted_groups_id_is_not_given_to_the_next_group(app, api_token):
    """The next group, in another village, must not inherit the deleted group's records."""
    headers = api_token("admin")
    client = app.test_client()
    with app.app_context():
        xintan = village(app.appbuilder.session, "新檀村").id
        longwang = village(app.appbuilder.session, "龙王村").id
    made = client.post(
        "/api/v1/member_group/", json={"village_id": xintan, "name": "第九组"}, headers=headers
    )
    assert made.status_code == 201, made.get_json()
    freed = made.get_json()["id"]
    assert client.delete(f"/api/v1/member_group/{freed}", headers=headers).status_code == 200
    again = client.post(
        "/api/v1/member_group/", json={"village_id": longwang, "name": "第九组"}, headers=headers
    )
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["id"] > freed


def test_bulk_inserts_never_reuse_a_deleted_id(app, db_session):
    """The importer numbers its rows itself (audit.allocate_ids): past every id ever given."""
    xintan = village(db_session, "新檀村")
    term = CouncilTerm(village_id=xintan.id, number=99, elected_on=dt.date(2020, 1, 1))
    db_session.add(term)
    db_session.commit()
    freed = term.id
    db_session.delete(term)
    db_session.commit()
    (next_id,) = audit.allocate_ids(db_session.connection(), CouncilTerm, 1)
    db_session.rollback()
    assert next_id > freed


# --- The group scope pins the village ---


def test_a_group_leader_never_reads_another_villages_rows_under_the_same_group_id(
    app, db_session, api_token
):
    """A row of 新檀村 that names 龙王村's first group (a recycled id, an old database):
    龙王村's group leader does not see it, nor its special family type."""
    xintan = village(db_session, "新檀村")
    longwang_group = group(db_session, "龙王村", "第一组")
    # Written past the app's checks, as an old database holds it.
    stray = Household(
        village_id=xintan.id,
        group_id=longwang_group.id,
        head_name="错组户",
        family_type="special_lost",
        special=True,
    )
    db_session.add(stray)
    db_session.commit()
    row = stray.id
    client = app.test_client()
    headers = api_token("longwang_group1")
    listed = client.get("/api/v1/household/?q=(page_size:100)", headers=headers).get_json()
    assert row not in [r["id"] for r in listed["result"]]
    assert client.get(f"/api/v1/household/{row}", headers=headers).status_code == 404


# --- A record still referenced is not deleted ---


def test_president_cannot_delete_a_group_that_still_holds_records_html(app, login_as):
    client = login_as("xintan_president")
    client.get("/lang/en")
    with app.app_context():
        session = app.appbuilder.session
        first = group(session, "新檀村", "第一组")
        pk, households = first.id, count(session, Household, group_id=first.id)
    assert households
    response = client.post(f"/membergroupview/delete/{pk}", follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "第一组 cannot be deleted" in page
    assert f"Family-planning households ({households})" in page
    assert "Accounts (1)" in page  # xintan_group1's account
    with app.app_context():
        session = app.appbuilder.session
        assert session.get(MemberGroup, pk) is not None
        assert count(session, Household, group_id=pk) == households
        assert orphans(session) == 0


def test_the_api_refuses_the_same_delete_with_the_same_message(app, api_token):
    with app.app_context():
        pk = group(app.appbuilder.session, "新檀村", "第一组").id
    response = app.test_client().delete(
        f"/api/v1/member_group/{pk}", headers=api_token("xintan_president")
    )
    assert response.status_code == 409, response.get_json()
    message = response.get_json()["message"]
    assert message.startswith("第一组")
    assert "账号" in message and "会议记录" in message
    with app.app_context():
        assert app.appbuilder.session.get(MemberGroup, pk) is not None


def _referenced(session, model, village_name):
    """A row of ``model`` (in ``village_name`` when it has one) that another row refers to."""
    from app import integrity

    query = select(model).order_by(model.id)
    if village_name and model not in (Township, Branch):
        place = village(session, village_name)
        query = query.where((model.id if model is Village else model.village_id) == place.id)
    for item in session.scalars(query):
        if integrity.holders(session, item):
            return item
    pytest.fail(f"no referenced {model.__name__} in the demo")


# parent register, its API, the account that may delete it, the village it is taken from.
PARENTS = [
    (Township, "township", "admin", None),
    (Branch, "branch", "admin", None),
    (Village, "village", "admin", "新檀村"),
    (MemberGroup, "member_group", "admin", "新檀村"),
    (MemberGroup, "member_group", "xintan_president", "新檀村"),
    (Member, "member", "admin", "新檀村"),
    (Member, "member", "xintan_president", "新檀村"),
    (CouncilTerm, "council_term", "xintan_president", "新檀村"),
    (Meeting, "meeting", "xintan_president", "新檀村"),
    (Meeting, "meeting", "xintan_secretary", "新檀村"),
    (Household, "household", "xintan_president", "新檀村"),
    (Household, "household", "xintan_secretary", "新檀村"),
]


@pytest.mark.parametrize(("model", "name", "username", "village_name"), PARENTS)
def test_deleting_a_referenced_record_is_refused_for_every_role(
    app, api_token, login_as, model, name, username, village_name
):
    """Every register with children, by each role that may delete it, on both doors: a message
    naming the record, never a 500, and no orphan left behind."""
    with app.app_context():
        item = _referenced(app.appbuilder.session, model, village_name)
        pk, shown = item.id, str(item)
    response = app.test_client().delete(f"/api/v1/{name}/{pk}", headers=api_token(username))
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["message"].startswith(shown)
    view = f"/{model.__name__.lower()}view/delete/{pk}"
    page = login_as(username).post(view, follow_redirects=True)
    assert page.status_code == 200
    assert "不能删除" in page.get_data(as_text=True)
    with app.app_context():
        session = app.appbuilder.session
        assert session.get(model, pk) is not None
        assert orphans(session) == 0


def test_an_account_that_approved_members_is_not_deleted_but_can_be_deactivated(app, login_as):
    """Members name the president who approved them: the account stays (its history with it)."""
    from app.accounts import ScopedUser

    with app.app_context():
        session = app.appbuilder.session
        user = session.scalars(select(ScopedUser).filter_by(username="xintan_president")).one()
        pk, name = user.id, user.get_full_name()
        # As the president's approval records it (records.member_errors).
        applicant = session.scalars(select(Member).filter_by(status="active")).first()
        applicant.approved_by_id = pk
        session.commit()
        approved = count(session, Member, approved_by_id=pk)
    client = login_as("admin")
    client.get("/lang/en")
    page = client.post(f"/users/delete/{pk}", follow_redirects=True).get_data(as_text=True)
    assert f"{name} cannot be deleted" in page
    assert f"Members ({approved})" in page
    with app.app_context():
        session = app.appbuilder.session
        assert session.get(ScopedUser, pk) is not None
        assert orphans(session) == 0


def test_a_record_nothing_refers_to_is_still_deleted(app, api_token, db_session):
    """The check refuses only what is held: an assistance record goes."""
    xintan = village(db_session, "新檀村")
    pk = db_session.scalar(
        select(Assistance.id).where(Assistance.village_id == xintan.id).order_by(Assistance.id)
    )
    db_session.rollback()
    response = app.test_client().delete(
        f"/api/v1/assistance/{pk}", headers=api_token("xintan_president")
    )
    assert response.status_code == 200, response.get_json()
    assert db_session.get(Assistance, pk) is None


def test_a_groups_activities_and_their_photos_go_with_nothing_left_pointing(app, db_session):
    """Link rows that the schema says go with a record (ON DELETE CASCADE) do: deleting an
    activity takes its participants list along, and leaves no orphan."""
    activity = db_session.scalars(
        select(Activity).where(Activity.participants.any()).order_by(Activity.id)
    ).first()
    assert activity is not None
    db_session.delete(activity)
    db_session.commit()
    assert orphans(db_session) == 0


# --- Migration 0009: orphans reported, nothing upgraded silently ---


def _migrated(tmp_path, revision):
    from flask_migrate import upgrade

    from app import create_app

    path = tmp_path / "old.db"
    # The suite's key: create_app sets the process's key, which the other tests' app reads.
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "ID_ENCRYPTION_KEY": KEY})
    with app.app_context():
        upgrade(revision=revision)
    return app, path


def _sqlite(path, *statements):
    """Statements run as SQLite ran them before issue 15: without foreign keys."""
    import sqlite3

    with sqlite3.connect(path) as connection:
        for statement in statements:
            connection.execute(statement)


def _schema(path, table):
    import sqlite3

    with sqlite3.connect(path) as connection:
        return connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = ?", (table,)
        ).fetchone()[0]


def _exists(path, table) -> bool:
    import sqlite3

    with sqlite3.connect(path) as connection:
        found = connection.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,))
        return found.fetchone() is not None


def _revision(path):
    import sqlite3

    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_upgrading_a_database_with_orphans_names_them_and_changes_nothing(tmp_path, capfd):
    from flask_migrate import upgrade

    app, path = _migrated(tmp_path, "0008_twofactor")
    _sqlite(
        path,
        "INSERT INTO township (id, name) VALUES (1, '二郎镇')",
        "INSERT INTO village (id, township_id, name, kind, size_class) "
        "VALUES (1, 1, '新檀村', 'village', 'standard'), (2, 1, '龙王村', 'village', 'standard')",
        "INSERT INTO member_group (id, village_id, name) VALUES (7, 2, '第一组')",
        # A notice of a village deleted long ago, a venue of 新檀村 in 龙王村's group.
        "INSERT INTO notice (id, village_id, title, kind, published_on) "
        "VALUES (3, 42, '旧公告', 'other', '2025-01-01')",
        "INSERT INTO venue (id, village_id, group_id, kind, signage) "
        "VALUES (5, 1, 7, 'group_home', 1)",
    )
    with app.app_context(), pytest.raises(SystemExit):
        upgrade()
    # `flask db upgrade` prints it (Flask-Migrate logs "Error: …" and exits with 1).
    report = capfd.readouterr().err
    assert "notice 3: village_id = 42, no such village" in report
    assert "venue 5: village_id = 1 but group_id = 7, a group of village 2" in report
    assert "Nothing was upgraded" in report
    assert _revision(path) == "0008_twofactor"
    assert "AUTOINCREMENT" not in _schema(path, "venue")

    _sqlite(path, "DELETE FROM notice WHERE id = 3", "UPDATE venue SET village_id = 2")
    with app.app_context():
        upgrade(revision="0009_referential_integrity")
    assert _revision(path) == "0009_referential_integrity"
    assert "AUTOINCREMENT" in _schema(path, "venue")


def test_0009_numbers_forward_and_downgrades(tmp_path):
    """After 0009 a deleted group's id is not given again; the downgrade restores the tables."""
    from flask_migrate import downgrade, upgrade

    app, path = _migrated(tmp_path, "head")
    assert "PRIMARY KEY AUTOINCREMENT" in _schema(path, "member_group")
    assert "PRIMARY KEY AUTOINCREMENT" not in _schema(path, "audit_log")
    _sqlite(
        path,
        "INSERT INTO township (id, name) VALUES (1, '二郎镇')",
        "INSERT INTO village (id, township_id, name, kind, size_class) "
        "VALUES (1, 1, '新檀村', 'village', 'standard')",
        "INSERT INTO member_group (village_id, name) VALUES (1, '第一组')",
        "DELETE FROM member_group",
        "INSERT INTO member_group (village_id, name) VALUES (1, '第二组')",
    )
    import sqlite3

    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT id FROM member_group").fetchone()[0] == 2
    with app.app_context():
        downgrade(revision="0008_twofactor")
        assert "AUTOINCREMENT" not in _schema(path, "member_group")
        assert "PRIMARY KEY (id)" in _schema(path, "member_group")
        upgrade(revision="0009_referential_integrity")
    assert _revision(path) == "0009_referential_integrity"


def test_every_table_numbered_by_id_keeps_autoincrement_at_head_and_after_0010s_downgrade(
    tmp_path,
):
    """The tables the models number forward are AUTOINCREMENT in a migrated database too. A
    batch migration rebuilds a SQLite table from its reflection, which drops AUTOINCREMENT:
    0010's downgrade did, and ab_user gave a deleted account's id again."""
    from flask_appbuilder import Model
    from flask_migrate import downgrade

    app, path = _migrated(tmp_path, "head")
    numbered = sorted(
        name
        for name, table in Model.metadata.tables.items()
        if table.dialect_options["sqlite"].get("autoincrement")
    )
    assert "ab_user" in numbered and "member_group" in numbered
    assert "audit_log" not in numbered
    assert [t for t in numbered if "PRIMARY KEY AUTOINCREMENT" not in _schema(path, t)] == []
    with app.app_context():
        downgrade(revision="0009_referential_integrity")
    # The tables of the registers declared since 0009 are gone at 0009: the others are checked.
    standing = [t for t in numbered if _exists(path, t)]
    assert "volunteer_service" not in standing and "ab_user" in standing
    assert [t for t in standing if "PRIMARY KEY AUTOINCREMENT" not in _schema(path, t)] == []
