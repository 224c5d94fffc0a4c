"""Backup and restore of the whole database: ``flask backup create | verify | restore``.

SQLite: the online backup API copies one consistent snapshot while the app runs, and a checked
copy goes back over the live file in one write transaction. PostgreSQL: ``pg_dump -Fc``; to
check or restore a dump, this module runs ``pg_restore``'s SQL itself inside one transaction,
into a new ``public`` schema with the current one renamed aside. It is checked there, then
either rolled back (verify) or the old schema dropped and committed (restore): the database is
the old one or the restored one, never half of each.

A check: the file opens, SQLite's integrity check, the schema revision against the code's
migrations, rows per table, the audit chain of the copy (``audit.verify``), its records
against their last audited state (``audit_records.verify_records``), and every file it names
(attachments, the tasks' files) present in the store (app.storage): the files are not in the
backup, they are backed up beside it (README, "Backup"). Creating and
restoring are audited; the restore's entry is written into the restored copy before it goes
in place, and names the last entry of the chain it replaced.
"""

import glob
import hashlib
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from app import audit, audit_records, crypto, storage
from app.extensions import db
from app.models import Attachment, Task

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"  # pg_dump's custom format (-Fc)
KIND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# pg_restore's SQL: a data block starts with this line and ends with a line "\.".
COPY_LINE = re.compile(rb"^COPY [^\n]+ FROM stdin;\n\Z")
# psql meta-commands pg_restore writes around its output (since 17.6 / 16.10 / 15.14 …).
HARMLESS_COMMANDS = (b"\\restrict ", b"\\unrestrict ")
COPY_BATCH_BYTES = 4 << 20


class BackupError(Exception):
    """A problem the user must fix; the message is already in the user's language."""


