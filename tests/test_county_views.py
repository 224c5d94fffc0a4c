"""Issue 18 part 1, the county's views: the county dashboard ranking its townships, a township's
heat map opened from it and a village's page from that, the compliance API narrowed to one
township, the annual statistics by township, a task given to every village of the county in
one step and followed per township.

Each test asserts what the user sees (status, rows, the Chinese text), for the County of 古蔺县
(二郎镇 and 太平镇), the County of another county (叙永县, 水尾镇), the townships' and the
villages' own accounts.
"""

import datetime as dt
import html
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.models import AuditLog, Task, TaskAssignment, Township, Village
from tests import counties as world

# The two-county world's fixture (used by name) and helpers: tests/counties.py.
counties, db, ids = world.counties, world.db, world.ids

YEAR = dt.date.today().year
TODAY = dt.date.today()


def _page(response):
    assert response.status_code == 200, response.status_code
    return html.unescape(response.get_data(as_text=True))


def _township_rows(page):
    """(rank, township id, name, villages, score) of the county's ranking, in order."""
    return re.findall(
        r'<tr data-township="(\d+)">\s*<td class="rank">(\d+)</td>\s*'
        r'<td class="township"><a href="[^"]*">([^<]+)</a></td>\s*'
        r'<td class="villages">(\d+)</td>\s*<td class="score">([^<]*)</td>',
        page,
    )


def _heatmap_villages(page):
    return re.findall(
        r'<tr data-village="\d+">\s*<td class="rank">\d+</td>\s*'
        r'<td class="village"><a [^>]*>([^<]+)</a>',
        page,
    )


def _crumbs(page):
    found = re.search(r'<ol class="breadcrumb dashboard-crumbs"[^>]*>(.*?)</ol>', page, re.S)
    if found is None:
        return []
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<li.*?</li>", found.group(1))]


# --- The county dashboard ---


def test_the_county_ranks_its_townships_by_their_villages_mean_score(app, counties, login_as):
    client = login_as("county")
    page = _page(client.get(f"/dashboard/?year={YEAR}"))
    rows = _township_rows(page)
    assert sorted(name for _id, _rank, name, _n, _score in rows) == ["二郎镇", "太平镇"]
    assert [rank for _id, rank, *_rest in rows] == ["1", "2"]
    assert {name: n for _id, _r, name, n, _s in rows} == {"二郎镇": "3", "太平镇": "2"}
    # Each township's score is the mean of its villages' scores, as the API gives them.
    answer = client.get(f"/api/v1/compliance/?year={YEAR}").get_json()["villages"]
    by_name = {v["name"]: v["score"] for v in answer}
    erlang = [by_name[n] for n in ("新檀村", "龙王村", "小河村")]
    taiping = [by_name[n] for n in ("平安村", "红岩村") if by_name[n] is not None]
    expected = {"二郎镇": 100 * sum(erlang) / 3}
    if taiping:
        expected["太平镇"] = 100 * sum(taiping) / len(taiping)
    shown = {name: score for _id, _r, name, _n, score in rows}
    for name, mean in expected.items():
        assert shown[name] == f"{mean:.0f}%"
    # Ranked by that score, the higher first.
    scores = [float(score.rstrip("%")) for *_rest, score in rows if score != "—"]
    assert scores == sorted(scores, reverse=True)
    # In Chinese, saying how the score is made; the county named; a cell per norm.
    assert "乡镇得分为其各村得分的平均数" in page
    assert '<span id="county-name">古蔺县</span>' in page
    assert '<th class="township">乡镇</th>' in page
    assert len(re.findall(r'data-rule="R\d+"', page)) == 2 * 21
    # Nothing of another county.
    assert "水尾镇" not in page and "石坝村" not in page


