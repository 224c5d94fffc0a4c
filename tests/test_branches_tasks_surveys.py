"""Issue 9: branches, township tasks assigned to villages and reported done, surveys.

What a user sees: the forms and their messages, the home page, the township's table of tasks ×
villages, the API; every write audited, nothing half-written. The task workflow is tested at its
due date: a task due today is not overdue, one due yesterday is.
"""

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app.models import (
    Attachment,
    AuditLog,
    Branch,
    Survey,
    Task,
    TaskAssignment,
    Township,
    Village,
)
from tests.files import png_bytes

TODAY = dt.date.today()


def db(app, work):
    with app.app_context():
        return work(app.appbuilder.session)


def village_id(app, name):
    return db(app, lambda s: s.scalars(select(Village.id).where(Village.name == name)).one())


def township_id(app, name="二郎镇"):
    return db(app, lambda s: s.scalars(select(Township.id).where(Township.name == name)).one())


def text_of(response):
    html = response.get_data(as_text=True)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def english(client):
    client.get("/lang/en")
    return client


def assignments(app, task_id):
    """village name → (status, done_on, note) of a task's assignments."""
    rows = db(
        app,
        lambda s: s.execute(
            select(Village.name, TaskAssignment.status, TaskAssignment.done_on, TaskAssignment.note)
            .join(Village, Village.id == TaskAssignment.village_id)
            .where(TaskAssignment.task_id == task_id)
        ).all(),
    )
    return {name: (status, done_on, note) for name, status, done_on, note in rows}


def make_task(app, due, villages=("新檀村", "龙王村"), title="测试任务"):
    """A task of 二郎镇 due on ``due``, open in ``villages``: (task id, village → assignment)."""

    def add(session):
        task = Task(township_id=township_id(app), title=title, due_date=due, body="测试")
        for name in villages:
            task.assignments.append(TaskAssignment(village_id=village_id(app, name)))
        session.add(task)
        session.commit()
        return task.id, {a.village.name: a.id for a in task.assignments}

    return db(app, add)


def audit_entries(app, model, record_id):
    return db(
        app,
        lambda s: s.execute(
            select(AuditLog.action, AuditLog.username).where(
                AuditLog.model == model, AuditLog.record_id == record_id
            )
        ).all(),
    )


# --- Branches ---


def test_the_demo_has_two_branches_and_the_village_list_filters_by_branch(app, login_as):
    east = db(app, lambda s: s.scalars(select(Branch.id).where(Branch.name == "东片分会")).one())
    client = login_as("township")
    html = client.get(f"/villageview/list/?_flt_0_branch={east}").get_data(as_text=True)
    assert "新檀村" in html and "龙王村" in html and "小河村" not in html
    assert "东片分会" in client.get("/villageview/list/").get_data(as_text=True)
    body = client.get("/api/v1/branch/", headers={}).get_json()
    assert sorted(r["name"] for r in body["result"]) == ["东片分会", "西片分会"]


def test_a_village_cannot_join_a_branch_of_another_township(app, login_as):
    def other_branch(session):
        township = Township(name="石宝镇")
        branch = Branch(township=township, name="石宝分会")
        session.add_all([township, branch])
        session.commit()
        return branch.id

    branch = db(app, other_branch)
    xintan = village_id(app, "新檀村")
    client = english(login_as("admin"))
    response = client.put(f"/api/v1/village/{xintan}?_l_=en", json={"branch_id": branch})
    assert response.status_code == 400
    assert response.get_json()["message"]["branch_id"] == "This branch belongs to another township"
    west = db(app, lambda s: s.scalars(select(Branch.id).where(Branch.name == "西片分会")).one())
    assert client.put(f"/api/v1/village/{xintan}", json={"branch_id": west}).status_code == 200
    assert db(app, lambda s: s.get(Village, xintan).branch.name) == "西片分会"
    assert ("update", "admin") in audit_entries(app, "Village", xintan)


def test_only_the_admin_writes_branches(app, login_as):
    for username in ("township", "xintan_president"):
        client = login_as(username)
        assert client.get("/branchview/list/").status_code == 200
        assert client.post("/api/v1/branch/", json={"name": "新分会"}).status_code == 403
    assert login_as("xintan_group1").get("/branchview/list/").status_code == 403
    response = login_as("admin").post(
        "/api/v1/branch/", json={"township_id": township_id(app), "name": "北片分会", "head": "何"}
    )
    assert response.status_code == 201


