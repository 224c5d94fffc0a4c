"""Issue 18 part 3, the proof on this machine: two gunicorn app servers in stateless mode on one
PostgreSQL, one S3 server (moto) and one Redis (deploy/county_stack.py starts them all).

Run by ``make test-two-servers`` (TWO_SERVERS=1), which ``.ci/run`` calls on every CI run; a
plain ``make test`` skips the module. A service that is not installed skips it, or fails it
under SERVICES_REQUIRED (CI). LOAD_USERS and LOAD_SECONDS shorten the load for a quick run.

Every simulated user has its own client address (``X-Forwarded-For``; the servers trust one
proxy hop, as behind a load balancer), so the login throttle keeps its production limit.
"""

import os
import random
import re
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests

from deploy.county_stack import BUCKET, PREFIX, CountyStack, MissingService

pytestmark = pytest.mark.skipif(
    not os.environ.get("TWO_SERVERS"),
    reason="the two-server proof runs with `make test-two-servers` (TWO_SERVERS=1)",
)

LOAD_USERS = int(os.environ.get("LOAD_USERS", "100"))
LOAD_SECONDS = float(os.environ.get("LOAD_SECONDS", "60"))
# Connect, read: a request waits for a free worker, never past gunicorn's own timeout.
TIMEOUT = (10, 130)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

# The demo accounts and what each does under load: all read, the village officers also write.
# Those that do not sign in are left out (the county's, until the county demo is loaded).
ACCOUNTS = {
    "admin": "reads",
    "township": "reads",
    "xintan_secretary": "writes",
    "longwang_secretary": "writes",
    "xintan_president": "writes",
    "xintan_group1": "reads",
    "county": "reads",
    "taiping": "reads",
}
# Always in the demo: the load must not run on fewer.
CORE_ACCOUNTS = [name for name in ACCOUNTS if name not in ("county", "taiping")]
LISTS = ["/memberview/list/", "/meetingview/list/", "/activityview/list/", "/householdview/list/"]
# kind → weight in a user's choice of what to do next ("write" only for the officers).
MIX = {"list": 30, "detail": 20, "dashboard": 10, "rest": 25, "write": 15}


class Failure(Exception):
    """An answer the user should not have got."""


@pytest.fixture(scope="module")
def stack():
    """The services and the two app servers, started once for this module."""
    try:
        started = CountyStack().start()
    except MissingService as error:
        if os.environ.get("SERVICES_REQUIRED"):
            pytest.fail(f"{error}, and SERVICES_REQUIRED is set")
        pytest.skip(str(error))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def accounts(stack):
    """The demo accounts that sign in on this stack, each with what it does."""
    found = {}
    for n, username in enumerate(ACCOUNTS):
        visitor = Visitor(stack, "A", username, f"10.254.0.{n + 1}")
        answer = visitor.token_login()
        if answer.status_code == 200:
            found[username] = ACCOUNTS[username]
        elif answer.status_code != 401:
            pytest.fail(f"sign-in of {username}: {answer.status_code} {answer.text[:300]}")
    assert set(CORE_ACCOUNTS) <= set(found), found
    return found