def test_a_township_opens_its_heat_map_and_a_village_with_the_way_back(app, counties, login_as):
    client = login_as("county")
    erlang, taiping = ids(app, Township, "二郎镇", "太平镇")
    page = _page(client.get(f"/dashboard/?year={YEAR}"))
    link = re.search(rf'<tr data-township="{erlang}">.*?<a href="([^"]+)">二郎镇</a>', page, re.S)
    page = _page(client.get(link.group(1)))
    assert sorted(_heatmap_villages(page)) == ["小河村", "新檀村", "龙王村"]
    assert _crumbs(page) == ["达标考核", "二郎镇"]
    assert '<span id="township-name">二郎镇</span>' in page
    # The county's reports are on its own page, not repeated on each township's.
    assert 'id="reports"' not in page
    # The township's cell opens the village's page at the norm, its rank among the township's.
    (longwang,) = ids(app, Village, "龙王村")
    cell = re.search(
        rf'<tr data-village="{longwang}">.*?<td class="\w+" data-rule="R4"[^>]*><a href="([^"]+)"',
        page,
        re.S,
    ).group(1)
    assert cell.endswith("#rule-R4")
    village_page = _page(client.get(cell))
    assert '<h2 id="village-name">龙王村</h2>' in village_page
    assert _crumbs(village_page) == ["达标考核", "二郎镇", "龙王村"]
    assert 'data-rank="3"' in village_page
    # 太平镇's heat map holds its own villages only.
    page = _page(client.get(f"/dashboard/?year={YEAR}&township={taiping}"))
    assert sorted(_heatmap_villages(page)) == ["平安村", "红岩村"]


def test_admin_sees_every_township_ranked(app, counties, login_as):
    page = _page(login_as("admin").get(f"/dashboard/?year={YEAR}"))
    names = sorted(name for _id, _r, name, _n, _s in _township_rows(page))
    assert names == ["二郎镇", "太平镇", "水尾镇"]


def test_another_county_sees_none_of_it(app, counties, login_as):
    client = login_as("xuyong")
    page = _page(client.get(f"/dashboard/?year={YEAR}"))
    assert [name for _id, _r, name, _n, _s in _township_rows(page)] == ["水尾镇"]
    assert "二郎镇" not in page and "新檀村" not in page
    erlang, shuiwei = ids(app, Township, "二郎镇", "水尾镇")
    (xintan,) = ids(app, Village, "新檀村")
    # As if it did not exist: the same as an unknown one.
    assert client.get(f"/dashboard/?township={erlang}").status_code == 404
    assert client.get("/dashboard/?township=987654").status_code == 404
    assert client.get(f"/dashboard/village/{xintan}").status_code == 404
    assert client.get(f"/tasks/progress?township={erlang}").status_code == 404
    assert sorted(_heatmap_villages(_page(client.get(f"/dashboard/?township={shuiwei}")))) == [
        "石坝村"
    ]


@pytest.mark.parametrize(
    "username,own,villages",
    [
        ("township", "二郎镇", ["小河村", "新檀村", "龙王村"]),
        ("taiping", "太平镇", ["平安村", "红岩村"]),
    ],
)
def test_a_township_keeps_its_heat_map_and_sees_only_its_own(
    app, counties, login_as, username, own, villages
):
    client = login_as(username)
    page = _page(client.get(f"/dashboard/?year={YEAR}"))
    assert sorted(_heatmap_villages(page)) == villages
    assert 'id="township-ranking"' not in page and _crumbs(page) == []
    assert 'id="reports"' in page
    (own_id,) = ids(app, Township, own)
    other = "太平镇" if own == "二郎镇" else "二郎镇"
    (other_id,) = ids(app, Township, other)
    assert sorted(_heatmap_villages(_page(client.get(f"/dashboard/?township={own_id}")))) == (
        villages
    )
    assert client.get(f"/dashboard/?township={other_id}").status_code == 404
    assert client.get("/dashboard/?township=abc").status_code == 400


def test_a_village_keeps_its_own_dashboard(app, counties, login_as):
    page = _page(login_as("xintan_president").get(f"/dashboard/?year={YEAR}"))
    assert _heatmap_villages(page) == ["新檀村"]
    assert 'id="township-ranking"' not in page


# --- The compliance API narrowed to a township ---


