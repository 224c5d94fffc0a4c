"""志愿服务记录 (issue 16, SPEC §2 and §6): the register declared by one block — group leaders
record their group's service, a member's page shows their hours per year, the roster KIND
``volunteer_services`` reads a village's sheet, the demo has a year of it, zh and en."""

import datetime as dt
import decimal

from sqlalchemy import func, select

from app.models import Member, VolunteerService
from tests.helpers import group, member, village

DAY = dt.date(2026, 5, 20)


def _service(app, username_village, **values):
    """A service row of ``username_village`` written directly; its id."""
    with app.app_context():
        session = app.appbuilder.session
        row = VolunteerService(
            village_id=village(session, username_village).id,
            date=values.pop("date", DAY),
            hours=decimal.Decimal(values.pop("hours", "2")),
            kind=values.pop("kind", "publicity"),
            **values,
        )
        session.add(row)
        session.commit()
        return row.id


def _move(app, member_id, group_id):
    with app.app_context():
        session = app.appbuilder.session
        session.get(Member, member_id).group_id = group_id
        session.commit()


def _delete(session, *where):
    """Rows deleted one by one through the ORM (audited, as the app deletes)."""
    for row in session.scalars(select(VolunteerService).where(*where)).all():
        session.delete(row)
    session.commit()


def _rows(app, *where):
    with app.app_context():
        session = app.appbuilder.session
        return session.execute(
            select(
                VolunteerService.volunteer_name,
                VolunteerService.group_id,
                VolunteerService.member_id,
                VolunteerService.hours,
            ).where(*where)
        ).all()


