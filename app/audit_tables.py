"""The audit log's two tables (SPEC §3.4): the hash-chained entries and the chain's head.

They are not registers: ``app/audit.py`` writes them, the audit log screen reads them. They
live here, below ``app/models.py``, which re-exports them and gives the entries' ``model``
column the registers as its choices (``REGISTERS``).
"""

import datetime as dt

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.fields import Choices, field

AUDIT_ACTION = Choices(
    ("insert", _l("Added")),
    ("update", _l("Changed")),
    ("delete", _l("Deleted")),
    ("login", _l("Signed in")),
    ("login_password", _l("Password accepted (second factor pending)")),
    ("login_failed", _l("Sign-in failed")),
    ("login_throttled", _l("Sign-in throttled")),
    ("logout", _l("Signed out")),
    ("session_expired", _l("Session expired (idle)")),
    ("twofactor_passed", _l("Second factor passed")),
    ("twofactor_failed", _l("Second factor failed")),
    ("recovery_code_used", _l("Recovery code used")),
    ("twofactor_enrolled", _l("Two-factor login set up")),
    ("twofactor_reset", _l("Two-factor login reset")),
    ("export", _l("Exported")),
    ("reveal", _l("Full ID number shown")),
    ("prune", _l("Old entries pruned")),
    ("import", _l("Imported")),
    ("import_preview", _l("Import previewed (dry run)")),
    ("import_refused", _l("Import refused, nothing written")),
    ("backup", _l("Backup made")),
    ("restore", _l("Restored from a backup")),
    ("session_ended", _l("Old session refused (signed out elsewhere)")),
    ("signout_everywhere", _l("Signed out everywhere")),
    ("chain_keyed", _l("Audit chain keyed (entries before it: unkeyed SHA-256)")),
)


class AuditLog(Model):
    """审计日志: one append-only, hash-chained entry per change, sign-in, export or reveal."""

    __label__ = _l("Audit log")
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_model_record", "model", "record_id"),
        # Batch entries only (few): which batch holds a given record.
        Index(
            "ix_audit_log_model_batch",
            "model",
            "record_last",
            sqlite_where=text("record_last IS NOT NULL"),
            postgresql_where=text("record_last IS NOT NULL"),
        ),
    )
    __scope__ = {"township": "township_id", "village": "village_id", "group": "group_id"}

    # Assigned by app.audit under the chain lock, so that the hash can cover it.
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ts: Mapped[dt.datetime] = field(_l("Time (UTC)"), index=True)
    user_id: Mapped[int | None] = field(_l("User id"), Integer)
    username: Mapped[str | None] = field(_l("User"), String(128), index=True)
    role: Mapped[str | None] = field(_l("Role"), String(64))
    scope: Mapped[str | None] = field(_l("Scope"), String(64))
    ip: Mapped[str | None] = field(_l("IP address"), String(45))
    endpoint: Mapped[str | None] = field(_l("Page, API or command"), String(200))
    action: Mapped[str] = field(_l("Action"), String(24), choices=AUDIT_ACTION, index=True)
    model: Mapped[str | None] = field(_l("Register"), String(64))
    record_id: Mapped[int | None] = field(_l("Record"), Integer)
    # A bulk write's entry covers records record_id … record_last (SPEC §3.4, issue 3).
    record_last: Mapped[int | None] = field(_l("Last record"), Integer)
    township_id: Mapped[int | None] = field(_l("Township"), Integer, index=True)
    village_id: Mapped[int | None] = field(_l("Village"), Integer, index=True)
    group_id: Mapped[int | None] = field(_l("Member group"), Integer, index=True)
    changes: Mapped[str | None] = field(_l("Changes"), Text)
    prev_hash: Mapped[str] = field(_l("Previous hash"), String(64))
    hash: Mapped[str] = field(_l("Hash"), String(64))

    def __repr__(self):
        return f"#{self.id}"

    @property
    def records(self) -> str:
        """The record, or the span of records a bulk write's entry covers."""
        if self.record_id is None:
            return ""
        if self.record_last is None or self.record_last == self.record_id:
            return str(self.record_id)
        return f"{self.record_id}–{self.record_last}"


class AuditHead(Model):
    """The end of the audit chain: one row, locked by every writer so the chain cannot fork."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
