"""Encryption at rest for ID numbers and sensitive household fields (issue 7, items 3 and 4).

A column typed ``Encrypted`` holds ``v1:`` + base64(nonce ‖ AES-256-GCM ciphertext ‖ tag):
encrypted when bound, decrypted when loaded, so ORM code reads and writes plain values. Each
value gets a fresh random nonce, so equal values do not look equal in the database.

Lookups and uniqueness go through a keyed hash beside the column (``<column>_hash``,
HMAC-SHA256 of the normalised value): ``Member.id_number == "…"`` and ``.in_([...])`` are
rewritten to compare the hash column (``Encrypted.Comparator``), and the hash is filled in
before every flush (``install``) and by the bulk writers (``hash_columns``). Partial matches
(LIKE, contains, starts-with) cannot work on ciphertext and raise ``NotSearchable``: the list
filters drop them the way they drop filters on masked fields.

The key comes from ``ID_ENCRYPTION_KEY`` (config or environment); the embedded default is
generated once under ``instance/`` with mode 0600. Both derived keys (encryption and lookup)
come from it by HKDF, and so do the audit chain's HMAC key and the key of the log's password
fingerprints (``audit_mac``, ``fingerprint``). It is not in the database: back it up with the
database.
"""

import base64
import hashlib
import hmac
import os
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask.globals import _cv_app
from sqlalchemy import String, Text, event, inspect, text
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

PREFIX = "v1:"
# A sealed value is this long for a plain value of n UTF-8 bytes: prefix + base64(12 + n + 16).
NONCE_BYTES = 12

# Derived keys per configured secret; "default" names the one ``configure`` chose last.
_keys: dict = {}


class NotSearchable(ValueError):
    """A partial match asked of an encrypted column."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


def _keys_for(secret) -> dict:
    keys = _keys.get(secret)
    if keys is None:
        if not secret:
            raise RuntimeError("ID_ENCRYPTION_KEY is empty")
        raw = secret.encode() if isinstance(secret, str) else secret
        keys = {
            "aead": AESGCM(_derive(raw, b"jsx id encryption v1")),
            # Keyed once; each hash copies it (half the cost of a new HMAC per value).
            "lookup": hmac.new(_derive(raw, b"jsx id lookup v1"), digestmod=hashlib.sha256),
            # The audit chain's key (issue 15, class 8): an entry forged with the sqlite3
            # shell cannot be chained without it, and it is not in the database.
            "audit": hmac.new(_derive(raw, b"jsx audit chain v1"), digestmod=hashlib.sha256),
            # Fingerprints of stored password hashes, so the log can say a hash changed
            # without holding it.
            "fingerprint": hmac.new(
                _derive(raw, b"jsx audit password v1"), digestmod=hashlib.sha256
            ),
        }
        _keys[secret] = keys
    return keys


def configure(secret: str | bytes) -> None:
    """Derive the encryption and lookup keys from the configured secret (the app factory);
    the key used outside an app context."""
    _keys["default"] = _keys_for(secret)


def _key(name):
    """The current app's key (each app may have its own: tests build several), else the last
    configured one. Read from the app context's variable itself: through ``current_app`` the
    lookup cost more than the encryption (called once per value of a 100k-row import)."""
    context = _cv_app.get(None)
    if context is not None:
        return _keys_for(context.app.config["ID_ENCRYPTION_KEY"])[name]
    return _keys["default"][name]


def seal(value):
    """The stored form of a plain text value (None stays None)."""
    if value is None:
        return None
    nonce = os.urandom(NONCE_BYTES)
    sealed = _key("aead").encrypt(nonce, str(value).encode(), None)
    return PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def is_sealed(value) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def unseal(value):
    """The plain text of a stored value; a value stored before encryption passes as it is."""
    if not is_sealed(value):
        return value
    data = base64.b64decode(value[len(PREFIX) :])
    return _key("aead").decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None).decode()


def normalise(value):
    return None if value is None else str(value).strip().upper()


def lookup_hash(value):
    """HMAC-SHA256 (hex) of the normalised value: what uniqueness and lookups compare."""
    if value is None or value == "":
        return None
    digest = _key("lookup").copy()
    digest.update(normalise(value).encode())
    return digest.hexdigest()


def lookup_hashes(values) -> list:
    """``lookup_hash`` of each value, the key fetched once (the bulk writers)."""
    keyed = _key("lookup")
    out = []
    for value in values:
        if value is None or value == "":
            out.append(None)
            continue
        digest = keyed.copy()
        digest.update(str(value).strip().upper().encode())
        out.append(digest.hexdigest())
    return out


def audit_mac():
    """A fresh HMAC-SHA256 keyed with the audit chain's key (update it, then hexdigest)."""
    return _key("audit").copy()


