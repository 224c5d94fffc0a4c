"""Load (issue 7 item 8): 50 users at once for 60 s on gunicorn + PostgreSQL, a realistic mix.

    eval "$(.ci/postgres.sh)"          # or TEST_DATABASE_URL naming any PostgreSQL server
    .venv/bin/python bench/load.py [--users 50] [--seconds 60] [--workers N] [--keep]

Set-up (not timed): a database ``<name>_load`` is created on TEST_DATABASE_URL's server,
migrated and given the demo township (``load_demo``: villages, groups, members, a year of work
records); then one account per user, spread over the scoped roles as a county would have them
(village Secretaries and Presidents, group leaders, township staff), each bound to its own
village or group. gunicorn is started the way ``make serve`` starts it (``-c
gunicorn.conf.py``: WEB_CONCURRENCY sync workers, here ``--workers``) on a free port, with
``AUTH_RATE_LIMIT`` raised to 100000 per minute: all the users sign in from 127.0.0.1, and the
production limit (10 per minute per address) would refuse most of them, and with
``TOTP_REQUIRED_ROLES`` empty (no authenticator in a script). Request logging is off.

Each user is a thread with its own cookie jar (stdlib ``urllib``, a new connection per request
as gunicorn's sync workers close them). It signs in through the login form (CSRF token read
from the page), then until the time is up picks, by weight: a list page (members, meetings,
activities, households), a member's detail page, a search (member names containing a
character, a status filter), the REST member list (a random page), an edit (REST ``PUT`` of a
member's phone, audited like any write), the members roster export (CSV), and — Presidents and
Secretaries — an import through the roster page (a CSV of 5 new members: upload, preview,
confirm). Every answer must be 200 on the expected page (no redirect to the login page, no
error message); anything else is an error. Printed: requests and errors per kind, p50 and p95
of the response time (client side, on the same machine) per kind, and the throughput.
"""

import argparse
import datetime as dt
import http.cookiejar
import json
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# The bench accounts' password: from the environment, else a random one for this run (it meets
# the complexity rule: upper, lower, digit, symbol).
PASSWORD = os.environ.get("BENCH_PASSWORD") or "Bench@1" + secrets.token_hex(8)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')
COUNT = re.compile(r'<tr data-count="(\w+)"[^>]*><th>[^<]*</th><td>(\d+)</td>')
LISTS = ["/memberview/list/", "/meetingview/list/", "/activityview/list/", "/householdview/list/"]
ROSTER_HEADER = [
    "序号",
    "姓名",
    "性别",
    "身份证号码",
    "联系电话",
    "所在小组",
    "会员类别",
    "入会时间",
    "备注",
]
# kind → weight; "import" only for the roles that may import.
MIX = {
    "list": 30,
    "detail": 20,
    "search": 15,
    "rest": 15,
    "edit": 10,
    "export": 4,
    "import": 2,
}


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(url, users):
    """Migrate, load the demo township and create one account per user: [(username, role)]."""
    from flask_migrate import upgrade

    from app import create_app, db
    from app.accounts import create_account
    from app.demo import load_demo
    from app.models import MemberGroup, Township, Village

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    accounts = []
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        load_demo(session, PASSWORD)
        township = session.query(Township).first()
        villages = session.query(Village).order_by(Village.id).all()
        groups = session.query(MemberGroup).order_by(MemberGroup.id).all()
        # A county's users: mostly village officers, some group leaders, a few township staff.
        roles = ["Secretary", "President", "GroupLeader", "Secretary", "GroupLeader"]
        for n in range(users):
            role = "Township" if n % 10 == 9 else roles[n % len(roles)]
            kwargs = {}
            if role == "Township":
                kwargs["township"] = township
            elif role == "GroupLeader":
                kwargs["group"] = groups[n % len(groups)]
            else:
                kwargs["village"] = villages[n % len(villages)]
            username = f"load{n:02d}"
            create_account(session, username, role, PASSWORD, **kwargs)
            accounts.append((username, role))
        db.session.remove()
        db.engine.dispose()
    return accounts


