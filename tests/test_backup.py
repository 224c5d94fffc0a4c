"""Backup and restore (issue 7 item 7): `flask backup create | verify | restore`, on SQLite and,
with TEST_DATABASE_URL, on PostgreSQL (pg_dump / pg_restore)."""

import hashlib
import json
import os
import stat
import threading
import time

import pytest
from sqlalchemy import create_engine, func, select, text

from app.models import AuditLog, Meeting, Member, meeting_attendee
from tests.helpers import member

ON_POSTGRES = bool(os.environ.get("TEST_DATABASE_URL"))


def _run(app, *args, stdin=None):
    return app.test_cli_runner().invoke(args=["backup", *args], input=stdin)


def _state(app):
    """What a restore must bring back: a member's name, the attendance rows, the last entry."""
    with app.app_context():
        session = app.appbuilder.session
        first = session.execute(select(Member).order_by(Member.id).limit(1)).scalar_one()
        return {
            "name": first.name,
            "attendees": session.execute(
                select(func.count()).select_from(meeting_attendee)
            ).scalar(),
            "last_entry": session.execute(select(func.max(AuditLog.id))).scalar(),
        }


def _change_data(app):
    """Audited changes made after the backup."""
    with app.app_context():
        session = app.appbuilder.session
        first = session.execute(select(Member).order_by(Member.id).limit(1)).scalar_one()
        first.name = "改过的名字"
        meeting = session.execute(
            select(Meeting).where(Meeting.attendees.any()).order_by(Meeting.id).limit(1)
        ).scalar_one()
        meeting.attendees = []
        session.commit()


def _last_entry(app):
    with app.app_context():
        row = app.appbuilder.session.execute(
            select(AuditLog).order_by(AuditLog.id.desc()).limit(1)
        ).scalar_one()
        return row.action, json.loads(row.changes), row.username


def _sql(app, *statements):
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture
def backup_file(app, tmp_path):
    """A fresh backup of the demo township."""
    path = tmp_path / "jsx-backup.bak"
    result = _run(app, "create", str(path))
    assert result.exit_code == 0, result.output
    return path


def test_create_writes_a_private_file_and_audits_it(app, backup_file):
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600
    action, details, username = _last_entry(app)
    assert action == "backup" and username == "system"
    assert details["file"] == "jsx-backup.bak"
    assert details["sha256"] == hashlib.sha256(backup_file.read_bytes()).hexdigest()
    assert details["database"] == ("PostgreSQL" if ON_POSTGRES else "SQLite")
    # Never over an existing file (the live database included).
    again = _run(app, "create", str(backup_file))
    assert again.exit_code == 1 and "已存在" in again.output


def test_verify_reports_revision_rows_and_chain(app, backup_file):
    before = _state(app)
    result = _run(app, "verify", str(backup_file))
    assert result.exit_code == 0, result.output
    out = result.output
    assert ("PostgreSQL" if ON_POSTGRES else "SQLite") in out
    with app.app_context():
        head = app.appbuilder.session.execute(text("SELECT version_num FROM alembic_version"))
        revision = head.scalar()
        members = app.appbuilder.session.query(Member).count()
    assert f"数据库结构版本：{revision}（本程序：{revision}）" in out
    if not ON_POSTGRES:
        assert "完整性检查：ok" in out
    # The backup was taken before its own entry was written.
    assert f"审计链：{before['last_entry'] - 1} entries, chain intact" in out
    rows = dict(line.split() for line in out.splitlines() if line.startswith("  "))
    assert rows["member"] == f"{members:,}"
    assert rows["meeting_attendee"] == f"{before['attendees']:,}"
    assert "备份完好，可以恢复。" in out