def test_the_api_narrows_to_a_township_of_the_scope(app, counties, api_token):
    client = app.test_client()
    erlang, taiping, shuiwei = ids(app, Township, "二郎镇", "太平镇", "水尾镇")
    county = api_token("county")
    whole = client.get(f"/api/v1/compliance/?year={YEAR}", headers=county).get_json()
    assert sorted(v["name"] for v in whole["villages"]) == [
        "小河村",
        "平安村",
        "新檀村",
        "红岩村",
        "龙王村",
    ]
    narrowed = client.get(f"/api/v1/compliance/?year={YEAR}&township={taiping}", headers=county)
    assert narrowed.status_code == 200
    body = narrowed.get_json()
    assert sorted(v["name"] for v in body["villages"]) == ["平安村", "红岩村"]
    # The answer's shape is unchanged.
    assert set(body) == {"villages"}
    assert set(body["villages"][0]) == {"village_id", "name", "score", "rules"}
    assert set(body["villages"][0]["rules"]) == {f"R{n}" for n in range(1, 22)}
    # Another county's township answers as an unknown one: 404, the same body.
    other = client.get(f"/api/v1/compliance/?year={YEAR}&township={shuiwei}", headers=county)
    unknown = client.get(f"/api/v1/compliance/?year={YEAR}&township=987654", headers=county)
    assert other.status_code == unknown.status_code == 404
    assert other.get_json() == unknown.get_json()
    # A township's own account: its own township, never another.
    own = api_token("township")
    answer = client.get(f"/api/v1/compliance/?year={YEAR}&township={erlang}", headers=own)
    assert sorted(v["name"] for v in answer.get_json()["villages"]) == [
        "小河村",
        "新檀村",
        "龙王村",
    ]
    answer = client.get(f"/api/v1/compliance/?year={YEAR}&township={taiping}", headers=own)
    assert answer.status_code == 404


@pytest.mark.parametrize("bad", ["abc", "0", "-3", "1.5", "99999999999999999999999", "１"])
def test_a_bad_township_is_a_400_in_json(app, counties, api_token, bad):
    response = app.test_client().get(
        f"/api/v1/compliance/?year={YEAR}&township={bad}", headers=api_token("county")
    )
    assert response.status_code == 400
    assert response.is_json and response.get_json()["message"]


# --- The annual statistics by township ---


def _sheet(book, name):
    rows = list(book[name].iter_rows(min_row=2, values_only=True))
    return rows[0], rows[1:]


def test_the_countys_annual_statistics_are_given_by_township(app, counties, login_as):
    response = login_as("county").get(f"/dashboard/report/annual?year={YEAR}")
    assert response.status_code == 200
    assert (
        "古蔺县" in response.headers["Content-Disposition"]
        or "%E5%8F%A4" in (response.headers["Content-Disposition"])
    )
    book = load_workbook(io.BytesIO(response.data))
    headers, rows = _sheet(book, "会员")
    assert headers[:2] == ("乡镇", "村（社区）")
    places = [(r[0], r[1]) for r in rows]
    assert places == [
        ("二郎镇", "新檀村"),
        ("二郎镇", "龙王村"),
        ("二郎镇", "小河村"),
        ("二郎镇", "小计"),
        ("太平镇", "平安村"),
        ("太平镇", "红岩村"),
        ("太平镇", "小计"),
        ("合计", None),
    ]
    active = headers.index("在册")
    assert rows[3][active] == sum(r[active] for r in rows[:3])
    assert rows[6][active] == sum(r[active] for r in rows[4:6])
    assert rows[7][active] == rows[3][active] + rows[6][active]
    # The council's text column is not summed; each township's villages carry its name.
    headers, rows = _sheet(book, "组织")
    assert headers[:3] == ("乡镇", "村（社区）", "现任理事会")
    assert rows[-1][:3] == ("合计", None, None)
    for name in ("活动", "培训", "奖扶"):
        headers, rows = _sheet(book, name)
        assert headers[:2] == ("乡镇", "村（社区）"), name
        assert rows[-1][0] == "合计", name
    assert all("水尾镇" not in str(row) for sheet in book for row in sheet.values)


def test_a_townships_annual_statistics_keep_their_layout(app, counties, login_as):
    book = load_workbook(
        io.BytesIO(login_as("taiping").get(f"/dashboard/report/annual?year={YEAR}").data)
    )
    headers, rows = _sheet(book, "会员")
    assert headers[0] == "村（社区）" and "乡镇" not in headers
    assert [r[0] for r in rows] == ["平安村", "红岩村", "合计"]


# --- A task for every village of the county ---


def _tasks(app, title):
    """township name → {village name: status} of the tasks titled ``title``."""
    rows = db(
        app,
        lambda s: s.execute(
            select(Township.name, Village.name, TaskAssignment.status)
            .join(Task, Task.township_id == Township.id)
            .join(TaskAssignment, TaskAssignment.task_id == Task.id)
            .join(Village, Village.id == TaskAssignment.village_id)
            .where(Task.title == title)
        ).all(),
    )
    found = {}
    for township, village, status in rows:
        found.setdefault(township, {})[village] = status
    return found


