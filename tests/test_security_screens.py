"""FAB's own security screens as the Admin meets them (issue 17): roles named in the user's
language with no permission rows to edit (the rights are the code's), no account groups made,
the audit log naming the command line and the scope in words."""

import re


def test_the_roles_screen_names_roles_and_edits_nothing(login_as):
    admin = login_as("admin")
    admin.get("/lang/zh")
    page = admin.get("/roles/list/").get_data(as_text=True)
    assert "系统管理员" in page and "会员小组长" in page
    assert "can_add" not in page and ">GroupLeader<" not in page
    assert admin.get("/roles/add").status_code in (403, 404)
    assert admin.get("/roles/edit/1").status_code in (403, 404)


def test_no_account_group_is_made_here(login_as):
    admin = login_as("admin")
    admin.get("/lang/zh")
    assert admin.get("/groups/list/").status_code == 200
    assert admin.get("/groups/add").status_code in (403, 404)


def test_the_audit_log_names_the_command_line_and_the_scope(app, login_as):
    from sqlalchemy import select

    from app.models import AuditLog

    login_as("xintan_secretary")  # a sign-in: an entry bound to the village's scope
    with app.app_context():
        session = app.appbuilder.session
        cli = session.scalar(select(AuditLog.id).where(AuditLog.username == "system").limit(1))
        scoped = session.scalar(
            select(AuditLog.id).where(AuditLog.scope.like("village:%")).limit(1)
        )
    admin = login_as("admin")
    admin.get("/lang/zh")
    listed = admin.get("/auditlogview/list/?_flt_0_username=system").get_data(as_text=True)
    assert "系统(命令行)" in listed.replace("（", "(").replace("）", ")")
    assert cli is not None and scoped is not None
    shown = admin.get(f"/auditlogview/show/{scoped}").get_data(as_text=True)
    assert not re.search(r"village:\d", shown) and "新檀村" in shown