def test_a_group_leader_records_her_groups_service_and_it_lands_in_her_group(app, login_as):
    client = login_as("xintan_group1")
    with app.app_context():
        session = app.appbuilder.session
        mine = group(session, "新檀村", "第一组")
        helper = member(session, "新檀村", group_name="第一组")
        mine_id, helper_id, helper_name = mine.id, helper.id, helper.name
        village_id = mine.village_id
    form = {
        "village": str(village_id),
        "group": str(mine_id),
        "member": str(helper_id),
        "volunteer_name": helper_name,
        "date": "2026-05-21",
        "hours": "2.5",
        "kind": "visit",
        "notes": "走访第一组计生家庭",
    }
    response = client.post("/volunteerserviceview/add", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert _rows(app, VolunteerService.notes == "走访第一组计生家庭") == [
        (helper_name, mine_id, helper_id, decimal.Decimal("2.5"))
    ]
    listed = client.get("/volunteerserviceview/list/").get_data(as_text=True)
    assert helper_name in listed and "走访帮扶" in listed


def test_a_group_leader_cannot_record_for_another_group(app, login_as):
    client = login_as("xintan_group1")
    with app.app_context():
        other = group(app.appbuilder.session, "新檀村", "第二组")
        other, village_id = other.id, other.village_id
    response = client.post(
        "/volunteerserviceview/add",
        data={
            "village": str(village_id),
            "group": str(other),
            "volunteer_name": "别组志愿者",
            "date": "2026-05-21",
            "hours": "2",
            "kind": "publicity",
        },
        follow_redirects=True,
    )
    assert response.status_code in (200, 400)
    assert _rows(app, VolunteerService.volunteer_name == "别组志愿者") == []


def test_hours_and_the_volunteer_are_checked_with_a_chinese_message(app, login_as):
    client = login_as("xintan_secretary")
    client.get("/lang/zh")
    with app.app_context():
        village_id = village(app.appbuilder.session, "新檀村").id
    base = {"village": str(village_id), "date": "2026-05-21", "kind": "publicity"}
    for hours in ("0.3", "24.5", "1.25"):
        page = client.post(
            "/volunteerserviceview/add",
            data={**base, "volunteer_name": f"时长{hours}", "hours": hours},
            follow_redirects=True,
        ).get_data(as_text=True)
        assert "请填写0.5至24小时，保留一位小数" in page, hours
    page = client.post(
        "/volunteerserviceview/add", data={**base, "hours": "2"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "请选择会员或填写志愿者姓名" in page
    assert _rows(app, VolunteerService.volunteer_name.like("时长%")) == []


def test_the_api_answers_the_fields_spec_names(app, api_token):
    headers = api_token("xintan_secretary")
    client = app.test_client()
    with app.app_context():
        helper = member(app.appbuilder.session, "新檀村")
        helper_id = helper.id
    created = client.post(
        "/api/v1/volunteer_service/",
        json={
            "member_id": helper_id,
            "volunteer_name": "接口志愿者",
            "date": "2026-06-01",
            "hours": 3.5,
            "kind": "youth_health",
            "notes": "青春健康课",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.get_json()
    pk = created.get_json()["id"]
    shown = client.get(f"/api/v1/volunteer_service/{pk}", headers=headers).get_json()["result"]
    assert {k: shown[k] for k in ("member_id", "volunteer_name", "date", "kind", "notes")} == {
        "member_id": helper_id,
        "volunteer_name": "接口志愿者",
        "date": "2026-06-01",
        "kind": "youth_health",
        "notes": "青春健康课",
    }
    assert decimal.Decimal(str(shown["hours"])) == decimal.Decimal("3.5")
    assert shown["household_id"] is None
    refused = client.post(
        "/api/v1/volunteer_service/",
        json={"volunteer_name": "太长", "date": "2026-06-01", "hours": 30, "kind": "other"},
        headers=headers,
    )
    assert refused.status_code == 400
    assert "0.5" in str(refused.get_json())


def test_a_members_page_shows_their_hours_per_year_within_the_readers_scope(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        helper = member(session, "新檀村", group_name="第一组")
        helper_id, group_id = helper.id, helper.group_id
        _delete(session, VolunteerService.member_id == helper_id)
        second = group(session, "新檀村", "第二组").id
    _service(app, "新檀村", member_id=helper_id, group_id=group_id, hours="2.5")
    _service(app, "新檀村", member_id=helper_id, group_id=group_id, hours="1.5", kind="visit")
    _service(app, "新檀村", member_id=helper_id, group_id=group_id, date=dt.date(2025, 3, 1))
    # A service given while the member was in another group stays that group's: the group
    # leader she has now may not read it, nor count it.
    _move(app, helper_id, second)
    _service(app, "新檀村", member_id=helper_id, hours="4", kind="other")
    _move(app, helper_id, group_id)

    def table(username):
        page = login_as(username).get(f"/memberview/show/{helper_id}").get_data(as_text=True)
        assert "历年志愿服务" in page
        start = page.index('id="volunteer-hours-by-year"')
        return page[start : page.index("</table>", start)]

    president = table("xintan_president")
    assert "<td>2026</td><td>3</td><td>8.0</td>" in president
    assert "<td>2025</td><td>1</td><td>2.0</td>" in president
    assert president.index("2026") < president.index("2025")
    leader = table("xintan_group1")
    assert "<td>2026</td><td>2</td><td>4.0</td>" in leader


def test_a_roster_of_service_names_members_and_other_volunteers(app, tmp_path):
    with app.app_context():
        helper = member(app.appbuilder.session, "新檀村", group_name="第二组")
        name, group_id, helper_id = helper.name, helper.group_id, helper.id
    path = tmp_path / "志愿服务.csv"
    path.write_bytes(
        (
            "会员,志愿者姓名,服务日期,服务时长,服务类别,备注\n"
            f"{name},,2026/4/3,1.5,宣传,入户宣传\n"
            ",镇卫生院医生,2026-04-05,2,优生优育,孕前优生讲座\n"
        ).encode("gb18030")
    )
    runner = app.test_cli_runner()
    args = ["roster", "import", "volunteer_services", str(path), "--village", "新檀村"]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert set(_rows(app, VolunteerService.notes.in_(["入户宣传", "孕前优生讲座"]))) == {
        ("镇卫生院医生", None, None, decimal.Decimal("2.0")),
        (name, group_id, helper_id, decimal.Decimal("1.5")),
    }
    bad = tmp_path / "坏.csv"
    bad.write_text("志愿者姓名,服务日期,服务时长,服务类别\n张三,2026-04-06,30,宣传\n", "utf-8")
    refused = runner.invoke(
        args=["roster", "import", "volunteer_services", str(bad), "--village", "新檀村"]
    )
    assert refused.exit_code == 1
    assert _rows(app, VolunteerService.volunteer_name == "张三") == []


def test_the_demo_has_a_year_of_service_and_a_reload_adds_none(app):
    from app.demo import load_demo
    from tests.databases import TEST_PASSWORD

    def counts(session):
        rows = session.execute(
            select(VolunteerService.village_id, func.count()).group_by(VolunteerService.village_id)
        ).all()
        return dict(rows)

    with app.app_context():
        session = app.appbuilder.session
        before = counts(session)
        members = session.scalar(select(func.count()).select_from(Member))
        assert len(before) == 5 and min(before.values()) >= 12  # the demo county's villages
        served = session.scalar(
            select(func.count())
            .select_from(VolunteerService)
            .where(VolunteerService.member_id.is_(None))
        )
        assert served == 5
        load_demo(session, TEST_PASSWORD)
        assert counts(session) == before
        # A database loaded before the register was declared gets its rows on the next load.
        _delete(session)
        load_demo(session, TEST_PASSWORD)
        assert counts(session) == before
        # Nothing else was made again.
        assert session.scalar(select(func.count()).select_from(Member)) == members


def test_the_register_speaks_chinese_and_english(login_as):
    client = login_as("xintan_secretary")
    client.get("/lang/zh")
    zh = client.get("/volunteerserviceview/list/").get_data(as_text=True)
    assert "志愿服务记录" in zh and "服务时长(小时)" in zh
    client.get("/lang/en")
    en = client.get("/volunteerserviceview/list/").get_data(as_text=True)
    assert "Volunteer service" in en and "Hours" in en


def _import_as(app, username, path, group_name=None, **options):
    """import_roster as the roster page calls it for ``username``, in Chinese."""
    from flask_babel import force_locale

    from app import importer
    from app.resources import RESOURCES

    with app.test_request_context(), force_locale("zh"):
        session = app.appbuilder.session
        user = app.appbuilder.sm.find_user(username=username)
        bound = group(session, "新檀村", group_name) if group_name else None
        result = importer.import_roster(
            session,
            RESOURCES["volunteer_services"],
            str(path),
            path.read_bytes(),
            village(session, "新檀村"),
            bound,
            user=user,
            **options,
        )
        return result.inserted, result.updated, [m for _n, _cells, m in result.rejected]


def test_a_group_leaders_file_cannot_ask_whether_another_groups_service_exists(app, tmp_path):
    with app.app_context():
        session = app.appbuilder.session
        second = group(session, "新檀村", "第二组")
        their = member(session, "新檀村", group_name="第二组")
        name, second_id = their.name, second.id
    _service(app, "新檀村", volunteer_name=name, group_id=second_id, kind="visit")
    path = tmp_path / "service.csv"
    path.write_text(
        f"志愿者姓名,服务日期,服务时长,服务类别\n{name},2026-05-20,2,走访帮扶\n", "utf-8"
    )
    for upsert in (False, True):
        answer = _import_as(app, "xintan_group1", path, "第一组", dry_run=True, upsert=upsert)
        # As for a name nobody has: one row to insert, no word of the other group's record.
        assert answer == (1, 0, []), (upsert, answer)


def test_a_members_service_takes_the_members_name_and_group_on_every_path(app, api_token):
    with app.app_context():
        session = app.appbuilder.session
        helper = member(session, "新檀村", group_name="第二组")
        helper_id, name, group_id = helper.id, helper.name, helper.group_id
        first = group(session, "新檀村", "第一组").id
    created = app.test_client().post(
        "/api/v1/volunteer_service/",
        json={
            "member_id": helper_id,
            "group_id": first,
            "date": "2026-06-02",
            "hours": 2,
            "kind": "publicity",
            "notes": "按会员归组",
        },
        headers=api_token("xintan_secretary"),
    )
    assert created.status_code == 201, created.get_json()
    assert _rows(app, VolunteerService.notes == "按会员归组") == [
        (name, group_id, helper_id, decimal.Decimal("2.0"))
    ]


def test_a_household_of_another_group_is_refused(app, api_token):
    from app.models import Household

    with app.app_context():
        session = app.appbuilder.session
        helper = member(session, "新檀村", group_name="第一组")
        second = group(session, "新檀村", "第二组").id
        household = session.query(Household).filter_by(group_id=second).first().id
        helper_id = helper.id
    refused = app.test_client().post(
        "/api/v1/volunteer_service/",
        json={
            "member_id": helper_id,
            "household_id": household,
            "date": "2026-06-03",
            "hours": 2,
            "kind": "visit",
        },
        headers=api_token("xintan_president"),
    )
    assert refused.status_code == 400
    assert "household_id" in refused.get_json()["message"]


def test_the_api_refuses_hours_finer_than_the_form_does(app, api_token):
    headers = api_token("xintan_secretary")
    for hours in (0.55, 24.05, "2.25"):
        refused = app.test_client().post(
            "/api/v1/volunteer_service/",
            json={
                "volunteer_name": "细分时长",
                "date": "2026-06-04",
                "hours": hours,
                "kind": "other",
            },
            headers=headers,
        )
        assert refused.status_code == 400, hours
        assert "hours" in refused.get_json()["message"], hours
    assert _rows(app, VolunteerService.volunteer_name == "细分时长") == []


def test_the_same_volunteer_day_and_kind_is_one_line(app, login_as):
    client = login_as("xintan_secretary")
    client.get("/lang/zh")
    with app.app_context():
        village_id = village(app.appbuilder.session, "新檀村").id
        first = group(app.appbuilder.session, "新檀村", "第一组").id
    # Within a group (a line without a group is the village's, and not kept unique).
    form = {
        "village": str(village_id),
        "group": str(first),
        "volunteer_name": "重复志愿者",
        "date": "2026-06-05",
        "hours": "2",
        "kind": "publicity",
    }
    client.post("/volunteerserviceview/add", data=form, follow_redirects=True)
    page = client.post("/volunteerserviceview/add", data=form, follow_redirects=True)
    assert "当天已有该志愿者此类服务记录" in page.get_data(as_text=True)
    assert len(_rows(app, VolunteerService.volunteer_name == "重复志愿者")) == 1


def test_an_export_imports_back_as_no_change(app, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "志愿服务.xlsx"
    exported = runner.invoke(
        args=["roster", "export", "volunteer_services", "--village", "新檀村", "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    with app.app_context():
        stored = app.appbuilder.session.scalar(
            select(func.count())
            .select_from(VolunteerService)
            .where(VolunteerService.village_id == village(app.appbuilder.session, "新檀村").id)
        )
    again = runner.invoke(
        args=["roster", "import", "volunteer_services", str(out), "--village", "新檀村", "--upsert"]
    )
    assert again.exit_code == 0, again.output
    with app.app_context():
        assert (
            app.appbuilder.session.scalar(
                select(func.count())
                .select_from(VolunteerService)
                .where(VolunteerService.village_id == village(app.appbuilder.session, "新檀村").id)
            )
            == stored
        )
    assert "新增 0" in again.output or "inserted 0" in again.output.lower(), again.output
