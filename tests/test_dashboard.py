"""The compliance dashboard (SPEC §3.5, issue 6 item 3): the heat map, ranking and charts for the
township, a page per village with links to the records that would fix each unmet norm, scoped
like everything else, and nothing loaded from outside the app."""

import datetime as dt
import html
import json
import re

import pytest

from tests.helpers import village

YEAR = dt.date.today().year
ATTRIBUTE_URL = re.compile(r'\b(?:src|href|action)\s*=\s*["\']([^"\']*)["\']', re.I)


def _page(response):
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _heatmap_villages(page):
    return re.findall(
        r'<tr data-village="\d+">\s*<td class="rank">(\d+)</td>\s*'
        r'<td class="village"><a [^>]*>([^<]+)</a>',
        page,
    )


def _chart_data(page):
    raw = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    return json.loads(html.unescape(raw.group(1)))


def test_township_sees_every_village_ranked_with_charts(login_as):
    page = _page(login_as("township").get("/dashboard/"))
    ranked = _heatmap_villages(page)
    assert sorted(name for _rank, name in ranked) == ["小河村", "新檀村", "龙王村"]
    assert [rank for rank, _name in ranked] == ["1", "2", "3"]
    assert ranked[0][1] == "新檀村"
    # Every village has a cell per norm, met and unmet both shown.
    assert len(re.findall(r'data-rule="R\d+"', page)) == 3 * 21
    assert 'class="unmet"' in page and 'class="met"' in page
    charts = _chart_data(page)
    assert sorted(charts["villages"]) == ["小河村", "新檀村", "龙王村"]
    assert all(0 <= s <= 100 for s in charts["scores"])
    # The bar chart follows the ranking.
    assert charts["villages"] == [name for _rank, name in ranked]
    assert charts["scores"] == sorted(charts["scores"], reverse=True)
    assert len(charts["quarters"]) == 4
    assert sum(sum(series["data"]) for series in charts["meetings"]) > 0
    assert 'id="chart-scores"' in page and 'id="chart-meetings"' in page


def test_the_heat_map_cell_says_what_is_missing(login_as):
    page = html.unescape(_page(login_as("township").get("/dashboard/")))
    row = re.search(
        r'<tr data-village="\d+">(?:(?!</tr>).)*?>龙王村</a>.*?</tr>', page, re.S
    ).group(0)
    cell = re.search(r'<td class="(\w+)" data-rule="R4" title="([^"]*)"', row)
    assert cell.group(1) == "unmet" and "第三组" in cell.group(2)
    assert re.search(r'<td class="met" data-rule="R1"', row)


def test_nothing_is_loaded_from_outside(db_session, login_as):
    client = login_as("township")
    longwang = village(db_session, "龙王村").id
    for url in ("/dashboard/", f"/dashboard/village/{longwang}", "/"):
        page = client.get(url).get_data(as_text=True)
        for link in ATTRIBUTE_URL.findall(page):
            assert not link.lower().startswith(("http://", "https://", "//")), (url, link)
    page = client.get("/dashboard/").get_data(as_text=True)
    assert 'src="/static/vendor/echarts/echarts.min.js"' in page


def test_echarts_is_served_by_the_app_with_its_licence(client):
    script = client.get("/static/vendor/echarts/echarts.min.js")
    assert script.status_code == 200 and b"echarts" in script.data[:2000]
    assert b"Apache License" in client.get("/static/vendor/echarts/LICENSE").data


def test_readable_on_a_phone(login_as):
    page = _page(login_as("township").get("/dashboard/"))
    assert 'name="viewport" content="width=device-width' in page
    # The wide heat map scrolls inside its own box.
    assert re.search(r'<div class="heatmap-scroll">\s*<table [^>]*id="heatmap"', page)
    assert ".heatmap-scroll { overflow-x: auto;" in page


@pytest.mark.parametrize(
    "username,name",
    [("xintan_president", "新檀村"), ("xintan_group1", "新檀村"), ("longwang_secretary", "龙王村")],
)
def test_a_village_account_sees_its_village_only(app, db_session, login_as, username, name):
    client = login_as(username)
    page = _page(client.get("/dashboard/"))
    assert [n for _r, n in _heatmap_villages(page)] == [name]
    assert _chart_data(page)["villages"] == [name]
    other = village(db_session, "小河村").id
    assert client.get(f"/dashboard/village/{other}").status_code == 404


def test_village_page_drills_into_unmet_norms_with_links(db_session, login_as):
    longwang = village(db_session, "龙王村").id
    client = login_as("township")
    page = _page(client.get(f"/dashboard/village/{longwang}?year={YEAR}"))
    assert '<h2 id="village-name">龙王村</h2>' in page
    # Its rank among the township's villages, not among itself.
    assert 'data-rank="3"' in page
    r4 = re.search(r'<tr data-rule="R4" class="danger">(.*?)</tr>', page, re.S).group(1)
    assert "第三组" in html.unescape(r4)
    link = html.unescape(re.search(r'class="fix-link" href="([^"]+)"', r4).group(1))
    assert link == f"/membergroupview/list/?_flt_0_village={longwang}"
    groups = _page(client.get(link))
    assert "第三组" in groups and "第四组" in groups
    # A met norm offers no fix.
    r1 = re.search(r'<tr data-rule="R1" class="">(.*?)</tr>', page, re.S).group(1)
    assert "fix-link" not in r1
    # The missing work meetings lead to that village's work meetings of the year.
    r8 = re.search(r'<tr data-rule="R8" class="danger">(.*?)</tr>', page, re.S).group(1)
    meetings = html.unescape(re.search(r'href="([^"]+)"', r8).group(1))
    assert "_flt_3_type=work" in meetings and f"_flt_0_village={longwang}" in meetings
    assert client.get(meetings).status_code == 200


