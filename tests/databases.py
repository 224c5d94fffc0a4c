"""The test database and its snapshots: SQLite files by default, or a PostgreSQL server when
``TEST_DATABASE_URL`` names one (``.ci/run`` runs the suite a second time that way).

A snapshot is taken once (the migrated demo township, the scoping world) and put back before
each test: a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL.
"""

import os
import shutil

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# The demo accounts' password in the test database (conftest loads the demo with it).
TEST_PASSWORD = "DemoPass@2026"


def close_connections(app):
    """No connection left open: a snapshot is about to be taken or put back."""
    from app import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class SqliteDatabases:
    """The test database as a file beside its snapshot files."""

    def __init__(self, folder):
        self.folder = folder
        self.path = folder / "test.db"
        self.url = f"sqlite:///{self.path}"

    def save(self, name):
        shutil.copy(self.path, self.folder / f"{name}.db")

    def restore(self, name):
        shutil.copy(self.folder / f"{name}.db", self.path)

    def stamp(self):
        """What moves whenever a transaction commits: SQLite's file change counter (header
        bytes 24-27, rollback journal mode), the size and the time."""
        with open(self.path, "rb") as file:
            counter = file.read(28)[24:]
        stat = self.path.stat()
        return counter, stat.st_size, stat.st_mtime_ns


class PostgresDatabases:
    """The test database on a PostgreSQL server; snapshots are template databases."""

    def __init__(self, url):
        self.url_object = make_url(url)
        self.name = self.url_object.database
        self.url = self.url_object.render_as_string(hide_password=False)
        admin = self.url_object.set(database="postgres")
        self.admin = create_engine(admin, isolation_level="AUTOCOMMIT")
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.name}"')

    def _run(self, statement):
        with self.admin.connect() as connection:
            result = connection.execute(text(statement))
            return result.scalar() if result.returns_rows else None

    def _copy(self, source, target):
        self._run(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        # A template must have no connection open; the app's were closed by the caller.
        self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{source}' AND pid <> pg_backend_pid()"
        )
        self._run(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')

    def save(self, name):
        self._copy(self.name, f"{self.name}_{name}")

    def restore(self, name):
        self._copy(f"{self.name}_{name}", self.name)

    def stamp(self):
        """Where the next write-ahead log record goes: it moves as soon as anything is
        written (the *write* position lags behind with synchronous_commit off, as in CI)."""
        return self._run("SELECT pg_current_wal_insert_lsn()::text")


def open_databases(folder):
    """PostgreSQL when TEST_DATABASE_URL is set, SQLite files in ``folder`` otherwise."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        worker = os.environ.get("PYTEST_XDIST_WORKER")
        if worker:
            # pytest -n: each worker its own database and templates on the one server.
            url_object = make_url(url)
            url = url_object.set(database=f"{url_object.database}_{worker}").render_as_string(
                hide_password=False
            )
        return PostgresDatabases(url)
    return SqliteDatabases(folder)
