"""Issue 17 parts 2 and 6: accounts as an office has them (a Chinese user form, a real name,
an optional e-mail, one scope rule for the form and the CLI, readable user pages) and forms
that offer only what the role may set."""

import html as markup
import re

import pytest

from app.models import Activity, County, Member, Township
from tests.helpers import group, member, valid_id, village


def _text(response):
    return _text_of(response.get_data(as_text=True))


def _options(html, field):
    """(value, text, selected) of each option of the form's select ``field``."""
    select = re.search(rf'(?s)<select[^>]*id="{field}"[^>]*>(.*?)</select>', html)
    assert select, f"no select {field}"
    return [
        (value, text, "selected" in attrs)
        for attrs, value, text in re.findall(
            r'<option([^>]*?)value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)
        )
    ]


def _role_id(app, name):
    with app.app_context():
        return app.appbuilder.sm.find_role(name).id


def _account(app, username):
    """(first name, email, county id, township id, village id, group id) of an account, or
    None."""
    with app.app_context():
        user = app.appbuilder.sm.find_user(username=username)
        if user is None:
            return None
        return (
            user.first_name,
            user.email,
            user.county_id,
            user.township_id,
            user.village_id,
            user.group_id,
        )


def _form(app, username, role, **fields):
    data = {
        "first_name": "王小红",
        "username": username,
        "active": "y",
        "roles": [_role_id(app, role)],
        "password": "GoodPass#2026",
        "conf_password": "GoodPass#2026",
    }
    data.update(fields)
    return data


# --- 1. The user form is in Chinese ---


def test_the_user_form_names_roles_and_groups_as_the_office_does(login_as):
    response = login_as("admin").get("/users/add")
    html = response.get_data(as_text=True)
    # "__None" stays the blank choice's value, never its text.
    assert response.status_code == 200 and "__None" not in _text(response)
    roles = [text for _v, text, _s in _options(html, "roles")]
    assert roles == [
        "系统管理员",
        "镇计生协(审计)",
        "会长",
        "秘书长",
        "会员小组长",
        "县计生协(审计)",
    ]
    groups = [text for _v, text, _s in _options(html, "group")]
    assert groups[0] == "—"
    assert "新檀村 第一组" in groups and "龙王村 第一组" in groups and "小河村 第二组" in groups
    assert len(groups) == len(set(groups))  # no two 第一组 the admin cannot tell apart
    form = _text(response).partition("添加用户")[2]
    assert "姓名 *" in form and "电子邮箱 选填" in form and "角色 *" in form
    assert re.search(r"区县 — 古蔺县 仅县计生协\(审计\)账号填写 乡镇", form)
    assert [text for _v, text, _s in _options(html, "county")] == ["—", "古蔺县"]
    # No English word, no FAB user groups (用户组: not the office's member groups), no 姓/名.
    assert re.findall(r"[A-Za-z]{2,}", form) == []
    assert "用户组" not in form and " 姓 " not in form


def test_the_edit_form_is_chinese_too(app, login_as):
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="xintan_group1").id
    html = login_as("admin").get(f"/users/edit/{pk}").get_data(as_text=True)
    assert "__None" not in _text_of(html) and "GroupLeader" not in _text_of(html)
    assert [t for _v, t, s in _options(html, "group") if s] == ["新檀村 第一组"]


def _text_of(html):
    """What the page shows: no scripts, no tags, entities read, spaces collapsed."""
    html = re.sub(r"(?s)<script.*?</script>", " ", html)
    return re.sub(r"\s+", " ", markup.unescape(re.sub(r"<[^>]+>", " ", html)))


# --- 2. A real name is required; e-mail is optional ---


def test_an_account_without_a_real_name_is_refused(app, login_as):
    response = login_as("admin").post(
        "/users/add", data=_form(app, "no_name", "President", first_name="  ", village=1)
    )
    assert response.status_code == 200
    assert "姓名" in _text(response) and "必填" in _text(response)
    assert _account(app, "no_name") is None


