"""Backup, verify and restore times (issue 7 item 7), in process (no app start-up), on the
demo township grown by ``--members`` imported members and ``--entries`` audit entries.

Baselines timed in the same run: SQLite, a plain file copy of the same database (what a
backup costs at the least); PostgreSQL, ``pg_restore --single-transaction`` of the same dump
into an empty database (what a restore costs at the least).

    .venv/bin/python bench/backup.py [--members 100000] [--entries 20000]
    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:54329/jsx_bench \\
        .venv/bin/python bench/backup.py          # the same on PostgreSQL (the database is
                                                  # dropped and created)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))


def build(url, members, entries):
    """The demo township, ``members`` members imported into 新檀村, ``entries`` events."""
    from flask_migrate import upgrade
    from import_roster import members as member_rows
    from import_roster import write_csv

    from app import audit, create_app, db, importer
    from app.demo import load_demo
    from app.models import Village
    from app.resources import RESOURCES

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "DEMO_PASSWORD": "Bench#Pass2026"})
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        load_demo(session, "Bench#Pass2026")
        if members:
            cells, _stored = member_rows(members)
            path = os.path.join(tempfile.mkdtemp(), "members.csv")
            write_csv(path, cells)
            with open(path, "rb") as fh:
                raw = fh.read()
            village = session.query(Village).filter_by(name="新檀村").one()
            result = importer.import_roster(session, RESOURCES["members"], path, raw, village, None)
            assert result.committed, result.rejected[:3]
        for start in range(0, entries, 1000):
            for i in range(start, min(start + 1000, entries)):
                audit.record("export", details={"rows": i}, session=session, commit=False)
            session.commit()
        session.remove()
        db.engine.dispose()
    return app


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=20_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    os.environ.setdefault("INSTANCE_DIR", folder)
    url = os.environ.get("BENCH_DATABASE_URL")
    if url:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for db_name in (name, f"{name}_baseline"):
                connection.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                connection.execute(text(f'CREATE DATABASE "{db_name}"'))
    else:
        url = f"sqlite:///{os.path.join(folder, 'bench.db')}"
    started = time.perf_counter()
    app = build(url, args.members, args.entries)
    print(f"built in {time.perf_counter() - started:.1f} s")

    from app import backup, db

    target = os.path.join(folder, "bench.bak")
    with app.app_context():
        kind = db.engine.dialect.name
        if kind == "sqlite":
            live = db.engine.url.database
            baseline, _ = timed(shutil.copyfile, live, os.path.join(folder, "copy.db"))
            size = os.path.getsize(live)
        create, created = timed(backup.create, target)
        verify, report = timed(backup.verify, target)
        assert report.ok, report.problems

        def restore():
            with backup.restoring(target) as staged:
                assert staged.report.ok, staged.report.problems
                staged.commit()

        restored, _ = timed(restore)
        if kind == "postgresql":
            from app.backup import _pg_environment, pg_tool

            env = _pg_environment(db.engine.url.set(database=f"{db.engine.url.database}_baseline"))
            tool = pg_tool("pg_restore", 0)
            start = time.perf_counter()
            subprocess.run(
                [
                    tool,
                    "--single-transaction",
                    "--no-owner",
                    "--no-acl",
                    "-d",
                    env["PGDATABASE"],
                    target,
                ],
                env=env,
                check=True,
            )
            baseline = time.perf_counter() - start
            size = created.size
    members = report.counts["member"]
    entries = report.counts["audit_log"]
    print(f"{kind}: {members:,} members, {entries:,} audit entries, {size / 1e6:.1f} MB")
    print(f"  create  {create:6.2f} s   backup file {created.size / 1e6:.1f} MB")
    print(f"  verify  {verify:6.2f} s")
    print(f"  restore {restored:6.2f} s   (checks the copy, then puts it in place)")
    what = "plain file copy" if kind == "sqlite" else "pg_restore --single-transaction"
    print(f"  baseline: {what} {baseline:.2f} s")


if __name__ == "__main__":
    main()
