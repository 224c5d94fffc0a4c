"""The demo county (issue 18): 古蔺县 over 二郎镇 and 太平镇 — 太平镇's two villages, their year
of records and gaps of their own, the account `taiping` that sees them and nothing of 二郎镇,
the account `county` that sees both townships, people who belong to one association only, and
a second `flask demo load` that changes nothing."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from app import registry
from app.demo import DEMO_ACCOUNTS, DILIGENCE
from app.models import County, Household, Meeting, Member, MemberGroup, Township, Village
from app.validation import id_number_problem, phone_problem
from tests.helpers import village

TAIPING = {"平安村", "红岩村"}
ERLANG = {"新檀村", "龙王村", "小河村"}
YEAR = dt.date.today().year


@pytest.fixture
def s(db_session):
    return db_session


def _count(s, model, name, *where):
    return s.scalar(
        select(func.count())
        .select_from(model)
        .where(model.village_id == village(s, name).id, *where)
    )


def test_taiping_has_its_two_villages_with_their_groups_and_people(s):
    township = s.query(Township).filter_by(name="太平镇").one()
    villages = {v.name: v for v in township.villages}
    assert {n: (v.size_class, v.population) for n, v in villages.items()} == {
        "平安村": ("standard", 1500),
        "红岩村": ("small", 700),
    }
    assert township.county.name == "古蔺县" and township.county.division_code == "510525"
    assert {n: _count(s, MemberGroup, n) for n in TAIPING} == {"平安村": 3, "红岩村": 2}
    # 平安村 is eight members short of 10% of its population; 红岩村 has its 10%.
    active = {n: _count(s, Member, n, Member.status == "active") for n in TAIPING}
    assert active == {"平安村": 142, "红岩村": 74}
    households = {n: _count(s, Household, n) for n in TAIPING}
    assert households == {n: DILIGENCE[n].households for n in TAIPING}


def test_taiping_has_a_year_of_records(s):
    start = dt.date.today().replace(day=1) - dt.timedelta(days=335)
    for name in TAIPING:
        dates = s.scalars(
            select(Meeting.date).where(Meeting.village_id == village(s, name).id)
        ).all()
        assert len(dates) > 30 and min(dates) >= start.replace(day=1)
        # Every register with demo rows (volunteer service…) has some in each village.
        for register in registry.registers():
            if register.extra.get("demo"):
                assert _count(s, register.model, name), (register.name, name)


def test_nobody_is_a_member_of_two_associations(s):
    rows = s.execute(select(Member.id_number_hash, Member.village_id)).all()
    assert len({h for h, _v in rows}) == len(rows)
    for member in s.scalars(
        select(Member).join(Village).join(Township).where(Township.name == "太平镇")
    ):
        assert id_number_problem(member.id_number) is None
        assert phone_problem(member.phone) is None


def test_taiping_sees_met_and_unmet_norms_of_its_own(client, api_token):
    response = client.get(f"/api/v1/compliance/?year={YEAR}", headers=api_token("taiping"))
    assert response.status_code == 200
    villages = {v["name"]: v["rules"] for v in response.get_json()["villages"]}
    assert set(villages) == TAIPING
    met = {n: {k for k, r in rules.items() if r["met"]} for n, rules in villages.items()}
    unmet = {n: {k for k, r in rules.items() if r["met"] is False} for n, rules in villages.items()}
    # Each village misses its own duties (not 二郎镇's) and keeps the others'.
    assert unmet["平安村"] >= {"R5", "R20"} and met["平安村"] >= {"R2", "R6", "R10"}
    assert unmet["红岩村"] >= {"R2", "R6", "R10"} and met["红岩村"] >= {"R5", "R20"}
    for name in TAIPING:
        assert len(met[name]) >= 15, unmet[name]
    assert "142" in villages["平安村"]["R5"]["detail"]


def _all_rows(client, headers, resource):
    rows, page = [], 0
    while True:
        answer = client.get(
            f"/api/v1/{resource}/?q=(page:{page},page_size:100)", headers=headers
        ).get_json()
        rows += answer["result"]
        if len(rows) >= answer["count"]:
            return rows
        page += 1


def test_taiping_sees_none_of_erlang(app, client, api_token, login_as):
    # Outside the requests' app context: the scope is kept per context (flask.g).
    with app.app_context():
        session = app.appbuilder.session
        ours = {village(session, n).id for n in TAIPING}
        in_taiping = session.scalar(
            select(func.count()).select_from(Member).where(Member.village_id.in_(ours))
        )
        theirs = village(session, "新檀村").id
        stranger = session.scalar(select(Member.id).where(Member.village_id == theirs).limit(1))
    headers = api_token("taiping")
    assert {v["name"] for v in _all_rows(client, headers, "village")} == TAIPING
    members = _all_rows(client, headers, "member")
    assert len(members) == in_taiping and {m["village_id"] for m in members} == ours
    assert client.get(f"/api/v1/village/{theirs}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/member/{stranger}", headers=headers).status_code == 404
    web = login_as("taiping")
    assert web.get(f"/memberview/show/{stranger}").status_code == 404
    page = web.get("/villageview/list/").get_data(as_text=True)
    assert all(name in page for name in TAIPING)
    assert not any(name in page for name in ERLANG)
    # …and 二郎镇's account sees nothing of 太平镇.
    erlang = _all_rows(app.test_client(), api_token("township"), "village")
    assert {v["name"] for v in erlang} == ERLANG


def test_a_second_load_changes_nothing(app, s):
    models = [r.model for r in registry.registers()] + [Township, Village]

    def counts():
        return {m.__name__: s.scalar(select(func.count()).select_from(m)) for m in models}

    before = counts()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "二郎镇 already present, 太平镇 already present" in result.output
    assert "0 work records created; 0 account(s) created" in result.output
    s.expire_all()
    assert counts() == before
    empty = runner.invoke(args=["demo", "load", "--if-empty"])
    assert empty.exit_code == 0 and "Demo data already present." in empty.output


def test_the_county_holds_both_townships_and_its_account_reads_them(app, client, api_token):
    with app.app_context():
        session = app.appbuilder.session
        county = session.query(County).filter_by(name="古蔺县").one()
        assert county.division_code == "510525"
        assert sorted(t.name for t in county.townships) == ["二郎镇", "太平镇"]
        user = app.appbuilder.sm.find_user(username="county")
        assert [r.name for r in user.roles] == ["County"] and user.county_id == county.id
        assert (user.township_id, user.village_id, user.group_id) == (None, None, None)
    headers = api_token("county")
    assert {v["name"] for v in _all_rows(client, headers, "village")} == TAIPING | ERLANG
    response = client.get(f"/api/v1/compliance/?year={YEAR}", headers=headers)
    assert {v["name"] for v in response.get_json()["villages"]} == TAIPING | ERLANG


def test_the_demo_accounts_include_county_and_taiping():
    assert ("county", "County", "古蔺县") in DEMO_ACCOUNTS
    assert ("taiping", "Township", "太平镇") in DEMO_ACCOUNTS
