"""Chinese by default, English switchable; labels of stored codes translated."""

import re

import pytest

from tests.helpers import member


def _text(response):
    html = response.get_data(as_text=True)
    html = re.sub(r"(?s)<script.*?</script>|<style.*?</style>", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_home_page_is_chinese_by_default(login_as):
    text = _text(login_as("xintan_secretary").get("/"))
    assert "秘书长" in text and "在册" in text and "会员小组" in text
    assert "Members by status" not in text


def test_english_on_request(login_as):
    client = login_as("xintan_secretary")
    assert client.get("/lang/en").status_code == 302
    text = _text(client.get("/"))
    assert "Members by status" in text and "Secretary-general" in text
    assert "在册" not in text


@pytest.mark.parametrize(
    "path,expected",
    [
        ("/memberview/list/", ["姓名", "身份证号码", "在册", "新增"]),
        ("/memberview/add", ["身份证号码", "保存", "会员小组"]),
        ("/villageview/list/", ["村", "人口"]),
        ("/councilseatview/list/", ["理事", "会长"]),
    ],
)
def test_screens_are_chinese(login_as, path, expected):
    text = _text(login_as("xintan_president").get(path))
    for word in expected:
        assert word in text, f"{word} missing on {path}"


@pytest.mark.parametrize(
    "word", ["Add", "Edit", "Delete", "Show", "Search", "Record Count", "Actions"]
)
def test_fab_strings_are_translated(login_as, word):
    text = _text(login_as("xintan_president").get("/memberview/list/"))
    assert not re.search(rf"\b{word}\b", text), f"untranslated FAB string {word!r}"


def test_member_detail_shows_labels_not_codes(app, login_as):
    with app.app_context():
        pk = member(app.appbuilder.session, "新檀村").id
    text = _text(login_as("xintan_president").get(f"/memberview/show/{pk}"))
    assert "在册" in text
    assert not re.search(r"\bactive\b", text)


def test_login_page_is_chinese(client):
    text = _text(client.get("/login/"))
    assert "用户名" in text and "密码" in text


def test_api_info_has_no_catalogue_header_as_description(client, api_token):
    info = client.get("/api/v1/member/_info", headers=api_token("xintan_secretary")).get_json()
    descriptions = [field["description"] for field in info["add_columns"]]
    assert descriptions and not any("Project-Id-Version" in d for d in descriptions)


@pytest.mark.parametrize(
    "path,zh,en",
    [
        ("/meetingview/list/", ["会议类型", "工作例会"], ["Meeting type", "Monthly work meeting"]),
        ("/activityview/list/", ["参加人数", "优生优育指导"], ["Number of participants"]),
        ("/householdview/list/", ["家庭类型", "需帮扶"], ["Family type", "Needs help"]),
        ("/complaintview/list/", ["受理日期"], ["Received on"]),
        ("/fundentryview/list/", ["收支"], ["Income or expense"]),
    ],
)
def test_work_record_pages_in_zh_and_en(login_as, path, zh, en):
    client = login_as("xintan_president")
    text = _text(client.get(path))
    for word in zh:
        assert word in text, f"{word} missing on {path}"
    client.get("/lang/en")
    text = _text(client.get(path))
    for word in en:
        assert word in text, f"{word} missing on {path} (en)"
