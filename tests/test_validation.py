"""Validation: ID numbers (GB 11643), phones, required fields — clear messages, nothing written."""

import datetime as dt

import pytest
from flask_babel import force_locale

from app.models import Member
from app.validation import (
    id_agreement,
    id_number_problem,
    mask_id_number,
    mask_phone,
    phone_problem,
)
from tests.helpers import group, valid_id, village


@pytest.mark.parametrize(
    "number",
    ["11010519491231002X", valid_id("19850615", "01", "4"), "11010519491231002x"],
)
def test_valid_id_numbers_pass(number):
    assert id_number_problem(number) is None


@pytest.mark.parametrize(
    "number,fragment",
    [
        ("110105194912310021", "check digit"),
        ("51052519900101123", "18 characters"),
        ("5105251990010112345", "18 characters"),
        ("51052519901301123X", "birth date"),
        ("5105251990010112A4", "17 digits"),
        ("5.10525E+17", "scientific notation"),
    ],
)
def test_invalid_id_numbers_say_why(app, number, fragment):
    with app.test_request_context(), force_locale("en"):
        assert fragment in str(id_number_problem(number))


@pytest.mark.parametrize(
    "phone", ["13812345678", "0830-7123456", "08307123456", "83912345", None, ""]
)
def test_valid_phones_pass(phone):
    assert phone_problem(phone) is None


@pytest.mark.parametrize("phone", ["1381234567", "12345", "138123456789", "abc", "0830-123"])
def test_invalid_phones_are_refused(app, phone):
    with app.test_request_context():
        assert phone_problem(phone) is not None


def test_gender_and_birth_date_must_agree_with_the_id(app):
    number = valid_id("19900101", "12", "3")  # male, born 1990-01-01
    with app.test_request_context():
        errors = id_agreement(
            {"id_number": number, "gender": "female", "birth_date": dt.date(1990, 1, 2)}
        )
        assert set(errors) == {"gender", "birth_date"}
        assert "1990-01-01" in str(errors["birth_date"])
        assert (
            id_agreement({"id_number": number, "gender": "male", "birth_date": dt.date(1990, 1, 1)})
            == {}
        )


def test_masks():
    assert mask_id_number("510525199001011234") == "510525********1234"
    assert mask_phone("13812345678") == "138****5678"


def _count(app):
    with app.app_context():
        return app.appbuilder.session.query(Member).count()


def test_api_answers_400_keyed_by_field_and_writes_nothing(app, client, api_token):
    headers = api_token("xintan_secretary")
    before = _count(app)
    response = client.post(
        "/api/v1/member/",
        headers=headers,
        json={"name": "赵六", "id_number": "110105194912310021", "phone": "1381234"},
    )
    assert response.status_code == 400
    message = response.get_json()["message"]
    assert set(message) == {"id_number", "phone"}
    assert "校验" in message["id_number"] or "check digit" in message["id_number"]
    assert _count(app) == before


def test_api_messages_follow_the_users_language(app, client, api_token):
    headers = api_token("xintan_secretary")
    zh = client.post("/api/v1/member/?_l_=zh", headers=headers, json={"name": "赵六"}).get_json()
    en = client.post("/api/v1/member/?_l_=en", headers=headers, json={"name": "赵六"}).get_json()
    assert en["message"]["id_number"] == "This field is required"
    assert zh["message"]["id_number"] != en["message"]["id_number"]


def test_api_required_fields(app, client, api_token):
    response = client.post("/api/v1/member/", headers=api_token("xintan_secretary"), json={})
    assert response.status_code == 400
    assert {"name", "id_number"} <= set(response.get_json()["message"])


def test_api_gender_disagreeing_with_id_is_refused(app, client, api_token):
    response = client.post(
        "/api/v1/member/",
        headers=api_token("xintan_secretary"),
        json={"name": "赵六", "id_number": valid_id(sex_digit="3"), "gender": "female"},
    )
    assert response.status_code == 400
    assert "gender" in response.get_json()["message"]


def test_api_derives_gender_and_birth_date_from_the_id(app, client, api_token):
    response = client.post(
        "/api/v1/member/",
        headers=api_token("xintan_secretary"),
        json={"name": "赵六", "id_number": valid_id("19800229", "55", "8")},
    )
    assert response.status_code == 201, response.get_json()
    result = response.get_json()["result"]
    assert result["gender"] == "female"
    assert result["birth_date"] == "1980-02-29"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"name": "x" * 40}, "name"),
        ({"category": "nonsense"}, "category"),
        ({"join_date": "2023.05"}, "join_date"),
        ({"village": {}}, "village"),
        ({"group_id": [1]}, "group_id"),
    ],
)
def test_api_bad_shapes_are_400_not_500(app, client, api_token, payload, field):
    body = {"name": "赵六", "id_number": valid_id(seq="77")} | payload
    response = client.post("/api/v1/member/", headers=api_token("xintan_secretary"), json=body)
    assert response.status_code == 400, response.get_json()
    assert field in response.get_json()["message"]


def test_html_form_keeps_what_was_typed_and_names_the_fields(app, login_as):
    client = login_as("xintan_secretary")
    with app.app_context():
        session = app.appbuilder.session
        v, g = village(session, "新檀村"), group(session, "新檀村", "第二组")
        ids = (v.id, g.id)
    before = _count(app)
    response = client.post(
        "/memberview/add",
        data={
            "village": ids[0],
            "group": ids[1],
            "name": "钱七",
            "id_number": "110105194912310021",
            "phone": "1381234",
            "category": "other",
            "status": "applied",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'value="钱七"' in page and 'value="1381234"' in page
    assert page.count("alert-danger") >= 2
    assert _count(app) == before


def test_html_form_accepts_a_valid_member(app, login_as):
    client = login_as("xintan_secretary")
    with app.app_context():
        session = app.appbuilder.session
        v, g = village(session, "新檀村"), group(session, "新檀村", "第二组")
        ids = (v.id, g.id)
    number = valid_id("19920304", "21", "5")
    response = client.post(
        "/memberview/add",
        data={
            "village": ids[0],
            "group": ids[1],
            "name": "钱七",
            "id_number": number,
            "phone": "13912345678",
            "category": "activist",
            "status": "applied",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        row = app.appbuilder.session.query(Member).filter_by(id_number=number).one()
        assert (row.gender, row.birth_date, row.status) == ("male", dt.date(1992, 3, 4), "applied")
        assert row.village_id == ids[0] and row.group_id == ids[1]
