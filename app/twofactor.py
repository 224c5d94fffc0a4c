"""Two-factor login (TOTP, RFC 6238) for the roles named in TOTP_REQUIRED_ROLES (issue 7, item 5).

After the password, an account that must use a second factor (its role is required, or it
enrolled of its own accord) is not signed in yet: the session holds a *pending* login for five
minutes, and /twofactor/verify asks for the six-digit code of its authenticator app or one of
its recovery codes. A required account that has not enrolled is sent to /twofactor/enrol: a QR
code drawn here (segno, inline SVG: no external service), confirmed by a first code, then ten
recovery codes shown once and stored hashed, each usable once. The JWT login asks for the same
code in a ``totp`` field, so the API is no way around it.

The secret is sealed like ID numbers (app/crypto.py); a code is accepted once (the last time
step used is kept) and within one step of clock drift. Every enrolment, failure, recovery-code
use and reset is audited; the POSTs are throttled like the password (AUTH_RATE_LIMIT), and five
wrong codes (counted on the server, per account, for 15 minutes) end the pending login.

A session or a JWT remembers which enrolment it passed (``stamp``): one made before the
requirement was switched on, before an administrator's reset or before a new enrolment stops
working — the browser is sent back to the login page, the API answers 401, and the refresh
token issues nothing. Only then is the sign-in audited as ``login`` (the password alone is
``login_password``) and counted in FAB's login statistics.
"""

import datetime as dt
import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.models.sqla import Model
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import login_user
from limits.storage import storage_from_string
from markupsafe import Markup
from sqlalchemy import DateTime, ForeignKey, String, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from app import audit, crypto
from app.accounts import UserTwoFactor

PENDING_KEY = "twofactor_pending"
ENROL_KEY = "twofactor_secret"
PENDING_SECONDS = 300
MAX_TRIES = 5
TRIES_WINDOW = 15 * 60
SESSION_KEY = "twofactor_stamp"
CLAIM = "twofactor"
RECOVERY_CODES = 10
STEP = 30


class RecoveryCode(Model):
    """One recovery code, hashed; ``used_on`` is set the one time it is used."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_on: Mapped[dt.datetime | None] = mapped_column(DateTime)


# --- Rules ---


def required_for(user) -> bool:
    """Whether the configuration makes this account's role use a second factor."""
    required = set(current_app.config.get("TOTP_REQUIRED_ROLES") or ())
    return any(role.name in required for role in user.roles)


def enrolment(user) -> UserTwoFactor | None:
    """The account's authenticator: loaded with the account (accounts.ScopedUser's
    ``twofactor_enrolment``, read again after a commit or ``expire``)."""
    return user.twofactor_enrolment


def needed(user) -> bool:
    return required_for(user) or enrolment(user) is not None


def stamp(user) -> str:
    """What a session or token records of the second factor it passed: the enrolment's
    fingerprint (a reset or a new enrolment changes it), or "-" for an account that needs none."""
    if not needed(user):
        return "-"
    record = enrolment(user)
    if record is None:
        return ""  # required but not enrolled: nothing can have passed
    raw = f"{user.id}:{record.enrolled_on.isoformat()}:{record.secret}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def passed(user, recorded) -> bool:
    """Whether a session or token that recorded ``recorded`` may still act for ``user``."""
    if not needed(user):
        return True
    current = stamp(user)
    return bool(current) and hmac.compare_digest(str(recorded or ""), current)


# --- Wrong codes, counted on the server (the limiter's storage: shared by every worker) ---


def _failures():
    storage = current_app.extensions.get("twofactor_failures")
    if storage is None:
        uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
        storage = current_app.extensions["twofactor_failures"] = storage_from_string(uri)
    return storage


def _failure_key(user) -> str:
    return f"twofactor-failures/{user.id}"


def locked(user) -> bool:
    """Five wrong codes within 15 minutes: no code is tried for this account until then."""
    return _failures().get(_failure_key(user)) >= MAX_TRIES


def _failed(user) -> int:
    return _failures().incr(_failure_key(user), TRIES_WINDOW)


