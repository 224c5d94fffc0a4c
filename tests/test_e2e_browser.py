"""Real-browser journeys (issue 8): Playwright driving Debian's Chromium against the app served
on a local port, in Chinese, each journey as its user would do it. Screenshots of the main
screens go to docs/screenshots/ (the README shows them).

Skipped, with the reason printed, when Chromium or Playwright is missing — unless
``E2E_REQUIRED`` is set, as `.ci/run` does after installing Chromium: CI always runs them.
"""

import csv
import datetime as dt
import io

from app.models import Activity, Meeting, Member
from tests import browser as e2e
from tests.helpers import group, valid_id, village

# The browser tests' skip rules, fixtures (used by name) and helpers: tests/browser.py.
pytestmark = e2e.pytestmark
browser, server, open_as = e2e.browser, e2e.server, e2e.open_as
PHONE, DESKTOP = e2e.PHONE, e2e.DESKTOP
zh, shot, choose = e2e.zh, e2e.shot, e2e.choose
navigate, shows_message = e2e.navigate, e2e.shows_message


# --- The journeys ---


def test_secretary_adds_a_member_and_the_president_approves_it(app, open_as):
    secretary = open_as("xintan_secretary")
    secretary.goto(f"{secretary.base}/memberview/add")
    number = valid_id(birth="19850517", seq="77", sex_digit="2", area="110101")
    secretary.fill("#name", "李秀兰")
    secretary.fill("#id_number", number)
    secretary.fill("#phone", "13812345678")
    choose(secretary, "group", "第二组")
    shot(secretary, "member-add")
    navigate(secretary, "form [type=submit]")
    assert shows_message(secretary, zh("Added Row"))
    with app.app_context():
        member = app.appbuilder.session.query(Member).filter_by(id_number=number).one()
        assert (member.status, member.gender) == ("applied", "female")
        pk = member.id
        waiting = (
            app.appbuilder.session.query(Member)
            .filter_by(village_id=member.village_id, status="applied")
            .count()
        )

    president = open_as("xintan_president")
    president.goto(f"{president.base}/")
    # The home page says how many applications wait for the president.
    notice = zh("%(n)d membership application(s) await your decision.", n=waiting)
    assert notice in president.content()
    # The president finds the application in the list, ticks it and approves it.
    president.goto(f"{president.base}/memberview/list/?_flt_0_status=applied&_flt_3_name=李秀兰")
    president.check(f"input[name=rowid][value='{pk}']")
    president.click("text=" + zh("Actions"))
    president.click("text=" + zh("Approve application"))
    navigate(president, "#modal-confirm-ok")
    assert shows_message(president, zh("%(n)d application(s) decided", n=1))
    shot(president, "member-approved")
    with app.app_context():
        assert app.appbuilder.session.get(Member, pk).status == "active"


def test_a_group_leader_records_an_activity_on_a_phone(app, open_as):
    leader = open_as("xintan_group1", viewport=PHONE)
    shot(leader, "home-group-leader-phone")
    leader.goto(f"{leader.base}/activityview/add")
    choose(leader, "group", "第一组")
    choose(leader, "kind", zh("Family health"))
    leader.fill("#theme", "冬季健康知识讲座")
    # Typed as a user types it: the date picker reads the keys.
    leader.locator("#date").press_sequentially("2026-11-20")
    leader.keyboard.press("Escape")
    leader.fill("#participants_count", "18")
    shot(leader, "activity-add-phone")
    navigate(leader, "form [type=submit]")
    assert shows_message(leader, zh("Added Row"))
    with app.app_context():
        session = app.appbuilder.session
        activity = session.query(Activity).filter_by(theme="冬季健康知识讲座").one()
        assert activity.group_id == group(session, "新檀村", "第一组").id
        assert activity.participants_count == 18
    # Nothing on the phone page is wider than the screen.
    width = leader.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1


def _roster(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["姓名", "性别", "身份证号码", "联系电话", "所在小组", "入会时间"])
    writer.writerows(rows)
    return buffer.getvalue().encode("gbk")


def test_secretary_fixes_a_gbk_roster_after_reading_its_error(app, open_as, tmp_path):
    rows = [
        [f"王{n}", "男", valid_id(birth=f"19700{n + 1}15", seq="31", sex_digit="1", area="110102")]
        + [f"1391234000{n}", "第三组", "2023/5/1"]
        for n in range(5)
    ]
    bad = list(rows[2])
    bad[2] = bad[2][:-1] + ("0" if bad[2][-1] != "0" else "1")  # a wrong check digit
    path = tmp_path / "新檀村花名册.csv"
    path.write_bytes(_roster(rows[:2] + [bad] + rows[3:]))

    secretary = open_as("xintan_secretary")
    secretary.goto(f"{secretary.base}/roster/")
    secretary.set_input_files("input[type=file]", str(path))
    navigate(secretary, "form [type=submit]")
    page = secretary.content()
    # Row 4 of the file (the header is row 1) is named, with what is wrong and nothing written.
    assert "身份证" in page and ">4<" in page.replace(" ", "")
    assert secretary.locator("text=" + zh("Confirm the import")).count() == 0
    shot(secretary, "roster-preview-rejected")
    with secretary.expect_download() as download:
        secretary.click("text=" + zh("Download the full error report (.xlsx)"))
    report = tmp_path / "errors.xlsx"
    download.value.save_as(report)
    import openpyxl

    sheet = openpyxl.load_workbook(report).active
    assert [c.value for c in sheet[2]][1] == bad[0]

    path.write_bytes(_roster(rows))
    secretary.goto(f"{secretary.base}/roster/")
    secretary.set_input_files("input[type=file]", str(path))
    navigate(secretary, "form [type=submit]")
    navigate(secretary, "text=" + zh("Confirm the import"))
    assert shows_message(secretary, zh("The roster was imported"))
    shot(secretary, "roster-imported")
    with app.app_context():
        session = app.appbuilder.session
        stored = session.query(Member).filter(Member.id_number.in_([r[2] for r in rows])).all()
        assert len(stored) == 5 and {m.status for m in stored} == {"applied"}
        assert {m.village_id for m in stored} == {village(session, "新檀村").id}


