"""Issue 7, item 2: serving with several processes — the login throttle counts across them,
the audit chain stays linear when they write at once (SQLite file; PostgreSQL with
TEST_DATABASE_URL), and `make serve`'s gunicorn answers."""

import json
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import audit
from app.models import AuditLog
from app.ratelimit import SqliteFileStorage, path_of
from tests.databases import PostgresDatabases, close_connections
from tests.servers import GUNICORN, ROOT, free_port

# --- The limiter's storage ---


def test_the_storage_uri_names_a_file():
    assert path_of("sqlite:////srv/jsx/ratelimit.db") == "/srv/jsx/ratelimit.db"
    assert path_of("sqlite:///ratelimit.db") == "ratelimit.db"
    with pytest.raises(ValueError):
        path_of("sqlite://")


def test_counters_count_expire_and_clear(tmp_path):
    storage = SqliteFileStorage(f"sqlite:///{tmp_path}/rl.db")
    assert storage.check()
    assert [storage.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.get("k") == 3 and storage.get("other") == 0
    assert time.time() + 55 < storage.get_expiry("k") <= time.time() + 60
    storage.incr("short", 1)
    time.sleep(1.1)
    assert storage.get("short") == 0 and storage.incr("short", 1) == 1
    storage.clear("k")
    assert storage.get("k") == 0
    assert storage.reset() == 1


def _hammer(uri, count):
    storage = SqliteFileStorage(uri)
    return [storage.incr("login/127.0.0.1", 60) for _ in range(count)]


def test_processes_incrementing_at_once_lose_no_hit(tmp_path):
    uri = f"sqlite:///{tmp_path}/rl.db"
    SqliteFileStorage(uri)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_hammer, [(uri, 50)] * 4)
    seen = sorted(n for result in results for n in result)
    # Every increment got its own number: 1..200, none lost, none twice.
    assert seen == list(range(1, 201))
    assert SqliteFileStorage(uri).get("login/127.0.0.1") == 200


def test_two_workers_share_one_allowance(_app, tmp_path):
    """Two app instances (two workers) on one storage file: 5 bad logins in all, not 5 each."""
    from app import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/rl.db",
        "AUTH_RATE_LIMIT": "5 per minute",
    }
    workers = [create_app(config).test_client(), create_app(config).test_client()]
    codes = [
        workers[i % 2]
        .post(
            "/api/v1/security/login",
            json={"username": "xintan_secretary", "password": "wrong", "provider": "db"},
        )
        .status_code
        for i in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3


@pytest.mark.parametrize("proxies, seen", [(0, "127.0.0.1"), (1, "198.51.100.9")])
def test_behind_a_proxy_the_client_address_counts(app, tmp_path, proxies, seen):
    """TRUSTED_PROXIES=1 (nginx in front): the throttle and the audit log see the client's
    address from X-Forwarded-For, not the proxy's; without it the header is ignored."""
    from app import create_app

    config = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "ID_ENCRYPTION_KEY": app.config["ID_ENCRYPTION_KEY"],
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/rl.db",
        "AUTH_RATE_LIMIT": "2 per minute",
        "TRUSTED_PROXIES": proxies,
    }
    proxied = create_app(config)
    client = proxied.test_client()

    def login(client_address):
        return client.post(
            "/api/v1/security/login",
            json={"username": "xintan_secretary", "password": "wrong", "provider": "db"},
            headers={"X-Forwarded-For": client_address},
        ).status_code

    codes = [login("203.0.113.7"), login("203.0.113.7"), login("198.51.100.9")]
    # One allowance per client behind the proxy; one for everybody when the header is ignored.
    assert codes == ([401, 401, 401] if proxies else [401, 401, 429])
    with proxied.app_context():
        entry = proxied.appbuilder.session.scalars(
            select(AuditLog).where(AuditLog.action == "login_failed").order_by(AuditLog.id.desc())
        ).first()
        assert entry.ip == seen
    close_connections(proxied)


# --- The audit chain, several processes writing at once ---

WRITER = """
import os, sys, time
from app import audit, create_app
from app.models import Member

url, number, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
app = create_app({"SQLALCHEMY_DATABASE_URI": url})
with app.app_context():
    session = app.appbuilder.session
    member = session.query(Member).order_by(Member.id).offset(number).first()
    session.commit()
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    for i in range(count):
        if i % 2:
            # A row change: audited by the session listener, in the change's transaction.
            member.notes = f"writer {number}, change {i}"
            session.commit()
        else:
            audit.record("concurrency_test", details={"writer": number, "i": i})
"""