@dataclass
class Report:
    """What a check of a backup found; ``problems`` make it unfit to restore."""

    path: str
    kind: str | None = None
    size: int = 0
    sha256: str = ""
    integrity: str | None = None
    revision: str | None = None
    head: str | None = None
    counts: dict = field(default_factory=dict)
    chain: str | None = None
    records: list = field(default_factory=list)
    files: str | None = None
    # The files it names that the store lacks: a problem for verify; a restore goes on (the
    # database without some files is better than none) and shows them.
    files_missing: str | None = None
    last_entry: int | None = None
    problems: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report as the terminal shows it."""
        unknown = _("unknown format")
        lines = [
            _(
                "Backup %(path)s: %(kind)s, %(size)s bytes, SHA-256 %(sha256)s",
                path=self.path,
                kind=KIND_NAMES.get(self.kind, unknown),
                size=f"{self.size:,}",
                sha256=self.sha256,
            )
        ]
        if self.integrity is not None:
            lines.append(_("Integrity check: %(result)s", result=self.integrity))
        if self.revision is not None:
            lines.append(
                _(
                    "Schema revision: %(revision)s (this program: %(head)s)",
                    revision=self.revision,
                    head=self.head,
                )
            )
        if self.chain is not None:
            lines.append(_("Audit chain: %(result)s", result=self.chain))
        lines += [_("Records: %(result)s", result=line) for line in self.records]
        if self.files is not None:
            lines.append(_("Files: %(result)s", result=self.files))
        if self.files_missing and self.files_missing not in self.problems:
            lines.append(f"  {self.files_missing}")
        if self.counts:
            lines.append(_("Rows per table:"))
            width = max(map(len, self.counts))
            lines += [f"  {name:<{width}}  {rows:>10,}" for name, rows in self.counts.items()]
        if self.ok:
            lines.append(_("The backup is sound and can be restored."))
        else:
            lines.append(_("The backup cannot be restored:"))
            lines += [f"  - {problem}" for problem in self.problems]
        return lines


# --- Files ---


def file_kind(path) -> str | None:
    with open(path, "rb") as fh:
        start = fh.read(len(SQLITE_MAGIC))
    if start == SQLITE_MAGIC:
        return "sqlite"
    if start.startswith(PGDUMP_MAGIC):
        return "postgresql"
    return None


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _private_path(folder, stem) -> str:
    """A new empty file readable by its owner only: backups hold personal information."""
    for _attempt in range(100):
        path = os.path.join(folder, f".{stem}.{secrets.token_hex(4)}")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path
    raise BackupError(_("Could not create a temporary file in %(folder)s", folder=folder))


def _remove(path):
    for name in (path, f"{path}-journal"):
        try:
            os.remove(name)
        except FileNotFoundError:
            pass


def _live_kind() -> str:
    return db.engine.dialect.name


def _live_sqlite_path() -> str:
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise BackupError(_("Only a SQLite database kept in a file can be backed up"))
    return os.path.abspath(path)


def _sqlite_engine(path, readonly=False):
    """An engine on one SQLite file; read-only opens never change the file."""
    uri = Path(path).resolve().as_uri() + ("?mode=ro" if readonly else "")
    return create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
    )


# --- The check ---


def _revisions():
    """(the code's head revisions, every revision the code knows)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    return set(script.get_heads()), {rev.revision for rev in script.walk_revisions()}


def _check(connection, report: Report) -> None:
    """Revision, rows per table, the audit chain and the files of the database on
    ``connection``."""
    _check_database(connection, report)
    if report.revision is not None and report.revision in _revisions()[0]:
        _check_files(connection, report)


def _check_database(connection, report: Report) -> None:
    names = sorted(inspect(connection).get_table_names())
    if "alembic_version" not in names:
        report.problems.append(
            _("Not a backup of this system: it has no schema revision (alembic_version)")
        )
        return
    report.revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    heads, known = _revisions()
    report.head = ", ".join(sorted(heads))
    if report.revision not in heads:
        if report.revision in known:
            report.problems.append(
                _(
                    "Its schema revision %(revision)s is older than this program's %(head)s: "
                    "restore it with the version of the program that made it, then run "
                    "flask db upgrade",
                    revision=report.revision,
                    head=report.head,
                )
            )
        else:
            report.problems.append(
                _(
                    "Its schema revision %(revision)s is unknown to this program (%(head)s): "
                    "it comes from a newer version of the program or from another application",
                    revision=report.revision,
                    head=report.head,
                )
            )
    else:
        missing = sorted(set(db.metadata.tables) - set(names))
        if missing:
            report.problems.append(_("Tables missing: %(names)s", names=", ".join(missing)))
    quote = connection.dialect.identifier_preparer.quote
    report.counts = {
        name: connection.execute(text(f"SELECT count(*) FROM {quote(name)}")).scalar()
        for name in names
    }
    if report.problems:
        return
    _check_key(connection, report)
    if report.problems:
        return
    # Last: on PostgreSQL a failed statement ends what the transaction can do.
    session = Session(bind=connection)
    try:
        intact, message = audit.verify(session)
        report.last_entry = session.execute(text("SELECT last_id FROM audit_head")).scalar()
    except SQLAlchemyError as exc:
        intact, message = False, str(getattr(exc, "orig", exc)).strip()
    finally:
        session.close()
    report.chain = message
    if not intact:
        report.problems.append(_("Its audit chain does not verify: %(message)s", message=message))
        return
    _check_records(connection, report)


MISSING_SHOWN = 20


def _check_files(connection, report: Report) -> None:
    """Every file the copy names (attachments, the tasks' files) must be in the store the app
    uses now (app.storage: UPLOAD_FOLDER, or the object store of STORAGE_URL): restored
    without them, its records would link to nothing."""
    attachments, tasks = Attachment.__table__, Task.__table__
    try:
        named = [
            (row.stored_name, f"{row.filename} ({row.owner_model} {row.owner_id})")
            for row in connection.execute(
                select(
                    attachments.c.stored_name,
                    attachments.c.filename,
                    attachments.c.owner_model,
                    attachments.c.owner_id,
                ).order_by(attachments.c.id)
            )
        ] + [
            (row.file_stored, f"{row.file_name} (Task {row.id})")
            for row in connection.execute(
                select(tasks.c.file_stored, tasks.c.file_name, tasks.c.id)
                .where(tasks.c.file_stored.is_not(None))
                .order_by(tasks.c.id)
            )
        ]
    except SQLAlchemyError as exc:
        if report.ok:  # otherwise the copy's problems are already named
            report.problems.append(str(getattr(exc, "orig", exc)).strip())
        return
    files = storage.store("uploads")
    present = {name for name, _modified in files.list()}
    missing = [(stored, what) for stored, what in named if stored not in present]
    report.files = _(
        "%(named)d named by the database, %(missing)d missing from the store %(store)s",
        named=len(named),
        missing=len(missing),
        store=files.describe(),
    )
    if missing:
        shown = [
            _("%(what)s, stored as %(stored)s", what=what, stored=stored)
            for stored, what in missing[:MISSING_SHOWN]
        ]
        if len(missing) > MISSING_SHOWN:
            shown.append(_("and %(n)d more", n=len(missing) - MISSING_SHOWN))
        report.files_missing = _(
            "%(n)d files it names are missing from the store %(store)s: %(names)s",
            n=len(missing),
            store=files.describe(),
            names="; ".join(shown),
        )


def _check_records(connection, report: Report) -> None:
    """Every audited record of the copy against its last state in the copy's log: a record
    changed behind the app's back does not go back in place unnoticed."""
    try:
        records = audit_records.verify_records(connection)
    except SQLAlchemyError as exc:
        report.problems.append(str(getattr(exc, "orig", exc)).strip())
        return
    report.records = audit_records.report_lines(records)
    if not records.ok:
        report.problems.append(
            _(
                "%(n)d of its records do not match its audit log (listed above)",
                n=records.bad,
            )
        )


def _check_key(connection, report: Report) -> None:
    """One sealed value of each encrypted column must open with this program's key: a backup
    made under another key would restore fine and then fail on every page that shows one."""
    where = crypto.key_mismatch(connection, db.metadata)
    if where is not None:
        report.problems.append(
            _(
                "Its ID numbers and family details were encrypted with another key "
                "(%(table)s.%(column)s): restore it where ID_ENCRYPTION_KEY (or "
                "instance/id_encryption_key) is the key it was made with",
                table=where[0],
                column=where[1],
            )
        )


def _new_report(path) -> Report:
    report = Report(path=str(path), size=os.path.getsize(path), sha256=_sha256(path))
    report.kind = file_kind(path)
    if report.kind is None:
        report.problems.append(
            _(
                "Not a backup made by flask backup create: neither a SQLite database nor a "
                "PostgreSQL dump (pg_dump -Fc)"
            )
        )
    return report


def _check_sqlite(path, report: Report) -> None:
    engine = _sqlite_engine(path, readonly=True)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
            report.integrity = "; ".join(rows[:5])
            if rows != ["ok"]:
                report.problems.append(_("The SQLite integrity check failed"))
                return
            _check(connection, report)
    except SQLAlchemyError as exc:
        report.problems.append(
            _("The file cannot be read as a database: %(error)s", error=exc.orig or exc)
        )
    finally:
        engine.dispose()


def verify(path) -> Report:
    """Check a backup file without changing anything."""
    report = _new_report(path)
    if report.kind == "sqlite":
        _check_sqlite(path, report)
    elif report.kind == "postgresql":
        if _live_kind() != "postgresql":
            report.problems.append(
                _("A PostgreSQL dump is checked against a PostgreSQL database: set DATABASE_URL")
            )
        else:
            with PostgresLoad(path, report):
                pass  # loaded, checked and rolled back
    if report.files_missing:
        report.problems.append(report.files_missing)
    return report


# --- PostgreSQL tools ---


def _tool_version(path) -> int | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"(\d+)(?:\.\d+)?", out.stdout)
    return int(match.group(1)) if match else None