def test_the_township_sees_the_dashboard_drawn(open_as):
    township = open_as("township")
    township.goto(f"{township.base}/dashboard/")
    township.wait_for_selector("canvas, svg")
    township.wait_for_timeout(500)
    assert township.locator("canvas, svg").count() >= 2
    assert "新檀村" in township.content() and "龙王村" in township.content()
    assert township.console_errors == []
    shot(township, "dashboard")
    phone = open_as("township", viewport=PHONE)
    phone.goto(f"{phone.base}/dashboard/")
    phone.wait_for_selector("canvas, svg")
    shot(phone, "dashboard-phone")
    assert phone.console_errors == []


def test_the_township_cannot_edit_a_member(app, open_as):
    with app.app_context():
        pk = app.appbuilder.session.query(Member).filter_by(status="active").first().id
    township = open_as("township")
    township.goto(f"{township.base}/memberview/show/{pk}")
    assert township.locator(f"a[href*='/memberview/edit/{pk}']").count() == 0
    shot(township, "member-show-township")
    response = township.goto(f"{township.base}/memberview/edit/{pk}")
    assert response.status in (403, 404)


# --- Paper from the browser (issue 17 part 5): printed from a phone, the 档案 menu ---

LONG_MINUTES = "会议听取了各小组工作汇报，讨论了计生特殊家庭帮扶方案。" * 20 + "附件：" + "A" * 120


def _meeting_with_long_minutes(app):
    with app.app_context():
        session = app.appbuilder.session
        meeting = (
            session.query(Meeting)
            .filter_by(village_id=village(session, "新檀村").id)
            .order_by(Meeting.id)
            .first()
        )
        meeting.minutes = LONG_MINUTES
        session.commit()
        return meeting.id


def test_a_meeting_printed_from_a_phone_shows_its_minutes_whole(app, open_as):
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


def test_the_archive_book_prints_from_a_phone(app, open_as):
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


def test_the_archive_menu_downloads_the_archive_book(open_as):
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


# --- Issue 17: icon buttons with their text, a saved activity's page, the user form ---


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


def test_the_township_searches_a_villages_group_on_a_phone(open_as):
    # 第一组 is in every village: the township names the village, searches, then chooses among
    # that village's groups — each filter stacked at the phone's width, its value box usable.
    page = open_as("township", viewport=PHONE)
    page.goto(f"{page.base}/memberview/list/")
    page.click("text=搜索")
    page.click("text=添加筛选条件")
    page.click("a.filter[name=group]")
    box = page.locator("table.filters .select2-container").last
    assert "请先按村筛选" in box.inner_text()
    assert box.bounding_box()["width"] > PHONE["width"] * 0.6
    page.click("text=添加筛选条件")
    page.click("a.filter[name=village]")
    page.select_option("table.filters select[name$=_village]", label="龙王村")
    navigate(page, "#filter_form button[type=submit]")
    # The group left blank searched nothing by it: the village's members are listed (without
    # a village column: the search names it).
    first = page.locator("table.table-cards > tbody > tr").all_inner_texts()
    headers = page.eval_on_selector_all(
        "table.table-cards thead th", "ths => ths.map(t => t.textContent.trim())"
    )
    assert first and "姓名" in headers and "村" not in headers
    assert "没有找到记录" not in page.inner_text("body")
    # The blank group filter is gone from the form; added again, it offers 龙王村's groups.
    if not page.is_visible("text=添加筛选条件"):
        page.click("text=搜索")
    page.click("text=添加筛选条件")
    page.click("a.filter[name=group]")
    offered = page.eval_on_selector_all(
        "table.filters select[name$=_group] option", "os => os.map(o => o.textContent)"
    )
    assert [o for o in offered if o][:2] == ["第一组", "第二组"]
    assert "请先按村筛选" not in str(offered)
    page.select_option("table.filters select[name$=_group]", label="第二组")
    navigate(page, "#filter_form button[type=submit]")
    cards = page.locator("table.table-cards > tbody > tr")
    assert cards.count() > 0
    texts = cards.all_inner_texts()
    assert all("第二组" in t and "第一组" not in t for t in texts)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert not page.console_errors