def signed_in(user, step: str) -> None:
    """The second factor passed: the sign-in is audited and counted only now."""
    g.twofactor_done = True
    _failures().clear(_failure_key(user))
    current_app.appbuilder.sm.update_user_auth_stat(user, True)
    audit.record("login", user=user, details={"step": step})


def _code_hash(user_id: int, code: str) -> str:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{user_id}:{normal}".encode()).hexdigest()


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, issuer=current_app.config.get("APP_NAME"))


def _matching_step(secret: str, code: str, after: int) -> int | None:
    """The time step (now, or one either side) whose code is ``code``, if later than ``after``."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = _totp(secret)
    now = int(time.time()) // STEP
    for step in (now - 1, now, now + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_code(user, code: str) -> str | None:
    """'totp' or 'recovery' when ``code`` is good (and spends it), None otherwise."""
    session = current_app.appbuilder.session
    record = enrolment(user)
    if record is None or not code:
        return None
    step = _matching_step(crypto.unseal(record.secret), code, record.last_step or 0)
    if step is not None:
        # Spent atomically: a second request with the same code finds the step taken.
        spent = session.execute(
            update(UserTwoFactor)
            .where(UserTwoFactor.user_id == user.id, UserTwoFactor.last_step < step)
            .values(last_step=step)
        ).rowcount
        session.commit()
        return "totp" if spent == 1 else None
    used = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _code_hash(user.id, code),
            RecoveryCode.used_on.is_(None),
        )
        .values(used_on=dt.datetime.now())
    ).rowcount
    session.commit()
    return "recovery" if used == 1 else None


def remaining_recovery_codes(user) -> int:
    return len(
        current_app.appbuilder.session.scalars(
            select(RecoveryCode.id).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_on.is_(None)
            )
        ).all()
    )


def second_factor(user, code: str, step: str) -> bool:
    """Check ``code`` for ``user`` and audit the outcome (step: 'web', 'api' or 're-enrol');
    a wrong code counts towards the account's five."""
    kind = None if locked(user) else check_code(user, code)
    if kind is None:
        _failed(user)
        audit.record("twofactor_failed", user=user, details={"step": step})
        return False
    if kind == "recovery":
        audit.record(
            "recovery_code_used",
            user=user,
            details={"step": step, "left": remaining_recovery_codes(user)},
        )
    else:
        audit.record("twofactor_passed", user=user, details={"step": step})
    return True


def enrol(user, secret: str, step: int) -> list[str]:
    """Store the confirmed secret and fresh recovery codes; the codes, to be shown once."""
    session = current_app.appbuilder.session
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.execute(delete(UserTwoFactor).where(UserTwoFactor.user_id == user.id))
    session.add(
        UserTwoFactor(
            user_id=user.id,
            secret=crypto.seal(secret),
            last_step=step,  # the code just typed cannot be used again
            enrolled_on=dt.datetime.now(),
        )
    )
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = secrets.token_hex(5)
        codes.append(f"{raw[:5]}-{raw[5:]}")
        session.add(RecoveryCode(user_id=user.id, code_hash=_code_hash(user.id, raw)))
    session.flush()
    session.expire(user, ["twofactor_enrolment"])
    audit.record("twofactor_enrolled", user=user, commit=False)
    session.commit()
    return codes