def pg_tool(name, server_major: int) -> str:
    """Debian's pg_dump / pg_restore of the server's version (or the nearest newer one), else
    the one on the PATH if it is new enough: an older one refuses a newer server's data."""
    found = []
    for folder in glob.glob("/usr/lib/postgresql/*/bin"):
        version = os.path.basename(os.path.dirname(folder))
        tool = os.path.join(folder, name)
        if version.isdigit() and int(version) >= server_major and os.access(tool, os.X_OK):
            found.append((int(version), tool))
    if found:
        return min(found)[1]
    on_path = shutil.which(name)
    if on_path and (_tool_version(on_path) or 0) >= server_major:
        return on_path
    raise BackupError(
        _(
            "%(tool)s for PostgreSQL %(version)s or newer was not found: install the "
            "postgresql-client package",
            tool=name,
            version=server_major,
        )
    )


def _pg_environment(url) -> dict:
    """libpq's variables for the app's database: the password never on a command line."""
    env = dict(os.environ)
    values = {
        "PGHOST": url.host or url.query.get("host"),
        "PGPORT": url.port,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
        "PGSSLMODE": url.query.get("sslmode"),
    }
    env.update((key, str(value)) for key, value in values.items() if value is not None)
    return env


def _server_major() -> int:
    with db.engine.connect() as connection:
        return connection.dialect.server_version_info[0]


