"""Issue 18 review (an attacker's pass over the County role and its pages): what held, pinned.

A County of another county (叙永县), a township of the same county (太平镇) and a village's
account reach nothing of 古蔺县/二郎镇 beyond their scope — 404, never a 403 that confirms it;
a County writes nothing; crafted arguments answer 400 or 404, never 500; a County sees what a
Township sees masked, and cannot sort or search by it.
"""

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from app.models import County, Township, Village
from tests import counties as world

# The two-county world's fixture (used by name) and helpers: tests/counties.py.
counties, ids = world.counties, world.ids

YEAR = dt.date.today().year

BIG = "99999999999999999999"


@pytest.fixture
def places(app, counties):  # noqa: F811
    erlang, taiping, shuiwei = ids(app, Township, "二郎镇", "太平镇", "水尾镇")
    xintan, pingan, shiba = ids(app, Village, "新檀村", "平安村", "石坝村")
    (gulin,) = ids(app, County, "古蔺县")
    return dict(
        erlang=erlang,
        taiping=taiping,
        shuiwei=shuiwei,
        xintan=xintan,
        pingan=pingan,
        shiba=shiba,
        gulin=gulin,
        year=YEAR,
    )


@pytest.mark.parametrize(
    ("user", "url"),
    [
        ("xuyong", "/dashboard/?township={erlang}"),
        ("xuyong", "/dashboard/village/{xintan}"),
        ("xuyong", "/tasks/progress?township={erlang}"),
        ("xuyong", "/dashboard/report/archive?year={year}&village={xintan}"),
        ("xuyong", "/reports/archive/print?year={year}&village={xintan}"),
        ("xuyong", "/countyview/show/{gulin}"),
        ("county", "/dashboard/?township={shuiwei}"),
        ("county", "/dashboard/village/{shiba}"),
        ("county", "/tasks/progress?township={shuiwei}"),
        ("taiping", "/dashboard/?township={erlang}"),
        ("taiping", "/tasks/progress?township={erlang}"),
        ("taiping", "/dashboard/village/{xintan}"),
        ("township", "/dashboard/village/{pingan}"),
        ("xintan_president", "/tasks/progress?township={taiping}"),
        ("xintan_president", "/dashboard/?township={taiping}"),
    ],
)
def test_outside_the_scope_is_a_404(app, places, login_as, user, url):
    assert login_as(user).get(url.format(**places)).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/village/{xintan}",
        "/api/v1/township/{erlang}",
        "/api/v1/county/{gulin}",
        "/api/v1/compliance/?township={erlang}&year={year}",
    ],
)
def test_another_county_reads_nothing_by_the_api(app, places, api_token, url):
    response = app.test_client().get(url.format(**places), headers=api_token("xuyong"))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("put", "/api/v1/village/{xintan}", {"name": "x"}),
        ("put", "/api/v1/county/{gulin}", {"name": "x"}),
        ("post", "/api/v1/county/", {"name": "y"}),
        (
            "post",
            "/api/v1/task/",
            {"township_id": 1, "title": "t", "due_date": "2030-01-01", "whole_county": True},
        ),
        ("delete", "/api/v1/county/{gulin}", None),
    ],
)
def test_the_county_writes_nothing_by_the_api(app, places, api_token, method, url, body):
    response = getattr(app.test_client(), method)(
        url.format(**places), json=body, headers=api_token("county")
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/countyview/add"),
        ("post", "/countyview/edit/{gulin}"),
        ("post", "/countyview/delete/{gulin}"),
        ("get", "/villageview/edit/{xintan}"),
        ("get", "/taskview/add"),
        ("post", "/roster/preview"),
    ],
)
def test_the_county_writes_nothing_by_the_screens(app, places, login_as, method, url):
    response = getattr(login_as("county"), method)(url.format(**places), data={"name": "z"})
    assert response.status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        f"/dashboard/?township={BIG}",
        "/dashboard/?township=-1",
        "/dashboard/?township=%00",
        "/dashboard/?township=1e3",
        f"/dashboard/?year={BIG}",
        "/dashboard/?quarter=abc&year=x",
        f"/api/v1/compliance/?township={BIG}",
        f"/api/v1/compliance/?branch={BIG}",
        f"/dashboard/report/annual?year={BIG}",
        f"/dashboard/report/half_year?half={BIG}",
        f"/dashboard/village/{BIG}",
        f"/tasks/progress?township={BIG}&branch={BIG}",
        f"/tasks/{BIG}/file",
        f"/tasks/report/{BIG}",
        f"/attachment/{BIG}",
        f"/reports/archive/print?village=1&year={BIG}",
    ],
)
def test_crafted_arguments_are_no_server_error(app, counties, login_as, url):  # noqa: F811
    assert login_as("county").get(url).status_code < 500


def test_the_county_sees_what_a_township_sees_masked(app, counties, api_token):  # noqa: F811
    headers, client = api_token("county"), app.test_client()
    member = client.get("/api/v1/member/1", headers=headers).get_json()["result"]
    assert "*" in member["id_number"] and "*" in member["phone"]
    assert len(str(member["birth_date"])) == 4
    for query in (
        "(order_column:birth_date,order_direction:asc)",
        "(order_column:phone,order_direction:asc)",
        "(filters:!((col:birth_date,opr:gt,value:'1980-01-01')))",
        "(filters:!((col:family_type,opr:eq,value:'x')))",
    ):
        register = "household" if "family_type" in query else "member"
        response = client.get(f"/api/v1/{register}/?q={query}", headers=headers)
        assert response.status_code == 400, query


def _names(response):
    book = load_workbook(io.BytesIO(response.data))
    return {
        value
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, str)
    }


def test_each_reader_s_statistics_hold_its_own_villages_only(app, counties, login_as):  # noqa: F811
    for user, own, foreign in (
        ("xuyong", {"石坝村"}, {"新檀村", "平安村", "二郎镇"}),
        ("taiping", {"平安村", "红岩村"}, {"新檀村", "龙王村", "石坝村"}),
        ("xintan_president", {"新檀村"}, {"龙王村", "平安村", "石坝村"}),
    ):
        client = login_as(user)
        for kind in ("annual", "half_year"):
            names = _names(client.get(f"/dashboard/report/{kind}?year={YEAR}"))
            assert own <= names, (user, kind)
            assert not names & foreign, (user, kind)