def reset(user) -> bool:
    """Remove an account's authenticator and recovery codes (an administrator's action)."""
    session = current_app.appbuilder.session
    removed = session.execute(delete(UserTwoFactor).where(UserTwoFactor.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.expire(user, ["twofactor_enrolment"])
    audit.record(
        "twofactor_reset",
        model="ScopedUser",
        record_id=user.id,
        details={"username": user.username},
        commit=False,
    )
    session.commit()
    return removed.rowcount == 1


# --- The pending login (HTML) ---


def start(user, next_url: str):
    """After the password: sign in now, or hold the login until the second factor."""
    if not needed(user):
        login_user(user, remember=False)
        session[SESSION_KEY] = stamp(user)
        return redirect(next_url)
    # The epoch (accounts.ScopedUser.session_epoch): a reset meanwhile ends the pending login.
    session[PENDING_KEY] = {
        "user_id": user.id,
        "next": next_url,
        "at": time.time(),
        "epoch": user.session_epoch,
    }
    session.pop(ENROL_KEY, None)
    if enrolment(user) is None:
        return redirect(url_for("TwoFactorView.enrol"))
    return redirect(url_for("TwoFactorView.verify"))


def _pending_user():
    pending = session.get(PENDING_KEY)
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return None, None
    user = current_app.appbuilder.sm.get_user_by_id(pending["user_id"])
    if user is None or pending.get("epoch", 0) != user.session_epoch:
        session.pop(PENDING_KEY, None)
        return None, None
    return user, pending


def _finish(user, pending, step="web"):
    session.pop(PENDING_KEY, None)
    session.pop(ENROL_KEY, None)
    login_user(user, remember=False)
    session[SESSION_KEY] = stamp(user)
    signed_in(user, step)
    return pending["next"] or current_app.appbuilder.get_url_for_index


def _too_many():
    session.pop(PENDING_KEY, None)
    flash(gettext("Too many wrong codes: wait 15 minutes, then sign in again"), "danger")
    return redirect(current_app.appbuilder.get_url_for_login)


def _again():
    flash(gettext("Your sign-in has expired: enter your username and password again"), "warning")
    return redirect(current_app.appbuilder.get_url_for_login)


def otpauth_uri(user, secret: str) -> str:
    return _totp(secret).provisioning_uri(name=user.username)


def qr_svg(uri: str) -> Markup:
    """The QR code as inline SVG, drawn here: the secret never leaves the server."""
    return Markup(segno.make(uri, error="m").svg_inline(scale=5, title=gettext("QR code")))


class TwoFactorView(BaseView):
    """/twofactor/verify and /twofactor/enrol."""

    route_base = "/twofactor"
    default_view = "verify"

    @expose("/verify", methods=["GET", "POST"])
    def verify(self):
        user, pending = _pending_user()
        if user is None:
            return _again()
        if enrolment(user) is None:
            return redirect(url_for("TwoFactorView.enrol"))
        error = None
        if request.method == "POST":
            if locked(user):
                return _too_many()
            if second_factor(user, request.form.get("code", ""), "web"):
                return redirect(_finish(user, pending))
            if locked(user):
                return _too_many()
            error = gettext("Wrong or already used code")
        return self.render_template("twofactor_verify.html", error=error, user=user)

    @expose("/enrol", methods=["GET", "POST"])
    def enrol(self):
        pending = None
        if g.user is not None and g.user.is_authenticated:
            user = g.user
        else:
            user, pending = _pending_user()
            if user is None:
                return _again()
        if pending is not None and enrolment(user) is not None:
            return redirect(url_for("TwoFactorView.verify"))
        secret = session.get(ENROL_KEY)
        if not secret:
            secret = session[ENROL_KEY] = pyotp.random_base32()
        error = None
        enrolled = enrolment(user) is not None
        if request.method == "POST" and enrolled:
            # Replacing an authenticator takes proof: a session cookie alone is not enough.
            if locked(user):
                return _too_many_signed_in()
            proof = request.form.get("current", "")
            if not (_password_matches(user, proof) or second_factor(user, proof, "re-enrol")):
                if locked(user):
                    return _too_many_signed_in()
                return self._enrol_page(
                    user,
                    secret,
                    gettext(
                        "To replace your authenticator, enter a code from the current one, "
                        "a recovery code or your password"
                    ),
                )
        if request.method == "POST":
            step = _matching_step(secret, request.form.get("code", ""), 0)
            if step is not None:
                codes = enrol(user, secret, step)
                if pending:
                    next_url = _finish(user, pending)
                else:
                    session[SESSION_KEY] = stamp(user)  # this session passed the new one
                    next_url = url_for("TwoFactorView.done")
                session.pop(ENROL_KEY, None)
                return self.render_template("twofactor_codes.html", codes=codes, next_url=next_url)
            audit.record("twofactor_failed", user=user, details={"step": "enrol"})
            error = gettext("Wrong code: check the time on your phone and try again")
        return self._enrol_page(user, secret, error)

    def _enrol_page(self, user, secret, error):
        uri = otpauth_uri(user, secret)
        return self.render_template(
            "twofactor_enrol.html",
            qr=qr_svg(uri),
            secret=secret,
            error=error,
            required=required_for(user),
            enrolled=enrolment(user) is not None,
        )

    @expose("/done")
    def done(self):
        if g.user is None or not g.user.is_authenticated:
            abort(404)
        flash(gettext("Two-factor login is on for your account"), "success")
        return redirect(current_app.appbuilder.get_url_for_index)


def _password_matches(user, password: str) -> bool:
    from werkzeug.security import check_password_hash

    return bool(password and user.password) and check_password_hash(user.password, password)


def _too_many_signed_in():
    flash(gettext("Too many wrong codes: wait 15 minutes, then try again"), "danger")
    return redirect(current_app.appbuilder.get_url_for_index)


# --- The session and the JWT: made before the second factor, they stop working ---

SESSION_ENDED = _l("Two-factor login is now needed for your account (or was reset): sign in again")
API_TOKEN_REFUSED = _l(
    "This token was issued without the two-factor code your account now needs: "
    "sign in again with the totp field"
)


def claims(_identity) -> dict:
    """Flask-JWT-Extended's additional_claims_loader: the stamp set by the path that checked."""
    recorded = g.get("twofactor_claim")
    return {} if recorded is None else {CLAIM: recorded}


def check_request():
    """Before every request: a session or a JWT (access or refresh) that did not pass the second
    factor the account now needs is refused."""
    import flask_login
    from flask import jsonify
    from flask_jwt_extended import decode_token

    if request.endpoint in ("static", "appbuilder.static"):
        return None
    header = request.headers.get("Authorization", "")
    if request.path.startswith("/api/") and header.startswith("Bearer "):
        try:
            data = decode_token(header[7:].strip())
        except Exception:  # noqa: BLE001 — a bad token is FAB's to refuse, with its own answer
            return None
        user = current_app.appbuilder.sm.load_user(data.get("sub"))
        if user is None:
            return None
        if not passed(user, data.get(CLAIM)):
            return jsonify(message=str(API_TOKEN_REFUSED), twofactor_required=True), 401
        g.twofactor_claim = data.get(CLAIM)  # a refreshed token keeps it
        return None
    if "_user_id" not in session:
        return None
    user = flask_login.current_user
    if not getattr(user, "is_authenticated", False) or passed(user, session.get(SESSION_KEY)):
        return None
    flask_login.logout_user()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    g.user = flask_login.current_user._get_current_object()
    if request.path.startswith("/api/"):
        return jsonify(message=str(SESSION_ENDED)), 401
    flash(str(SESSION_ENDED), "warning")
    return redirect(current_app.appbuilder.get_url_for_login)


# --- The JWT login ---

API_CODE_REQUIRED = _l("Two-factor code required: send it in the totp field")
API_ENROL_FIRST = _l("Set up two-factor login on the web page first")
API_WRONG_CODE = _l("Wrong or already used two-factor code")
API_TOO_MANY = _l("Too many wrong two-factor codes: wait 15 minutes")


def api_check(user, code):
    """None when the JWT login may go on, else (status, message, extra fields)."""
    if not needed(user):
        g.twofactor_claim = stamp(user)
        return None
    if enrolment(user) is None:
        return 403, API_ENROL_FIRST, {}
    if not code:
        return 401, API_CODE_REQUIRED, {"twofactor_required": True}
    if locked(user):
        return 429, API_TOO_MANY, {"twofactor_required": True}
    if not second_factor(user, str(code), "api"):
        return 401, API_WRONG_CODE, {"twofactor_required": True}
    signed_in(user, "api")
    g.twofactor_claim = stamp(user)
    return None
