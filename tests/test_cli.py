"""The CLI of SPEC §6: `flask users create`, `flask demo load`."""

import pytest

from app.models import Member, Township
from tests.helpers import account_entries, township_sees


def _run(app, args, stdin=None):
    return app.test_cli_runner().invoke(args=args, input=stdin)


def test_users_create_binds_the_scope_and_can_log_in(app, client):
    result = _run(
        app,
        [
            "users",
            "create",
            "xintan_group2",
            "--role",
            "GroupLeader",
            "--village",
            "新檀村",
            "--group",
            "第二组",
        ],
        stdin="Strong#Pass2026\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="xintan_group2")
        assert user.group.name == "第二组" and user.group.village.name == "新檀村"
        assert [r.name for r in user.roles] == ["GroupLeader"]
    response = client.post(
        "/api/v1/security/login",
        json={"username": "xintan_group2", "password": "Strong#Pass2026", "provider": "db"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "President"],  # a village account needs its village
        ["--role", "Township", "--village", "新檀村"],  # wrong level
        ["--role", "President", "--village", "不存在村"],  # unknown village
        ["--role", "GroupLeader", "--group", "第一组"],  # group without village
        ["--role", "Nobody"],
        ["--role", "County"],  # a county account needs its county
        ["--role", "County", "--county", "不存在县"],  # unknown county
        ["--role", "County", "--county", "古蔺县", "--township", "二郎镇"],  # below its level
        ["--role", "Township", "--county", "古蔺县"],  # a township account needs its township
    ],
)
def test_users_create_refuses_a_scope_that_does_not_match(app, args):
    result = _run(app, ["users", "create", "someone", *args], stdin="Strong#Pass2026\n")
    assert result.exit_code == 2
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="someone") is None


def test_users_create_enforces_password_complexity(app):
    result = _run(
        app, ["users", "create", "weak", "--role", "Township", "--township", "二郎镇"], stdin="1\n"
    )
    assert result.exit_code == 2
    assert "2个大写字母" in result.output
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="weak") is None


def test_users_create_refuses_a_duplicate(app):
    result = _run(app, ["users", "create", "admin", "--role", "Admin"], stdin="Strong#Pass2026\n")
    assert result.exit_code == 2
    assert "admin" in result.output and "已存在" in result.output


def test_demo_load_is_idempotent(app):
    with app.app_context():
        before = app.appbuilder.session.query(Member).count()
    result = _run(app, ["demo", "load"])
    assert result.exit_code == 0, result.output
    assert "already present" in result.output
    with app.app_context():
        session = app.appbuilder.session
        assert session.query(Member).count() == before
        assert session.query(Township).count() == 2  # 二郎镇 and 太平镇


def test_demo_township_matches_the_spec(app):
    from app.models import CouncilSeat, MemberGroup, Village
    from app.validation import id_number_problem, phone_problem

    with app.app_context():
        session = app.appbuilder.session
        villages = {v.name: v for v in session.query(Village)}
        assert {n: (v.size_class, v.population) for n, v in villages.items()} == {
            "新檀村": ("standard", 2400),
            "龙王村": ("standard", 1859),
            "小河村": ("small", 600),
            "平安村": ("standard", 1500),
            "红岩村": ("small", 700),
        }
        groups = {
            n: session.query(MemberGroup).filter_by(village_id=v.id).count()
            for n, v in villages.items()
        }
        assert groups == {"新檀村": 6, "龙王村": 4, "小河村": 2, "平安村": 3, "红岩村": 2}
        for v in villages.values():
            active = session.query(Member).filter_by(village_id=v.id, status="active").count()
            assert 0.08 * v.population <= active <= 0.12 * v.population
            seats = session.query(CouncilSeat).filter_by(village_id=v.id).all()
            counts = [sum(s.composition == c for s in seats) for c in ("elder", "notable", "cadre")]
            model = [5, 3, 3] if v.size_class == "standard" else [3, 2, 1]
            if v.name == "红岩村":  # its council lacks an elder (R2): a gap of 太平镇
                model = [2, 2, 1]
            assert counts == model
        for row in session.query(Member):
            assert id_number_problem(row.id_number) is None
            assert phone_problem(row.phone) is None