def test_accounts_without_e_mail_do_not_clash(app, login_as):
    with app.app_context():
        xintan = village(app.appbuilder.session, "新檀村").id
    admin = login_as("admin")
    for username in ("first_no_mail", "second_no_mail"):
        response = admin.post(
            "/users/add", data=_form(app, username, "Secretary", village=xintan, email="")
        )
        assert response.status_code == 302, _text(response)
        name, email, *_scope = _account(app, username)
        assert (name, email) == ("王小红", None)
    # One that has an address keeps it unique.
    admin.post(
        "/users/add", data=_form(app, "with_mail", "Secretary", village=xintan, email="a@b.cn")
    )
    assert _account(app, "with_mail")[1] == "a@b.cn"
    response = admin.post(
        "/users/add", data=_form(app, "same_mail", "Secretary", village=xintan, email="a@b.cn")
    )
    assert response.status_code == 200 and "已经存在" in _text(response)
    assert _account(app, "same_mail") is None
    # Emptied on the edit form, the address is gone (NULL), not "".
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="with_mail").id
    data = _form(app, "with_mail", "Secretary", village=xintan, email="")
    assert admin.post(f"/users/edit/{pk}", data=data).status_code == 302
    assert _account(app, "with_mail")[1] is None


def test_the_cli_makes_an_account_without_e_mail(app):
    for username in ("cli_one", "cli_two"):
        result = app.test_cli_runner().invoke(
            args=["users", "create", username, "--role", "President", "--village", "新檀村"],
            input="Strong#Pass2026\n",
        )
        assert result.exit_code == 0, result.output
        assert _account(app, username)[1] is None


# --- 3. The form and `flask users create` bind the same scope, and refuse the same ---

# (role, county, township, village, group) by name → the level stored, or the refusal the user
# reads.
SCOPE_CASES = [
    ("GroupLeader", None, None, "新檀村", "第二组", "group"),
    ("GroupLeader", None, "二郎镇", "龙王村", "第三组", "group"),
    ("GroupLeader", None, None, "新檀村", None, "会员小组长账号须绑定所属会员小组"),
    ("GroupLeader", None, "别的镇", "新檀村", "第二组", "新檀村不属于别的镇"),
    ("President", None, None, "龙王村", None, "village"),
    ("Secretary", None, "二郎镇", "小河村", None, "village"),
    ("President", None, None, None, None, "村级账号须绑定所属村"),
    ("President", None, None, "新檀村", "第二组", "村级账号只绑定一个村，不绑定会员小组"),
    ("President", None, "别的镇", "新檀村", None, "新檀村不属于别的镇"),
    ("Township", None, "二郎镇", None, None, "township"),
    ("Township", None, "二郎镇", "新檀村", None, "乡镇账号只绑定一个乡镇，不绑定村或会员小组"),
    ("Township", None, None, None, None, "乡镇账号须绑定所属乡镇"),
    ("Admin", None, None, "新檀村", None, "系统管理员不绑定区县、乡镇、村或会员小组"),
    ("President", "古蔺县", None, "新檀村", None, "village"),
    ("Township", "古蔺县", "二郎镇", None, None, "township"),
    ("Township", "别的县", "二郎镇", None, None, "二郎镇不属于别的县"),
    ("GroupLeader", "别的县", None, "新檀村", "第二组", "二郎镇不属于别的县"),
    ("County", "古蔺县", None, None, None, "county"),
    ("County", "古蔺县", "二郎镇", None, None, "县级账号只绑定一个区县，不绑定乡镇、村或会员小组"),
    ("County", None, None, None, None, "县级账号须绑定所属区县"),
    ("Admin", "古蔺县", None, None, None, "系统管理员不绑定区县、乡镇、村或会员小组"),
]
LEVELS = ("county", "township", "village", "group")


@pytest.fixture
def other_township(app):
    """A second township (别的镇) and a second county (别的县), for a scope whose levels do not
    contain each other."""
    with app.app_context():
        session = app.appbuilder.session
        session.add_all([Township(name="别的镇"), County(name="别的县")])
        session.commit()


