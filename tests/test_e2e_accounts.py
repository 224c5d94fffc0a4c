"""Issue 17 in a real browser (Debian Chromium, as tests/test_e2e_browser.py): icon buttons
show their text on a phone, a saved activity opens its page, the user form speaks Chinese."""

from app.models import Activity
from tests import test_e2e_browser as e2e
from tests.test_e2e_browser import DESKTOP, PHONE, choose, navigate, shows_message, zh

# The browser journeys' fixtures and skip rule (Chromium and Playwright), shared.
pytestmark = e2e.pytestmark
browser, server, open_as = e2e.browser, e2e.server, e2e.open_as


def _visible_width(page, selector):
    """The width the first ``selector`` takes on the screen (0 when hidden)."""
    box = page.locator(selector).first.bounding_box()
    return box["width"] if box else 0


def test_icon_buttons_show_their_text_on_a_phone(open_as):
    page = open_as("xintan_president", viewport=PHONE)
    page.goto(f"{page.base}/memberview/list/")
    row = "table tbody tr:first-child"
    for label in ("Show", "Edit", "Delete"):
        text = page.locator(f"{row} a.btn .sr-only", has_text=zh(label)).first
        box = text.bounding_box()
        # Readable, not the 1-pixel screen-reader box, and after the button's icon.
        assert box and box["width"] > 15 and box["height"] > 10, label
        icon = text.locator("xpath=following-sibling::i").bounding_box()
        assert icon["x"] < box["x"]
    assert page.locator(f"{row} a.btn", has_text=zh("Edit")).first.is_visible()
    # The list's add and back buttons too.
    assert _visible_width(page, "a.btn[title] .sr-only >> text=" + zh("Add")) > 15
    assert _visible_width(page, "a.btn[title] .sr-only >> text=" + zh("Back")) > 15


def test_a_saved_activity_opens_its_page_to_add_a_photo(app, open_as):
    leader = open_as("xintan_group1", viewport=PHONE)
    leader.goto(f"{leader.base}/activityview/add")
    # Her group is chosen already: the one she may write.
    assert leader.locator("select#group option:checked").inner_text() == "第一组"
    choose(leader, "kind", zh("Publicity"))
    leader.fill("#theme", "春节计生政策宣传")
    leader.locator("#date").press_sequentially("2026-11-21")
    leader.keyboard.press("Escape")
    navigate(leader, "form [type=submit]")
    assert shows_message(leader, zh("Added Row"))
    with app.app_context():
        pk = app.appbuilder.session.query(Activity).filter_by(theme="春节计生政策宣传").one().id
    assert leader.url.endswith(f"/activityview/show/{pk}")
    upload = leader.locator("form.attachment-upload, form[action*='attachment']").first
    assert upload.is_visible()
    assert leader.locator("button", has_text=zh("Upload")).first.is_visible()


def test_the_admin_reads_the_user_form_in_chinese(open_as):
    page = open_as("admin", viewport=DESKTOP)
    page.goto(f"{page.base}/users/add")
    choose(page, "roles", "会员小组长")
    page.click("select#group + .select2-container")
    options = page.locator(".select2-results__option").all_inner_texts()
    assert "新檀村 第一组" in options and "龙王村 第一组" in options
    assert "__None" not in page.inner_text("body")
