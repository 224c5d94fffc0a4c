"""gunicorn settings for `make serve` (and bench/): one place for how the app is served.

    .venv/bin/gunicorn -c gunicorn.conf.py

HOST, PORT, WEB_CONCURRENCY (workers), GUNICORN_THREADS and DATABASE_URL come from the
environment. Migrations are applied before (`make serve` runs `flask db upgrade` first); no
demo data is loaded.
"""

import multiprocessing
import os

# Served for real: Admin, County and Township accounts sign in with a second factor (TOTP) unless
# TOTP_REQUIRED_ROLES says otherwise (set it empty to switch it off, e.g. for a demo or bench/).
os.environ.setdefault("TOTP_REQUIRED_ROLES", "Admin,County,Township")

wsgi_app = "wsgi:app"
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
# gunicorn's rule of thumb, capped: each worker holds its own database connection pool.
workers = int(os.environ.get("WEB_CONCURRENCY") or min(2 * multiprocessing.cpu_count() + 1, 9))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# A roster import of several thousand rows may take a while; nothing else comes close.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# Behind a reverse proxy: gunicorn takes only the scheme from X-Forwarded-Proto here; the
# client's address (login throttle, audit log) comes from TRUSTED_PROXIES=1 in the app
# (werkzeug's ProxyFix). Set FORWARDED_ALLOW_IPS to the proxy's address if it runs elsewhere.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
proc_name = "jsx"


def on_starting(_server):
    """Before any worker: refuse to serve a database the encryption key cannot read."""
    from app import create_app, crypto

    crypto.refuse_wrong_key(create_app())


def post_worker_init(_worker):
    """A worker with threads reads roster files in children of a fork server (app.untrusted):
    start it now rather than at the worker's first upload."""
    if threads > 1:
        from app import untrusted

        untrusted.start_forkserver(["app.importer"])
