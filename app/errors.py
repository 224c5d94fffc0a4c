"""The error pages (issue 17): 403, 404, 405, 429 and 500 in the app's layout, in the user's
language, with a way back (the previous page of this site, the home page, or signing in).

Under /api/ they stay JSON, ``{"message": …}`` with the status, as FAB's own API errors are.
FAB's HTML views answer a signed-in user without the right with ``abort(403)`` (its
``has_access`` decorator) and a missing record with ``abort(404)``: both come here. (An
anonymous user is sent to the sign-in page by FAB, with its own translated "Access is Denied".)
The 400 page is app/inputs.py's ``bad_request``.
"""

from urllib.parse import urlparse

from flask import current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, InternalServerError

# status → (title, what happened and what to do)
PAGES = {
    403: (
        _l("No access"),
        _l("Your account may not open this page. The menu shows what your role may open."),
    ),
    404: (
        _l("Page not found"),
        _l("This page or record does not exist, or it is outside your area."),
    ),
    405: (
        _l("Not possible this way"),
        _l("This page cannot be opened this way. Go back and use the page's buttons."),
    ),
    429: (
        _l("Too many attempts"),
        _l("Too many requests in a short time. Please wait a minute, then try again."),
    ),
    500: (
        _l("Something went wrong"),
        _l(
            "The server could not finish this request. Please try again; if it happens again, "
            "tell the system administrator."
        ),
    ),
}


def _back_url():
    """The page the user came from, when it is a page of this site other than this one."""
    referrer = request.referrer
    if not referrer:
        return None
    parsed = urlparse(referrer)
    if parsed.scheme not in ("http", "https") or parsed.netloc != request.host:
        return None
    if referrer == request.url:
        return None
    return referrer


def error_page(error):
    """The page (or, under /api/, the JSON) of an HTTP error with a page above."""
    code = getattr(error, "code", None) or 500
    if code not in PAGES:
        code = 500
    if code == 500:
        # The request's transaction may be broken; the page reads the account and the menu.
        try:
            current_app.appbuilder.session.rollback()
        except Exception:  # noqa: BLE001 — the page is still wanted
            current_app.logger.exception("rolling back before the error page failed")
    title, message = PAGES[code]
    headers = {}
    if code == 405 and isinstance(error, HTTPException):
        headers = {k: v for k, v in error.get_headers() if k == "Allow"}
    if request.path.startswith("/api/"):
        return jsonify(message=str(title)), code, headers
    if "user" not in g:
        # Refused before the request's own checks ran (a record number no id holds, refused by
        # the URL's preprocessor; FAB sets g.user in its before_request): the session is not
        # vouched for yet, so the page is the anonymous one.
        g._login_user = current_app.login_manager.anonymous_user()
        g.user = g._login_user
    try:
        page = render_template(
            "error.html",
            appbuilder=current_app.appbuilder,
            code=code,
            title=title,
            message=message,
            back_url=_back_url(),
        )
    except Exception:  # noqa: BLE001 — the page itself failed: its words alone, still the status
        current_app.logger.exception("rendering the %s page failed", code)
        text = f"{code} {title}\n{message}\n"
        return text, code, {**headers, "Content-Type": "text/plain; charset=utf-8"}
    return page, code, headers


def install(app):
    """Answer these statuses with the pages above."""
    for code in PAGES:
        if code != 500:
            app.register_error_handler(code, error_page)
    app.register_error_handler(InternalServerError, error_page)