class User(threading.Thread):
    def __init__(self, base, username, role, deadline, results, seed):
        super().__init__(daemon=True)
        self.base, self.username, self.role = base, username, role
        self.deadline, self.results = deadline, results
        self.rng = random.Random(seed)
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.member_ids = []
        self.arrival = 0.0

    # --- HTTP ---

    def request(self, path, data=None, headers=None, method=None):
        req = urllib.request.Request(
            self.base + path, data=data, headers=headers or {}, method=method
        )
        try:
            with self.opener.open(req, timeout=120) as response:
                return (
                    response.status,
                    response.geturl(),
                    response.read().decode("utf-8", "replace"),
                )
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")[:300]
            raise Failure(f"{method or 'GET'} {path}: {exc.code} {body}") from None

    def page(self, path, data=None):
        status, final, body = self.request(path, data=data)
        if urllib.parse.urlsplit(final).path.startswith("/login"):
            raise Failure(f"{path}: sent to the login page")
        if 'class="alert alert-danger' in body:
            raise Failure(f"{path}: an error message on the page")
        return body

    def csrf(self, body):
        match = CSRF.search(body)
        if not match:
            raise Failure("no CSRF token on the page")
        return match.group(1) or match.group(2)

    def form(self, path, fields):
        return self.page(path, urllib.parse.urlencode(fields).encode())

    def api(self, path, payload=None, method="GET"):
        data = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        status, _final, body = self.request(path, data=data, headers=headers, method=method)
        return json.loads(body)

    # --- What a user does ---

    def login(self):
        token = self.csrf(self.request("/login/")[2])
        fields = {"username": self.username, "password": PASSWORD, "csrf_token": token}
        _status, final, _body = self.request("/login/", urllib.parse.urlencode(fields).encode())
        if urllib.parse.urlsplit(final).path.startswith("/login"):
            raise Failure("login refused")

    def harvest(self):
        answer = self.api("/api/v1/member/?q=(columns:!(id),page_size:100)")
        self.member_ids = answer["ids"]
        self.member_count = answer["count"]
        # The villages in scope: the export of a township's user names one of them.
        self.village_ids = self.api("/api/v1/village/?q=(columns:!(id),page_size:100)")["ids"]

    def do_list(self):
        self.page(self.rng.choice(LISTS))

    def do_detail(self):
        self.page(f"/memberview/show/{self.rng.choice(self.member_ids)}")

    def do_search(self):
        if self.rng.random() < 0.5:
            self.page("/memberview/list/?" + urllib.parse.urlencode({"_flt_2_name": "王"}))
        else:
            self.page("/memberview/list/?_flt_0_status=active")

    def do_rest(self):
        pages = max(1, (self.member_count + 24) // 25)
        self.api(f"/api/v1/member/?q=(page:{self.rng.randrange(pages)},page_size:25)")

    def do_edit(self):
        pk = self.rng.choice(self.member_ids)
        phone = f"139{self.rng.randrange(10**8):08d}"
        answer = self.api(f"/api/v1/member/{pk}", {"phone": phone}, method="PUT")
        if "result" not in answer:
            raise Failure(f"edit of member {pk}: {answer}")

    def do_export(self):
        village = self.rng.choice(self.village_ids)
        status, _final, body = self.request(f"/roster/export/members/csv?village={village}")
        if "身份证" not in body:
            raise Failure("the export holds no roster")

    def roster_csv(self):
        from app.validation import id_check_char

        rows = [["新会员花名册"] + [""] * 8, [""] * 9, ROSTER_HEADER]
        for n in range(5):
            serial = self.rng.randrange(10**3)
            birth = dt.date(1960, 1, 1) + dt.timedelta(days=self.rng.randrange(15000))
            body = f"110101{birth:%Y%m%d}{serial:03d}"
            rows.append(
                [
                    str(n + 1),
                    f"导入{uuid.uuid4().hex[:6]}",
                    "",
                    body + id_check_char(body),
                    f"137{self.rng.randrange(10**8):08d}",
                    "",
                    "activist",
                    "2025-05-01",
                    "",
                ]
            )
        return "\r\n".join(",".join(row) for row in rows).encode("utf-8-sig")

    def do_import(self):
        token = self.csrf(self.page("/roster/"))
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in (("csrf_token", token), ("kind", "members"), ("mode", "insert")):
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
            parts.append(f"{head}\r\n\r\n{value}\r\n".encode())
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="roster.csv"'
            "\r\nContent-Type: text/csv\r\n\r\n".encode()
            + self.roster_csv()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        start = time.perf_counter()
        status, _final, preview = self.request(
            "/roster/preview",
            data=b"".join(parts),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        self.note("import preview", time.perf_counter() - start, None)
        counts = {k: int(v) for k, v in COUNT.findall(preview)}
        confirm = TOKEN.search(preview)
        if counts.get("inserted") != 5 or not confirm:
            raise Failure(f"import preview: {counts}")
        start = time.perf_counter()
        done = self.form("/roster/confirm", {"token": confirm.group(1), "csrf_token": token})
        self.note("import confirm", time.perf_counter() - start, None)
        if "alert-success" not in done:
            raise Failure("import confirm: no success message")

    def note(self, kind, seconds, error):
        with self.results["lock"]:
            self.results.setdefault(kind, {"times": [], "errors": []})
            if error is None:
                self.results[kind]["times"].append(seconds)
            else:
                self.results[kind]["errors"].append(error)

    def timed(self, kind, call):
        start = time.perf_counter()
        try:
            call()
        except Exception as exc:  # every failure is counted, none stops the run
            self.note(kind, 0, f"{self.username} ({self.role}): {exc}"[:400])
            return False
        if kind != "import":
            self.note(kind, time.perf_counter() - start, None)
        return True

    def run(self):
        # Users arrive over the first seconds, not all in the same instant.
        time.sleep(self.arrival)
        if not self.timed("login", self.login):
            return
        if not self.timed("rest", self.harvest):
            return
        kinds = [k for k in MIX if k != "import" or self.role in ("Secretary", "President")]
        if self.role == "Township":
            kinds = [k for k in kinds if k != "edit"]
        weights = [MIX[k] for k in kinds]
        while time.perf_counter() < self.deadline:
            kind = self.rng.choices(kinds, weights)[0]
            self.timed(kind, getattr(self, f"do_{kind}"))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--arrival", type=float, default=5, help="seconds over which users arrive")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        sys.exit('set TEST_DATABASE_URL (eval "$(.ci/postgres.sh)")')
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(server)
    name = f"{server.database}_load"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.set(database=name).render_as_string(hide_password=False)

    folder = tempfile.mkdtemp()
    os.environ["INSTANCE_DIR"] = folder  # keys and the limiter's storage, shared with gunicorn
    start = time.perf_counter()
    accounts = prepare(url, args.users)
    print(f"database ready in {time.perf_counter() - start:.1f} s: {len(accounts)} accounts")

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AUTH_RATE_LIMIT": "100000 per minute",
        # Two-factor login (on for Admin and Township under gunicorn.conf.py) is off for the
        # bench's township users: a scripted client has no authenticator.
        "TOTP_REQUIRED_ROLES": "",
        "GUNICORN_ACCESS_LOG": "",
    }
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    log = open(os.path.join(folder, "gunicorn.log"), "w")
    gunicorn = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "gunicorn"), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _n in range(300):
            try:
                urllib.request.urlopen(base + "/login/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("gunicorn did not answer; see " + log.name)
        results = {"lock": threading.Lock()}
        deadline = time.perf_counter() + args.seconds
        users = [
            User(base, username, role, deadline, results, seed)
            for seed, (username, role) in enumerate(accounts)
        ]
        for n, user in enumerate(users):
            user.arrival = args.arrival * n / len(users)
        began = time.perf_counter()
        for user in users:
            user.start()
        for user in users:
            user.join()
        elapsed = time.perf_counter() - began
        load = os.getloadavg()[0]
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=60)
        log.close()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    results.pop("lock")
    workers = env.get("WEB_CONCURRENCY", "gunicorn.conf.py's default")
    print(
        f"\n{args.users} users for {args.seconds:.0f} s on gunicorn ({workers} workers) + "
        f"PostgreSQL, {os.cpu_count()} cores (load average at the end {load:.1f}):"
    )
    print(f"  {'kind':<15} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}")
    total = errors = 0
    for kind in sorted(results):
        times, failed = results[kind]["times"], results[kind]["errors"]
        total += len(times) + len(failed)
        errors += len(failed)
        p50 = statistics.median(times) * 1000 if times else float("nan")
        p95 = percentile(times, 95) * 1000 if times else float("nan")
        print(f"  {kind:<15} {len(times) + len(failed):>8} {len(failed):>6} {p50:8.0f} {p95:8.0f}")
    print(
        f"  {total} requests in {elapsed:.1f} s: {total / elapsed:.1f} per second, {errors} errors"
    )
    for kind in sorted(results):
        for message in results[kind]["errors"][:3]:
            print(f"  error ({kind}): {message}")
    print("PASS" if errors == 0 else "ERRORS")
    sys.exit(0 if errors == 0 else 1)


if __name__ == "__main__":
    main()
