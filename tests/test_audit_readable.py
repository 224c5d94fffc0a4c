"""The audit log as the township reads it (issue 17 items 3 and 7): actions, registers, fields
and coded values in Chinese, times in Beijing time, an update's before and after under their
headings, and the record search with a clear English name. Masking: tests/test_masking*.py."""

import datetime as dt
import html
import json
import re

from sqlalchemy import select

from app.models import AuditLog, Resolution, Survey, TaskAssignment
from tests.helpers import village

YEAR = dt.date.today().year
BEIJING = dt.timedelta(hours=8)


def _text(response):
    """What the page says, tags taken out, one space between words."""
    assert response.status_code == 200, response.status_code
    page = html.unescape(response.get_data(as_text=True))
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def _changes_cells(response):
    """The changes column of each listed entry, as text."""
    page = html.unescape(response.get_data(as_text=True))
    tables = re.findall(
        r'<table class="table table-condensed audit-changes">(.*?)</table>', page, re.S
    )
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", t)).strip() for t in tables]


def _newest(app, **where):
    with app.app_context():
        query = select(AuditLog).order_by(AuditLog.id.desc())
        for key, value in where.items():
            query = query.where(getattr(AuditLog, key) == value)
        return app.appbuilder.session.execute(query.limit(1)).scalar_one()


def test_a_report_download_reads_in_chinese(app, login_as):
    client = login_as("township")
    response = client.get(f"/dashboard/report/half_year?year={YEAR}&half=1")
    assert response.status_code == 200
    listed = client.get("/auditlogview/list/?_flt_3_action=export")
    [cells, *_older] = _changes_cells(listed)
    assert "报表 半年工作小结" in cells
    assert "半年 上半年（1—6月）" in cells
    assert f"年度 {YEAR}" in cells
    text = _text(listed)
    assert "导出" in text
    # The changes cells hold no code (the page's menu links to /reports/… besides).
    for code in ("half_year", "report", "year", "half"):
        assert not any(code in cell for cell in cells), code


def test_registers_fields_and_coded_values_are_translated(app, login_as):
    client = login_as("admin")
    with app.app_context():
        session = app.appbuilder.session
        survey = session.scalars(select(Survey).where(Survey.kind == "cadre_knowledge")).first()
        task = session.scalars(select(TaskAssignment).where(TaskAssignment.status == "done"))
        task = task.first()
        survey_id, task_id = survey.id, task.id
    entry = _newest(app, model="Survey", record_id=survey_id, action="insert")
    shown = _text(client.get(f"/auditlogview/show/{entry.id}"))
    assert "知晓率·满意度调查" in shown and "类型 干部知晓率" in shown
    assert "cadre_knowledge" not in shown and "Survey" not in shown
    entry = _newest(app, model="TaskAssignment", record_id=task_id, action="insert")
    shown = _text(client.get(f"/auditlogview/show/{entry.id}"))
    assert "状态 已完成" in shown and " done " not in shown


def test_an_update_shows_before_and_after_with_its_registers_labels(
    app, client, login_as, api_token
):
    api = client
    # "status" is a field of many registers: a resolution's is read with the resolution's
    # choices (已完成), not with the first register's of that name (a member's).
    with app.app_context():
        session = app.appbuilder.session
        xintan = village(session, "新檀村").id
        resolution = session.scalars(
            select(Resolution).where(Resolution.village_id == xintan, Resolution.status == "open")
        ).first()
        pk = resolution.id
    answer = api.put(
        f"/api/v1/resolution/{pk}",
        json={"status": "done", "done_on": dt.date.today().isoformat()},
        headers=api_token("xintan_president"),
    )
    assert answer.status_code == 200, answer.get_json()
    client = login_as("xintan_president")
    listed = client.get(f"/auditlogview/list/?_flt_3_model=Resolution&_flt_0_record_id={pk}")
    newest = _changes_cells(listed)[0]
    assert newest.startswith("字段 修改前 修改后")
    assert "状态 未完成 已完成" in newest
    assert "修改" in _text(listed) and "决议" in _text(listed)


def test_an_accounts_entry_names_its_fields_and_roles(app, login_as):
    entry = _newest(app, model="ScopedUser", action="insert")
    shown = _text(login_as("admin").get(f"/auditlogview/show/{entry.id}"))
    assert "账号" in shown and "账号启用 是" in shown and "须修改密码 否" in shown
    assert re.search(r"角色 (会长|秘书长|会员小组长|(县|镇)计生协\(审计\)|系统管理员)", shown)
    for code in ("password_change_required", "first_name", "active", "roles"):
        assert code not in shown, code
    assert "密码 ***" in shown


def test_times_are_beijing_time_on_the_list_and_the_detail(app, login_as):
    client = login_as("township")
    entry = _newest(app, action="login", username="township")
    beijing = (entry.ts + BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    listed = _text(client.get("/auditlogview/list/"))
    assert "时间（北京时间）" in listed and "UTC" not in listed
    assert f"{beijing} township" in listed
    shown = _text(client.get(f"/auditlogview/show/{entry.id}"))
    assert f"时间（北京时间） {beijing}" in shown
    # The time is searched as it is read: "after 1 minute before" finds it, in Beijing time.
    after = (entry.ts + BEIJING - dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    found = client.get(f"/auditlogview/list/?_flt_1_ts={after}&_flt_3_action=login")
    assert f"/auditlogview/show/{entry.id}" in found.get_data(as_text=True)
    later = (entry.ts + BEIJING + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S")
    none = client.get(f"/auditlogview/list/?_flt_1_ts={later}&_flt_3_action=login")
    assert f"/auditlogview/show/{entry.id}" not in none.get_data(as_text=True)
    assert client.get("/auditlogview/list/?_flt_1_ts=not-a-date").status_code == 400


def test_the_record_search_has_a_clear_english_name(login_as):
    client = login_as("township")
    # FAB writes the search's operators into its script as JSON.
    assert json.dumps("等于（含批量写入）")[1:-1] in client.get("/auditlogview/list/").get_data(
        as_text=True
    )
    client.get("/lang/en")
    page = client.get("/auditlogview/list/").get_data(as_text=True)
    assert "Equal to (bulk writes included)" in page
    assert "Is (alone or in a batch)" not in page
    assert "Time (Beijing time)" in page


def test_the_list_keeps_short_columns_on_one_line(login_as):
    page = login_as("township").get("/auditlogview/list/").get_data(as_text=True)
    assert '<div class="audit-log">' in page
    assert re.search(r"td:not\(:last-child\)[^{]*\{[^}]*white-space: nowrap", page)