def _by_cli(app, username, role, county, township, village_name, group_name):
    args = ["users", "create", username, "--role", role, "--first-name", "王小红"]
    for option, value in (("--county", county), ("--township", township)):
        if value:
            args += [option, value]
    if village_name:
        args += ["--village", village_name]
    if group_name:
        args += ["--group", group_name]
    result = app.test_cli_runner().invoke(args=args, input="Strong#Pass2026\n")
    return result.exit_code, result.output


def _by_form(app, login_as, username, role, county, township, village_name, group_name):
    with app.app_context():
        session = app.appbuilder.session
        fields = {}
        if county:
            fields["county"] = session.query(County).filter_by(name=county).one().id
        if township:
            fields["township"] = session.query(Township).filter_by(name=township).one().id
        if village_name:
            fields["village"] = village(session, village_name).id
        if group_name:
            fields["group"] = group(session, village_name, group_name).id
    response = login_as("admin").post("/users/add", data=_form(app, username, role, **fields))
    return response.status_code, _text(response)


@pytest.mark.parametrize("role,county,township,village_name,group_name,outcome", SCOPE_CASES)
def test_the_form_and_the_cli_agree_on_the_scope(
    app, login_as, other_township, role, county, township, village_name, group_name, outcome
):
    place = (county, township, village_name, group_name)
    code, output = _by_cli(app, "by_cli", role, *place)
    status, page = _by_form(app, login_as, "by_form", role, *place)
    if outcome in LEVELS:
        assert (code, status) == (0, 302), (output, page)
        stored = _account(app, "by_cli")[2:]
        assert stored == _account(app, "by_form")[2:]
        # Only the role's own level is stored: the scope follows from it.
        assert [level for level, value in zip(LEVELS, stored, strict=True) if value] == [outcome]
    else:
        assert (code, status) == (2, 200)
        assert outcome in output and outcome in page
        assert _account(app, "by_cli") is None and _account(app, "by_form") is None


