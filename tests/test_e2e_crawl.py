"""A crawl of the app in a real browser (issue 17, "Must show"): signed in as every role, on a
desktop and on a 390 px phone, in Chinese, from the home page along every same-origin link the
role is shown (menu, lists, detail and edit pages), finding

- no link that answers 403, 404 or 5xx, or lands on the sign-in form (the menu and the pages
  offer only what the role may open);
- no page wider than the phone, no list or panel scrolling sideways inside it (lists turn
  into cards);
- no English word in the Chinese UI, outside a short allowlist (ID, CSV, Excel, PDF, R1–R21,
  user names, language names).

Every failure is collected and reported at the end, one line each. Links that change state
(sign out, delete, language switch, list actions) and a list's sort and page links are not
followed. One page is rendered per kind of address (its path with the numbers taken out), on
the phone and then on the desktop, so the crawl stays short; a second link of each kind is
checked for its answer only.

Same skip rules as tests/test_e2e_browser.py (tests/browser.py).
"""

import logging
import re
from collections import deque
from urllib.parse import urldefrag, urlsplit

import pytest

from app.models import Member
from tests import browser as e2e
from tests.helpers import group

# The browser tests' skip rules, fixtures (used by name) and helpers.
pytestmark = e2e.pytestmark
browser, server, open_as = e2e.browser, e2e.server, e2e.open_as
DESKTOP, PHONE, shot = e2e.DESKTOP, e2e.PHONE, e2e.shot
playwright_api = e2e.playwright_api

# The served requests are not logged line by line.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

ROLES = ("admin", "county", "township", "xintan_president", "xintan_secretary", "xintan_group1")

# Pages rendered per role at most (a safety stop: admin's crawl visits about 120), and links
# checked per kind of address.
MAX_PAGES = 200
CHECKS_PER_KIND = 2
# Scroll width allowed past the phone's (a rounding pixel).
TOLERANCE = 1

# Addresses never followed: they change state, leave the session or switch the language.
NOT_FOLLOWED = re.compile(
    r"/logout|signout|/delete|/lang/|/action/|/action_post|/approve|/reject|/reveal|/api/|"
    r"/swagger|/static/|/confirm|/attachment/\d+/delete",
    re.IGNORECASE,
)
# Query parameters of the same page sorted, paged or sized otherwise: not followed.
SAME_PAGE = re.compile(r"[?&](_oc_|_od_|psize_|page_)")

# Latin words the Chinese UI may show: acronyms, file formats and encodings, units, the norms'
# codes R1–R21, the language menu's own name. User names are taken out of the text first.
ALLOWED_WORDS = {
    "ID", "IP", "CSV", "Excel", "PDF", "xls", "xlsx", "docx", "GBK", "UTF", "MB", "KB",
    "English", "TOTP", "QR",
}  # fmt: skip
ALLOWED = re.compile(r"^R([1-9]|1[0-9]|2[01])$")
WORD = re.compile(r"[A-Za-z][A-Za-z_]+")
EMAIL = re.compile(r"\S+@\S+")
# Addresses: a link, a file name, and the request an audit entry records ("GET /reports/…").
ADDRESS = re.compile(
    r"https?://\S+|\S+\.(?:png|jpe?g|pdf|docx|xlsx|csv)\b"
    r"|(?:(?:GET|POST|PUT|DELETE) )?/[\w/.?=&%-]+",
    re.IGNORECASE,
)
# The audit log's chain hashes.
HEX = re.compile(r"\b[0-9a-f]{16,}\b")


def kind_of(url):
    """The kind of page an address opens: its path with numbers taken out (the query, a
    related list's filter or a sort order, opens the same kind of page)."""
    return re.sub(r"\d+", "N", urlsplit(url).path)


def english_words(text, usernames):
    text = HEX.sub(" ", ADDRESS.sub(" ", EMAIL.sub(" ", text)))
    for name in usernames:
        text = text.replace(name, " ")
    return {w for w in WORD.findall(text) if w not in ALLOWED_WORDS and not ALLOWED.match(w)}


def bad(status):
    return status in (403, 404) or status >= 500


