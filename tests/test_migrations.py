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