class Visitor:
    """One simulated user on one app server: its own client address, cookie jar and token."""

    def __init__(self, stack, server, username, address, answers=None):
        self.stack, self.server, self.username = stack, server, username
        self.http = requests.Session()
        self.http.headers["X-Forwarded-For"] = address
        if answers is not None:
            # Every HTTP answer, redirects on the way included: (server's port, status).
            self.http.hooks["response"].append(
                lambda response, **_: answers.append(
                    (urlsplit(response.url).port, response.status_code)
                )
            )
        self.password = stack.env["DEMO_PASSWORD"]
        self.token = None

    def url(self, path, server=None):
        return self.stack.servers[server or self.server].url + path

    def get(self, path, server=None):
        return self.http.get(self.url(path, server), timeout=TIMEOUT)

    def page(self, path, server=None):
        """A page that must answer 200 itself: no redirect (to the login page or elsewhere)."""
        answer = self.get(path, server)
        if answer.status_code != 200 or answer.history:
            hops = " → ".join(urlsplit(r.headers.get("Location", "")).path for r in answer.history)
            raise Failure(f"GET {path}: {answer.status_code} {hops}".strip())
        return answer

    def csrf(self, path="/login/", server=None):
        match = CSRF.search(self.page(path, server).text)
        if not match:
            raise Failure(f"no CSRF token on {path}")
        return match.group(1)

    def login_form(self, password=None, server=None):
        """POST /login/ with the page's CSRF token; the answer after redirects."""
        token = self.csrf(server=server)
        fields = {
            "username": self.username,
            "password": password or self.password,
            "csrf_token": token,
        }
        return self.http.post(self.url("/login/", server), data=fields, timeout=TIMEOUT)

    def sign_in(self):
        """The login form (a session cookie for the pages) and a token (for the REST API)."""
        answer = self.login_form()
        if answer.status_code != 200 or urlsplit(answer.url).path.startswith("/login"):
            raise Failure(f"sign-in refused: {answer.status_code}")
        answer = self.token_login()
        if answer.status_code != 200:
            raise Failure(f"token refused: {answer.status_code} {answer.text[:200]}")

    def token_login(self, password=None, server=None):
        answer = self.http.post(
            self.url("/api/v1/security/login", server),
            json={
                "username": self.username,
                "password": password or self.password,
                "provider": "db",
            },
            timeout=TIMEOUT,
        )
        if answer.status_code == 200:
            self.token = answer.json()["access_token"]
        return answer

    def api(self, method, path, payload=None, server=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.http.request(
            method, self.url(path, server), json=payload, headers=headers, timeout=TIMEOUT
        )

    def rest(self, path, server=None):
        answer = self.api("GET", path, server=server)
        if answer.status_code != 200:
            raise Failure(f"GET {path}: {answer.status_code} {answer.text[:200]}")
        return answer.json()

    def write(self, register, server=None):
        """A meeting or an activity through the REST API: (register, id, its text) on 201."""
        text = f"负载 {uuid.uuid4().hex[:12]}"
        if register == "meeting":
            body = {"type": "work", "date": "2026-03-02", "topics": text}
        else:
            body = {"kind": "publicity", "date": "2026-03-02", "theme": text}
        answer = self.api("POST", f"/api/v1/{register}/", body, server=server)
        if answer.status_code != 201:
            raise Failure(f"POST /api/v1/{register}/: {answer.status_code} {answer.text[:200]}")
        return register, answer.json()["id"], text


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(stack, title, log, answers, elapsed):
    """The load's figures: actions, errors, p50 and p95 per kind of action and in all (a
    sign-in is four HTTP requests: the login page, the form, the home page, the token); the
    HTTP requests per second."""
    lines = [title, f"  {'kind':<10} {'actions':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8}"]
    kinds = sorted({kind for kind, *_ in log})
    for kind in kinds + ["all"]:
        rows = [row for row in log if kind in ("all", row[0])]
        times = [seconds * 1000 for _k, _s, seconds, error in rows if error is None]
        errors = sum(1 for row in rows if row[3] is not None)
        p50 = statistics.median(times) if times else float("nan")
        p95 = percentile(times, 95) if times else float("nan")
        lines.append(f"  {kind:<10} {len(rows):>8} {errors:>6} {p50:8.0f} {p95:8.0f}")
    ports = {name: server.port for name, server in stack.servers.items()}
    on = {name: sum(1 for port, _status in answers if port == ports[name]) for name in ports}
    lines.append(
        f"  {len(answers)} HTTP requests in {elapsed:.1f} s: {len(answers) / elapsed:.1f} per "
        f"second (server A {on['A']}, B {on['B']}); load average {os.getloadavg()[0]:.1f}"
    )
    return "\n".join(lines)


def audit_intact(stack):
    result = stack.flask("audit", "verify", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Shared by both servers: the throttle in Redis, the files in the object store ---


def test_a_login_throttled_on_one_server_is_throttled_on_the_other(stack):
    limit = int(stack.env["AUTH_RATE_LIMIT"].split()[0])
    guesser = Visitor(stack, "A", "xintan_secretary", "203.0.113.7")
    codes = [guesser.login_form(password="Wrong@pass12").status_code for _ in range(limit)]
    assert 429 not in codes, codes
    # The next guess, and even the right password, from the same address on the other server.
    assert guesser.login_form(password="Wrong@pass12", server="B").status_code == 429
    assert guesser.login_form(server="B").status_code == 429
    # The token endpoint, from another address: the same allowance across the two servers.
    api = Visitor(stack, "B", "xintan_secretary", "203.0.113.8")
    codes = [api.token_login(password="Wrong@pass12").status_code for _ in range(limit)]
    assert codes == [401] * limit
    assert api.token_login(server="A").status_code == 429
    # Another address is not held back.
    assert Visitor(stack, "B", "xintan_secretary", "203.0.113.9").token_login().status_code == 200


def test_an_attachment_uploaded_through_one_server_downloads_through_the_other(stack):
    secretary = Visitor(stack, "A", "xintan_secretary", "198.51.100.20")
    secretary.sign_in()
    _register, activity, _text = secretary.write("activity")
    data = (
        f"%PDF-1.4\n% {uuid.uuid4().hex}\n1 0 obj << /Type /Catalog >> endobj\n"
        "trailer << /Root 1 0 R >>\n%%EOF\n"
    ).encode()
    show = f"/activityview/show/{activity}"
    stored = secretary.http.post(
        secretary.url(f"/attachment/upload/Activity/{activity}"),
        data={"csrf_token": secretary.csrf(show)},
        files={"file": ("宣传活动签到表.pdf", data, "application/pdf")},
        timeout=TIMEOUT,
    )
    assert stored.status_code == 200 and urlsplit(stored.url).path == show
    assert "alert-danger" not in stored.text
    # Server B lists it on the record's page and serves the same bytes.
    page = secretary.page(show, server="B").text
    assert "宣传活动签到表.pdf" in page
    [pk] = re.findall(r'/attachment/(\d+)\?download=1"', page)
    download = secretary.get(f"/attachment/{pk}", server="B")
    assert download.status_code == 200 and download.content == data
    # In the bucket, not on either host.
    listing = stack.s3_client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/uploads/")
    bodies = [
        stack.s3_client.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        for item in listing.get("Contents", ())
    ]
    assert data in bodies
    assert stack.instance_files() == []


# --- Load, spread over both servers ---


def simulate(stack, number, username, role, deadline, log, answers):
    """One user until the deadline: sign in (form and token), then read and, if an officer,
    write; every action is logged as (kind, server, seconds, error or None)."""
    rng = random.Random(number)
    server = "AB"[number % 2]
    address = f"10.0.{number // 250}.{number % 250 + 1}"
    user = Visitor(stack, server, username, address, answers)

    def timed(kind, call):
        start = time.perf_counter()
        try:
            result = call()
        except Exception as error:  # every failure is counted, none stops the user
            log.append((kind, server, 0.0, f"{username} on {server}: {error}"[:400]))
            return False, None
        log.append((kind, server, time.perf_counter() - start, None))
        return True, result

    # Users arrive over the first five seconds, not all in the same instant.
    time.sleep(5 * number / LOAD_USERS)
    signed_in, _ = timed("sign-in", user.sign_in)
    ids = "/api/v1/member/?q=(columns:!(id),page_size:100)"
    harvested, members = timed("rest", lambda: user.rest(ids)) if signed_in else (False, None)
    if not harvested:
        return
    pages = max(1, (members["count"] + 24) // 25)
    actions = {
        "list": lambda: user.page(rng.choice(LISTS)),
        "detail": lambda: user.page(f"/memberview/show/{rng.choice(members['ids'])}"),
        "dashboard": lambda: user.page("/dashboard/"),
        "rest": lambda: user.rest(f"/api/v1/member/?q=(page:{rng.randrange(pages)},page_size:25)"),
        "write": lambda: user.write(rng.choice(["meeting", "activity"])),
    }
    kinds = [kind for kind in MIX if kind != "write" or role == "writes"]
    weights = [MIX[kind] for kind in kinds]
    while time.perf_counter() < deadline:
        kind = rng.choices(kinds, weights)[0]
        timed(kind, actions[kind])


def test_a_hundred_users_on_two_servers_get_no_error(stack, accounts, capsys):
    names = list(accounts)
    log, answers = [], []
    began = time.perf_counter()
    deadline = began + LOAD_SECONDS
    with ThreadPoolExecutor(LOAD_USERS) as pool:
        users = []
        for n in range(LOAD_USERS):
            name = names[n % len(names)]
            users.append(
                pool.submit(simulate, stack, n, name, accounts[name], deadline, log, answers)
            )
        for user in users:
            user.result()
    elapsed = time.perf_counter() - began
    title = (
        f"{LOAD_USERS} users for {LOAD_SECONDS:.0f} s on two app servers "
        f"({stack.workers} gunicorn workers each), accounts {', '.join(names)}:"
    )
    with capsys.disabled():
        print("\n" + report(stack, title, log, answers, elapsed))
    errors = [row[3] for row in log if row[3] is not None]
    assert errors == [], f"{len(errors)} errors, the first: {errors[:10]}"
    assert [status for _port, status in answers if status >= 400] == []
    assert {row[0] for row in log} == set(MIX) | {"sign-in"}
    assert {row[1] for row in log} == {"A", "B"}
    audit_intact(stack)
    assert stack.instance_files() == []


# --- One server killed mid-run ---

WRITERS = 12
KILL_AFTER, GO_ON_FOR = 5.0, 5.0


def test_killing_a_server_mid_run_loses_no_answered_write(stack, accounts, capsys):
    """Writers alternate between the servers; server A's master and workers are killed
    (SIGKILL) while they write. Every write answered 201, by either server, is in the
    database afterwards, as server B reads it."""
    officers = [name for name, role in accounts.items() if role == "writes"]
    writers = []
    for n in range(WRITERS):
        writer = Visitor(stack, "B", officers[n % len(officers)], f"10.1.0.{n + 1}")
        assert writer.token_login().status_code == 200
        writers.append(writer)
    answered, refused, errors = [], [], []
    killed_at = None
    stop_at = time.monotonic() + KILL_AFTER + GO_ON_FOR

    def write(writer):
        turn = 0
        while time.monotonic() < stop_at:
            # Each register on each server in turn: meeting on A, on B, activity on A, on B.
            server, register = "AB"[turn % 2], "meeting" if turn % 4 < 2 else "activity"
            turn += 1
            try:
                answered.append((writer, server, *writer.write(register, server)))
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                # Only server A goes away (refused, or cut off mid-answer), once it is killed.
                if server == "A" and killed_at is not None:
                    refused.append(server)
                    time.sleep(0.05)
                else:
                    errors.append(f"{server}: connection failed before the kill")
            except Exception as error:
                errors.append(f"{server}: {error}"[:300])

    with ThreadPoolExecutor(WRITERS) as pool:
        running = [pool.submit(write, writer) for writer in writers]
        time.sleep(KILL_AFTER)
        killed_at = time.monotonic()
        stack.servers["A"].kill()
        for future in running:
            future.result()
    # A write A took but whose answer was cut by the kill may or may not be there: either is
    # fine. One answered 201 must be there, with what was sent.
    lost = []
    for writer, server, register, pk, text in answered:
        answer = writer.api("GET", f"/api/v1/{register}/{pk}", server="B")
        field = "topics" if register == "meeting" else "theme"
        if answer.status_code != 200 or answer.json()["result"][field] != text:
            lost.append((server, register, pk, answer.status_code))
    on = {name: sum(1 for row in answered if row[1] == name) for name in "AB"}
    with capsys.disabled():
        print(
            f"\nkill test: {len(answered)} writes answered 201 (server A {on['A']}, before its "
            f"SIGKILL at {KILL_AFTER:.0f} s; B {on['B']}), {len(refused)} refused connections "
            f"to A after it, {len(lost)} answered writes missing, {len(errors)} errors"
        )
    assert errors == [], errors[:10]
    assert lost == []
    assert on["A"] > 0 and on["B"] > 0 and refused
    # A server started again with the same environment serves what the others wrote.
    stack.servers["A"].start()
    writer, _server, register, pk, _text = answered[-1]
    assert writer.api("GET", f"/api/v1/{register}/{pk}", server="A").status_code == 200
    audit_intact(stack)