class PostgresLoad:
    """A dump loaded as the schema ``public`` in one transaction, the current ``public``
    renamed aside; checked into ``report``. Rolled back on exit unless ``commit()`` ran."""

    def __init__(self, path, report: Report):
        self.path, self.report = path, report
        self.aside = f"backup_replaced_{secrets.token_hex(4)}"
        self.engine = create_engine(db.engine.url, poolclass=NullPool)
        self.connection = None

    def __enter__(self):
        self.connection = self.engine.connect()
        try:
            major = self.connection.dialect.server_version_info[0]
            tool = pg_tool("pg_restore", major)
            self.connection.exec_driver_sql(f'ALTER SCHEMA public RENAME TO "{self.aside}"')
            # Owned like the one it replaces (pg_database_owner since PostgreSQL 15).
            owner = self.connection.execute(
                text("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = :name"),
                {"name": self.aside},
            ).scalar()
            self.connection.exec_driver_sql(f"CREATE SCHEMA public AUTHORIZATION {owner}")
            self._copy_grants()
            self._load(tool)
            self.connection.exec_driver_sql("RESET search_path")
            _check(self.connection, self.report)
        except BackupError as exc:
            self._rollback()
            self.report.problems.append(str(exc))
        except SQLAlchemyError as exc:
            self._rollback()
            self.report.problems.append(
                _("The dump cannot be loaded: %(error)s", error=getattr(exc, "orig", exc))
            )
        return self

    def _copy_grants(self):
        """Who may use the schema, as before (PostgreSQL 15 lets everyone use public)."""
        grants = self.connection.execute(
            text(
                "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, "
                "a.privilege_type, a.is_grantable FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE n.nspname = :name AND a.grantee <> n.nspowner"
            ),
            {"name": self.aside},
        ).all()
        for grantee, privilege, grantable in grants:
            option = " WITH GRANT OPTION" if grantable else ""
            self.connection.exec_driver_sql(
                f"GRANT {privilege} ON SCHEMA public TO {grantee}{option}"
            )

    def _rollback(self):
        if self.connection.in_transaction():
            self.connection.rollback()

    def _load(self, tool):
        cursor = self.connection.connection.driver_connection.cursor()
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [tool, "--no-owner", "--no-acl", "-f", "-", str(self.path)],
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            try:
                complete = _run_script(cursor, process.stdout)
            except self.connection.dialect.loaded_dbapi.Error as exc:
                process.kill()
                raise BackupError(_("The dump cannot be loaded: %(error)s", error=exc)) from exc
            except Exception:
                process.kill()
                raise
            finally:
                process.stdout.close()
                returncode = process.wait()
            if returncode or not complete:
                errors.seek(0)
                said = errors.read().decode("utf-8", "replace").strip().splitlines()
                raise BackupError(
                    _(
                        "The dump is damaged or incomplete: %(error)s",
                        error=said[-1] if said else returncode,
                    )
                )

    def commit(self, details: dict):
        """Put the loaded database in place: audit the restore, drop the old schema."""
        connection = self.connection
        # The old chain's lock: nobody writes to the replaced database any more.
        connection.exec_driver_sql(
            f'UPDATE "{self.aside}".audit_head SET last_id = last_id WHERE id = 1'
        )
        head = connection.exec_driver_sql(
            f'SELECT last_id, last_hash FROM "{self.aside}".audit_head WHERE id = 1'
        ).one_or_none()
        _record_restore(connection, details, head)
        connection.exec_driver_sql(f'DROP SCHEMA "{self.aside}" CASCADE')
        connection.commit()

    def __exit__(self, *exc):
        if self.connection is not None:
            self._rollback()
            self.connection.close()
        self.engine.dispose()


