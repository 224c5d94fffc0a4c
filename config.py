"""Configuration, flat and upper-case, read from the environment (SPEC §6)."""

import json
import os
import secrets
import time
from datetime import timedelta

from flask_appbuilder.const import AUTH_DB

BASEDIR = os.path.abspath(os.path.dirname(__file__))
INSTANCE_DIR = os.environ.get("INSTANCE_DIR", os.path.join(BASEDIR, "instance"))


def _instance_secret(name: str) -> str:
    """A random secret generated once and kept under instance/ (embedded demo only)."""
    os.makedirs(INSTANCE_DIR, exist_ok=True)
    path = os.path.join(INSTANCE_DIR, name)
    if not os.path.exists(path):
        # Created with 0600 so other local accounts cannot read the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    with open(path) as fh:
        return fh.read().strip()


def _limit(name: str, default: int) -> int:
    """A size or time limit from the environment: a whole number from 1. Refused at start
    otherwise, since 0 or less would refuse every file (or stop every reader as it starts)."""
    value = os.environ.get(name, str(default))
    if not (value.isdigit() and int(value) >= 1):
        raise ValueError(f"{name}: a whole number from 1, not {value!r}")
    return int(value)


# --- Past one machine (issue 18; README "Deploying for a county") ---
# Attachments, task files and rosters awaiting confirmation in an S3-compatible object store
# (app/storage.py): s3://bucket or s3://bucket/prefix; the endpoint of a MinIO/Ceph/cloud store
# (unset: AWS); credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
STORAGE_URL = os.environ.get("STORAGE_URL", "")
STORAGE_ENDPOINT_URL = os.environ.get("STORAGE_ENDPOINT_URL", "")
# The login throttle and the two-factor counters in Redis (redis://host:6379/0).
REDIS_URL = os.environ.get("REDIS_URL", "")
# Stateless mode: several app servers, none of which keeps anything in instance/. The keys,
# DATABASE_URL, STORAGE_URL and REDIS_URL must then come from the environment; the app refuses
# to start without them (app/storage.py, check_deployment) and generates nothing in instance/.
STATELESS = os.environ.get("STATELESS", "") == "1" or bool(STORAGE_URL or REDIS_URL)

SECRET_KEY = os.environ.get("SECRET_KEY") or ("" if STATELESS else _instance_secret("secret_key"))
# Encrypts ID numbers and sensitive household fields at rest (app/crypto.py). Not in the
# database: back it up with the database, or every encrypted field is lost.
ID_ENCRYPTION_KEY = os.environ.get("ID_ENCRYPTION_KEY") or (
    "" if STATELESS else _instance_secret("id_encryption_key")
)
SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or (
    "" if STATELESS else "sqlite:///" + os.path.join(INSTANCE_DIR, "jsx.db")
)
SQLALCHEMY_TRACK_MODIFICATIONS = False

# The demo accounts' password; for `flask demo load` only, never for real accounts.
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "DemoPass@2026")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "5000"))

# A complaint unresolved this many days after it came in is overdue (SPEC §2).
COMPLAINT_DEADLINE_DAYS = int(os.environ.get("COMPLAINT_DEADLINE_DAYS", "30"))

# Compliance norms (SPEC §5) switched off per township: JSON mapping a township name, or "*" for
# every township, to norm ids, e.g. COMPLIANCE_DISABLED='{"二郎镇": ["R13"]}'.
COMPLIANCE_DISABLED = json.loads(os.environ.get("COMPLIANCE_DISABLED") or "{}")

# --- Uploads (activity photos, document files, venue photos) ---
# Outside the web root: files are served only by app.uploads, after a scope and rights check.
UPLOAD_FOLDER = os.environ.get("UPLOAD_FOLDER") or os.path.join(INSTANCE_DIR, "uploads")
UPLOAD_MAX_BYTES = int(os.environ.get("UPLOAD_MAX_BYTES", str(10 * 1024 * 1024)))
# A body well past one upload is cut off before it is read (app.uploads explains the 413).
MAX_CONTENT_LENGTH = UPLOAD_MAX_BYTES + 1024 * 1024
# No file may take the server down (app.untrusted): a photo is refused past this many pixels
# (read from its header), an .xlsx or .docx past these sizes (read from its zip directory).
UPLOAD_MAX_PIXELS = _limit("UPLOAD_MAX_PIXELS", 50_000_000)
ZIP_MAX_UNCOMPRESSED_MB = _limit("ZIP_MAX_UNCOMPRESSED_MB", 512)
ZIP_MAX_RATIO = _limit("ZIP_MAX_RATIO", 200)
ZIP_MAX_ENTRIES = _limit("ZIP_MAX_ENTRIES", 10_000)

