"""Issue 18, past one machine: files in an S3 object store (moto's server over real HTTP), the
login throttle and the two-factor counters in Redis (Debian's redis-server), keys from the
environment, sessions that outlive their app server."""

import datetime as dt
import hashlib
import io
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pyotp
import pytest
import redis
from sqlalchemy import select

from app import create_app, storage
from app.models import Attachment, Member, Task, TaskAssignment, Township
from tests.databases import TEST_PASSWORD
from tests.files import newest_attachment, pdf_bytes, png_bytes, upload
from tests.helpers import village
from tests.rosters import roster_rows, write_csv

ROOT = Path(__file__).resolve().parent.parent
TEST_KEY = "test-id-encryption-key"  # the test database's (conftest)
# Sign-ins per minute and client on the two servers (the second factor's page is throttled too).
LIMIT = 12


def objects(s3, area):
    """{name: bytes} of the store's objects of ``area`` (the test's own view, through boto3)."""
    client, bucket = s3
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"jsx/{area}/")
    return {
        item["Key"].rsplit("/", 1)[1]: client.get_object(Bucket=bucket, Key=item["Key"])[
            "Body"
        ].read()
        for item in listing.get("Contents", ())
    }


def local_files(folder):
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def member_count(app):
    with app.app_context():
        return app.appbuilder.session.query(Member).count()


def upload_roster(client, data, filename):
    form = {"kind": "members", "mode": "insert", "file": (io.BytesIO(data), filename)}
    return client.post("/roster/preview", data=form, content_type="multipart/form-data")


def stored_name(app, pk):
    with app.app_context():
        return app.appbuilder.session.get(Attachment, pk).stored_name


# --- Attachments, task files and rosters in the object store ---


def test_an_attachment_goes_to_the_object_store_and_comes_back(app, login_as, document, s3):
    before = local_files(app.config["UPLOAD_FOLDER"])
    president = login_as("xintan_president")
    data = pdf_bytes()
    assert upload(president, "Document", document, data, "协会章程.pdf").status_code == 302
    pk = newest_attachment(app)
    name = stored_name(app, pk)
    assert objects(s3, "uploads") == {name: data}
    assert local_files(app.config["UPLOAD_FOLDER"]) == before  # nothing on this host
    page = president.get(f"/documentview/show/{document}").get_data(as_text=True)
    assert "协会章程.pdf" in page and f"/attachment/{pk}" in page
    download = president.get(f"/attachment/{pk}")
    assert download.status_code == 200 and download.data == data
    assert quote("协会章程.pdf") in download.headers["Content-Disposition"]
    assert download.headers["Content-Security-Policy"] == "sandbox"
    # Scope holds as on the filesystem: another village's account finds nothing.
    assert login_as("longwang_president").get(f"/attachment/{pk}").status_code == 404
    assert president.post(f"/attachment/{pk}/delete").status_code == 302
    assert objects(s3, "uploads") == {}
    assert president.get(f"/attachment/{pk}").status_code == 404


def test_an_object_lost_from_the_store_is_a_404_not_a_500(app, login_as, document, s3):
    president = login_as("xintan_president")
    upload(president, "Document", document, pdf_bytes(), "章程.pdf")
    pk = newest_attachment(app)
    client, bucket = s3
    client.delete_object(Bucket=bucket, Key=f"jsx/uploads/{stored_name(app, pk)}")
    assert president.get(f"/attachment/{pk}").status_code == 404