def _run_script(cursor, stream) -> bool:
    """Run pg_restore's SQL: statements in chunks, data blocks through COPY. True when the
    script ran to its end (every data block closed)."""
    pending = []

    def flush():
        if pending:
            cursor.execute(b"".join(pending))
            pending.clear()

    lines = iter(stream)
    for line in lines:
        if COPY_LINE.match(line):
            flush()
            with cursor.copy(line[:-2]) as copy:
                batch, size = [], 0
                for data in lines:
                    if data == b"\\.\n":
                        break
                    batch.append(data)
                    size += len(data)
                    if size >= COPY_BATCH_BYTES:
                        copy.write(b"".join(batch))
                        batch, size = [], 0
                else:
                    return False
                copy.write(b"".join(batch))
        elif line.startswith(b"\\"):
            if not line.startswith(HARMLESS_COMMANDS):
                raise BackupError(_("The dump holds commands this program does not run"))
        elif line != b"CREATE SCHEMA public;\n":  # made above, beside the renamed one
            pending.append(line)
    flush()
    return True


# --- Create ---


@dataclass
class Created:
    """A backup just written."""

    path: str
    kind: str
    size: int
    sha256: str


def create(path) -> Created:
    """Write a backup of the live database to ``path`` (a new file, mode 0600); audited."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        raise BackupError(_("%(path)s already exists: choose a new file name", path=path))
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise BackupError(_("No folder %(folder)s", folder=folder))
    kind = _live_kind()
    if kind not in KIND_NAMES:
        raise BackupError(_("Backups are made of SQLite and PostgreSQL databases only"))
    partial = _private_path(folder, os.path.basename(path))
    try:
        if kind == "sqlite":
            live = _live_sqlite_path()
            if not os.path.exists(live):
                raise BackupError(_("The database file %(path)s does not exist", path=live))
            with (
                closing(sqlite3.connect(live)) as source,
                closing(sqlite3.connect(partial)) as copy,
            ):
                # One step: one read transaction, so one consistent snapshot.
                source.backup(copy)
        else:
            _pg_dump(partial)
        created = Created(path, kind, os.path.getsize(partial), _sha256(partial))
        audit.record(
            "backup",
            details={
                "file": os.path.basename(path),
                "sha256": created.sha256,
                "bytes": created.size,
                "database": KIND_NAMES[kind],
            },
            session=db.session,
        )
        os.replace(partial, path)
    except BaseException:
        _remove(partial)
        raise
    return created


def _pg_dump(target):
    url = db.engine.url
    tool = pg_tool("pg_dump", _server_major())
    result = subprocess.run(
        [tool, "--format=custom", "--no-password", "--file", target],
        env=_pg_environment(url),
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise BackupError(_("pg_dump failed: %(error)s", error=result.stderr.strip()))


# --- Restore ---


def target_name() -> str:
    """The live database, as the confirmation names it (no password)."""
    if _live_kind() == "sqlite":
        return _live_sqlite_path()
    url = db.engine.url
    return f"{url.database} @ {url.host or 'localhost'}:{url.port or 5432}"


def _record_restore(connection, details: dict, replaced_head):
    """The restore's entry, written into the restored database before it goes in place."""
    if replaced_head is not None:
        details = {
            **details,
            "replaced_last_entry": replaced_head[0],
            "replaced_last_hash": replaced_head[1],
        }
    session = Session(bind=connection)
    try:
        audit.record("restore", details=details, session=session, commit=False)
    finally:
        session.close()