# --- Assigning a task in one step ---


def test_admin_assigns_a_task_to_all_villages_in_one_step(app, login_as):
    client = login_as("admin")
    response = client.post(
        "/taskview/add",
        data={
            "township": township_id(app),
            "title": "统计新冠疫苗接种情况",
            "body": "请统计。",
            "due_date": (TODAY + dt.timedelta(days=7)).isoformat(),
            "all_villages": "y",
        },
    )
    assert response.status_code == 302, text_of(response)[-800:]
    task = db(
        app, lambda s: s.scalars(select(Task).where(Task.title == "统计新冠疫苗接种情况")).one()
    )
    assert assignments(app, task.id) == {
        name: ("open", None, None) for name in ("新檀村", "龙王村", "小河村")
    }
    assert task.assigned_on == TODAY
    assert ("insert", "admin") in audit_entries(app, "Task", task.id)
    ids = db(
        app,
        lambda s: s.scalars(
            select(TaskAssignment.id).where(TaskAssignment.task_id == task.id)
        ).all(),
    )
    for pk in ids:
        assert ("insert", "admin") in audit_entries(app, "TaskAssignment", pk)


def test_admin_assigns_a_task_to_some_villages(app, login_as):
    client = login_as("admin")
    chosen = [village_id(app, "新檀村"), village_id(app, "小河村")]
    response = client.post(
        "/taskview/add",
        data={
            "township": township_id(app),
            "title": "报送阵地照片",
            "due_date": TODAY.isoformat(),
            "villages": [str(pk) for pk in chosen],
        },
    )
    assert response.status_code == 302
    task_id = db(
        app, lambda s: s.scalars(select(Task.id).where(Task.title == "报送阵地照片")).one()
    )
    assert set(assignments(app, task_id)) == {"新檀村", "小河村"}


