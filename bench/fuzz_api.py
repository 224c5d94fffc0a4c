"""Bad input against the REST API (issue 15, class 6): schemathesis over the app's own OpenAPI
document, as a Secretary, a GroupLeader and a Township user; no answer may be a server error.

    python3.11 -m venv /tmp/fuzzenv && /tmp/fuzzenv/bin/pip install -r bench/requirements.txt
    .venv/bin/python bench/fuzz_api.py [--st /tmp/fuzzenv/bin/st] [--examples 30] [--seed 1]

Set-up (not part of the figures): a temporary SQLite database is migrated and given the demo
township (``load_demo``). For each role a fresh copy of it is served by the app on a free port
(Flask's threaded server, as ``python run.py``; login throttle off: every request comes from
127.0.0.1), the role's demo account signs in at ``/api/v1/security/login`` for a JWT, the
OpenAPI document is fetched with it from ``/api/v1/_openapi``, and schemathesis (the ``st``
command of a separate virtualenv, so that its dependencies never touch the app's) runs every
operation of it — positive and negative data, all phases but the stateful one — with the
token, checking ``not_a_server_error``. Writes go to the copy, which is thrown away.

Printed per role: the requests the server answered and how many were server errors (5xx, counted
by a WSGI middleware in the server, so every request of every phase is in the figure), and the
method, path and query of each server error. Exit status 1 if there was any.
"""

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# A throwaway demo database's password: from the environment, or fresh each run.
PASSWORD = os.environ.get("BENCH_PASSWORD") or "Fuzz@1" + secrets.token_hex(8)
ROLES = {"Secretary": "xintan_secretary", "GroupLeader": "xintan_group1", "Township": "township"}

# The server: the app with its requests counted (one line per answer: status, method, path).
SERVER = """
import os, sys
sys.path.insert(0, {root!r})
from app import create_app
app = create_app({{
    "SQLALCHEMY_DATABASE_URI": {url!r},
    "RATELIMIT_ENABLED": False,
    "TOTP_REQUIRED_ROLES": [],
    "DEMO_PASSWORD": {password!r},
}})
log = open({log!r}, "a", buffering=1)
inner = app.wsgi_app

def counted(environ, start_response):
    def start(status, headers, exc_info=None):
        query = environ.get("QUERY_STRING", "")
        line = " ".join([status.split()[0], environ["REQUEST_METHOD"], environ["PATH_INFO"]])
        log.write(line + ("?" + query if query else "") + "\\n")
        return start_response(status, headers, exc_info)
    return inner(environ, start)

app.wsgi_app = counted
app.run(host="127.0.0.1", port={port}, threaded=True)
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(folder):
    """A migrated SQLite database with the demo township: its path."""
    from flask_migrate import upgrade

    from app import create_app, db
    from app.demo import load_demo

    path = os.path.join(folder, "template.db")
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite:///" + path})
    with app.app_context():
        upgrade()
        load_demo(app.appbuilder.session, PASSWORD)
        db.session.remove()
        db.engine.dispose()
    return path


def post_json(url, body, headers=None):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def get(url, headers):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
        return r.read()


def wait_for(base, process):
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"the server stopped (exit {process.returncode})")
        try:
            urllib.request.urlopen(base + "/login/", timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def fuzz(role, username, template, folder, args):
    """Serve a copy of the database, run schemathesis as ``username``: (requests, errors)."""
    database = os.path.join(folder, f"{role}.db")
    shutil.copy(template, database)
    log = os.path.join(folder, f"{role}.log")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INSTANCE_DIR": folder, "SECRET_KEY": "fuzz-" + role}
    script = SERVER.format(
        root=ROOT, url="sqlite:///" + database, password=PASSWORD, log=log, port=port
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(folder, f"{role}.err"), "w"),
    )
    try:
        wait_for(base, server)
        token = post_json(
            base + "/api/v1/security/login",
            {"username": username, "password": PASSWORD, "provider": "db"},
        )["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        schema = os.path.join(folder, f"{role}-openapi.json")
        with open(schema, "wb") as out:
            out.write(get(base + "/api/v1/_openapi", auth))
        command = [
            args.st,
            "run",
            schema,
            "--url",
            base,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(args.examples),
            "--seed",
            str(args.seed),
            "--workers",
            "1",
            "--continue-on-failure",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--no-color",
        ]
        # The login endpoints would sign the fuzzer out (or in as someone else): not fuzzed.
        command += ["--exclude-path-regex", "^/api/v1/security/"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        with open(os.path.join(folder, f"{role}-st.txt"), "w") as out:
            out.write(result.stdout + result.stderr)
    finally:
        server.terminate()
        server.wait(10)
    with open(log) as lines:
        answers = [line.rstrip("\n") for line in lines]
    # The set-up's own requests (login page probe, sign-in, the OpenAPI document) are not counted.
    answers = answers[3:]
    errors = [line for line in answers if line.startswith("5")]
    return len(answers), errors, seconds, result.returncode


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--st", default="/tmp/fuzzenv/bin/st", help="schemathesis' st command")
    parser.add_argument("--examples", type=int, default=30, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", action="append", choices=sorted(ROLES), help="default: all")
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fuzz_api_")
    os.environ["INSTANCE_DIR"] = folder
    template = prepare(folder)
    total_errors = 0
    try:
        for role in args.role or list(ROLES):
            requests, errors, seconds, code = fuzz(role, ROLES[role], template, folder, args)
            total_errors += len(errors)
            print(
                f"{role:<12} {requests:>6} requests  {len(errors):>4} server errors  "
                f"({seconds:.0f} s, st exit {code})"
            )
            for line in sorted(set(errors))[:40]:
                print("    " + line[:200])
    finally:
        if args.keep:
            print("logs and databases kept in", folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1 if total_errors else 0)


if __name__ == "__main__":
    main()
