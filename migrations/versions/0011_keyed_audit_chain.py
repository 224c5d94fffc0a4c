"""audit log: the chain is keyed (HMAC-SHA256 from ID_ENCRYPTION_KEY) from here on

Revision ID: 0011_keyed_audit_chain
Revises: 0010_session_epoch
Create Date: 2026-12-12 09:00:00

Entries written so far carry a plain SHA-256 that anyone with the database file can compute
(issue 15, class 8). From this revision every entry carries an HMAC keyed from
ID_ENCRYPTION_KEY, which is not in the database. No schema change: the upgrade appends one
keyed entry, ``chain_keyed``, right after the unkeyed ones (when there are any). Its HMAC
covers the last unkeyed hash, so the unkeyed run can no longer be changed or extended without
the key; ``flask audit verify`` accepts unkeyed entries only before the first keyed one.

"""

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = "0011_keyed_audit_chain"
down_revision = "0010_session_epoch"
branch_labels = None
depends_on = None

# The entry's columns as they are at this revision (app.audit.HASHED_FIELDS then).
COLUMNS = (
    "id",
    "ts",
    "user_id",
    "username",
    "role",
    "scope",
    "ip",
    "endpoint",
    "action",
    "model",
    "record_id",
    "township_id",
    "village_id",
    "group_id",
    "changes",
)


def upgrade():
    from app import audit

    bind = op.get_bind()
    # The chain's lock first (as every writer takes it), then its head.
    bind.execute(sa.text("UPDATE audit_head SET last_id = last_id WHERE id = 1"))
    head = bind.execute(sa.text("SELECT last_id, last_hash FROM audit_head WHERE id = 1")).one()
    last_id, last_hash = head
    if not last_id:
        return  # an empty log: its first entry will be keyed
    entry = dict.fromkeys(COLUMNS)
    entry.update(
        id=last_id + 1,
        ts=dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0),
        username="system",
        role="system",
        endpoint="flask db upgrade",
        action="chain_keyed",
        changes=json.dumps({"keyed_from": last_id + 1, "unkeyed_up_to": last_id}),
    )
    digest = audit.entry_mac(entry, last_hash)
    bind.execute(
        sa.text(
            f"INSERT INTO audit_log ({', '.join(COLUMNS)}, prev_hash, hash) "
            f"VALUES ({', '.join(':' + c for c in COLUMNS)}, :prev_hash, :hash)"
        ),
        {**entry, "prev_hash": last_hash, "hash": digest},
    )
    bind.execute(
        sa.text("UPDATE audit_head SET last_id = :id, last_hash = :hash WHERE id = 1"),
        {"id": last_id + 1, "hash": digest},
    )


def downgrade():
    # Nothing to undo in the schema. The keyed entries stay (the log is append-only): the
    # program of revision 0010 reports them as not matching their SHA-256.
    pass
