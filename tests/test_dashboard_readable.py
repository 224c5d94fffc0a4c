"""The dashboard as the township reads it (issue 17 items 3, 6 and 7): R1–R21 headers with
their names, the norms explained without hovering, each cell leading to what was found, norm
sources cited as the seeds number them (第三条), a detail's parts joined with "；" in Chinese.
The page's width on a 390 px phone: tests/test_e2e_dashboard_phone.py."""

import datetime as dt
import html
import re

from app.norm_basics import chinese_number
from tests.helpers import village

YEAR = dt.date.today().year


def _page(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def _words(fragment):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment)).strip()


def test_the_heat_map_headers_carry_the_norms_names(login_as):
    page = _page(login_as("township").get("/dashboard/"))
    head = re.search(r'<table[^>]*id="heatmap">\s*<thead>(.*?)</thead>', page, re.S).group(1)
    headers = [_words(h) for h in re.findall(r'<th class="norm"[^>]*>(.*?)</th>', head, re.S)]
    assert len(headers) == 21
    assert headers[0] == "R1 理事会职务"
    assert headers[1] == "R2 理事构成"
    assert headers[4] == "R5 会员发展"
    assert headers[7] == "R8 工作例会"
    assert headers[20] == "R21 上级交办任务"


def test_the_norms_are_explained_without_hovering(db_session, login_as):
    client = login_as("township")
    page = _page(client.get("/dashboard/"))
    # The legend is open below the table: every norm, its title and source, in words.
    legend = re.search(r'<details id="norm-legend" open>(.*?)</details>', page, re.S).group(1)
    assert "R4 会员小组" in _words(legend)
    assert "每个会员小组" in legend or "会员小组长" in legend
    assert len(re.findall(r'<dt id="legend-R\d+">', legend)) == 21
    # A header leads to its explanation; a cell to what was found in that village.
    assert '<a href="#legend-R4">' in page
    longwang = village(db_session, "龙王村").id
    link = f"/dashboard/village/{longwang}?year={YEAR}"
    cell = re.search(rf'<a href="({re.escape(link)}[^"]*#rule-R4)">', page)
    assert cell is not None
    target = _page(client.get(cell.group(1).split("#")[0]))
    row = re.search(r'<td id="rule-R4">(.*?)</tr>', target, re.S).group(1)
    assert "R4 会员小组" in _words(row) and "第三组" in row


def test_chinese_numerals_as_the_seeds_number_their_articles():
    assert [chinese_number(n) for n in (1, 3, 10, 12, 13, 20, 21, 99)] == [
        "一",
        "三",
        "十",
        "十二",
        "十三",
        "二十",
        "二十一",
        "九十九",
    ]


def test_norm_sources_are_cited_with_chinese_article_numbers(db_session, login_as):
    client = login_as("township")
    page = _page(client.get("/dashboard/"))
    legend = _words(re.search(r'<details id="norm-legend" open>(.*?)</details>', page, re.S)[1])
    assert "《村级计划生育协会工作管理规范》第三条" in legend
    assert "《村级计划生育协会工作管理规范》第八条第十三项" in legend
    assert "《村级计划生育协会工作管理规范》第十二条" in legend
    assert "《村民自治标准》第三、四项标准" in legend
    assert "第3条" not in legend and "Art." not in legend
    client.get("/lang/en")
    page = _page(client.get("/dashboard/"))
    assert "Village association work norms, Art. 3" in page
    assert "Self-governance standards, standards 3, 4" in page


def test_a_details_parts_are_joined_with_the_chinese_semicolon(app, db_session, login_as):
    longwang = village(db_session, "龙王村").id
    client = login_as("township")
    page = _page(client.get(f"/dashboard/village/{longwang}?year={YEAR}"))
    r2 = re.search(r'<tr data-rule="R2" class="[a-z]*">(.*?)</tr>', page, re.S).group(1)
    detail = _words(re.search(r'<td class="detail">(.*?)</td>', r2, re.S).group(1))
    assert detail.startswith("第3届理事会（5-3-3 模式）：")
    assert detail.count("；") == 2 and "; " not in detail
    client.get("/lang/en")
    page = _page(client.get(f"/dashboard/village/{longwang}?year={YEAR}"))
    r2 = re.search(r'<tr data-rule="R2" class="[a-z]*">(.*?)</tr>', page, re.S).group(1)
    assert "; " in r2 and "；" not in r2


def test_the_compliance_api_keeps_its_shape(client, api_token):
    answer = client.get(f"/api/v1/compliance/?year={YEAR}", headers=api_token("township"))
    assert answer.status_code == 200
    villages = answer.get_json()["villages"]
    assert {frozenset(v) for v in villages} == {frozenset({"village_id", "name", "score", "rules"})}
    for v in villages:
        assert set(v["rules"]) == {f"R{i}" for i in range(1, 22)}
        assert all(set(rule) == {"met", "detail"} for rule in v["rules"].values())
