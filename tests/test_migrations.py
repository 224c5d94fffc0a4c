"""`flask db upgrade` builds the whole schema from an empty database, FAB's tables included."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect, text

from app import create_app, db

# The suite's key (tests/conftest.py): create_app sets the process's key, and a test of another
# file reading the demo's encrypted columns after this one would fail under another key.
KEY = "test-id-encryption-key"


def test_upgrade_from_empty_matches_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ID_ENCRYPTION_KEY": KEY})
    with app.app_context():
        upgrade()
        engine = create_engine(url)
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"ab_user", "ab_role", "township", "village", "member_group", "member"} <= tables
            assert {"contact_household", "council_term", "council_seat"} <= tables
            columns = {c["name"] for c in inspect(connection).get_columns("ab_user")}
            assert {"county_id", "township_id", "village_id", "group_id"} <= columns
            roles = connection.execute(text("SELECT name FROM ab_role ORDER BY id")).scalars().all()
            assert roles == ["Admin", "Township", "President", "Secretary", "GroupLeader", "County"]
            # Nothing in the models that the migrations lack.
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
            assert diff == []
        engine.dispose()


def test_cli_upgrade_from_the_repository_root(tmp_path):
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'cli.db'}", "ID_ENCRYPTION_KEY": KEY}
    )
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output


# --- 0014: the townships' county text becomes the County register (issue 18) ---


def _fresh_url(tmp_path, name):
    """An empty database: a SQLite file, or one of its own on the PostgreSQL server of
    TEST_DATABASE_URL (the suite's second pass)."""
    import os

    from sqlalchemy.engine import make_url

    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return f"sqlite:///{tmp_path / f'{name}.db'}"
    server = make_url(url)
    fresh = server.set(
        database=f"{server.database}_{name}_{os.environ.get('PYTEST_XDIST_WORKER', '')}"
    )
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{fresh.database}"'))
        connection.execute(text(f'CREATE DATABASE "{fresh.database}"'))
    admin.dispose()
    return fresh.render_as_string(hide_password=False)


OLD_TOWNSHIPS = {1: ("二郎镇", "古蔺县"), 2: ("太平镇", " 古蔺县 "), 3: ("石宝镇", "叙永县")}
OLD_TOWNSHIPS.update({4: ("无县镇", None), 5: ("空县镇", "")})


def test_0014_turns_each_county_name_into_a_county_and_back(tmp_path):
    from flask_migrate import downgrade

    from app import audit
    from app.models import Township

    url = _fresh_url(tmp_path, "m0014")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ID_ENCRYPTION_KEY": KEY})
    engine = create_engine(url)
    with app.app_context():
        upgrade(revision="0013_optional_email")
        # The townships as the program of 0013 wrote them: the rows and their insert entries.
        entries = []
        with engine.begin() as connection:
            for pk, (name, county) in OLD_TOWNSHIPS.items():
                connection.execute(
                    text("INSERT INTO township (id, name, county) VALUES (:id, :name, :county)"),
                    {"id": pk, "name": name, "county": county},
                )
                changes = {"name": [None, name], **({"county": [None, county]} if county else {})}
                where = {"township_id": pk, "village_id": None, "group_id": None}
                entries.append(audit.make_entry("insert", Township, pk, changes, where, {}))
            audit.write_entries(connection, entries)
        upgrade()
        # The log knows the counties made and each township's county (SPEC §3.4).
        verified = app.test_cli_runner().invoke(args=["audit", "verify", "--records"])
        assert verified.exit_code == 0, verified.output
        # Its reads end before the downgrade alters their tables (PostgreSQL waits otherwise).
        db.session.remove()
        with engine.connect() as connection:
            counties = dict(connection.execute(text("SELECT name, id FROM county")).all())
            assert set(counties) == {"古蔺县", "叙永县"}
            townships = dict(connection.execute(text("SELECT name, county_id FROM township")).all())
            assert townships == {
                "二郎镇": counties["古蔺县"],
                "太平镇": counties["古蔺县"],
                "石宝镇": counties["叙永县"],
                "无县镇": None,
                "空县镇": None,
            }
            assert "county" not in {c["name"] for c in inspect(connection).get_columns("township")}
        downgrade(revision="0013_optional_email")
        with engine.connect() as connection:
            townships = dict(connection.execute(text("SELECT name, county FROM township")).all())
            assert townships == {
                "二郎镇": "古蔺县",
                "太平镇": "古蔺县",
                "石宝镇": "叙永县",
                "无县镇": None,
                "空县镇": None,
            }
            assert "county" not in inspect(connection).get_table_names()
            roles = connection.execute(text("SELECT name FROM ab_role")).scalars().all()
            assert "County" not in roles
    engine.dispose()
