"""Login throttling counters shared by every worker process: a small SQLite file under instance/.

Flask-Limiter keeps its counters in a ``limits`` storage named by ``RATELIMIT_STORAGE_URI``.
``memory://`` is per process: with four gunicorn workers a guesser would get four times the
allowance. This storage (scheme ``sqlite:///absolute/path``) is one file that every worker on
the host opens; each increment is one ``BEGIN IMMEDIATE`` transaction, so two workers counting
the same client queue instead of losing a hit. It needs no extra service, and it is not the
application's database, so a burst of refused logins never queues behind the audit chain's lock.
Several hosts share Redis or memcached instead (``redis://…``, ``memcached://…``): only the URI
changes.
"""

import sqlite3
import time
from urllib.parse import unquote, urlparse

from limits.storage import Storage

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS counter ("
    " key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires_at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS counter_expires ON counter (expires_at)",
)


def path_of(uri: str) -> str:
    """``sqlite:////srv/instance/ratelimit.db`` → ``/srv/instance/ratelimit.db``."""
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if not path or path == "/":
        raise ValueError(f"{uri}: name the counter file, e.g. sqlite:////srv/jsx/ratelimit.db")
    # As SQLAlchemy reads it: sqlite:///relative.db, sqlite:////absolute.db.
    return path[1:]


class SqliteFileStorage(Storage):
    """Fixed-window counters in one SQLite file (the ``limits`` storage interface)."""

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = path_of(uri)
        with self._connect() as connection:
            for statement in SCHEMA:
                connection.execute(statement)

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _connect(self):
        # Autocommit mode: every transaction below is explicit. A worker waits up to 10 s for
        # another's increment (each takes well under a millisecond).
        return _Connection(sqlite3.connect(self.path, timeout=10, isolation_level=None))

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self._connect() as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM counter WHERE expires_at <= ?", (now,))
            (count,) = connection.execute(
                "INSERT INTO counter (key, count, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET count = count + excluded.count "
                "RETURNING count",
                (key, amount, now + expiry),
            ).fetchone()
            connection.execute("COMMIT")
        return count

    def _row(self, key):
        with self._connect() as connection:
            return connection.execute(
                "SELECT count, expires_at FROM counter WHERE key = ? AND expires_at > ?",
                (key, time.time()),
            ).fetchone()

    def get(self, key: str) -> int:
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self) -> bool:
        try:
            with self._connect() as connection:
                connection.execute("SELECT 1 FROM counter LIMIT 1")
            return True
        except sqlite3.Error:
            return False

    def reset(self) -> int | None:
        with self._connect() as connection:
            return connection.execute("DELETE FROM counter").rowcount

    def clear(self, key: str) -> None:
        with self._connect() as connection:
            connection.execute("DELETE FROM counter WHERE key = ?", (key,))


class _Connection:
    """A connection closed on leaving the block (sqlite3's own context manager only commits)."""

    def __init__(self, connection):
        self.connection = connection

    def __enter__(self):
        return self.connection

    def __exit__(self, exc_type, *_exc):
        if exc_type is not None and self.connection.in_transaction:
            self.connection.execute("ROLLBACK")
        self.connection.close()
