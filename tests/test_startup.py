"""Start-up (issue 16, item 7): the `flask` commands build the app without its screens, the
server and `flask run` with them; an account a command creates works the same on the server.
(Times are measured by bench/startup.py, not asserted here.)"""

import os
import re
import subprocess
import sys
from pathlib import Path

from app import create_app
from tests.databases import TEST_PASSWORD

ROOT = Path(__file__).resolve().parent.parent

# wsgi.py as gunicorn loads it (no click context), as `flask run` does, and as the `flask`
# group does to find the app's own commands (`flask roster import`, `flask audit verify`…).
WHO_LOADS = """
import runpy, click
from flask import cli
def screens():
    app = runpy.run_path("wsgi.py")["app"]
    return any(rule.rule == "/api/v1/member/" for rule in app.url_map.iter_rules())
served = screens()
with click.Context(cli.run_command):
    run = screens()
with click.Context(cli.FlaskGroup()):
    command = screens()
print(served, run, command)
"""


def test_only_the_flask_commands_leave_the_screens_out(tmp_path):
    env = {
        **os.environ,
        "INSTANCE_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/wsgi.db",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", WHO_LOADS], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "False"]


def _serves_members(app) -> bool:
    return any(rule.rule == "/api/v1/member/" for rule in app.url_map.iter_rules())


def _menu(client) -> set:
    """The links of the home page (the menu's among them)."""
    return set(re.findall(r'href="([^"]+)"', client.get("/").get_data(as_text=True)))


def test_an_account_a_command_creates_signs_in_and_sees_the_same_menu(app, login_as):
    commands = create_app(dict(app.config), screens=False)
    assert not _serves_members(commands) and _serves_members(app)
    result = commands.test_cli_runner().invoke(
        args=["users", "create", "xintan_secretary2", "--role", "Secretary", "--village", "新檀村"],
        input=f"{TEST_PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    made_by_command = _menu(login_as("xintan_secretary2"))
    assert "/memberview/list/" in made_by_command
    assert made_by_command == _menu(login_as("xintan_secretary"))