def test_a_tasks_file_goes_to_the_object_store(app, login_as, s3):
    with app.app_context():
        session = app.appbuilder.session
        task = Task(
            township_id=session.scalars(select(Township.id)).first(),
            title="测试任务",
            due_date=dt.date.today(),
            body="测试",
        )
        task.assignments.append(TaskAssignment(village_id=village(session, "新檀村").id))
        session.add(task)
        session.commit()
        task_id = task.id
    admin = login_as("admin")
    response = admin.post(
        f"/tasks/{task_id}/file",
        data={"file": (io.BytesIO(png_bytes()), "通知.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    with app.app_context():
        stored = app.appbuilder.session.get(Task, task_id).file_stored
    assert objects(s3, "uploads") == {stored: png_bytes()}
    download = login_as("xintan_secretary").get(f"/tasks/{task_id}/file")
    assert download.status_code == 200 and download.data == png_bytes()
    assert admin.delete(f"/api/v1/task/{task_id}").status_code == 200
    assert objects(s3, "uploads") == {}


def test_a_roster_waits_in_the_object_store_between_preview_and_confirm(
    app, login_as, s3, tmp_path
):
    client = login_as("xintan_president")
    before = member_count(app)
    local = os.path.join(app.instance_path, "roster_uploads")
    kept_locally = local_files(local)  # other tests' uploads, waiting on this host
    data = write_csv(tmp_path / "a.csv", roster_rows(3)).read_bytes()
    preview = upload_roster(client, data, "会员.csv")
    assert preview.status_code == 200
    token = re.search(r'name="token" value="([0-9a-f]+)"', preview.get_data(as_text=True))[1]
    waiting = objects(s3, "roster_uploads")
    assert sorted(waiting) == [f"{token}.bin", f"{token}.json"]
    assert waiting[f"{token}.bin"] == data
    assert local_files(local) == kept_locally
    assert member_count(app) == before
    done = client.post("/roster/confirm", data={"token": token})
    assert done.status_code == 200 and member_count(app) == before + 3
    assert objects(s3, "roster_uploads") == {}
    # Changed in the store after the preview: not imported.
    other = write_csv(tmp_path / "b.csv", roster_rows(2, start=50)).read_bytes()
    preview = upload_roster(client, other, "b.csv")
    token = re.search(r'name="token" value="([0-9a-f]+)"', preview.get_data(as_text=True))[1]
    bucket_client, bucket = s3
    bucket_client.put_object(
        Bucket=bucket, Key=f"jsx/roster_uploads/{token}.bin", Body=data + b"\n"
    )
    assert client.post("/roster/confirm", data={"token": token}).status_code == 404
    assert member_count(app) == before + 3


def test_backup_verify_names_the_files_missing_from_the_object_store(
    app, login_as, document, s3, tmp_path
):
    president = login_as("xintan_president")
    upload(president, "Document", document, pdf_bytes(), "章程.pdf")
    upload(president, "Document", document, png_bytes(), "合影.png")
    backup = tmp_path / "jsx.bak"
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "create", str(backup)]).exit_code == 0
    sound = runner.invoke(args=["backup", "verify", str(backup)])
    assert sound.exit_code == 0, sound.output
    assert "文件：数据库记载 2 个" in sound.output and "中缺少 0 个" in sound.output
    client, bucket = s3
    lost = stored_name(app, newest_attachment(app))
    client.delete_object(Bucket=bucket, Key=f"jsx/uploads/{lost}")
    result = runner.invoke(args=["backup", "verify", str(backup)])
    assert result.exit_code == 1
    assert "其记载的 1 个文件在存储" in result.output
    assert f"合影.png (Document {document})，存储名 {lost}" in result.output
    assert "章程.pdf" not in result.output.split("合影.png")[1]
    assert f"s3://{bucket}/jsx/uploads/" in result.output


# --- Stateless mode: keys from the environment, sessions across app servers ---


def stateless_env(app, s3, redis_url, instance, secret_key):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "STATELESS")}
    env.update(
        INSTANCE_DIR=str(instance),
        SECRET_KEY=secret_key,
        ID_ENCRYPTION_KEY=TEST_KEY,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        STORAGE_URL=app.config["STORAGE_URL"],
        STORAGE_ENDPOINT_URL=app.config["STORAGE_ENDPOINT_URL"],
        REDIS_URL=redis_url,
    )
    instance.mkdir()
    return env