# --- The account's one audit entry, in its scope (issue 15, class 7) ---


@pytest.mark.parametrize(
    "args,level",
    [
        (["--role", "President", "--village", "龙王村"], "village"),
        (["--role", "GroupLeader", "--village", "新檀村", "--group", "第二组"], "group"),
        (["--role", "Township", "--township", "二郎镇"], "township"),
    ],
)
def test_users_create_is_one_entry_in_its_scope(app, args, level):
    from tests.helpers import group, village

    result = _run(app, ["users", "create", "made_here", *args], stdin="Strong#Pass2026\n")
    assert result.exit_code == 0, result.output
    pk, entries = account_entries(app, "made_here")
    with app.app_context():
        session = app.appbuilder.session
        township = session.query(Township).filter_by(name="二郎镇").one().id
        where = {
            "village": (township, village(session, "龙王村").id, None),
            "group": (
                township,
                village(session, "新檀村").id,
                group(session, "新檀村", "第二组").id,
            ),
            "township": (township, None, None),
        }[level]
    assert entries == [("insert", *where)]
    assert township_sees(app, pk)


def test_users_create_binds_a_county_account_that_reads_its_townships(app, client):
    """SPEC §6: ``flask users create NAME --role County --county 古蔺县`` (issue 18)."""
    result = _run(
        app,
        ["users", "create", "gulin", "--role", "County", "--county", "古蔺县"],
        stdin="Strong#Pass2026\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="gulin")
        assert user.county.name == "古蔺县" and [r.name for r in user.roles] == ["County"]
        assert (user.township_id, user.village_id, user.group_id) == (None, None, None)
        assert user.bound_scope == "古蔺县"
    token = client.post(
        "/api/v1/security/login",
        json={"username": "gulin", "password": "Strong#Pass2026", "provider": "db"},
    ).get_json()["access_token"]
    answer = client.get("/api/v1/township/", headers={"Authorization": f"Bearer {token}"})
    assert "二郎镇" in {row["name"] for row in answer.get_json()["result"]}


@pytest.fixture
def two_xintan(app):
    """A second 新檀村, in 太平镇: village names repeat across the townships of a county."""
    from app.models import Village

    with app.app_context():
        session = app.appbuilder.session
        taiping = session.query(Township).filter_by(name="太平镇").one()
        session.add(Village(township_id=taiping.id, name="新檀村", kind="village"))
        session.commit()


def test_a_village_name_in_two_townships_asks_for_the_township(app, two_xintan, tmp_path):
    """Named alone, the CLI says to add --township (exit 2, in Chinese), never a traceback;
    with it, each command finds the one village."""
    out = tmp_path / "members.xlsx"
    asked = [
        ["users", "create", "x2", "--role", "President", "--village", "新檀村"],
        ["roster", "export", "members", "--village", "新檀村", "-o", str(out)],
        ["roster", "import", "members", str(out), "--village", "新檀村", "--dry-run"],
    ]
    out.write_bytes(b"")
    for args in asked:
        result = _run(app, args, stdin="Strong#Pass2026\n")
        assert result.exit_code == 2, (args, result.output)
        assert "--township" in result.output and "多个乡镇" in result.output, result.output
        assert "Traceback" not in result.output
    result = _run(
        app,
        [
            "roster",
            "export",
            "members",
            "--village",
            "新檀村",
            "--township",
            "二郎镇",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    result = _run(
        app,
        [
            "users",
            "create",
            "x2",
            "--role",
            "President",
            "--village",
            "新檀村",
            "--township",
            "太平镇",
        ],
        stdin="Strong#Pass2026\n",
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = app.appbuilder.sm.find_user(username="x2")
        assert user.village.township.name == "太平镇"
    result = _run(
        app,
        [
            "roster",
            "export",
            "members",
            "--village",
            "平安村",
            "--township",
            "二郎镇",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 2 and "二郎镇" in result.output, result.output