FINGERPRINT = "hmac:"


def fingerprint(value):
    """What the log keeps of a stored password hash: a keyed digest, never the hash itself
    (None stays None). Equal hashes give equal fingerprints, under this key only."""
    if value is None:
        return None
    digest = _key("fingerprint").copy()
    digest.update(str(value).encode())
    return FINGERPRINT + digest.hexdigest()


def hash_name(key: str) -> str:
    return f"{key}_hash"


class Encrypted(TypeDecorator):
    """Text encrypted at rest; ``hashed`` columns have a ``<name>_hash`` lookup column."""

    impl = String
    cache_ok = True

    def __init__(self, length=None, hashed=False):
        # Room for the ciphertext of ``length`` characters of up to 3 UTF-8 bytes each.
        stored = (
            None if length is None else len(PREFIX) + 4 * ((NONCE_BYTES + 16 + 3 * length + 2) // 3)
        )
        super().__init__(stored)
        self.plain_length = length
        self.hashed = hashed

    def process_bind_param(self, value, dialect):
        return seal(value)

    def process_result_value(self, value, dialect):
        return unseal(value)

    def bind_processor(self, dialect):
        # One plain function (no per-row dispatch): the bulk importer maps it over a column.
        return seal

    class Comparator(TypeDecorator.Comparator):
        """Equality through the hash column; partial matches refused."""

        def _hash_column(self):
            column = self.expr
            table = getattr(column, "table", None)
            name = hash_name(getattr(column, "key", ""))
            if not self.type.hashed or table is None or name not in table.c:
                raise NotSearchable(f"{getattr(column, 'key', column)} is encrypted")
            return table.c[name]

        def operate(self, op, *other, **kwargs):
            if op is operators.eq:
                value = other[0]
                if value is None:
                    return self.expr.is_(None)
                return self._hash_column() == lookup_hash(value)
            if op is operators.ne:
                value = other[0]
                if value is None:
                    return self.expr.is_not(None)
                return self._hash_column() != lookup_hash(value)
            if op is operators.in_op:
                return self._hash_column().in_([lookup_hash(v) for v in other[0]])
            if op is operators.not_in_op:
                return self._hash_column().not_in([lookup_hash(v) for v in other[0]])
            if op in (operators.is_, operators.is_not, operators.asc_op, operators.desc_op):
                return super().operate(op, *other, **kwargs)
            if op in (operators.nulls_first_op, operators.nulls_last_op):
                return super().operate(op, *other, **kwargs)
            raise NotSearchable(f"{getattr(self.expr, 'key', self.expr)} is encrypted")

        def reverse_operate(self, op, other, **kwargs):
            raise NotSearchable(f"{getattr(self.expr, 'key', self.expr)} is encrypted")

    comparator_factory = Comparator


class EncryptedText(Encrypted):
    """Long text (notes) encrypted at rest."""

    impl = Text
    cache_ok = True


def encrypted_columns(model_or_table) -> dict:
    """Column key → Encrypted type, for a model or a table."""
    table = getattr(model_or_table, "__table__", model_or_table)
    return {c.key: c.type for c in table.columns if isinstance(c.type, Encrypted)}


def hashed_keys(model_or_table) -> list[str]:
    return [k for k, t in encrypted_columns(model_or_table).items() if t.hashed]


def hash_columns(model, columns: dict[str, list]) -> dict[str, list]:
    """Columns as given plus the lookup hash of every hashed column among them and the clear
    flags derived from encrypted ones (``derive_columns``): what the bulk writers insert."""
    extra = {
        hash_name(key): lookup_hashes(columns[key]) for key in hashed_keys(model) if key in columns
    }
    derive = getattr(model, "derive_columns", None)
    if not extra and derive is None:
        return columns
    columns = {**columns, **extra}
    if derive is not None:
        derive(columns)
    return columns


def hash_row(model, values: dict) -> dict:
    """One row (dict) with its lookup hashes and derived flags (bulk updates)."""
    return {k: v[0] for k, v in hash_columns(model, {k: [v] for k, v in values.items()}).items()}


def searchable(model, key: str) -> bool:
    """Whether a partial search on ``key`` is possible: not on an encrypted column."""
    table = getattr(model, "__table__", None)
    if table is None or key not in table.c:
        return True
    return not isinstance(table.c[key].type, Encrypted)


def _fill_hashes(session, _flush_context, _instances):
    for obj in list(session.new) + list(session.dirty):
        keys = hashed_keys(type(obj)) if hasattr(type(obj), "__table__") else ()
        if not keys:
            continue
        state = inspect(obj)
        for key in keys:
            if obj in session.new or state.attrs[key].history.has_changes():
                setattr(obj, hash_name(key), lookup_hash(getattr(obj, key)))


def install(session_class=Session) -> None:
    """Fill every hashed column's lookup hash before each flush."""
    if not event.contains(session_class, "before_flush", _fill_hashes):
        event.listen(session_class, "before_flush", _fill_hashes)


def key_mismatch(connection, metadata):
    """The first encrypted column (table, column key) whose sealed values this key cannot
    open, or None: one sealed value of each is tried (a database made under another key opens
    none). Tables not created yet are skipped."""
    present = set(inspect(connection).get_table_names())
    quote = connection.dialect.identifier_preparer.quote
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue
        for key in encrypted_columns(table):
            column = quote(table.columns[key].name)
            value = connection.execute(
                text(f"SELECT {column} FROM {quote(table.name)} WHERE {column} LIKE :p LIMIT 1"),
                {"p": PREFIX + "%"},
            ).scalar()
            try:
                unseal(value)
            except (InvalidTag, ValueError):
                return table.name, key
    return None


KEY_MISMATCH = (
    "计生协工作管理系统 will not start: ID_ENCRYPTION_KEY (or instance/id_encryption_key) is not "
    "the key this database's ID numbers and family details were encrypted with ({where}). "
    "Put the original key back (from the backup of instance/ or the deployment's secrets); a new "
    "key cannot open them.\n"
    "系统未启动：加密密钥（ID_ENCRYPTION_KEY 或 instance/id_encryption_key）不是本数据库身份证号和"
    "家庭信息加密时所用的密钥（{where}）。请恢复原密钥（instance/ 的备份或部署的密钥存放处）；"
    "新密钥无法解开这些数据。"
)


def refuse_wrong_key(app) -> None:
    """Stop a server from starting on a database its key cannot read (the key file lost and a
    new one generated, or the wrong ID_ENCRYPTION_KEY): every page showing an ID would fail.
    ``make run`` (run.py) and ``make serve`` (gunicorn.conf.py) call it before serving."""
    # The app's Flask-SQLAlchemy object, not an import of the package that builds the app.
    db = app.extensions["sqlalchemy"]
    with app.app_context():
        with db.engine.connect() as connection:
            where = key_mismatch(connection, db.metadata)
        # No connection kept: gunicorn forks its workers from this process.
        db.engine.dispose()
    if where is not None:
        sys.stderr.write(KEY_MISMATCH.format(where=".".join(where)) + "\n")
        raise SystemExit(3)


def audit_value(value):
    """What the audit log keeps for an encrypted field: sealed, never plain."""
    return seal(value) if value is not None and not is_sealed(value) else value


# FAB's filters that compare whole values (equal, not equal); the rest match parts of a value.
WHOLE_VALUE_FILTERS = {"eq", "neq"}


def filter_allowed(model, key: str, arg_name) -> bool:
    """Whether a list filter can run: any on a clear column; on an encrypted one, only a whole
    value compared with the lookup hash (an encrypted column without one: none)."""
    table = getattr(model, "__table__", None)
    if table is None or key not in table.c or not isinstance(table.c[key].type, Encrypted):
        return True
    return table.c[key].type.hashed and arg_name in WHOLE_VALUE_FILTERS