def test_verify_names_the_attachments_missing_from_the_upload_folder(app, login_as, tmp_path):
    """The files are not in the backup: verify checks the store holds every one it names."""
    from app.models import Attachment, Document
    from tests.files import make, newest_attachment, pdf_bytes, png_bytes, upload

    document = make(app, Document, "新檀村")
    president = login_as("xintan_president")
    upload(president, "Document", document, pdf_bytes(), "章程.pdf")
    upload(president, "Document", document, png_bytes(), "合影.png")
    path = tmp_path / "with-files.bak"
    assert _run(app, "create", str(path)).exit_code == 0
    sound = _run(app, "verify", str(path))
    assert sound.exit_code == 0 and "文件：数据库记载 2 个" in sound.output
    with app.app_context():
        lost = app.appbuilder.session.get(Attachment, newest_attachment(app)).stored_name
    os.remove(os.path.join(app.config["UPLOAD_FOLDER"], lost))
    result = _run(app, "verify", str(path))
    assert result.exit_code == 1
    folder = app.config["UPLOAD_FOLDER"]
    assert (
        f"其记载的 1 个文件在存储 {folder} 中缺失：合影.png (Document {document})" in result.output
    )
    assert lost in result.output and "章程.pdf" not in result.output
    # A restore goes on (a database without one file is better than none) and names it.
    restored = _run(app, "restore", str(path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert "其记载的 1 个文件在存储" in restored.output and lost in restored.output


def test_round_trip_brings_the_data_back_and_records_the_restore(app, backup_file):
    kept = _state(app)
    _change_data(app)
    changed = _state(app)
    assert changed["name"] == "改过的名字" and changed["attendees"] < kept["attendees"]

    result = _run(app, "restore", "--yes", str(backup_file))
    assert result.exit_code == 0, result.output
    assert "已从" in result.output and "恢复数据库" in result.output

    restored = _state(app)
    assert restored["name"] == kept["name"]
    assert restored["attendees"] == kept["attendees"]
    action, details, username = _last_entry(app)
    assert action == "restore" and username == "system"
    assert details["file"] == "jsx-backup.bak"
    assert details["sha256"] == hashlib.sha256(backup_file.read_bytes()).hexdigest()
    # The backup ends where it was taken; the replaced database had gone further.
    assert details["backup_last_entry"] == kept["last_entry"] - 1
    assert details["replaced_last_entry"] == changed["last_entry"]
    assert restored["last_entry"] == kept["last_entry"]
    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "chain intact" in verified.output
    # The app carries on: the restored database takes new audited writes.
    _change_data(app)
    assert app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0


def test_restore_asks_first(app, backup_file):
    kept = _state(app)
    _change_data(app)
    changed = _state(app)
    result = _run(app, "restore", str(backup_file), stdin="n\n")
    assert result.exit_code == 1
    assert "用此备份替换数据库" in result.output and "未做任何更改" in result.output
    assert _state(app) == changed
    result = _run(app, "restore", str(backup_file), stdin="y\n")
    assert result.exit_code == 0, result.output
    assert _state(app)["attendees"] == kept["attendees"]


def _refused(app, path, *reasons, live_chain_intact=True):
    """verify says why; restore refuses with the same reasons; nothing has changed."""
    _change_data(app)
    changed = _state(app)
    verified = _run(app, "verify", str(path))
    assert verified.exit_code == 1, verified.output
    assert "此备份不能恢复" in verified.output
    restored = _run(app, "restore", "--yes", str(path))
    assert restored.exit_code == 1, restored.output
    assert "未做任何更改" in restored.output
    for reason in reasons:
        assert reason in verified.output and reason in restored.output
    assert _state(app) == changed
    chain = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert (chain.exit_code == 0) == live_chain_intact
    return verified.output, restored.output


def test_a_truncated_backup_is_refused(app, backup_file):
    data = backup_file.read_bytes()
    backup_file.write_bytes(data[: len(data) // 2])
    reason = "转储文件已损坏或不完整" if ON_POSTGRES else "无法作为数据库读取此文件"
    _refused(app, backup_file, reason)


@pytest.mark.parametrize(
    "content",
    [b"", "不是备份\n".encode(), b"PGDMP" + os.urandom(2000), b"SQLite format 3\x00" + bytes(2000)],
    ids=["empty", "text", "pg-garbage", "sqlite-garbage"],
)
def test_a_garbage_file_is_refused(app, tmp_path, content):
    path = tmp_path / "garbage.bak"
    path.write_bytes(content)
    _refused(app, path, "此备份不能恢复")


def test_a_foreign_database_is_refused(app, tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE t (x)")
    verified, restored = _refused(app, path)
    assert "不是本系统的备份" in verified
    # A SQLite file is never loaded into PostgreSQL.
    engine = "这是 SQLite 备份，而当前数据库是 PostgreSQL" if ON_POSTGRES else "不是本系统的备份"
    assert engine in restored


@pytest.mark.parametrize(
    "which,reason", [("first", "早于本程序"), ("unknown", "不认识其数据库结构版本")]
)
def test_a_backup_of_another_schema_revision_is_named_and_refused(app, tmp_path, which, reason):
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(app.extensions["migrate"].directory)
    head = script.get_current_head()
    revision = list(script.walk_revisions())[-1].revision if which == "first" else "9999_later"
    _sql(app, f"UPDATE alembic_version SET version_num = '{revision}'")
    path = tmp_path / "other-revision.bak"
    assert _run(app, "create", str(path)).exit_code == 0
    _sql(app, f"UPDATE alembic_version SET version_num = '{head}'")
    _refused(app, path, revision, reason)


def test_a_backup_whose_audit_chain_was_tampered_with_is_refused(app, tmp_path):
    from app import audit

    dialect = "postgresql" if ON_POSTGRES else "sqlite"
    _sql(
        app,
        *audit.TRIGGERS_OFF[dialect],
        "UPDATE audit_log SET username = 'someone_else' WHERE id = 5",
        *audit.TRIGGERS_ON[dialect],
    )
    path = tmp_path / "tampered.bak"
    assert _run(app, "create", str(path)).exit_code == 0
    # The live database was tampered with the same way: its own chain still fails.
    _refused(app, path, "其审计链校验未通过：#5", live_chain_intact=False)


def test_a_backup_under_another_key_is_refused(app, backup_file, monkeypatch):
    """Restored on a host with another ID_ENCRYPTION_KEY it would open, then fail on every
    page showing an ID number: verify and restore name the key, and nothing changes."""
    _change_data(app)
    changed = _state(app)
    monkeypatch.setitem(app.config, "ID_ENCRYPTION_KEY", "another host's key")
    verified = _run(app, "verify", str(backup_file))
    restored = _run(app, "restore", "--yes", str(backup_file))
    monkeypatch.undo()
    assert verified.exit_code == 1 and restored.exit_code == 1, restored.output
    for output in (verified.output, restored.output):
        assert "另一个密钥加密" in output and "ID_ENCRYPTION_KEY" in output
    assert "未做任何更改" in restored.output
    assert _state(app) == changed


def test_a_backup_whose_log_is_keyed_with_another_key_is_refused(app, backup_file, monkeypatch):
    """A copy with no encrypted value to try the key on (a new installation): its audit chain's
    HMAC is what tells the key (issue 15, class 8), and the report names it."""
    from app import crypto

    monkeypatch.setattr(crypto, "key_mismatch", lambda *_args: None)
    monkeypatch.setitem(app.config, "ID_ENCRYPTION_KEY", "another host's key")
    verified = _run(app, "verify", str(backup_file))
    monkeypatch.undo()
    assert verified.exit_code == 1, verified.output
    assert "其审计链校验未通过" in verified.output and "ID_ENCRYPTION_KEY" in verified.output


def test_restored_members_read_back(app, backup_file):
    """What the app shows after a restore: the same member, ID number and all."""
    with app.app_context():
        first = member(app.appbuilder.session, "新檀村")
        kept = (first.id, first.name, first.id_number)
    _change_data(app)
    assert _run(app, "restore", "--yes", str(backup_file)).exit_code == 0
    with app.app_context():
        again = app.appbuilder.session.get(Member, kept[0])
        assert (again.id, again.name, again.id_number) == kept


def test_a_backup_taken_while_the_app_writes_is_consistent(app, tmp_path):
    """The copy is one snapshot: its audit chain verifies though writers kept writing."""
    stop, errors, written = threading.Event(), [], []

    def writer():
        try:
            with app.app_context():
                session = app.appbuilder.session
                first = session.execute(select(Member).order_by(Member.id).limit(1)).scalar_one()
                while not stop.is_set() and len(written) < 300:
                    first.address = f"新檀村第一组{len(written)}号"
                    session.commit()
                    written.append(1)
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    path = tmp_path / "busy.bak"
    try:
        while not written and thread.is_alive():
            time.sleep(0.01)
        created = _run(app, "create", str(path))
    finally:
        stop.set()
        thread.join()
    assert not errors and created.exit_code == 0, created.output
    verified = _run(app, "verify", str(path))
    assert verified.exit_code == 0, verified.output
    assert "chain intact" in verified.output
