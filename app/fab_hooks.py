"""Everything that reaches into Flask-AppBuilder's (and Flask-Babel's, SQLAlchemy's) internals.

HOOKS_TABLE

Start-up (``create_app``) refuses any other FAB version than ``FAB_VERSION``: each hook was read
against that version's source, and a private method renamed or re-shaped upstream fails quietly
(the override is simply never called). Set ``FAB_VERSION_CHECK=0`` only while porting the hooks
to a new version: re-read each hook above against the new source, run their tests, then move
``FAB_VERSION`` (and requirements.txt) on.

This module imports no other module of the app: the policy a hook applies (who sees what masked,
how many rows a page holds) is the app's, in a public method of the class that mixes the hook in
(named in each hook's docstring).
"""

import os

import flask_appbuilder

# The version the hooks were read against; requirements.txt pins the same
# (tests/test_fab_hooks.py::test_pinned_version_is_requirements).
FAB_VERSION = "5.3.0"

VERSION_REFUSED = (
    "Flask-AppBuilder {found} is installed, but this application's FAB hooks (app/fab_hooks.py) "
    "were read against Flask-AppBuilder {pinned}: install flask-appbuilder=={pinned} "
    "(pip install -r requirements.txt), or port the hooks and set FAB_VERSION_CHECK=0 while "
    "doing so.\n"
    "已安装的 Flask-AppBuilder 版本为 {found}，而本系统对 FAB 内部的改动（app/fab_hooks.py）"
    "是按 {pinned} 版核对的：请安装 flask-appbuilder=={pinned}（pip install -r "
    "requirements.txt）；如需移植到新版本，移植期间可设置 FAB_VERSION_CHECK=0。"
)


def version_check_enabled(config) -> bool:
    """The check runs unless FAB_VERSION_CHECK (config, else environment) says 0/false/no/off."""
    value = config.get("FAB_VERSION_CHECK", os.environ.get("FAB_VERSION_CHECK", "1"))
    return str(value).strip().lower() not in ("0", "false", "no", "off")


def check_fab_version(config, installed=None) -> None:
    """Refuse to start on a FAB version other than the one the hooks were read against."""
    installed = installed or flask_appbuilder.__version__
    if installed != FAB_VERSION and version_check_enabled(config):
        raise RuntimeError(VERSION_REFUSED.format(found=installed, pinned=FAB_VERSION))
