"""Issue 15, class 5: the figures a township judges a village by — population, married women,
size class, households, kind, name, branch, township — are set by the Admin (SPEC §1); the
village's President keeps its address and phone up to date."""

import datetime as dt

import pytest

from app.models import Village

FIGURES = {
    "population": 600,
    "married_women": 50,
    "size_class": "small",
    "households": 10,
    "kind": "community",
    "name": "龙王社区",
}


def _longwang(app):
    with app.app_context():
        return app.appbuilder.session.query(Village).filter_by(name="龙王村").one().id


def _stored(app, pk, key):
    with app.app_context():
        return getattr(app.appbuilder.session.get(Village, pk), key)


def _score(app, headers):
    year = dt.date.today().year
    answer = app.test_client().get(f"/api/v1/compliance/?year={year}", headers=headers)
    return {v["name"]: v["score"] for v in answer.get_json()["villages"]}["龙王村"]


def test_the_presidents_put_of_population_is_refused_and_the_score_unchanged(app, api_token):
    pk = _longwang(app)
    president = api_token("longwang_president")
    score = _score(app, president)
    response = app.test_client().put(
        f"/api/v1/village/{pk}?_l_=en", json={"population": 600}, headers=president
    )
    assert response.status_code == 400
    assert response.get_json()["message"] == {
        "population": "Only the administrator sets this field"
    }
    assert _stored(app, pk, "population") == 1859
    assert _score(app, president) == score


def test_the_admin_sets_it_and_the_score_follows(app, api_token):
    pk = _longwang(app)
    admin = api_token("admin")
    score = _score(app, admin)
    response = app.test_client().put(
        f"/api/v1/village/{pk}", json={"population": 600}, headers=admin
    )
    assert response.status_code == 200
    assert _stored(app, pk, "population") == 600
    assert _score(app, admin) != score


@pytest.mark.parametrize("key,value", FIGURES.items())
def test_every_figure_is_the_admins(app, api_token, key, value):
    pk = _longwang(app)
    before = _stored(app, pk, key)
    response = app.test_client().put(
        f"/api/v1/village/{pk}", json={key: value}, headers=api_token("longwang_president")
    )
    assert response.status_code == 400 and key in response.get_json()["message"]
    assert _stored(app, pk, key) == before


def test_the_president_keeps_address_and_phone_up_to_date(app, api_token):
    pk = _longwang(app)
    response = app.test_client().put(
        f"/api/v1/village/{pk}",
        json={"address": "龙王村新村委会", "phone": "0830-7229555"},
        headers=api_token("longwang_president"),
    )
    assert response.status_code == 200, response.get_json()
    assert _stored(app, pk, "address") == "龙王村新村委会"
    # Sending a figure unchanged, as a client that PUTs the whole record does, is no change.
    whole = app.test_client().put(
        f"/api/v1/village/{pk}",
        json={"population": 1859, "phone": "0830-7229556"},
        headers=api_token("longwang_president"),
    )
    assert whole.status_code == 200


def test_the_presidents_form_shows_address_and_phone_only(app, login_as):
    pk = _longwang(app)
    president = login_as("longwang_president")
    page = president.get(f"/villageview/edit/{pk}").get_data(as_text=True)
    assert 'name="address"' in page and 'name="phone"' in page
    for key in ("population", "married_women", "size_class", "name", "branch", "township"):
        assert f'name="{key}"' not in page, key
    # A figure posted anyway is not taken; the address is.
    response = president.post(
        f"/villageview/edit/{pk}",
        data={"address": "龙王村新村委会", "phone": "0830-7229555", "population": "600"},
    )
    assert response.status_code == 302
    assert _stored(app, pk, "address") == "龙王村新村委会"
    assert _stored(app, pk, "population") == 1859
    assert _stored(app, pk, "name") == "龙王村"


def test_the_admins_form_has_them_all(app, login_as):
    page = login_as("admin").get(f"/villageview/edit/{_longwang(app)}").get_data(as_text=True)
    for key in ("population", "married_women", "size_class", "name", "branch", "address"):
        assert f'name="{key}"' in page, key


def test_the_branch_is_the_admins_too(app, api_token):
    from app.models import Branch

    pk = _longwang(app)
    with app.app_context():
        session = app.appbuilder.session
        before = session.get(Village, pk).branch_id
        other = session.query(Branch).filter(Branch.id != before).first().id
    response = app.test_client().put(
        f"/api/v1/village/{pk}", json={"branch_id": other}, headers=api_token("longwang_president")
    )
    assert response.status_code == 400 and "branch_id" in response.get_json()["message"]
    assert _stored(app, pk, "branch_id") == before