def test_the_form_refuses_a_village_that_is_not_the_groups(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        fields = {
            "village": village(session, "龙王村").id,
            "group": group(session, "新檀村", "第二组").id,
        }
    response = login_as("admin").post(
        "/users/add", data=_form(app, "mixed", "GroupLeader", **fields)
    )
    assert response.status_code == 200 and "第二组不是龙王村的会员小组" in _text(response)
    assert _account(app, "mixed") is None


# --- 4. The user pages read 是/否, role names, blanks ---


def test_the_user_list_reads_yes_no_roles_and_scopes(login_as):
    text = _text(login_as("admin").get("/users/list/"))
    assert "管理范围" in text
    assert re.search(r"xintan_group1 王秀英 会员小组长 新檀村 第一组 是", text)
    assert re.search(r"admin 周志远 系统管理员 所有乡镇 是", text)
    assert re.search(r"county 县计生协 县计生协\(审计\) 古蔺县 是", text)
    for word in ("True", "False", "None", "[GroupLeader]", "[Admin]", "GroupLeader"):
        assert word not in text


def test_the_user_page_reads_yes_no_roles_and_scope(app, login_as):
    with app.app_context():
        pk = app.appbuilder.sm.find_user(username="xintan_group1").id
    text = _text(login_as("admin").get(f"/users/show/{pk}"))
    assert "是否启用 是" in text and "角色 会员小组长" in text
    assert "管理范围 新檀村 第一组" in text
    for word in ("True", "None", "[GroupLeader]", "姓 "):
        assert word not in text


# --- 5. A group leader's member form offers what she may set ---


def test_a_group_leaders_member_form_offers_an_application_in_her_group(app, login_as):
    html = login_as("xintan_group1").get("/memberview/add").get_data(as_text=True)
    assert [(t, s) for _v, t, s in _options(html, "status")] == [("申请中", True)]
    assert [(t, s) for _v, t, s in _options(html, "group")] == [("第一组", True)]


def test_a_secretary_is_offered_an_application_the_president_a_decision(login_as):
    html = login_as("xintan_secretary").get("/memberview/add").get_data(as_text=True)
    assert [t for _v, t, _s in _options(html, "status")] == ["申请中"]
    html = login_as("xintan_president").get("/memberview/add").get_data(as_text=True)
    assert "在册" in [t for _v, t, _s in _options(html, "status")]


def test_a_group_leader_cannot_post_a_status_she_is_not_offered(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        own = group(session, "新檀村", "第一组")
        data = {
            "village": own.village_id,
            "group": own.id,
            "name": "赵春燕",
            "id_number": valid_id(birth="19880808", seq="31", sex_digit="2"),
            "category": "activist",
            "status": "active",
        }
    response = login_as("xintan_group1").post("/memberview/add", data=data)
    assert response.status_code == 200 and "赵春燕" in response.get_data(as_text=True)
    with app.app_context():
        assert app.appbuilder.session.query(Member).filter_by(name="赵春燕").count() == 0
    data["status"] = "applied"
    assert login_as("xintan_group1").post("/memberview/add", data=data).status_code == 302
    with app.app_context():
        row = app.appbuilder.session.query(Member).filter_by(name="赵春燕").one()
        assert (row.status, row.group_id) == ("applied", data["group"])


def test_editing_a_member_offers_leaving_not_a_decision(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村", "active", "第一组").id
    html = login_as("xintan_group1").get(f"/memberview/edit/{pk}").get_data(as_text=True)
    offered = [(t, s) for _v, t, s in _options(html, "status")]
    assert ("在册", True) in offered and ("退会", False) in offered
    assert "未批准" not in [t for t, _s in offered]


# --- 6. A saved activity opens its page ---


def test_saving_an_activity_opens_its_page_with_the_photo_upload(app, login_as):
    with app.app_context():
        own = group(app.appbuilder.session, "新檀村", "第一组")
        data = {
            "village": own.village_id,
            "group": own.id,
            "kind": "family_health",
            "theme": "冬季健康知识讲座",
            "date": "2026-11-20",
            "participants_count": "18",
        }
    leader = login_as("xintan_group1")
    response = leader.post("/activityview/add", data=data)
    with app.app_context():
        pk = app.appbuilder.session.query(Activity).filter_by(theme="冬季健康知识讲座").one().id
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/activityview/show/{pk}")
    page = leader.get(response.headers["Location"])
    text = _text(page)
    assert "添加成功" in text or "冬季健康知识讲座" in text
    assert "附件" in text and "上传" in text


def test_saving_a_member_still_returns_to_the_list(app, login_as):
    with app.app_context():
        own = group(app.appbuilder.session, "新檀村", "第一组")
        data = {
            "village": own.village_id,
            "group": own.id,
            "name": "钱冬梅",
            "id_number": valid_id(birth="19900303", seq="41", sex_digit="2"),
            "category": "activist",
            "status": "applied",
        }
    response = login_as("xintan_secretary").post("/memberview/add", data=data)
    assert response.status_code == 302 and "/show/" not in response.headers["Location"]


def test_ones_own_information_is_one_real_name(app, login_as):
    leader = login_as("xintan_group1")
    page = leader.get("/userinfoeditview/form")
    form = _text(page).partition("退出登录")[2]
    assert page.status_code == 200 and "姓名 *" in form
    assert re.findall(r"[A-Za-z]{2,}", form) == [] and " 姓 " not in form
    response = leader.post("/userinfoeditview/form", data={"first_name": " 王秀兰 "})
    assert response.status_code == 302
    assert _account(app, "xintan_group1")[0] == "王秀兰"
    # The navigation bar names her by it, with no trailing "-".
    assert "王秀兰" in _text(leader.get("/")) and "王秀兰 -" not in _text(leader.get("/"))
    assert leader.post("/userinfoeditview/form", data={"first_name": "  "}).status_code == 200
    assert _account(app, "xintan_group1")[0] == "王秀兰"
