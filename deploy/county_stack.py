"""A county deployment on this machine (issue 18, README "Deploying for a county"): two gunicorn
app servers in stateless mode, one PostgreSQL, one S3 API server and one Redis, each on a free
port of 127.0.0.1, every file under one temporary folder.

    make county-stack            # start it, print the addresses, stop and remove it on Ctrl-C
    make test-two-servers        # tests/test_two_servers.py starts its own and proves it

PostgreSQL: the server of TEST_DATABASE_URL when set (``.ci/run`` has started one; a database
``<name>_county`` is made there and dropped after), else a throwaway server from
``.ci/postgres.sh``. The S3 server is moto's server mode (requirements-dev.txt), Redis is
Debian's ``redis-server`` (nothing saved to disk). The database is migrated and given the demo
once (``flask db upgrade``, ``flask demo load``; the accounts' password is DEMO_PASSWORD, or a
new one for the run). Then both servers start from gunicorn.conf.py, as ``make serve`` would,
with the same environment: ``SECRET_KEY`` and ``ID_ENCRYPTION_KEY`` from this environment
(random for the run when unset), an empty instance folder each. Two settings differ from
production, both for a scripted client: ``TOTP_REQUIRED_ROLES`` is empty (no authenticator),
and ``TRUSTED_PROXIES=1`` so that each simulated user's ``X-Forwarded-For`` is its own client
address for the login throttle (which keeps its production limit), as behind a load balancer.
"""

import atexit
import ctypes
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The objects of the app servers: PREFIX/uploads/… and PREFIX/roster_uploads/… of BUCKET.
BUCKET, PREFIX = "jsx-county", "county"
# Variables of the outer environment that would point a server elsewhere than this stack.
STACK_VARIABLES = (
    "DATABASE_URL",
    "STATELESS",
    "STORAGE_URL",
    "STORAGE_ENDPOINT_URL",
    "REDIS_URL",
    "RATELIMIT_STORAGE_URI",
    "INSTANCE_DIR",
    "UPLOAD_FOLDER",
    "HOST",
    "PORT",
)


class MissingService(RuntimeError):
    """A program the stack needs is not installed on this machine."""


def free_port():
    """A TCP port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    """Linux: the child is killed when this process dies without cleaning up (kill -9, OOM),
    so that no server outlives the run that started it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _wait(ready, process, what, log, seconds=120):
    """Poll ``ready()`` until it is true; the process's log tail if it dies or takes too long."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return
        except Exception:  # refused, reset, not ready yet: whatever the client says while it starts
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = Path(log).read_text(errors="replace")[-3000:] if Path(log).exists() else ""
            raise RuntimeError(f"{what} did not start (see {log}):\n{tail}")
        time.sleep(0.2)


def _answers(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status == 200


def _as_postgres(command):
    """The server refuses to run as root: .ci/postgres.sh runs it as the package's user then."""
    if os.getuid() == 0:
        return ["su", "postgres", "-s", "/bin/sh", "-c", command]
    return ["sh", "-c", command]


