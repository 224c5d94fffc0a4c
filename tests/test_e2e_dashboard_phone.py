"""In a real browser (issue 17 items 3 and 6): the township's heat map and the audit log on a
390 px phone without the page scrolling sideways (a table may scroll inside its own box), and
the audit list's short columns on one line at desktop width. Fixtures and skips:
tests/browser.py."""

from tests import browser as e2e
from tests.helpers import village

# The browser, the served app and the signed-in pages of the journeys' module; skipped as they are.
browser, server, open_as = e2e.browser, e2e.server, e2e.open_as
pytestmark = e2e.pytestmark
PHONE = e2e.PHONE

PAGE_WIDTH = "document.documentElement.scrollWidth"


def _fits(page):
    return page.evaluate(PAGE_WIDTH) <= PHONE["width"] + 1


def test_the_heat_map_fits_a_phone_and_explains_itself(app, open_as):
    with app.app_context():
        longwang = village(app.appbuilder.session, "龙王村").id
    phone = open_as("township", viewport=PHONE)
    phone.goto(f"{phone.base}/dashboard/")
    phone.wait_for_selector("#heatmap")
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    # The table scrolls in its own box; the legend is open and readable without hovering.
    box = phone.locator(".heatmap-scroll").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    legend = phone.locator("#legend-R4")
    assert legend.is_visible() and "R4" in legend.inner_text()
    assert "会员小组" in phone.locator("#heatmap th.norm").nth(3).inner_text()
    # Tapping 龙王村's R4 cell opens what was found there.
    cell = phone.locator(f'#heatmap tr[data-village="{longwang}"] td[data-rule="R4"] a')
    with phone.expect_navigation():
        cell.click()
    assert "第三组" in phone.locator("#rule-R4").locator("xpath=..").inner_text()
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    assert phone.console_errors == []


def test_the_audit_log_reads_on_a_phone_and_a_desktop(open_as):
    phone = open_as("township", viewport=PHONE)
    phone.goto(f"{phone.base}/auditlogview/list/")
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    assert "时间（北京时间）" in phone.content()
    # A small laptop's window: the changes' wide tables squeezed the other columns here.
    desktop = open_as("admin", viewport={"width": 1024, "height": 768})
    desktop.goto(f"{desktop.base}/auditlogview/list/?_flt_3_model=ScopedUser")
    # Each short column (time, user, role, action, register, record, village) on one line.
    lines = desktop.evaluate(
        """() => [...document.querySelectorAll('.table-responsive > .table-hover > tbody > tr')]
            .slice(0, 5)
            .flatMap(tr => [...tr.children].slice(1, -1))
            .filter(td => td.textContent.trim())
            .map(td => { const r = document.createRange(); r.selectNodeContents(td);
                         const tops = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
                         return [td.textContent.trim(), tops.size]; })"""
    )
    assert lines and all(n == 1 for _text, n in lines), lines


def test_the_county_dashboard_fits_a_phone_and_opens_a_township_then_a_village(app, open_as):
    from sqlalchemy import select

    from app.models import Township

    with app.app_context():
        session = app.appbuilder.session
        longwang = village(session, "龙王村").id
        erlang = session.scalar(select(Township.id).where(Township.name == "二郎镇"))
    phone = open_as("admin", viewport=PHONE)
    phone.goto(f"{phone.base}/dashboard/")
    phone.wait_for_selector("#township-ranking")
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    box = phone.locator(".heatmap-scroll").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
    assert "乡镇得分为其各村得分的平均数" in phone.locator("#county-score-note").inner_text()
    with phone.expect_navigation():
        phone.locator(f'#township-ranking tr[data-township="{erlang}"] td.township a').click()
    phone.wait_for_selector("#heatmap")
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    assert "二郎镇" in phone.locator("#dashboard-crumbs").inner_text()
    with phone.expect_navigation():
        phone.locator(f'#heatmap tr[data-village="{longwang}"] td[data-rule="R4"] a').click()
    assert "第三组" in phone.locator("#rule-R4").locator("xpath=..").inner_text()
    assert "二郎镇" in phone.locator("#dashboard-crumbs").inner_text()
    assert _fits(phone), phone.evaluate(PAGE_WIDTH)
    assert phone.console_errors == []