def test_a_task_without_villages_is_refused_and_keeps_what_was_typed(app, login_as):
    client = english(login_as("admin"))
    before = db(app, lambda s: s.scalar(select(func.count()).select_from(Task)))
    response = client.post(
        "/taskview/add",
        data={"township": township_id(app), "title": "无村任务", "due_date": TODAY.isoformat()},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Choose at least one village, or all villages of the township" in html
    assert 'value="无村任务"' in html
    assert db(app, lambda s: s.scalar(select(func.count()).select_from(Task))) == before


def test_a_task_for_a_village_of_another_township_is_refused(app, login_as):
    def other(session):
        township = Township(name="石宝镇")
        village = Village(township=township, name="石宝村")
        session.add_all([township, village])
        session.commit()
        return village.id

    foreign = db(app, other)
    client = english(login_as("admin"))
    response = client.post(
        "/taskview/add",
        data={
            "township": township_id(app),
            "title": "跨镇任务",
            "due_date": TODAY.isoformat(),
            "villages": [str(foreign)],
        },
    )
    assert response.status_code == 200
    assert "Only villages of the task's township can be assigned" in text_of(response)
    response = client.post(
        "/api/v1/task/?_l_=en",
        json={
            "township_id": township_id(app),
            "title": "跨镇任务",
            "due_date": TODAY.isoformat(),
            "village_ids": [foreign],
        },
    )
    assert response.status_code == 400
    assert "Only villages" in response.get_json()["message"]["villages"]
    assert not db(app, lambda s: s.scalars(select(Task).where(Task.title == "跨镇任务")).all())


def test_the_task_api_assigns_in_the_same_request(app, login_as, api_token):
    headers = api_token("admin")
    client = app.test_client()
    payload = {"township_id": township_id(app), "title": "API任务", "due_date": "2030-01-31"}
    response = client.post("/api/v1/task/", json={**payload, "all_villages": True}, headers=headers)
    assert response.status_code == 201, response.get_json()
    assert len(assignments(app, response.get_json()["id"])) == 3
    response = client.post(
        "/api/v1/task/",
        json={**payload, "title": "API任务二", "village_ids": [village_id(app, "龙王村")]},
        headers=headers,
    )
    assert response.status_code == 201
    assert set(assignments(app, response.get_json()["id"])) == {"龙王村"}
    response = client.post("/api/v1/task/", json={**payload, "title": "无村"}, headers=headers)
    assert response.status_code == 400
    # Village roles and the township read tasks; they never assign one.
    for username in ("township", "xintan_president"):
        response = client.post(
            "/api/v1/task/", json={**payload, "all_villages": True}, headers=api_token(username)
        )
        assert response.status_code == 403


def test_a_village_that_reported_done_stays_assigned(app, login_as):
    task_id, by_village = make_task(app, TODAY)
    db(
        app,
        lambda s: (
            setattr(s.get(TaskAssignment, by_village["新檀村"]), "status", "done"),
            setattr(s.get(TaskAssignment, by_village["新檀村"]), "done_on", TODAY),
            s.commit(),
        ),
    )
    client = english(login_as("admin"))
    response = client.post(
        f"/taskview/edit/{task_id}",
        data={
            "township": township_id(app),
            "title": "测试任务",
            "due_date": TODAY.isoformat(),
            "villages": [str(village_id(app, "小河村"))],
        },
    )
    assert response.status_code == 200
    assert "新檀村 reported this task done: it stays assigned" in response.get_data(as_text=True)
    assert set(assignments(app, task_id)) == {"新檀村", "龙王村"}


# --- The village's home page, reporting done, overdue at the due date ---


def test_each_assigned_village_sees_its_task_on_its_home_page(app, login_as):
    make_task(app, TODAY + dt.timedelta(days=3), villages=("新檀村",), title="只交新檀村")
    assert "只交新檀村" in login_as("xintan_secretary").get("/").get_data(as_text=True)
    assert "只交新檀村" in login_as("xintan_president").get("/").get_data(as_text=True)
    assert "只交新檀村" not in login_as("longwang_president").get("/").get_data(as_text=True)
    # An unassigned village does not even find the task.
    task_id = db(app, lambda s: s.scalars(select(Task.id).where(Task.title == "只交新檀村")).one())
    assert login_as("longwang_president").get(f"/taskview/show/{task_id}").status_code == 404


def test_due_today_is_not_overdue_due_yesterday_is(app, login_as):
    make_task(app, TODAY, villages=("小河村",), title="今天到期")
    client = english(login_as("xiaohe_president"))
    html = client.get("/").get_data(as_text=True)
    row = re.search(r'<tr class="([^"]*) open-task"[^>]*>\s*<td><a[^>]*>今天到期', html)
    assert row and "danger" not in row.group(1)
    make_task(app, TODAY - dt.timedelta(days=1), villages=("小河村",), title="昨天到期")
    html = client.get("/").get_data(as_text=True)
    row = re.search(r'<tr class="([^"]*) open-task"[^>]*>\s*<td><a[^>]*>昨天到期', html)
    assert row and "danger" in row.group(1)
    assert re.search(r'id="tasks-overdue">\d+ overdue<', html)


def test_secretary_reports_a_task_done_with_a_note_and_a_file(app, login_as):
    task_id, by_village = make_task(app, TODAY)
    pk = by_village["新檀村"]
    client = english(login_as("xintan_secretary"))
    form = client.get(f"/tasks/report/{pk}")
    assert form.status_code == 200 and "测试任务" in form.get_data(as_text=True)
    import io

    response = client.post(
        f"/tasks/report/{pk}",
        data={"note": "已完成，附照片", "file": (io.BytesIO(png_bytes()), "照片.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert "Reported done: 测试任务" in text_of(client.get(response.location))
    assert assignments(app, task_id)["新檀村"] == ("done", TODAY, "已完成，附照片")
    assert assignments(app, task_id)["龙王村"][0] == "open"
    files = db(
        app,
        lambda s: s.scalars(
            select(Attachment.filename).where(
                Attachment.owner_model == "TaskAssignment", Attachment.owner_id == pk
            )
        ).all(),
    )
    assert files == ["照片.png"]
    assert ("update", "xintan_secretary") in audit_entries(app, "TaskAssignment", pk)
    # Reported once: the form is not offered again.
    again = client.get(f"/tasks/report/{pk}")
    assert again.status_code == 302


def test_a_refused_file_writes_nothing_and_keeps_the_note(app, login_as):
    task_id, by_village = make_task(app, TODAY)
    import io

    client = english(login_as("xintan_president"))
    response = client.post(
        f"/tasks/report/{by_village['新檀村']}",
        data={"note": "说明文字", "file": (io.BytesIO(b"MZ not a document"), "a.exe")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "说明文字" in html
    assert assignments(app, task_id)["新檀村"] == ("open", None, None)


def test_reporting_is_for_the_villages_own_president_or_secretary(app, login_as):
    _task_id, by_village = make_task(app, TODAY)
    pk = by_village["龙王村"]
    assert login_as("xintan_secretary").post(f"/tasks/report/{pk}").status_code == 404
    assert login_as("township").post(f"/tasks/report/{pk}").status_code == 403
    assert login_as("longwang_group1").post(f"/tasks/report/{pk}").status_code == 403
    # The API: a village's own assignment yes, another's no; the task and village stay put.
    headers = {"Authorization": ""}
    del headers
    client = login_as("longwang_president")
    response = client.put(
        f"/api/v1/task_assignment/{pk}", json={"status": "done", "done_on": TODAY.isoformat()}
    )
    assert response.status_code == 200
    response = client.put(f"/api/v1/task_assignment/{pk}", json={"village_id": 1})
    assert response.status_code == 400
    assert (
        login_as("xintan_president")
        .put(f"/api/v1/task_assignment/{pk}", json={"note": "x"})
        .status_code
        == 404
    )


def test_the_township_reads_the_table_of_tasks_by_villages(app, login_as):
    overdue_title = "报送“5·29会员活动日”活动开展情况"
    client = login_as("township")
    response = client.get("/tasks/progress")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    task_id = db(app, lambda s: s.scalars(select(Task.id).where(Task.title == overdue_title)).one())
    row = re.search(rf'<tr data-task="{task_id}">(.*?)</tr>', html, re.S).group(1)
    states = dict(re.findall(r'data-village="(\d+)" data-state="(\w+)"', row))
    assert states == {
        str(village_id(app, "新檀村")): "done",
        str(village_id(app, "龙王村")): "overdue",
        str(village_id(app, "小河村")): "none",
    }
    # Filtered to a branch: only its villages.
    west = db(app, lambda s: s.scalars(select(Branch.id).where(Branch.name == "西片分会")).one())
    html = client.get(f"/tasks/progress?branch={west}").get_data(as_text=True)
    assert set(re.findall(r'data-village="(\d+)"', html)) == {str(village_id(app, "小河村"))}
    # Read-only: the township reports nothing and edits no task.
    assignment = db(app, lambda s: s.scalars(select(TaskAssignment.id)).first())
    assert client.get(f"/taskassignmentview/edit/{assignment}").status_code == 403
    assert client.get(f"/taskview/edit/{task_id}").status_code == 403
    # The township's home page counts the overdue ones.
    assert 'id="tasks-overdue"' in login_as("township").get("/").get_data(as_text=True)
    # A village sees its own column only.
    html = login_as("xiaohe_president").get("/tasks/progress").get_data(as_text=True)
    assert set(re.findall(r'data-village="(\d+)"', html)) == {str(village_id(app, "小河村"))}


def test_the_tasks_file_reaches_the_assigned_villages_only(app, login_as):
    import io

    task_id, _ = make_task(app, TODAY, villages=("新檀村",))
    admin = login_as("admin")
    response = admin.post(
        f"/tasks/{task_id}/file",
        data={"file": (io.BytesIO(png_bytes()), "通知.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert login_as("xintan_secretary").get(f"/tasks/{task_id}/file").status_code == 200
    assert login_as("longwang_secretary").get(f"/tasks/{task_id}/file").status_code == 404
    assert login_as("xintan_president").post(f"/tasks/{task_id}/file").status_code == 403


# --- Surveys ---


def test_a_survey_rate_is_worked_out_and_shown(app, login_as):
    client = login_as("xintan_secretary")
    response = client.post(
        "/surveyview/add",
        data={
            "village": village_id(app, "新檀村"),
            "year": "2024",
            "kind": "satisfaction",
            "asked": "40",
            "answered_well": "35",
        },
    )
    assert response.status_code == 302, text_of(response)[-600:]
    survey = db(app, lambda s: s.scalars(select(Survey).where(Survey.year == 2024)).one())
    assert str(survey.rate) == "87.5"
    html = client.get(f"/surveyview/show/{survey.id}").get_data(as_text=True)
    assert "87.5%" in html
    assert ("insert", "xintan_secretary") in audit_entries(app, "Survey", survey.id)


@pytest.mark.parametrize(
    "asked, well, field, message",
    [
        ("0", "0", "asked", "At least one person must have been asked"),
        ("10", "11", "answered_well", "Cannot be more than the people asked"),
        ("10", "-1", "answered_well", "Cannot be negative"),
    ],
)
def test_bad_survey_counts_are_refused(app, login_as, api_token, asked, well, field, message):
    before = db(app, lambda s: s.scalar(select(func.count()).select_from(Survey)))
    client = english(login_as("xintan_president"))
    response = client.post(
        "/surveyview/add",
        data={
            "village": village_id(app, "新檀村"),
            "year": "2024",
            "kind": "satisfaction",
            "asked": asked,
            "answered_well": well,
        },
    )
    assert response.status_code == 200 and message in response.get_data(as_text=True)
    response = app.test_client().post(
        "/api/v1/survey/?_l_=en",
        json={
            "year": 2024,
            "kind": "satisfaction",
            "asked": int(asked),
            "answered_well": int(well),
        },
        headers=api_token("xintan_president"),
    )
    assert response.status_code == 400
    assert response.get_json()["message"][field] == message
    assert db(app, lambda s: s.scalar(select(func.count()).select_from(Survey))) == before


def test_the_survey_api_fills_the_village_and_the_rate(app, api_token):
    response = app.test_client().post(
        "/api/v1/survey/",
        json={"year": 2024, "kind": "cadre_knowledge", "asked": 30, "answered_well": 27},
        headers=api_token("longwang_secretary"),
    )
    assert response.status_code == 201, response.get_json()
    body = (
        app.test_client()
        .get(f"/api/v1/survey/{response.get_json()['id']}", headers=api_token("township"))
        .get_json()["result"]
    )
    assert body["village_id"] == village_id(app, "龙王村") and body["rate"] == "90.0"
    # The rate is worked out, never written.
    response = app.test_client().post(
        "/api/v1/survey/",
        json={"year": 2023, "kind": "cadre_knowledge", "asked": 3, "answered_well": 1, "rate": 99},
        headers=api_token("longwang_secretary"),
    )
    assert response.status_code == 400


def test_surveys_import_from_a_sheet_with_the_rate_worked_out(app, tmp_path):
    """The ``surveys`` roster KIND: a GBK sheet, Chinese headers and labels; a bad row is
    refused with nothing written, the good file goes in with its rates."""
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        "年度,调查项目,调查人数,知晓人数\n2024,干部知晓率,50,46\n2024,满意度,10,11\n".encode("gbk")
    )
    runner = app.test_cli_runner()
    args = ["roster", "import", "surveys", str(bad), "--village", "小河村"]
    result = runner.invoke(args=args)
    assert result.exit_code == 1
    assert db(app, lambda s: s.scalars(select(Survey).where(Survey.year == 2024)).all()) == []
    good = tmp_path / "good.csv"
    good.write_bytes(
        "年度,调查项目,调查人数,知晓人数\n2024,干部知晓率,50,46\n2024,满意度,10,9\n".encode("gbk")
    )
    result = runner.invoke(args=["roster", "import", "surveys", str(good), "--village", "小河村"])
    assert result.exit_code == 0, result.output
    rates = db(
        app,
        lambda s: dict(
            s.execute(select(Survey.kind, Survey.rate).where(Survey.year == 2024)).all()
        ),
    )
    assert {k: str(v) for k, v in rates.items()} == {
        "cadre_knowledge": "92.0",
        "satisfaction": "90.0",
    }


def test_the_dashboard_and_its_api_narrow_to_a_branch(app, login_as):
    east = db(app, lambda s: s.scalars(select(Branch.id).where(Branch.name == "东片分会")).one())
    client = login_as("township")
    html = client.get(f"/dashboard/?year={TODAY.year}&branch={east}").get_data(as_text=True)
    shown = set(re.findall(r'<tr data-village="(\d+)"', html))
    assert shown == {str(village_id(app, "新檀村")), str(village_id(app, "龙王村"))}
    assert 'id="period-branch"' in html and "东片分会" in html
    whole = client.get(f"/dashboard/?year={TODAY.year}").get_data(as_text=True)
    assert len(re.findall(r'<tr data-village="\d+"', whole)) == 3
    body = client.get(f"/api/v1/compliance/?year={TODAY.year}&branch={east}").get_json()
    assert sorted(v["name"] for v in body["villages"]) == ["新檀村", "龙王村"]
    assert set(body["villages"][0]["rules"]) >= {"R19", "R20", "R21"}


def test_deleting_a_task_takes_its_assignments_and_its_file(app, login_as):
    import io
    import os

    task_id, by_village = make_task(app, TODAY)
    admin = login_as("admin")
    admin.post(
        f"/tasks/{task_id}/file",
        data={"file": (io.BytesIO(png_bytes()), "通知.png")},
        content_type="multipart/form-data",
    )
    stored = db(app, lambda s: s.get(Task, task_id).file_stored)
    path = os.path.join(app.config["UPLOAD_FOLDER"], stored)
    assert os.path.exists(path)
    assert admin.delete(f"/api/v1/task/{task_id}").status_code == 200
    assert not os.path.exists(path)
    assert assignments(app, task_id) == {}
    for pk in by_village.values():
        assert ("delete", "admin") in audit_entries(app, "TaskAssignment", pk)


# --- Review findings (issue 9): dates, reopening, township changes, orphans, duplicates ---


def test_a_village_cannot_backdate_future_date_or_reopen_its_report(app, api_token):
    task_id, by_village = make_task(app, TODAY - dt.timedelta(days=10))
    earlier = TODAY - dt.timedelta(days=20)
    db(app, lambda s: (setattr(s.get(Task, task_id), "assigned_on", earlier), s.commit()))
    pk = by_village["新檀村"]
    client, headers = app.test_client(), api_token("xintan_secretary")
    url = f"/api/v1/task_assignment/{pk}?_l_=en"
    for day in ("2000-01-01", "2099-01-01", (TODAY - dt.timedelta(days=1)).isoformat()):
        response = client.put(url, json={"status": "done", "done_on": day}, headers=headers)
        assert response.status_code == 400, (day, response.get_json())
        assert "done_on" in response.get_json()["message"]
    assert assignments(app, task_id)["新檀村"] == ("open", None, None)
    # Reported as the report page does: today, set by the server when left out.
    response = client.put(url, json={"status": "done", "note": "完成"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert assignments(app, task_id)["新檀村"] == ("done", TODAY, "完成")
    # Done stays done: only the administrator reopens it.
    response = client.put(url, json={"status": "open", "done_on": None}, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["message"]["status"] == (
        "Only the system administrator reopens a task reported done"
    )
    assert assignments(app, task_id)["新檀村"][0] == "done"
    admin = api_token("admin")
    response = client.put(url, json={"done_on": "2099-01-01"}, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["message"]["done_on"] == "Cannot be in the future"
    response = client.put(url, json={"done_on": "2000-01-01"}, headers=admin)
    assert response.status_code == 400
    assert "before the task was assigned" in response.get_json()["message"]["done_on"]
    response = client.put(url, json={"status": "open", "done_on": None}, headers=admin)
    assert response.status_code == 200
    assert assignments(app, task_id)["新檀村"] == ("open", None, "完成")


def test_the_village_edit_form_refuses_a_backdated_report_in_chinese(app, login_as):
    task_id, by_village = make_task(app, TODAY - dt.timedelta(days=10))
    pk = by_village["新檀村"]
    client = login_as("xintan_secretary")
    client.get("/lang/zh")
    response = client.post(
        f"/taskassignmentview/edit/{pk}",
        data={"status": "done", "done_on": "2000-01-01", "note": "补报"},
    )
    assert response.status_code == 200
    assert "村里报告完成的日期是报告当天" in text_of(response)
    assert assignments(app, task_id)["新檀村"] == ("open", None, None)


def test_a_tasks_township_does_not_change_under_its_assignments(app, api_token):
    def other_township(session):
        township = Township(name="石宝镇")
        village = Village(township=township, name="石宝村")
        session.add_all([township, village])
        session.commit()
        return township.id, village.id

    other, shibao = db(app, other_township)
    task_id, _ = make_task(app, TODAY + dt.timedelta(days=5))
    client, headers = app.test_client(), api_token("admin")
    url = f"/api/v1/task/{task_id}?_l_=en"
    response = client.put(url, json={"township_id": other}, headers=headers)
    assert response.status_code == 400
    assert "villages" in response.get_json()["message"]["township_id"]
    assert db(app, lambda s: s.get(Task, task_id).township_id) == township_id(app)
    assert set(assignments(app, task_id)) == {"新檀村", "龙王村"}
    # With the villages of the new township in the same request, the task moves whole.
    moved = {"township_id": other, "village_ids": [shibao]}
    response = client.put(url, json=moved, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert set(assignments(app, task_id)) == {"石宝村"}


def test_unticking_a_village_removes_its_assignments_files(app, login_as):
    import os

    task_id, by_village = make_task(app, TODAY + dt.timedelta(days=5))
    pk = by_village["龙王村"]
    stored = "a" * 32
    path = os.path.join(app.config["UPLOAD_FOLDER"], stored)
    os.makedirs(app.config["UPLOAD_FOLDER"], exist_ok=True)
    with open(path, "wb") as out:
        out.write(png_bytes())

    def attach(session):
        attachment = Attachment(
            village_id=village_id(app, "龙王村"),
            owner_model="TaskAssignment",
            owner_id=pk,
            filename="进度.png",
            stored_name=stored,
            content_type="image/png",
            size=len(png_bytes()),
            uploaded_on=dt.datetime.now(),
        )
        session.add(attachment)
        session.commit()
        return attachment.id

    attachment_id = db(app, attach)
    response = login_as("admin").post(
        f"/taskview/edit/{task_id}",
        data={
            "township": township_id(app),
            "title": "测试任务",
            "due_date": (TODAY + dt.timedelta(days=5)).isoformat(),
            "villages": [str(village_id(app, "新檀村"))],
        },
    )
    assert response.status_code == 302
    assert set(assignments(app, task_id)) == {"新檀村"}
    assert db(app, lambda s: s.get(Attachment, attachment_id)) is None
    assert not os.path.exists(path)
    assert ("delete", "admin") in audit_entries(app, "TaskAssignment", pk)
    assert ("delete", "admin") in audit_entries(app, "Attachment", attachment_id)


def test_a_duplicate_survey_or_branch_is_a_clear_400(app, api_token, login_as):
    client, headers = app.test_client(), api_token("xintan_secretary")
    # The demo holds this year's satisfaction survey of 新檀村.
    survey = {"year": TODAY.year, "kind": "satisfaction", "asked": 10, "answered_well": 9}
    before = db(app, lambda s: s.scalar(select(func.count()).select_from(Survey)))
    response = client.post("/api/v1/survey/?_l_=en", json=survey, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["message"]["kind"] == "Already recorded for this year"
    assert db(app, lambda s: s.scalar(select(func.count()).select_from(Survey))) == before
    form = english(login_as("xintan_secretary")).post(
        "/surveyview/add", data={**survey, "village": village_id(app, "新檀村")}
    )
    assert form.status_code == 200
    assert "Already recorded for this year" in text_of(form)
    admin = api_token("admin")
    branch = {"township_id": township_id(app), "name": "东片分会"}
    response = client.post("/api/v1/branch/?_l_=en", json=branch, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["message"]["name"] == "A branch of that name exists"


def test_the_task_form_moves_a_task_only_with_villages_of_the_new_township(app, login_as):
    def other_township(session):
        township = Township(name="石宝镇")
        village = Village(township=township, name="石宝村")
        session.add_all([township, village])
        session.commit()
        return township.id, village.id

    other, shibao = db(app, other_township)
    due = TODAY + dt.timedelta(days=5)
    task_id, _ = make_task(app, due)
    client = english(login_as("admin"))
    form = {"township": other, "title": "测试任务", "due_date": due.isoformat()}
    old_villages = [str(village_id(app, "新檀村")), str(village_id(app, "龙王村"))]
    response = client.post(f"/taskview/edit/{task_id}", data={**form, "villages": old_villages})
    assert response.status_code == 200
    assert "Only villages of the task" in text_of(response)
    assert db(app, lambda s: s.get(Task, task_id).township_id) == township_id(app)
    response = client.post(f"/taskview/edit/{task_id}", data={**form, "villages": [str(shibao)]})
    assert response.status_code == 302
    assert set(assignments(app, task_id)) == {"石宝村"}
    assert db(app, lambda s: s.get(Task, task_id).township_id) == other
