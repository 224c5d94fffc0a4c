"""The home page per role, and accounts bound to exactly one scope that matches the role."""

import re

import pytest

from app.models import Member, Village


def _text(response):
    html = re.sub(r"(?s)<script.*?</script>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _status_count(app, village_name, status):
    with app.app_context():
        session = app.appbuilder.session
        village = session.query(Village).filter_by(name=village_name).one()
        return session.query(Member).filter_by(village_id=village.id, status=status).count()


def test_president_home_shows_scope_counts_and_pending_link(app, login_as):
    text = _text(login_as("xintan_president").get("/"))
    active = _status_count(app, "新檀村", "active")
    pending = _status_count(app, "新檀村", "applied")
    assert "新檀村" in text and "会长" in text
    assert re.search(rf"在册 {active}\b", text)
    assert f"有{pending}份入会申请等待您审批" in text
    assert "会员小组 6" in text


def test_secretary_is_told_applications_await_the_president(app, login_as):
    text = _text(login_as("longwang_secretary").get("/"))
    assert "龙王村" in text and "等待会长审批" in text
    assert "去审批" not in text


def test_township_home_counts_its_three_villages(app, login_as):
    text = _text(login_as("township").get("/"))
    assert "二郎镇" in text and "村（社区） 3" in text and "会员小组 12" in text
    total = sum(_status_count(app, v, "active") for v in ("新檀村", "龙王村", "小河村"))
    assert re.search(rf"在册 {total}\b", text)


def test_group_leader_home_counts_its_group_only(app, login_as):
    text = _text(login_as("xintan_group1").get("/"))
    assert "新檀村 第一组" in text and "会员小组 1" in text
    assert "理事会届次" not in text  # no link to registers it may not read


def test_home_links_only_to_readable_registers(login_as):
    page = login_as("xintan_secretary").get("/").get_data(as_text=True)
    assert "/councilseatview/list/" in page
    page = login_as("xintan_group1").get("/").get_data(as_text=True)
    assert "/councilseatview/list/" not in page and "/memberview/list/" in page


def test_anonymous_home_asks_to_sign_in(client):
    assert "请先登录" in _text(client.get("/"))


@pytest.mark.parametrize(
    "role_name,binding,created",
    [
        ("President", {}, False),  # a village account without its village
        ("President", {"village": "VILLAGE"}, True),
        ("Township", {"village": "VILLAGE"}, False),  # wrong level
        ("Admin", {"village": "VILLAGE"}, False),  # an administrator has no scope
    ],
)
def test_admin_user_form_checks_the_binding(app, login_as, role_name, binding, created):
    with app.app_context():
        session = app.appbuilder.session
        role_id = app.appbuilder.sm.find_role(role_name).id
        village_id = session.query(Village).filter_by(name="新檀村").one().id
    data = {
        "first_name": "新",
        "last_name": "用户",
        "username": "new_account",
        "email": "new_account@example.org",
        "active": "y",
        "roles": [role_id],
        "password": "GoodPass#2026",
        "conf_password": "GoodPass#2026",
    }
    if binding:
        data["village"] = village_id
    response = login_as("admin").post("/users/add", data=data)
    if not created:
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and 'value="new_account"' in page
        assert "绑定" in page
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="new_account")
        assert (user is not None) == created
        if created:
            assert user.village_id == village_id


def test_an_account_made_on_the_form_is_one_entry_the_township_sees(app, login_as):
    from tests.helpers import group

    with app.app_context():
        session = app.appbuilder.session
        role_id = app.appbuilder.sm.find_role("GroupLeader").id
        second = group(session, "新檀村", "第二组")
        where = (second.village.township_id, second.village_id, second.id)
    response = login_as("admin").post(
        "/users/add",
        data={
            "first_name": "新",
            "last_name": "组长",
            "username": "form_made",
            "email": "form_made@example.org",
            "active": "y",
            "roles": [role_id],
            "group": where[2],
            "password": "GoodPass#2026",
            "conf_password": "GoodPass#2026",
        },
    )
    assert response.status_code == 302
    from tests.helpers import account_entries, township_sees

    pk, entries = account_entries(app, "form_made")
    assert entries == [("insert", *where)]
    assert township_sees(app, pk)