class AppServer:
    """One gunicorn (master and workers, in a process group of their own) on one port."""

    def __init__(self, name, env, folder):
        self.name, self.folder = name, folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.instance = folder / "instance"
        self.instance.mkdir(parents=True)
        self.env = {**env, "PORT": str(self.port), "INSTANCE_DIR": str(self.instance)}
        self.log = folder / "gunicorn.log"
        self.process = None

    def start(self):
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        _wait(lambda: _answers(f"{self.url}/login/"), self.process, f"server {self.name}", self.log)

    def kill(self):
        """SIGKILL to the master and every worker at once: no graceful shutdown, no goodbye."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


class CountyStack:
    """The services and the two app servers; ``start()`` once, ``stop()`` (also at exit)."""

    def __init__(self, workers=None):
        self.folder = None
        self.workers = str(workers or os.environ.get("WEB_CONCURRENCY") or 3)
        self.processes = []
        self.servers = {}
        self._pg_stop = self._pg_folder = self._database = self._admin_url = None
        self._stopped = False

    # --- The services ---

    def _missing(self):
        missing = []
        if not shutil.which("redis-server"):
            missing.append("redis-server (apt-get install redis-server)")
        if not os.environ.get("TEST_DATABASE_URL") and not list(
            Path("/usr/lib/postgresql").glob("*/bin/initdb")
        ):
            missing.append("PostgreSQL (apt-get install postgresql, or set TEST_DATABASE_URL)")
        for module, package in (("moto.server", "moto[server]"), ("boto3", "boto3")):
            try:
                __import__(module)
            except ImportError:
                missing.append(f"{package} (pip install -r requirements-dev.txt)")
        if not (BIN / "gunicorn").exists():
            missing.append("gunicorn (pip install -r requirements.txt)")
        return missing

    def _service(self, name, command, ready):
        log = self.folder / f"{name}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(
                command,
                cwd=self.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self.processes.append(process)
        _wait(ready, process, name, log)

    def _postgres(self):
        """A database of its own: on TEST_DATABASE_URL's server, or on a throwaway server."""
        from sqlalchemy.engine import make_url

        server = os.environ.get("TEST_DATABASE_URL")
        if not server:
            result = subprocess.run(
                ["bash", str(ROOT / ".ci" / "postgres.sh")],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode:
                raise RuntimeError(f".ci/postgres.sh failed:\n{result.stderr[-3000:]}")
            exported = dict(
                shlex.split(line.removeprefix("export "))[0].split("=", 1)
                for line in result.stdout.splitlines()
                if line.startswith("export ")
            )
            server, self._pg_stop = exported["TEST_DATABASE_URL"], exported["PGTEST_STOP"]
            self._pg_folder = Path(shlex.split(self._pg_stop)[2]).parent
        url = make_url(server)
        self._database = f"{url.database}_county"
        self._admin_url = url.set(database="postgres")
        self._sql(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{self._database}"')
        return url.set(database=self._database).render_as_string(hide_password=False)

    def _sql(self, statement):
        from sqlalchemy import create_engine, text

        engine = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()

    def _s3(self):
        import boto3

        port = free_port()
        self.s3_endpoint = f"http://127.0.0.1:{port}"
        self._service(
            "s3",
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            lambda: _answers(f"{self.s3_endpoint}/moto-api/"),
        )
        self.s3_client = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            aws_access_key_id="county-stack",
            aws_secret_access_key="county-stack",
            region_name="us-east-1",
        )
        self.s3_client.create_bucket(Bucket=BUCKET)

    def _redis(self):
        import redis

        port = free_port()
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        folder = self.folder / "redis"
        folder.mkdir()
        self._service(
            "redis",
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(folder)],
            lambda: redis.Redis.from_url(self.redis_url).ping(),
        )

    # --- The app servers ---

    def start(self):
        missing = self._missing()
        if missing:
            raise MissingService("not installed: " + "; ".join(missing))
        self.folder = Path(tempfile.mkdtemp(prefix="jsx-county-"))
        atexit.register(self.stop)
        try:
            self.database_url = self._postgres()
            self._s3()
            self._redis()
            outer = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
            self.env = {
                **outer,
                "FLASK_APP": "wsgi.py",
                "STATELESS": "1",
                "DATABASE_URL": self.database_url,
                "STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
                "STORAGE_ENDPOINT_URL": self.s3_endpoint,
                "AWS_ACCESS_KEY_ID": "county-stack",
                "AWS_SECRET_ACCESS_KEY": "county-stack",
                "AWS_DEFAULT_REGION": "us-east-1",
                "REDIS_URL": self.redis_url,
                "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_hex(32),
                "ID_ENCRYPTION_KEY": os.environ.get("ID_ENCRYPTION_KEY") or secrets.token_hex(32),
                # The demo accounts' password: the environment's, or a new one for this run.
                "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD")
                or f"DemoPass@{secrets.randbelow(10**6):06d}",
                # The production limit, stated: the tests count up to it.
                "AUTH_RATE_LIMIT": "10 per minute",
                "HOST": "127.0.0.1",
                "WEB_CONCURRENCY": self.workers,
                "TOTP_REQUIRED_ROLES": "",
                "TRUSTED_PROXIES": "1",
                "GUNICORN_ACCESS_LOG": "",
            }
            self.flask("db", "upgrade")
            self.flask("demo", "load")
            for name in ("A", "B"):
                self.servers[name] = AppServer(name, self.env, self.folder / name)
                self.servers[name].start()
        except BaseException:
            self.stop()
            raise
        return self

    def flask(self, *args, check=True):
        """The ``flask`` command with the servers' environment (an empty instance folder)."""
        instance = self.folder / "cli-instance"
        instance.mkdir(exist_ok=True)
        result = subprocess.run(
            [str(BIN / "flask"), *args],
            cwd=ROOT,
            env={**self.env, "INSTANCE_DIR": str(instance)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode:
            raise RuntimeError(f"flask {' '.join(args)}: {result.stdout}{result.stderr}"[-3000:])
        return result

    def instance_files(self):
        """Whatever any app server or command wrote under its instance folder (should be none)."""
        folders = [s.instance for s in self.servers.values()] + [self.folder / "cli-instance"]
        return sorted(str(p) for folder in folders if folder.exists() for p in folder.rglob("*"))

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for server in self.servers.values():
            server.stop()
        for process in self.processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self._database:
            try:
                self._sql(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)')
            except Exception:  # the server may be gone already (Ctrl-C reaches it too)
                pass
        if self._pg_stop:
            subprocess.run(_as_postgres(self._pg_stop), capture_output=True, check=False)
            shutil.rmtree(self._pg_folder, ignore_errors=True)
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


def main():
    stack = CountyStack()
    # Ctrl-C or a TERM from outside: stop everything and remove the folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("starting PostgreSQL, S3 (moto), Redis and two app servers …", flush=True)
    try:
        stack.start()
        env = stack.env
        print(
            f"""
county stack up, {stack.workers} gunicorn workers per app server (Ctrl-C stops it all):
  app server A   {stack.servers["A"].url}
  app server B   {stack.servers["B"].url}
  PostgreSQL     {stack.database_url}
  S3 (moto)      {stack.s3_endpoint}  bucket {BUCKET}
  Redis          {stack.redis_url}
  demo accounts  admin, township, xintan_secretary, … password {env["DEMO_PASSWORD"]}
  files          {stack.folder}
flask commands against it (e.g. audit verify):
  env STATELESS=1 DATABASE_URL={env["DATABASE_URL"]} STORAGE_URL={env["STORAGE_URL"]} \\
      STORAGE_ENDPOINT_URL={env["STORAGE_ENDPOINT_URL"]} REDIS_URL={env["REDIS_URL"]} \\
      AWS_ACCESS_KEY_ID=county-stack AWS_SECRET_ACCESS_KEY=county-stack \\
      AWS_DEFAULT_REGION=us-east-1 SECRET_KEY={env["SECRET_KEY"]} \\
      ID_ENCRYPTION_KEY={env["ID_ENCRYPTION_KEY"]} .venv/bin/flask audit verify""",
            flush=True,
        )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nstopping …", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