# What a page measures: its width and how many lists or panels inside it scroll sideways (as
# bad as a page that does), its visible text, its links.
MEASURE = """() => ({
    width: document.documentElement.scrollWidth,
    scrolling: Array.from(document.querySelectorAll('.table-responsive, .panel-body, .well'))
        .filter(e => e.scrollWidth > e.clientWidth + TOLERANCE).length,
    text: document.body.innerText,
    links: Array.from(document.querySelectorAll('a[href]'), a => a.href),
})""".replace("TOLERANCE", str(TOLERANCE))


def crawl(page, usernames):
    """Visits the role's pages from the home page, one per kind of address, each on a 390 px
    phone and on a desktop; checks the other links found (up to CHECKS_PER_KIND per kind).
    Returns the number of pages visited and the failures, one line each."""
    base = page.base
    failures = []
    kinds = {}
    found_on = {base + "/": "sign-in"}
    queue = deque([base + "/"])
    visited = 0

    def check(url, status, landed):
        if bad(status):
            failures.append(f"{status} {url[len(base) :]} (linked from {found_on[url]})")
            return False
        # FAB sends a page the role may not open to the sign-in form: a dead end too.
        if urlsplit(landed).path.startswith("/login") and urlsplit(url).path != "/login/":
            failures.append(f"sign-in form: {url[len(base) :]} (linked from {found_on[url]})")
            return False
        return True

    while queue and visited < MAX_PAGES:
        url = queue.popleft()
        page.set_viewport_size(PHONE)
        try:
            response = page.goto(url)
        except playwright_api.Error:  # a download (an export, a template): its status only
            answer = page.request.get(url)
            check(url, answer.status, answer.url)
            continue
        if not check(url, response.status, page.url):
            continue
        visited += 1
        where = page.url[len(base) :]
        # On the phone: nothing wider than the screen, no list scrolling sideways, no English
        # (the collapsed menu shows other text than the desktop's).
        phone = page.evaluate(MEASURE)
        if phone["width"] > PHONE["width"] + TOLERANCE:
            failures.append(f"{phone['width']} px wide on a phone: {where}")
        if phone["scrolling"]:
            failures.append(f"a list or panel scrolls sideways on a phone: {where}")
        page.set_viewport_size(DESKTOP)
        desktop = page.evaluate(MEASURE)
        words = english_words(phone["text"], usernames) | english_words(desktop["text"], usernames)
        if words:
            failures.append(f"English {sorted(words)}: {where}")
        for link in desktop["links"]:
            link = urldefrag(link)[0]
            if (
                not link.startswith(base)
                or NOT_FOLLOWED.search(link)
                or SAME_PAGE.search(link)
                or link in found_on
            ):
                continue
            kind = kind_of(link)
            count = kinds.get(kind, 0)
            if count >= CHECKS_PER_KIND:
                continue
            kinds[kind] = count + 1
            found_on[link] = where
            if count == 0:
                queue.append(link)
            else:  # checked, not rendered: another page of a kind already visited
                answer = page.request.get(link)
                check(link, answer.status, answer.url)
    if queue:
        failures.append(f"stopped after {visited} pages, {len(queue)} not visited: raise MAX_PAGES")
    return visited, failures


@pytest.mark.parametrize("username", ROLES)
def test_every_page_a_role_reaches_opens_fits_and_speaks_chinese(app, open_as, username):
    with app.app_context():
        usernames = {user.username for user in app.appbuilder.sm.get_all_users()}
    page = open_as(username, viewport=PHONE)
    visited, failures = crawl(page, sorted(usernames, key=len, reverse=True))
    assert visited > 10
    assert not failures, f"{username}, {visited} pages:\n" + "\n".join(failures)


def test_phone_screenshots_of_a_group_leaders_day(app, open_as):
    # The home page, her group's members (as cards) and a member's page on a 390 px phone:
    # nothing wider than the screen, the list's rows as cards with each value named.
    with app.app_context():
        session = app.appbuilder.session
        pk = (
            session.query(Member)
            .filter_by(group_id=group(session, "新檀村", "第一组").id, status="active")
            .first()
            .id
        )
    leader = open_as("xintan_group1", viewport=PHONE)
    shot(leader, "phone-home")
    leader.goto(f"{leader.base}/memberview/list/")
    card = leader.locator("table.table-cards tbody tr").first
    assert card.locator("td[data-label='姓名']").count() == 1
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    shot(leader, "phone-member-list")
    assert leader.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + TOLERANCE
    leader.goto(f"{leader.base}/memberview/show/{pk}")
    shot(leader, "phone-member-show")
    assert leader.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + TOLERANCE