def worker(env, *args):
    result = subprocess.run(
        [sys.executable, "-m", "tests.stateless_worker", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.split()


def test_a_session_and_a_file_outlive_the_app_server_that_made_them(
    app, login_as, document, s3, redis_url, tmp_path
):
    """One server (this process) stores a file; another (a fresh process, its own empty
    instance folder) signs a user in; a third, started after, with the same environment,
    accepts that session and serves the file. Nothing was written to an instance folder."""
    data = pdf_bytes()
    upload(login_as("xintan_president"), "Document", document, data, "章程.pdf")
    pk = newest_attachment(app)
    key = secrets.token_hex(32)
    first = stateless_env(app, s3, redis_url, tmp_path / "first", key)
    [cookie] = worker(first, "login", "xintan_president")
    second = stateless_env(app, s3, redis_url, tmp_path / "second", key)
    out = worker(second, "get", cookie, "/memberview/list/", f"/attachment/{pk}")
    assert out[0] == "200" and out[2:] == ["200", hashlib.sha256(data).hexdigest()]
    # The cookie is worth nothing to a server with another key: sent to the login page.
    other = stateless_env(app, s3, redis_url, tmp_path / "other", secrets.token_hex(32))
    assert worker(other, "get", cookie, "/memberview/list/")[0] == "302"
    for folder in ("first", "second", "other"):
        assert local_files(tmp_path / folder) == []


def test_stateless_mode_refuses_to_start_without_its_keys(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "ID_ENCRYPTION_KEY", "DATABASE_URL")
        and not k.startswith(("STORAGE_", "REDIS_"))
    }
    env.update(STATELESS="1", INSTANCE_DIR=str(tmp_path / "instance"))
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    names = "SECRET_KEY, ID_ENCRYPTION_KEY, DATABASE_URL, STORAGE_URL, REDIS_URL"
    assert f"must be given {names} in its environment" in result.stderr
    assert f"通过环境变量提供 {names}" in result.stderr
    # No key was generated where a second server could not find it.
    assert local_files(tmp_path / "instance") == []


def test_stateless_mode_names_only_what_is_missing(_app):
    config = {
        "STATELESS": True,
        "SECRET_KEY": "k",
        "ID_ENCRYPTION_KEY": "k",
        "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
        "STORAGE_URL": "s3://bucket",
        "REDIS_URL": "",
    }
    with pytest.raises(storage.DeploymentError, match=r"given REDIS_URL in"):
        create_app(config)
    with pytest.raises(storage.StorageConfigError, match="s3://bucket"):
        create_app({**config, "STORAGE_URL": "/srv/files"})


# --- Counters in Redis, shared by two app servers ---


@pytest.fixture(scope="module")
def two_servers(_app, redis_url):
    """Two app instances on the test database, sharing one Redis (REDIS_URL) and nothing else."""
    config = {
        "SQLALCHEMY_DATABASE_URI": _app.config["SQLALCHEMY_DATABASE_URI"],
        "ID_ENCRYPTION_KEY": TEST_KEY,
        "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True,
        "AUTH_RATE_LIMIT": f"{LIMIT} per minute",
        "REDIS_URL": redis_url,
        "TOTP_REQUIRED_ROLES": ["Admin", "Township"],
    }
    return create_app(dict(config)), create_app(dict(config))


@pytest.fixture
def shared(app, two_servers, redis_url):
    """The two servers, their Redis emptied (counters last a minute or 15)."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield two_servers
    connection.flushdb()
    connection.close()


def bad_login(client):
    return client.post("/login/", data={"username": "nobody", "password": "x"}).status_code


def test_a_login_throttled_on_one_server_is_throttled_on_the_other(shared, redis_url):
    first, second = shared
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    on_first = [bad_login(first.test_client()) for _ in range(LIMIT)]
    assert all(code in (200, 302) for code in on_first)
    assert bad_login(second.test_client()) == 429
    assert bad_login(first.test_client()) == 429
    assert redis.Redis.from_url(redis_url).dbsize() > 0


def test_a_token_login_throttled_on_one_server_is_throttled_on_the_other(shared):
    first, second = shared
    payload = {"username": "xintan_secretary", "password": "wrong", "provider": "db"}
    codes = [
        first.test_client().post("/api/v1/security/login", json=payload).status_code
        for _ in range(LIMIT)
    ]
    assert codes == [401] * LIMIT
    assert second.test_client().post("/api/v1/security/login", json=payload).status_code == 429


def _password(client):
    return client.post("/login/", data={"username": "township", "password": TEST_PASSWORD})


def _code_at(secret, offset_steps):
    import time

    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def test_wrong_codes_on_one_server_lock_the_account_on_the_other(shared, redis_url):
    first, second = shared
    enrolling = first.test_client()
    assert "/twofactor/enrol" in _password(enrolling).headers["Location"]
    page = enrolling.get("/twofactor/enrol").get_data(as_text=True)
    secret = re.search(r'id="twofactor-secret">([A-Z2-7]+)<', page).group(1)
    enrolling.post("/twofactor/enrol", data={"code": pyotp.TOTP(secret).now()})
    # The right code on the second server signs in (one step on: the enrolment used this one);
    # the same code again, on the first, is refused: the replay guard is in the database.
    good = second.test_client()
    _password(good)
    code = _code_at(secret, 1)
    assert good.post("/twofactor/verify", data={"code": code}).status_code == 302
    assert good.get("/memberview/list/").status_code == 200
    replay = first.test_client()
    _password(replay)
    refused = replay.post("/twofactor/verify", data={"code": code})
    assert refused.status_code == 200 and 'id="twofactor-error"' in refused.get_data(as_text=True)
    # Four more wrong codes on the first server (five in all)…
    for _ in range(3):
        assert replay.post("/twofactor/verify", data={"code": "000000"}).status_code == 200
    last = replay.post("/twofactor/verify", data={"code": "000000"})
    assert last.status_code == 302 and "/login/" in last.headers["Location"]
    # …and the second server refuses even the next right code for this account.
    other = second.test_client()
    assert "/twofactor/verify" in _password(other).headers["Location"]
    locked = other.post("/twofactor/verify", data={"code": _code_at(secret, 2)})
    assert locked.status_code == 302 and "/login/" in locked.headers["Location"]
    assert other.get("/memberview/list/").status_code != 200
    assert redis.Redis.from_url(redis_url).keys("*twofactor-failures*")


def test_without_redis_the_counters_stay_where_they_were(_app):
    assert _app.config["RATELIMIT_STORAGE_URI"].startswith("sqlite:///")
    assert not _app.config["REDIS_URL"] and not _app.config["STATELESS"]
