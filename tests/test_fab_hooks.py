"""The FAB hooks' own guards: the pinned version, and start-up refusing any other.

Each hook of app/fab_hooks.py is guarded by the test its docstring table names; this file holds
the guards of the table itself."""

import pathlib
import re

import flask_appbuilder
import pytest

from app import create_app, fab_hooks

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_pinned_version_is_requirements():
    """One pinned version: the hooks' constant is requirements.txt's pin, and what is installed."""
    pins = re.findall(
        r"^flask-appbuilder==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M | re.I
    )
    assert pins == [fab_hooks.FAB_VERSION]
    assert flask_appbuilder.__version__ == fab_hooks.FAB_VERSION


def test_start_up_refuses_another_fab_version(monkeypatch):
    monkeypatch.setattr(flask_appbuilder, "__version__", "9.9.9")
    monkeypatch.delenv("FAB_VERSION_CHECK", raising=False)
    with pytest.raises(RuntimeError) as refused:
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    message = str(refused.value)
    assert "9.9.9" in message and fab_hooks.FAB_VERSION in message
    assert "app/fab_hooks.py" in message and "FAB_VERSION_CHECK=0" in message
    assert "已安装的 Flask-AppBuilder 版本为 9.9.9" in message


@pytest.mark.parametrize("off", ["0", "false", "No", "off"])
def test_version_check_can_be_switched_off_for_porting(monkeypatch, caplog, off):
    monkeypatch.setenv("FAB_VERSION_CHECK", off)
    fab_hooks.check_fab_version({}, installed="9.9.9")
    # Never silently: each start says so in the log.
    assert "FAB_VERSION_CHECK is off: Flask-AppBuilder 9.9.9" in caplog.text
    monkeypatch.delenv("FAB_VERSION_CHECK")
    fab_hooks.check_fab_version({"FAB_VERSION_CHECK": False}, installed="9.9.9")
    with pytest.raises(RuntimeError):
        fab_hooks.check_fab_version({}, installed="9.9.9")
    fab_hooks.check_fab_version({}, installed=fab_hooks.FAB_VERSION)


def test_a_blank_choice_reads_as_a_dash(login_as):
    """FormHooks._init_forms: WTForms 3.3 would show FAB's empty blank label as "__None"."""
    html = login_as("xintan_president").get("/memberview/add").get_data(as_text=True)
    assert 'value="__None">—</option>' in html
    assert ">__None<" not in html


def test_every_guarding_test_named_in_the_hooks_table_exists():
    """A hook's guard renamed or deleted must not leave the table pointing at nothing."""
    named = set(re.findall(r"(test_\w+\.py)::(test_\w+)", fab_hooks.__doc__))
    assert len(named) >= 30
    for file, name in sorted(named):
        source = (ROOT / "tests" / file).read_text()
        assert re.search(rf"^def {name}\(", source, re.M), f"{file}::{name}"
