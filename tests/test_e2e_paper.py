"""Paper from the browser (issue 17 part 5): a meeting's page printed from a phone shows its
long minutes whole, wrapped, without the navigation; the 档案 menu leads to the archive book's
download. Debian's Chromium, as tests/test_e2e_browser.py drives it (its fixtures)."""

import datetime as dt

from app.models import Meeting
from tests.helpers import village
from tests.test_e2e_browser import (  # noqa: F401
    PHONE,
    browser,
    navigate,
    open_as,
    pytestmark,  # noqa: F401
    server,
)

MINUTES = "会议听取了各小组工作汇报，讨论了计生特殊家庭帮扶方案。" * 20 + "附件：" + "A" * 120


def _meeting_with_long_minutes(app):
    with app.app_context():
        session = app.appbuilder.session
        meeting = (
            session.query(Meeting)
            .filter_by(village_id=village(session, "新檀村").id)
            .order_by(Meeting.id)
            .first()
        )
        meeting.minutes = MINUTES
        session.commit()
        return meeting.id


def test_a_meeting_printed_from_a_phone_shows_its_minutes_whole(app, open_as):  # noqa: F811
    pk = _meeting_with_long_minutes(app)
    page = open_as("xintan_president", PHONE)
    page.goto(f"{page.base}/meetingview/show/{pk}")
    page.emulate_media(media="print")
    cell = page.locator("td", has_text="会议听取了各小组工作汇报").first
    # Every character is on the page, inside the cell's width: wrapped, not cut off.
    assert cell.inner_text().replace("\n", "").strip().endswith("A" * 120)
    overflow = cell.evaluate("td => td.scrollWidth - td.clientWidth")
    assert overflow <= 1
    assert cell.evaluate("td => td.getBoundingClientRect().right") <= page.evaluate(
        "document.documentElement.clientWidth"
    )
    assert not page.locator(".navbar").first.is_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_the_archive_book_prints_from_a_phone(app, open_as):  # noqa: F811
    _meeting_with_long_minutes(app)
    page = open_as("xintan_president", PHONE)
    page.goto(f"{page.base}/reports/archive")
    navigate(page, "#archive-print")
    assert page.locator("#archive-title").inner_text().startswith("新檀村计生协")
    # On the phone's screen the page is no wider than the phone: a wide register scrolls.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # On an A4 landscape page (96 dpi, less the margins) no register runs past the paper.
    page.set_viewport_size({"width": 1032, "height": 703})
    page.emulate_media(media="print")
    widest = page.evaluate(
        "Math.max(...[...document.querySelectorAll('.archive-table')]"
        ".map(t => t.getBoundingClientRect().right))"
    )
    assert widest <= 1032
    assert not page.locator(".navbar").first.is_visible()
    assert page.locator("section.archive-sheet").count() >= 15
    assert page.pdf(format="A4", landscape=True).startswith(b"%PDF")


def test_the_archive_menu_downloads_the_archive_book(open_as):  # noqa: F811
    page = open_as("xintan_secretary")
    page.click("a.dropdown-toggle:has-text('档案')")
    navigate(page, "a[href='/reports/archive']")
    assert page.locator("h2", has_text="档案册").is_visible()
    with page.expect_download() as download:
        page.click("#archive-book-form [type=submit]")
    name = download.value.suggested_filename
    assert name.startswith(f"新檀村计生协{dt.date.today().year}年资料档案") and name.endswith(
        ".xlsx"
    )
