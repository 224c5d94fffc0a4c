"""The application factory: one Flask app with its AppBuilder, built per call."""

import os

from flask import Flask
from flask_appbuilder import AppBuilder
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from app.extensions import db, migrate

__all__ = ["create_app", "db", "migrate"]


def create_app(test_config=None, screens=True):
    """Build the app from config.py, overridden by ``test_config``. With ``screens=False`` (the
    ``flask`` commands, see wsgi.py) the pages and APIs are left out: only a server serves them,
    and registering them is most of start-up (issue 16: about 1 s). Roles are built in
    (FAB_ROLES) and FAB_UPDATE_PERMS is off, so no permission row depends on them."""
    app = Flask(__name__, instance_path=os.environ.get("INSTANCE_DIR") or None)
    app.config.from_object("config")
    if test_config:
        app.config.update(test_config)
    from app import storage

    # Before anything reads a key or a service's address (issue 18: stateless mode).
    storage.check_deployment(app.config)
    # First: every FAB hook (app/fab_hooks.py) was read against one FAB version.
    from app import fab_hooks

    fab_hooks.check_fab_version(app.config)

    # The app's modules are imported here, not at the top: `import app.models` (migrations, the
    # import workers, scripts) would otherwise load every screen too, about 0.5 s more
    # (measured: app.models alone 1.06 s, with the screens 1.55 s).
    from app import crypto, integrity, security, speed

    integrity.install()
    crypto.configure(app.config["ID_ENCRYPTION_KEY"])
    app.config["FAB_ROLES"] = security.fab_roles()
    options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Several workers on one SQLite file queue for its write lock; SQLite's waiting is
        # unfair, so the default 5 s is too short under a burst (tests/test_serving.py).
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    else:
        # A database server closes connections the pool still holds (a restart, a failover,
        # an idle timeout): test each one as it is taken, or its next request answers 500.
        options.setdefault("pool_pre_ping", True)
    db.init_app(app)
    speed.keep_prepared_statements(app, db)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    # Before AppBuilder, so that the JWT API stays exempt (FAB-NOTES: CSRF).
    CSRFProtect(app)

    # app.views is imported either way: importing it declares the registers.
    from app import audit, cli, errors, uploads, views

    audit.install()
    crypto.install()

    with app.app_context():
        appbuilder = AppBuilder(indexview=views.HomeView, base_template="base.html")
        appbuilder.init_app(app, db.session)
        if screens:
            _register_screens(appbuilder)
    uploads.register(app)
    errors.install(app)
    cli.register(app)
    if app.config.get("TRUSTED_PROXIES"):
        # The client's address from the proxies' X-Forwarded-For, trusting exactly that many.
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    security.install_web_security(app)
    return app


def _register_screens(appbuilder):
    """Every page and API (the roster and dashboard modules load pandas and the reports)."""
    from app import dashboard, roster_views, views

    views.register(appbuilder)
    roster_views.register(appbuilder)
    dashboard.register(appbuilder)