class SqliteRestore:
    """The backup copied beside the live file and checked; ``commit()`` copies it over the
    live database in one write transaction (the app's other connections see it at once)."""

    def __init__(self, path, report: Report):
        self.path, self.report = path, report
        self.live = _live_sqlite_path()
        self.staged = None

    def __enter__(self):
        folder = os.path.dirname(self.live)
        os.makedirs(folder, exist_ok=True)
        self.staged = _private_path(folder, os.path.basename(self.live) + ".restore")
        uri = Path(self.path).resolve().as_uri() + "?mode=ro"
        try:
            with (
                closing(sqlite3.connect(uri, uri=True)) as source,
                closing(sqlite3.connect(self.staged)) as copy,
            ):
                source.backup(copy)
        except sqlite3.DatabaseError as exc:
            self.report.problems.append(
                _("The file cannot be read as a database: %(error)s", error=exc)
            )
            return self
        # The copy is what goes in place, so the copy is what is checked.
        _check_sqlite(self.staged, self.report)
        return self

    def commit(self, details: dict):
        replaced = None
        if os.path.exists(self.live):
            with closing(sqlite3.connect(self.live)) as live:
                try:
                    replaced = live.execute(
                        "SELECT last_id, last_hash FROM audit_head WHERE id = 1"
                    ).fetchone()
                except sqlite3.DatabaseError:
                    replaced = None
        engine = _sqlite_engine(self.staged)
        try:
            with engine.begin() as connection:
                _record_restore(connection, details, replaced)
        finally:
            engine.dispose()
        with (
            closing(sqlite3.connect(self.staged)) as source,
            closing(sqlite3.connect(self.live)) as live,
        ):
            source.backup(live)

    def __exit__(self, *exc):
        if self.staged:
            _remove(self.staged)


def restoring(path):
    """The backup at ``path`` staged and checked (``.report``); leave the ``with`` block
    without ``.commit(…)`` and nothing has changed. Refuses a file of the other engine."""
    report = _new_report(path)
    kind = _live_kind()
    if report.kind and report.kind != kind:
        report.problems.append(
            _(
                "This is a %(file)s backup and the database is %(database)s: restore it into "
                "a %(file)s database",
                file=KIND_NAMES[report.kind],
                database=KIND_NAMES.get(kind, kind),
            )
        )
    if report.problems:
        return _Refused(report)
    db.session.remove()
    if kind == "sqlite":
        return _Restore(SqliteRestore(path, report))
    return _Restore(PostgresLoad(path, report))


class _Restore:
    """The engine's staging, with ``commit()`` recording what was restored."""

    def __init__(self, staging):
        self.staging = staging
        self.report = staging.report

    def __enter__(self):
        self.staging.__enter__()
        return self

    def commit(self):
        if not self.report.ok:
            raise BackupError(_("The backup cannot be restored"))
        self.staging.commit(
            {
                "file": os.path.basename(self.report.path),
                "sha256": self.report.sha256,
                "revision": self.report.revision,
                "backup_last_entry": self.report.last_entry,
            }
        )
        db.engine.dispose()

    def __exit__(self, *exc):
        self.staging.__exit__(*exc)


class _Refused:
    """A file refused before anything was staged."""

    def __init__(self, report):
        self.report = report

    def __enter__(self):
        return self

    def commit(self):
        raise BackupError(_("The backup cannot be restored"))

    def __exit__(self, *exc):
        return None