def test_admin_gives_a_task_to_every_village_of_the_county_in_one_step(app, counties, login_as):
    (erlang,) = ids(app, Township, "二郎镇")
    client = login_as("admin")
    form = _page(client.get("/taskview/add"))
    assert "县内全部村" in form
    response = client.post(
        "/taskview/add",
        data={
            "township": erlang,
            "title": "开展5·29会员活动日",
            "body": "全县统一开展。",
            "due_date": (TODAY + dt.timedelta(days=10)).isoformat(),
            "whole_county": "y",
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "另为本县 1 个乡镇添加了此任务" in _page(response)
    assert _tasks(app, "开展5·29会员活动日") == {
        "二郎镇": {"新檀村": "open", "龙王村": "open", "小河村": "open"},
        "太平镇": {"平安村": "open", "红岩村": "open"},
    }

    # Every task and assignment written is audited, as the administrator's.
    def entries(session):
        return session.execute(
            select(AuditLog.model, func.count())
            .where(AuditLog.action == "insert", AuditLog.username == "admin")
            .where(AuditLog.model.in_(("Task", "TaskAssignment")))
            .group_by(AuditLog.model)
        ).all()

    assert dict(db(app, entries)) == {"Task": 2, "TaskAssignment": 5}
    # The edit form has no such box: afterwards each township's task is its own.
    task_id = db(
        app, lambda s: s.scalar(select(func.min(Task.id)).where(Task.title == "开展5·29会员活动日"))
    )
    assert "whole_county" not in _page(client.get(f"/taskview/edit/{task_id}"))


def test_the_task_api_gives_a_task_to_the_whole_county(app, counties, api_token):
    (taiping,) = ids(app, Township, "太平镇")
    client = app.test_client()
    response = client.post(
        "/api/v1/task/",
        json={
            "township_id": taiping,
            "title": "全县任务",
            "due_date": "2030-01-31",
            "whole_county": True,
        },
        headers=api_token("admin"),
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert len(body["county_task_ids"]) == 2 and body["county_task_ids"][0] == body["id"]
    assert set(_tasks(app, "全县任务")) == {"二郎镇", "太平镇"}
    response = client.post(
        "/api/v1/task/",
        json={
            "township_id": taiping,
            "title": "坏",
            "due_date": "2030-01-31",
            "whole_county": "yes",
        },
        headers=api_token("admin"),
    )
    assert response.status_code == 400
    # The County reads; it assigns nothing.
    response = client.post(
        "/api/v1/task/",
        json={
            "township_id": taiping,
            "title": "县里",
            "due_date": "2030-01-31",
            "whole_county": True,
        },
        headers=api_token("county"),
    )
    assert response.status_code == 403


def test_a_township_of_no_county_cannot_take_a_county_task(app, counties, login_as):
    def lone(session):
        township = Township(name="孤镇")
        session.add_all(
            [township, Village(township=township, name="孤村", kind="village", size_class="small")]
        )
        session.commit()
        return township.id

    pk = db(app, lone)
    response = login_as("admin").post(
        "/taskview/add",
        data={
            "township": pk,
            "title": "无县任务",
            "due_date": TODAY.isoformat(),
            "whole_county": "y",
        },
    )
    assert response.status_code == 200
    assert "该乡镇不属于任何县" in _page(response)
    assert _tasks(app, "无县任务") == {}


def test_the_county_follows_its_tasks_per_township(app, counties, login_as):
    admin = login_as("admin")
    (erlang,) = ids(app, Township, "二郎镇")
    admin.post(
        "/taskview/add",
        data={
            "township": erlang,
            "title": "上报季度报表",
            "due_date": (TODAY - dt.timedelta(days=1)).isoformat(),
            "whole_county": "y",
        },
    )

    def report_done(session):
        assignment = session.scalars(
            select(TaskAssignment)
            .join(Task)
            .join(Village, Village.id == TaskAssignment.village_id)
            .where(Task.title == "上报季度报表", Village.name == "平安村")
        ).one()
        assignment.status, assignment.done_on = "done", TODAY - dt.timedelta(days=2)
        session.commit()

    db(app, report_done)
    client = login_as("county")
    page = _page(client.get("/tasks/county"))
    assert "乡镇任务进度" in page
    table = re.search(r'<table [^>]*data-title="上报季度报表">(.*?)</table>', page, re.S).group(1)
    counts = {
        name: (assigned, done, due, overdue)
        for name, assigned, done, due, overdue in re.findall(
            r'<tr data-township="\d+"[^>]*>\s*<th><a [^>]*>([^<]+)</a></th>\s*'
            r'<td class="assigned">(\d+)</td><td class="done">(\d+)</td>'
            r'<td class="open">(\d+)</td><td class="overdue">(\d+)</td>',
            table,
        )
    }
    assert counts == {"二郎镇": ("3", "0", "0", "3"), "太平镇": ("2", "1", "0", "1")}
    total = re.search(r'<tr class="total">(.*?)</tr>', table, re.S).group(1)
    assert "合计" in total and '<td class="overdue">4</td>' in total
    # The demo's own tasks of 二郎镇 are there too (5·29: done at 新檀村, overdue at 龙王村).
    assert "报送“5·29会员活动日”活动开展情况" in page
    # A township row opens that township's villages.
    link = re.search(r'<a href="(/tasks/progress\?township=\d+)">太平镇</a>', table).group(1)
    progress = _page(client.get(link))
    assert "平安村" in progress and "红岩村" in progress and "新檀村" not in progress
    # Another county sees none of it; a township only its own row.
    assert "上报季度报表" not in _page(login_as("xuyong").get("/tasks/county"))
    own = _page(login_as("taiping").get("/tasks/county"))
    table = re.search(r'<table [^>]*data-title="上报季度报表">(.*?)</table>', own, re.S).group(1)
    assert "太平镇" in table and "二郎镇" not in table


def test_the_county_dashboard_links_its_reports_and_tasks(app, counties, login_as):
    page = _page(login_as("county").get(f"/dashboard/?year={YEAR}"))
    assert f"/dashboard/report/annual?year={YEAR}" in page
    assert 'href="/tasks/county"' in page
    assert "年度统计（按乡镇）" in page


def test_the_countys_home_page_counts_overdue_tasks_and_leads_to_them(app, counties, login_as):
    page = _page(login_as("county").get("/"))
    assert 'id="county-tasks-link"' in page and 'href="/tasks/county"' in page
    # The demo's 5·29 task is overdue at 龙王村.
    assert re.search(r'id="tasks-overdue">\s*1', page) or "1 项逾期" in page
    assert 'class="open-task' not in page


def test_a_village_counts_only_its_own_village_in_the_tasks_per_township(app, counties, login_as):
    """/tasks/county read by a village account counts its own village, never how the other
    villages of its township stand (the demo's 5·29 task: done at 新檀村, overdue at 龙王村)."""
    title = "报送“5·29会员活动日”活动开展情况"
    township = _page(login_as("township").get("/tasks/county"))
    table = re.search(rf'<table [^>]*data-title="{title}">(.*?)</table>', township, re.S).group(1)
    assert '<td class="assigned">2</td><td class="done">1</td>' in table
    assert '<td class="overdue">1</td>' in table
    own = _page(login_as("xintan_secretary").get("/tasks/county"))
    table = re.search(rf'<table [^>]*data-title="{title}">(.*?)</table>', own, re.S).group(1)
    assert '<td class="assigned">1</td><td class="done">1</td>' in table
    assert '<td class="overdue">0</td>' in table and '<td class="overdue">1</td>' not in table


def test_the_countys_half_year_summary_has_a_column_per_township(app, counties, login_as):
    # A county's hundreds of villages as columns were unreadable (and two townships may name
    # a village alike): a column per township, its villages added up, then 合计.
    county = load_workbook(
        io.BytesIO(login_as("county").get(f"/dashboard/report/half_year?year={YEAR}").data)
    )
    headers, rows = _sheet(county, "半年小结")
    assert headers == ("指标", "二郎镇", "太平镇", "合计")
    township = load_workbook(
        io.BytesIO(login_as("township").get(f"/dashboard/report/half_year?year={YEAR}").data)
    )
    village_headers, village_rows = _sheet(township, "半年小结")
    assert village_headers == ("指标", "新檀村", "龙王村", "小河村", "合计")
    by_label = {row[0]: row for row in rows}
    for row in village_rows:
        # 二郎镇's column is the sum of its villages' (the township's own total).
        assert by_label[row[0]][1] == row[-1], row[0]
        assert by_label[row[0]][3] == by_label[row[0]][1] + by_label[row[0]][2], row[0]
    assert by_label["在册会员（人，当前）"][2] > 0  # 太平镇's own members
