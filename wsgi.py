"""WSGI entry point; also lets `flask …` find the app from the repository root."""

import gc

import click
from flask import cli

from app import create_app


def _serves() -> bool:
    """Whether this process serves pages: gunicorn, and Flask's own `flask run`, `shell` and
    `routes`, which load the app inside their command. The app's commands (`flask db upgrade`,
    `flask roster import`, `flask audit verify`…) load it for the `flask` group, or inside a
    command of their own: they build it without its screens, in a fraction of the time."""
    context = click.get_current_context(silent=True)
    if context is None:
        return True
    return context.command in (cli.run_command, cli.shell_command, cli.routes_command)


serves = _serves()
app = create_app(screens=serves)
# The objects of start-up (models, views, templates, catalogues) live as long as the process:
# moved out of the collector's generations, they are not scanned again by every collection a
# request's objects trigger (FAB-NOTES, "List pages at a million rows": p95 124 → 50 ms). A
# command's few start-up leftovers are frozen as they are, not collected first (0.05 s).
if serves:
    gc.collect()
gc.freeze()
