"""Admission (seeds 003: 本人申请, 理事会批准) and leaving by status, never by delete."""

import datetime as dt

import pytest
from sqlalchemy.exc import IntegrityError

from app.models import Member
from tests.helpers import group, member, valid_id, village


def _get(app, member_id):
    with app.app_context():
        return app.appbuilder.session.get(Member, member_id)


@pytest.mark.parametrize("username", ["xintan_secretary", "xintan_group1"])
def test_members_added_by_secretary_or_group_leader_are_applications(
    app, client, api_token, username
):
    response = client.post(
        "/api/v1/member/",
        headers=api_token(username),
        json={"name": "孙八", "id_number": valid_id(seq="31"), "status": "active"},
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["result"]["status"] == "applied"
    row = _get(app, response.get_json()["id"])
    assert row.status == "applied" and row.applied_on == dt.date.today()


def test_group_leader_additions_land_in_its_group(app, client, api_token):
    response = client.post(
        "/api/v1/member/",
        headers=api_token("xintan_group1"),
        json={"name": "孙八", "id_number": valid_id(seq="32")},
    )
    with app.app_context():
        expected = group(app.appbuilder.session, "新檀村", "第一组")
        assert _get(app, response.get_json()["id"]).group_id == expected.id


def test_only_the_president_approves(app, client, api_token):
    with app.app_context():
        applicant = member(app.appbuilder.session, "新檀村", status="applied")
        pk = applicant.id
    refused = client.put(
        f"/api/v1/member/{pk}", headers=api_token("xintan_secretary"), json={"status": "active"}
    )
    assert refused.status_code == 400
    assert "status" in refused.get_json()["message"]
    assert _get(app, pk).status == "applied"

    approved = client.put(
        f"/api/v1/member/{pk}", headers=api_token("xintan_president"), json={"status": "active"}
    )
    assert approved.status_code == 200, approved.get_json()
    row = _get(app, pk)
    assert row.status == "active"
    assert row.approved_on == dt.date.today() and row.join_date is not None
    assert row.approved_by_id is not None


def test_president_rejects_through_the_api(app, client, api_token):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村", status="applied").id
    response = client.put(
        f"/api/v1/member/{pk}", headers=api_token("xintan_president"), json={"status": "rejected"}
    )
    assert response.status_code == 200
    assert _get(app, pk).status == "rejected"


def test_president_approves_from_the_list(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村", status="applied").id
    client = login_as("xintan_president")
    response = client.post("/memberview/action_post", data={"action": "approve", "rowid": [pk]})
    assert response.status_code == 302
    assert _get(app, pk).status == "active"


def test_secretary_has_no_approve_action(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村", status="applied").id
    client = login_as("xintan_secretary")
    listing = client.get("/memberview/list/").get_data(as_text=True)
    assert "action_post" not in listing or "approve" not in listing
    response = client.post("/memberview/action_post", data={"action": "approve", "rowid": [pk]})
    assert response.status_code == 403
    assert _get(app, pk).status == "applied"


def test_leaving_needs_a_date(app, client, api_token):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    headers = api_token("xintan_secretary")
    refused = client.put(f"/api/v1/member/{pk}", headers=headers, json={"status": "withdrawn"})
    assert refused.status_code == 400
    assert "left_on" in refused.get_json()["message"]
    accepted = client.put(
        f"/api/v1/member/{pk}",
        headers=headers,
        json={"status": "withdrawn", "left_on": "2026-11-01", "leave_reason": "外出务工"},
    )
    assert accepted.status_code == 200, accepted.get_json()
    row = _get(app, pk)
    assert (row.status, row.left_on, row.leave_reason) == (
        "withdrawn",
        dt.date(2026, 11, 1),
        "外出务工",
    )


def test_secretary_cannot_delete_a_member(app, client, api_token, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    assert (
        client.delete(f"/api/v1/member/{pk}", headers=api_token("xintan_secretary")).status_code
        == 403
    )
    assert login_as("xintan_secretary").post(f"/memberview/delete/{pk}").status_code == 403
    assert _get(app, pk) is not None


def test_a_person_is_a_live_member_of_one_association_only(app, client, api_token):
    with app.app_context():
        active = member(app.appbuilder.session, "新檀村")
        number = active.id_number
    response = client.post(
        "/api/v1/member/",
        headers=api_token("longwang_secretary"),
        json={"name": active.name, "id_number": number},
    )
    assert response.status_code == 400
    assert "id_number" in response.get_json()["message"]


def test_the_database_refuses_two_active_rows_for_one_person(app):
    with app.app_context():
        session = app.appbuilder.session
        active = member(session, "新檀村")
        clone = Member(
            village_id=village(session, "龙王村").id,
            name=active.name,
            id_number=active.id_number,
            status="active",
        )
        session.add(clone)
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()


def _guess(client, headers, number, group_id):
    response = client.post(
        "/api/v1/member/",
        headers=headers,
        json={"name": "猜测", "group_id": group_id, "id_number": number},
    )
    body = response.get_json()
    return response.status_code, body.pop("id", None), body


def test_a_group_leaders_application_does_not_tell_whether_the_id_is_stored(
    app, client, api_token, login_as
):
    """The group leader sees 510525********1234 and the birth year: about 33 checksum-valid
    candidates. An application with the stored number is filed like any other (no "already a
    member" to confirm the guess); the president, who sees the number, meets the clash."""
    from app.models import AuditLog
    from tests.helpers import wrong_guess

    with app.app_context():
        stored = member(app.appbuilder.session, "新檀村", group_name="第一组")
        number, group_id = stored.id_number, stored.group_id
    headers = api_token("xintan_group1")
    right = _guess(client, headers, number, group_id)
    wrong = _guess(client, headers, wrong_guess(number), group_id)
    assert right[0] == wrong[0] == 201, (right, wrong)
    assert right[2] == wrong[2]  # the answers differ by their id only
    right_pk, wrong_pk = right[1], wrong[1]
    assert _get(app, right_pk).status == _get(app, wrong_pk).status == "applied"
    with app.app_context():
        filed = app.appbuilder.session.query(AuditLog).filter(
            AuditLog.model == "Member", AuditLog.record_id.in_((right_pk, wrong_pk))
        )
        assert {(e.username, e.action) for e in filed} == {("xintan_group1", "insert")}

    president = login_as("xintan_president")
    president.get("/lang/en")
    president.post("/memberview/action_post", data={"action": "approve", "rowid": [right_pk]})
    page = president.get("/memberview/list/").get_data(as_text=True)
    assert "猜测: This person is already a member, or has applied" in page
    assert _get(app, right_pk).status == "applied"
    refused = client.put(
        f"/api/v1/member/{right_pk}",
        headers=api_token("xintan_president"),
        json={"status": "active"},
    )
    assert refused.status_code == 400 and "id_number" in refused.get_json()["message"]
    approved = client.put(
        f"/api/v1/member/{wrong_pk}",
        headers=api_token("xintan_president"),
        json={"status": "active"},
    )
    assert approved.status_code == 200 and _get(app, wrong_pk).status == "active"


def test_a_group_leaders_reapplication_does_not_tell_whether_the_id_is_stored(
    app, client, api_token
):
    """Withdrawn, then applied again: the edit of a row holding a guessed number answers the
    same, right or wrong."""
    from tests.helpers import wrong_guess

    with app.app_context():
        stored = member(app.appbuilder.session, "新檀村", group_name="第一组")
        number, group_id = stored.id_number, stored.group_id
    headers = api_token("xintan_group1")
    answers = []
    for guess in (number, wrong_guess(number)):
        _status, pk, _body = _guess(client, headers, guess, group_id)
        left = {"status": "withdrawn", "left_on": dt.date.today().isoformat()}
        first = client.put(f"/api/v1/member/{pk}", headers=headers, json=left)
        again = client.put(f"/api/v1/member/{pk}", headers=headers, json={"status": "applied"})
        answers.append((first.status_code, again.status_code))
    assert answers[0] == answers[1] == (200, 200), answers
