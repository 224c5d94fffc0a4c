"""Start-up time (issue 16, item 7): ``create_app`` for the web server (every screen registered)
and for the ``flask`` commands (no screens), against a baseline measured in the same run.

    .venv/bin/python bench/startup.py [--runs 7]

Each figure is the median of ``--runs`` fresh interpreters, the kinds measured in turns so that
a slow spell of a shared machine falls on all of them alike:

- baseline: a bare Flask app with Flask-AppBuilder and Flask-SQLAlchemy (imports included);
- server: ``from app import create_app; create_app()`` (imports included), and the call alone;
- CLI: the same with ``create_app(screens=False)``, as the ``flask`` command builds it;
- ``flask roster --help``: the whole process of the command (interpreter, click, the app).

Printed: seconds and each figure's ratio to the baseline. Target: create_app for the CLI
≤ 0.5 s on the development machine (issue 16; it was 1.1-1.4 s, every screen registered).
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
FLASK = os.path.join(ROOT, ".venv", "bin", "flask")

# Each child prints "<imports and call> <call alone>" in seconds.
BASELINE = """
import time
start = time.perf_counter()
from flask import Flask
from flask_appbuilder import AppBuilder
from flask_sqlalchemy import SQLAlchemy
app = Flask("bare")
app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", SECRET_KEY="x", FAB_UPDATE_PERMS=False)
db = SQLAlchemy()
db.init_app(app)
called = time.perf_counter()
with app.app_context():
    AppBuilder().init_app(app, db.session)
end = time.perf_counter()
print(end - start, end - called)
"""

APP = """
import time
start = time.perf_counter()
from app import create_app
called = time.perf_counter()
create_app(screens={screens})
end = time.perf_counter()
print(end - start, end - called)
"""


def child(code: str, env: dict) -> tuple[float, float]:
    done = subprocess.run(
        [PYTHON, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    whole, call = done.stdout.split()[-2:]
    return float(whole), float(call)


def command(env: dict) -> tuple[float, float]:
    start = time.perf_counter()
    subprocess.run([FLASK, "roster", "--help"], cwd=ROOT, env=env, capture_output=True, check=True)
    wall = time.perf_counter() - start
    return wall, wall


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    env = {
        **os.environ,
        "INSTANCE_DIR": folder,
        "DATABASE_URL": f"sqlite:///{folder}/startup.db",
        "FLASK_APP": "wsgi.py",
        "PYTHONPATH": ROOT,
    }
    kinds = {
        "baseline (bare Flask + FAB)": lambda: child(BASELINE, env),
        "server create_app()": lambda: child(APP.format(screens=True), env),
        "CLI create_app(screens=False)": lambda: child(APP.format(screens=False), env),
        "`flask roster --help` process": lambda: command(env),
    }
    times = {name: [] for name in kinds}
    for _ in range(args.runs):
        for name, run in kinds.items():
            times[name].append(run())
    medians = {
        name: tuple(statistics.median(t[i] for t in runs) for i in (0, 1))
        for name, runs in times.items()
    }
    base = medians["baseline (bare Flask + FAB)"][0]
    print(f"median of {args.runs} fresh interpreters each")
    for name, (whole, call) in medians.items():
        print(
            f"{name:<32} {whole:6.3f} s with imports ({whole / base:4.2f}x baseline); "
            f"the call alone {call:.3f} s"
        )


if __name__ == "__main__":
    main()
