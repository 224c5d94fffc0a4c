"""Where uploaded files live: a folder of this host (the embedded default) or an S3-compatible
object store shared by every app server (issue 18).

One small interface, two backends. A store holds the files of one *area* — ``uploads`` (the
attachments and the tasks' files, app/uploads.py) or ``roster_uploads`` (rosters waiting
between their preview and their confirmation, app/roster_views.py) — under names the app makes
(random hex, never a user's file name)::

    put(name, data)   write a new file (never read back before it is complete)
    get(name)         its bytes; FileNotFoundError if there is none
    delete(name)      remove it; nothing if there is none
    exists(name)      whether there is one
    list(prefix="")   (name, modified as a Unix time) of every file whose name starts so

``STORAGE_URL`` unset: the folders under the instance folder (``UPLOAD_FOLDER`` for uploads),
each file readable by the app's account only. ``STORAGE_URL=s3://bucket/optional/prefix``: the
objects ``prefix/AREA/NAME`` of that bucket, through boto3, at ``STORAGE_ENDPOINT_URL`` (a
MinIO, Ceph or cloud endpoint; unset: AWS itself), with the credentials boto3 reads from the
environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).
"""

import os
from urllib.parse import urlparse

from flask import current_app

AREAS = ("uploads", "roster_uploads")


class StorageConfigError(ValueError):
    """STORAGE_URL names no store this module can reach."""


class FileStore:
    """The files of one area in one folder of this host."""

    def __init__(self, folder: str):
        self.folder = folder

    def describe(self) -> str:
        return self.folder

    def _path(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def put(self, name: str, data: bytes) -> None:
        """A new file readable by the app's account only (0600); an existing one is refused."""
        os.makedirs(self.folder, mode=0o700, exist_ok=True)
        fd = os.open(self._path(name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    def get(self, name: str) -> bytes:
        with open(self._path(name), "rb") as fh:
            return fh.read()

    def delete(self, name: str) -> None:
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass

    def exists(self, name: str) -> bool:
        return os.path.isfile(self._path(name))

    def list(self, prefix: str = "") -> list[tuple[str, float]]:
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        entries = []
        for name in names:
            if name.startswith(prefix):
                try:
                    entries.append((name, os.path.getmtime(self._path(name))))
                except FileNotFoundError:
                    pass  # removed meanwhile (another worker's sweep)
        return entries


class S3Store:
    """The files of one area as the objects ``PREFIX/AREA/NAME`` of one bucket."""

    def __init__(self, client, bucket: str, prefix: str):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _missing(self, error) -> bool:
        code = str(error.response.get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, name: str, data: bytes) -> None:
        # One request: the object is there whole or not at all (S3 has no partial objects).
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def get(self, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as error:
            if self._missing(error):
                raise FileNotFoundError(self._key(name)) from error
            raise
        with response["Body"] as body:
            return body.read()

    def delete(self, name: str) -> None:
        # S3 answers a delete of a missing object with success too.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def exists(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(name))
        except ClientError as error:
            if self._missing(error):
                return False
            raise
        return True

    def list(self, prefix: str = "") -> list[tuple[str, float]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        return [
            (item["Key"][len(self.prefix) :], item["LastModified"].timestamp())
            for page in pages
            for item in page.get("Contents", ())
        ]


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ("bucket", "some/prefix/"); anything else is refused."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc or parsed.query or parsed.fragment:
        raise StorageConfigError(
            f"STORAGE_URL: s3://bucket or s3://bucket/prefix, not {url!r} "
            f"(STORAGE_URL 应为 s3://存储桶 或 s3://存储桶/前缀)"
        )
    prefix = parsed.path.strip("/")
    return parsed.netloc, prefix + "/" if prefix else ""


class DeploymentError(RuntimeError):
    """Stateless mode without what every app server must get from the environment."""


# What each app server of a stateless deployment must be given: config key → its variable.
STATELESS_NEEDS = {
    "SECRET_KEY": "SECRET_KEY",
    "ID_ENCRYPTION_KEY": "ID_ENCRYPTION_KEY",
    "SQLALCHEMY_DATABASE_URI": "DATABASE_URL",
    "STORAGE_URL": "STORAGE_URL",
    "REDIS_URL": "REDIS_URL",
}


def check_deployment(config) -> None:
    """At start-up, before anything is read with them: a STORAGE_URL that cannot be right, or
    stateless mode (``STATELESS=1``, ``STORAGE_URL`` or ``REDIS_URL``) missing a key or a
    service, stops the app with a message in English and Chinese. Then ``REDIS_URL`` carries
    the login throttle and the two-factor counters (Flask-Limiter's storage)."""
    if config.get("STORAGE_URL"):
        parse_url(config["STORAGE_URL"])
    if config.get("STATELESS"):
        missing = [name for key, name in STATELESS_NEEDS.items() if not config.get(key)]
        if missing:
            names = ", ".join(missing)
            raise DeploymentError(
                f"Stateless mode (STATELESS=1, STORAGE_URL or REDIS_URL set): every app server "
                f"must be given {names} in its environment; nothing is read from or generated "
                f"in instance/. "
                f"无状态模式（设置了 STATELESS=1、STORAGE_URL 或 REDIS_URL）：每台应用服务器都须"
                f"通过环境变量提供 {names}；不从 instance/ 读取或生成任何内容。"
            )
    if config.get("REDIS_URL"):
        config["RATELIMIT_STORAGE_URI"] = config["REDIS_URL"]


def _s3_client(config):
    import boto3
    from botocore.config import Config

    # boto3 reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION itself.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=config.get("STORAGE_ENDPOINT_URL") or None,
        config=Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 3, "mode": "standard"},
            # Path-style addressing: an endpoint of our own (MinIO, moto) has no DNS per bucket.
            s3={"addressing_style": "path"},
        ),
    )


def store(area: str, app=None):
    """The store of ``area`` for this app (made once per app and process: boto3's client is
    thread-safe, and made after gunicorn forks its workers)."""
    if area not in AREAS:
        raise ValueError(area)
    app = app or current_app._get_current_object()
    stores = app.extensions.setdefault("storage", {})
    url = app.config.get("STORAGE_URL") or ""
    key = (area, url, app.config.get("STORAGE_ENDPOINT_URL"), app.config.get("UPLOAD_FOLDER"))
    if key not in stores:
        if url:
            bucket, prefix = parse_url(url)
            client_key = ("client", url, app.config.get("STORAGE_ENDPOINT_URL"))
            if client_key not in stores:
                stores[client_key] = _s3_client(app.config)
            client = stores[client_key]
            stores[key] = S3Store(client, bucket, f"{prefix}{area}/")
        elif area == "uploads":
            stores[key] = FileStore(app.config["UPLOAD_FOLDER"])
        else:
            stores[key] = FileStore(os.path.join(app.instance_path, area))
    return stores[key]
