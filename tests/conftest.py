"""Fixtures: one app on a temporary SQLite database built by the migrations, with the demo
township loaded once and restored before every test."""

import os
import time

import pytest

from tests.databases import TEST_PASSWORD, close_connections

# Before any test module reads the date: the process's clock zone as config.py sets it in the
# app (Beijing), so that "today" is the same day in tests and in the app. (Importing config
# here would fix its instance paths before the fixtures point INSTANCE_DIR elsewhere.)
os.environ.setdefault("TZ", "CST-8")
time.tzset()


@pytest.fixture(scope="session")
def _database(tmp_path_factory):
    """The test database (SQLite, or PostgreSQL with TEST_DATABASE_URL) and its snapshots."""
    from tests.databases import open_databases

    folder = tmp_path_factory.mktemp("db")
    os.environ["INSTANCE_DIR"] = str(folder)
    return open_databases(folder)


@pytest.fixture(scope="session")
def _app(_database):
    from flask_migrate import upgrade

    from app import create_app
    from app.demo import load_demo
    from tests.helpers import ensure_county_account

    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": _database.url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "DEMO_PASSWORD": TEST_PASSWORD,
            # Fast hashing for tests only; production keeps FAB's scrypt default.
            "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "SERVER_NAME": "localhost",
            # Fixed, so that a saved template database stays readable (issue 7).
            "ID_ENCRYPTION_KEY": "test-id-encryption-key",
        }
    )
    with app.app_context():
        upgrade()
        load_demo(app.appbuilder.session, TEST_PASSWORD)
        ensure_county_account(app.appbuilder.session)
    close_connections(app)
    _database.save("template")
    return app


@pytest.fixture
def app(_app, _database):
    """The app, its database restored to the freshly loaded demo township."""
    from app import crypto, db

    close_connections(_app)
    _database.restore("template")
    # The key is process-wide: a test that built another app (throttling, migrations) set its own.
    crypto.configure(_app.config["ID_ENCRYPTION_KEY"])
    _app.config["WTF_CSRF_ENABLED"] = False
    yield _app
    with _app.app_context():
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login_as(app):
    """login_as(username) → a test client signed in through the login form."""

    def login(username, password=TEST_PASSWORD):
        client = app.test_client()
        response = client.post(
            "/login/", data={"username": username, "password": password}, follow_redirects=False
        )
        assert response.status_code == 302, f"login of {username} failed"
        return client

    return login


@pytest.fixture
def api_token(app):
    """api_token(username) → headers with a JWT from /api/v1/security/login."""

    def token(username, password=TEST_PASSWORD):
        response = app.test_client().post(
            "/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
        )
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

    return token


@pytest.fixture
def db_session(app):
    with app.app_context():
        yield app.appbuilder.session


@pytest.fixture
def document(app):
    """A document of 新檀村 to attach files to: its id."""
    from app.models import Document
    from tests.files import make

    return make(app, Document, "新檀村")


@pytest.fixture
def uploaded(app, login_as, document):
    """A PDF attached to a 新檀村 document by its president: (attachment id, bytes)."""
    from tests.files import newest_attachment, pdf_bytes, upload

    data = pdf_bytes()
    response = upload(login_as("xintan_president"), "Document", document, data, "协会章程.pdf")
    assert response.status_code == 302
    return newest_attachment(app), data


# --- The services of a deployment past one machine (issue 18): real servers, free ports ---


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 API server (moto's server mode, a pip package of requirements-dev.txt) on a free
    port of this machine: the app reaches it over HTTP through boto3, as it would MinIO."""
    from moto.server import ThreadedMotoServer

    from tests.servers import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(app, s3_endpoint, monkeypatch):
    """The app's files in a bucket of their own on the S3 server, for this test: a boto3 client
    of that bucket (the test's own view of the store) and its name."""
    import uuid

    import boto3

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "test-access-key"),
        ("AWS_SECRET_ACCESS_KEY", "test-secret-key"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    bucket = f"jsx-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=bucket)
    saved = {key: app.config.get(key) for key in ("STORAGE_URL", "STORAGE_ENDPOINT_URL")}
    app.config.update(STORAGE_URL=f"s3://{bucket}/jsx", STORAGE_ENDPOINT_URL=s3_endpoint)
    yield client, bucket
    app.config.update(saved)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A Redis server (Debian's redis-server) on a free port, nothing written to disk. Skipped,
    with the reason, only where the binary is missing and SERVICES_REQUIRED is unset: .ci/run
    installs it and sets SERVICES_REQUIRED, so CI always runs these tests."""
    import shutil
    import subprocess

    import redis

    from tests.servers import free_port

    binary = shutil.which("redis-server")
    if binary is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("SERVICES_REQUIRED"):
            pytest.fail(f"{reason}, and SERVICES_REQUIRED is set")
        pytest.skip(reason)
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            connection.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    yield url
    connection.close()
    server.terminate()
    server.wait(10)