def test_norm_sources_read_as_citations(db_session, login_as):
    longwang = village(db_session, "龙王村").id
    client = login_as("township")
    page = html.unescape(_page(client.get(f"/dashboard/village/{longwang}?year={YEAR}")))
    r4 = re.search(r'<tr data-rule="R4" class="danger">(.*?)</tr>', page, re.S).group(1)
    assert "《村级计划生育协会工作管理规范》第四条" in r4
    r3 = re.search(r'<tr data-rule="R3" class="[a-z]*">(.*?)</tr>', page, re.S).group(1)
    assert "《村级计划生育协会工作管理规范》第八条第一项" in r3
    r16 = re.search(r'<tr data-rule="R16" class="[a-z]*">(.*?)</tr>', page, re.S).group(1)
    assert "《镇计生协工作报告》、《村民自治标准》" in r16
    r1 = re.search(r'<tr data-rule="R1" class="">(.*?)</tr>', page, re.S).group(1)
    assert "《村级计划生育协会工作管理规范》第三条" in r1 and "000 Art." not in page
    client.get("/lang/en")
    page = _page(client.get(f"/dashboard/village/{longwang}?year={YEAR}"))
    assert "Village association work norms, Art. 8 item 1" in page


def test_group_leader_gets_links_only_to_registers_it_may_read(db_session, login_as):
    longwang = village(db_session, "龙王村").id
    client = login_as("longwang_group1")
    page = _page(client.get(f"/dashboard/village/{longwang}?year={YEAR}"))
    links = re.findall(r'class="fix-link" href="([^"]+)"', page)
    assert any(link.startswith("/membergroupview/") for link in links)
    # The overdue complaint and the agreements are unmet, but not the group leader's to read.
    for rule in ("R15", "R16"):
        row = re.search(rf'<tr data-rule="{rule}" class="danger">(.*?)</tr>', page, re.S).group(1)
        assert "fix-link" not in row
    assert not any(link.startswith(("/complaintview/", "/agreementview/")) for link in links)
    assert "/dashboard/report/" not in page
    report = f"/dashboard/report/archive?year={YEAR}&village={longwang}"
    assert client.get(report).status_code == 403


def test_home_page_links_the_township_to_the_dashboard(login_as):
    home = _page(login_as("township").get("/"))
    assert 'id="dashboard-link"' in home and 'href="/dashboard/"' in home


def test_report_links_on_the_dashboard(db_session, login_as):
    page = html.unescape(_page(login_as("township").get(f"/dashboard/?year={YEAR}")))
    assert f"/dashboard/report/annual?year={YEAR}" in page
    assert f"/dashboard/report/half_year?year={YEAR}&half=1" in page
    longwang = village(db_session, "龙王村").id
    village_page = html.unescape(_page(login_as("township").get(f"/dashboard/village/{longwang}")))
    assert f"/dashboard/report/archive?year={YEAR}&village={longwang}" in village_page


def test_a_quarter_and_a_bad_year(login_as):
    client = login_as("township")
    page = _page(client.get(f"/dashboard/?year={YEAR}&quarter=1"))
    assert '<option value="1" selected>' in page
    assert client.get("/dashboard/?year=abc").status_code == 400
    assert client.get(f"/dashboard/?year={YEAR}&quarter=9").status_code == 400


def test_signed_out_is_sent_to_the_login(client):
    response = client.get("/dashboard/")
    assert response.status_code in (302, 401)
    if response.status_code == 302:
        assert "/login/" in response.headers["Location"]


def test_admin_sees_every_village_and_may_download(login_as):
    client = login_as("admin")
    # The townships first (issue 18), each opening its villages.
    page = _page(client.get("/dashboard/"))
    assert 'id="township-ranking"' in page and _heatmap_villages(page) == []
    townships = {
        name: ident
        for ident, name in re.findall(
            r'<tr data-township="(\d+)">\s*<td class="rank">\d+</td>\s*'
            r'<td class="township"><a[^>]*>([^<]+)</a>',
            page,
        )
    }
    assert sorted(townships) == ["二郎镇", "太平镇"], townships
    page = _page(client.get(f"/dashboard/?township={townships['二郎镇']}"))
    assert sorted(n for _r, n in _heatmap_villages(page)) == ["小河村", "新檀村", "龙王村"]
    page = _page(client.get(f"/dashboard/?township={townships['太平镇']}"))
    assert sorted(n for _r, n in _heatmap_villages(page)) == ["平安村", "红岩村"]
    assert client.get(f"/dashboard/report/annual?year={YEAR}").status_code == 200