# --- Roster import: the largest table read, and the reader's limits (app.importer) ---
# A roster of 100,000 members (bench/import_roster.py) is 100,002 rows of 9 columns.
IMPORT_MAX_ROWS = _limit("IMPORT_MAX_ROWS", 300_000)
IMPORT_MAX_COLUMNS = _limit("IMPORT_MAX_COLUMNS", 200)
IMPORT_MAX_CELLS = _limit("IMPORT_MAX_CELLS", 5_000_000)
# The cells are read in a child process: this much memory beyond its start, this long (CPU
# and wall clock), or it is stopped and the user told the file is too large or malformed.
IMPORT_PARSE_SECONDS = _limit("IMPORT_PARSE_SECONDS", 30)
IMPORT_PARSE_MEMORY_MB = _limit("IMPORT_PARSE_MEMORY_MB", 2048)
# At most this many readers at once per server process; one more upload is refused ("busy,
# try again"), not queued: each reader may take IMPORT_PARSE_MEMORY_MB for IMPORT_PARSE_SECONDS.
IMPORT_PARSE_CONCURRENCY = _limit("IMPORT_PARSE_CONCURRENCY", 2)

APP_NAME = "计生协工作管理系统"
APP_ICON = ""
APP_THEME = ""

# --- Languages: Chinese first, English complete ---
BABEL_DEFAULT_LOCALE = "zh"
BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
# "Today" (due dates, overdue flags, this month's reminders, the dashboard's current quarter) is
# the Beijing date whatever the server's clock zone: on a UTC host it would lag 8 hours behind
# until 08:00. The process's zone, unless TZ is set; POSIX form, so no tz database is needed.
os.environ.setdefault("TZ", "CST-8")
time.tzset()
LANGUAGES = {
    "zh": {"flag": "cn", "name": "简体中文"},
    "en": {"flag": "gb", "name": "English"},
}
# Absolute, because FAB resolves a relative path against app/ (STYLE.md).
BABEL_TRANSLATION_DIRECTORIES = os.path.join(BASEDIR, "translations")

# --- Security ---
AUTH_TYPE = AUTH_DB
AUTH_USER_REGISTRATION = False
AUTH_ROLE_ADMIN = "Admin"
AUTH_ROLE_PUBLIC = "Public"
# The schema comes from Alembic migrations; roles are built in, so no permission sync.
FAB_CREATE_DB = False
FAB_UPDATE_PERMS = False
FAB_ADD_SECURITY_API = False
FAB_ADD_SECURITY_PERMISSION_VIEW = False
FAB_ADD_SECURITY_VIEW_MENU_VIEW = False
FAB_ADD_SECURITY_PERMISSION_VIEWS_VIEW = False
FAB_API_SWAGGER_UI = True
FAB_API_MAX_PAGE_SIZE = 100
FAB_PASSWORD_COMPLEXITY_ENABLED = True
FAB_SECURITY_MANAGER_CLASS = "app.security.SecurityManager"

# Login throttling on the HTML form (FAB) and the JWT endpoint (ours): per client address.
RATELIMIT_ENABLED = True
# One SQLite file under instance/ shared by every worker on the host (app/ratelimit.py);
# several hosts: REDIS_URL (which wins), or memcached://host:11211 here. The two-factor counters
# (app/twofactor.py) are kept in the same storage.
RATELIMIT_STORAGE_URI = (
    REDIS_URL
    or os.environ.get("RATELIMIT_STORAGE_URI")
    or ("" if STATELESS else "sqlite:///" + os.path.join(INSTANCE_DIR, "ratelimit.db"))
)
RATELIMIT_STRATEGY = "fixed-window"
AUTH_RATE_LIMITED = True
AUTH_RATE_LIMIT = os.environ.get("AUTH_RATE_LIMIT", "10 per minute")
# Roles that sign in with a second factor (TOTP, app/twofactor.py), comma-separated. Off for
# the embedded demo (`make run`, the tests); gunicorn.conf.py (`make serve`) defaults it to
# "Admin,County,Township" unless the variable is set, even empty.
TOTP_REQUIRED_ROLES = [
    role.strip() for role in os.environ.get("TOTP_REQUIRED_ROLES", "").split(",") if role.strip()
]

WTF_CSRF_ENABLED = True
WTF_CSRF_TIME_LIMIT = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Behind HTTPS in production set SESSION_COOKIE_SECURE=1.
SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
REMEMBER_COOKIE_HTTPONLY = True
REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
# A browser session unused this long is ended by the server (the login page says why).
# How many reverse proxies in front of the app set X-Forwarded-For/-Proto (0: none, the
# client's own address counts). Behind nginx on the same host set 1: the login throttle and the
# audit log then see the client's address, not the proxy's (werkzeug's ProxyFix).
TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
SESSION_IDLE_TIMEOUT = timedelta(minutes=int(os.environ.get("SESSION_IDLE_MINUTES", "30")))
JWT_ACCESS_TOKEN_EXPIRES = timedelta(minutes=30)
# A refresh token lasts this many days (1 to 30); a sign-out or password change ends it sooner.
JWT_REFRESH_DAYS = os.environ.get("JWT_REFRESH_DAYS", "7")
if not (JWT_REFRESH_DAYS.isdigit() and 1 <= int(JWT_REFRESH_DAYS) <= 30):
    raise ValueError(f"JWT_REFRESH_DAYS: whole days from 1 to 30, not {JWT_REFRESH_DAYS!r}")
JWT_REFRESH_TOKEN_EXPIRES = timedelta(days=int(JWT_REFRESH_DAYS))
