"""The browser tests' shared pieces (Playwright driving Debian's Chromium against the app
served on a local port, in Chinese): the same skip rules, fixtures and helpers as
tests/test_e2e_browser.py, for the browser test modules written since (issue 17: the crawl).

Importing this module skips the importing test module, with the reason printed, when
Playwright is missing; ``pytestmark`` skips it when Chromium is — unless ``E2E_REQUIRED`` is
set, as `.ci/run` does after installing Chromium: CI always runs them.
"""

import os
import shutil
import threading
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext

from tests.databases import TEST_PASSWORD

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

REQUIRED = bool(os.environ.get("E2E_REQUIRED"))
if not REQUIRED:
    pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: browser journeys skipped"
    )
from playwright import sync_api as playwright_api  # noqa: E402

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="Chromium is not installed (apt install chromium): browser journeys skipped",
)


_SERVED = {}


def zh(message, **values):
    """What the Chinese UI says for ``message`` (the app served last)."""
    with _SERVED["app"].test_request_context(), force_locale("zh"):
        return gettext(message, **values)


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        assert CHROMIUM, "E2E_REQUIRED is set but Chromium is not installed"
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


def _static_kept(app):
    """The app, its static files answered as cacheable for an hour: the browser keeps them
    instead of asking again on every page (the app answers "no-cache": revalidate each time)."""

    def wsgi(environ, start_response):
        if not environ.get("PATH_INFO", "").startswith("/static/"):
            return app(environ, start_response)

        def start(status, headers, exc_info=None):
            headers = [(k, v) for k, v in headers if k.lower() != "cache-control"]
            headers.append(("Cache-Control", "public, max-age=3600"))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return wsgi


@pytest.fixture
def server(app):
    """The app on a free local port, for this test's database."""
    from werkzeug.serving import make_server

    _SERVED["app"] = app
    httpd = make_server("127.0.0.1", 0, _static_kept(app), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def open_as(browser, server):
    """open_as(username, viewport) → a signed-in page, in Chinese; ``page.base`` is the app's
    address, ``page.console_errors`` what its console reported as errors."""
    contexts = []

    def sign_in(username, viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.console_errors = []
        page.on(
            "console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: page.console_errors.append(str(e)))
        page.goto(f"{server}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", TEST_PASSWORD)
        navigate(page, "[type=submit]")
        page.base = server
        return page

    yield sign_in
    for context in contexts:
        context.close()


def shot(page, name):
    """A full-page screenshot into docs/screenshots/ (the README shows them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def choose(page, field, text):
    """Pick ``text`` in the select2 box of form field ``field``, as a user clicks it."""
    page.click(f"select#{field} + .select2-container")
    page.click(f".select2-results__option:text-is('{text}')")


def navigate(page, selector):
    """Click something that loads a new page, and wait for that page."""
    with page.expect_navigation():
        page.click(selector)
    page.wait_for_load_state("networkidle")


def shows_message(page, text):
    """True once the page (after any redirect still under way) shows ``text`` in a message."""
    page.locator(".alert", has_text=text).first.wait_for(timeout=20_000)
    return True