def test_processes_writing_at_once_keep_the_chain_linear(app, tmp_path):
    processes, count = 4, 60
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        before = app.appbuilder.session.scalar(select(func.max(AuditLog.id)))
    close_connections(app)
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(n), str(count), str(go)],
            cwd=ROOT,
            env={**os.environ, "ID_ENCRYPTION_KEY": app.config["ID_ENCRYPTION_KEY"]},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(processes)
    ]
    # Every writer is loaded before any starts, so that their writes really overlap.
    for child in children:
        assert child.stdout.readline() == b"ready\n", child.stderr.read().decode()[-2000:]
    go.touch()
    for child in children:
        _out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()[-2000:]
    with app.app_context():
        session = app.appbuilder.session
        rows = session.execute(
            select(AuditLog.id, AuditLog.action, AuditLog.changes)
            .where(AuditLog.id > before)
            .order_by(AuditLog.id)
        ).all()
        intact, message = audit.verify(session)
    assert intact, message
    assert [r.id for r in rows] == list(range(before + 1, before + 1 + len(rows)))
    events = [r for r in rows if r.action == "concurrency_test"]
    changes = [r for r in rows if r.action == "update"]
    assert len(events) == processes * count // 2
    assert len(changes) == processes * count // 2
    # The writers really interleaved: the chain is not four runs one after another.
    writers = [json.loads(r.changes)["writer"] for r in events]
    assert sorted(set(writers)) == list(range(processes))
    runs = sum(1 for a, b in zip(writers, writers[1:], strict=False) if a != b) + 1
    assert runs > processes
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


# --- gunicorn, as `make serve` starts it ---


def _post(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


@pytest.fixture
def gunicorn(app, tmp_path):
    """gunicorn.conf.py with two workers on the test database."""
    if not GUNICORN.exists():
        pytest.skip("gunicorn is not installed in .venv")
    close_connections(app)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "ID_ENCRYPTION_KEY": app.config["ID_ENCRYPTION_KEY"],
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "AUTH_RATE_LIMIT": "5 per minute",
        "RATELIMIT_STORAGE_URI": f"sqlite:///{tmp_path}/rl.db",
        "GUNICORN_ACCESS_LOG": "",
    }
    server = subprocess.Popen(
        [str(GUNICORN), "-c", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/login/", timeout=5):
                break
        except OSError:  # refused, reset or timed out while the workers boot
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.time() < deadline, "gunicorn did not answer within 90 s"
            time.sleep(0.5)
    yield base
    server.terminate()
    server.wait(timeout=30)


def test_gunicorn_serves_and_throttles_across_its_workers(gunicorn):
    with urllib.request.urlopen(f"{gunicorn}/login/", timeout=30) as response:
        assert response.status == 200
        assert response.headers["X-Frame-Options"] == "DENY"
    payload = {"username": "xintan_secretary", "password": "wrong", "provider": "db"}
    # Ten guesses at once, spread over both workers: the allowance is five in all.
    with ThreadPoolExecutor(10) as pool:
        answers = pool.map(lambda _: _post(f"{gunicorn}/api/v1/security/login", payload), range(10))
        codes = sorted(code for code, _headers in answers)
    assert codes == [401] * 5 + [429] * 5


# --- The database server closes the pool's connections (a restart, a failover) ---


def _close_server_connections(databases):
    """What a restart does to the connections the app's pool holds; waits until they are gone."""
    return databases._run(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
        f"WHERE datname = '{databases.name}' AND pid <> pg_backend_pid()"
    )


def test_connections_the_database_server_closed_cost_no_request(app, _database, login_as):
    if not isinstance(_database, PostgresDatabases):
        pytest.skip("PostgreSQL only: a SQLite file has no server to close connections")
    secretary = login_as("xintan_secretary")
    assert secretary.get("/memberview/list/").status_code == 200
    assert _close_server_connections(_database) >= 1
    assert secretary.get("/memberview/list/").status_code == 200
    assert _close_server_connections(_database) >= 1
    wrong = {"username": "xintan_secretary", "password": "wrong", "provider": "db"}
    assert app.test_client().post("/api/v1/security/login", json=wrong).status_code == 401


# --- A lost or wrong encryption key stops the server before it serves (issue 7) ---


def _started_with_key(app, tmp_path, command, key):
    close_connections(app)
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "ID_ENCRYPTION_KEY": key,
        "INSTANCE_DIR": str(tmp_path),
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESS_LOG": "",
    }
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "run.py"], [str(GUNICORN), "-c", "gunicorn.conf.py"]],
    ids=["make run", "make serve"],
)
def test_a_server_refuses_a_key_that_cannot_read_the_database(app, tmp_path, command):
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed")
    # The key file lost and a new one generated, or the wrong ID_ENCRYPTION_KEY: the demo's
    # sealed ID numbers cannot be opened, so the server says why and does not start.
    result = _started_with_key(app, tmp_path, command, "a-new-key-after-the-old-was-lost")
    assert result.returncode != 0
    assert "ID_ENCRYPTION_KEY" in result.stderr and "member.id_number" in result.stderr
    assert "加密密钥" in result.stderr


def test_the_right_key_and_an_empty_database_pass_the_check(app, tmp_path):
    from app import create_app, crypto

    crypto.refuse_wrong_key(app)  # the demo database, its own key: no exit
    empty = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/empty.db", "ID_ENCRYPTION_KEY": "x"}
    )
    crypto.refuse_wrong_key(empty)  # nothing created yet: nothing to check
    with pytest.raises(SystemExit):
        crypto.refuse_wrong_key(
            create_app(
                {
                    "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                    "ID_ENCRYPTION_KEY": "another",
                }
            )
        )
