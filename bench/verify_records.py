"""`flask audit verify --records` at a million members (issue 15): every audited record
compared with its last audited state, against the chain walk alone (`flask audit verify`) on
the same database in the same run.

    .venv/bin/python bench/verify_records.py [--members 1000000] [--db PATH] [--repeat 1]

The database is built once and kept (``--db``, default under the system's temp folder; a
database of another size is rebuilt): migrated, the demo township loaded through the ORM
(per-record entries), then ``--members`` members written as the roster import writes them —
``audit.bulk_insert_columns``, 40 villages × 12 groups, ID numbers sealed, one hash-chained
batch entry per 1,000 rows — then 2,000 of them changed through the ORM, 500 by
``audit.bulk_update`` (an upsert) and 100 deleted, so that the replay meets every kind of
entry. Building runs in a child process, so that its memory does not count in the peak below.

Printed for each check (the best of ``--repeat``): wall seconds, CPU seconds (the machine is
shared: CPU time moves less) and their ratio to the chain walk and to reading every audited
row once without comparing anything (the floor of such a check); the records check's peak
memory; and a tampered run (one member's name changed with raw SQL inside a transaction that
is rolled back) that must name that member. Target: about a minute at 1M members.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VILLAGES, GROUPS = 40, 12
CHUNK = 100_000
KEY = "bench-id-encryption-key"


def make_app(url):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "ID_ENCRYPTION_KEY": KEY})


def member_columns(start, count, total, villages, groups):
    """``count`` members (numbered from ``start``) spread over the villages and their groups,
    column by column as the importer hands them to ``audit.bulk_insert_columns``."""
    import datetime as dt

    from app.validation import id_check_char

    ids, names, genders, phones, village_ids, group_ids, joins = [], [], [], [], [], [], []
    for n in range(start, start + count):
        # Year, month, day and sequence repeat every 21,000 members: the area code moves on.
        area = 110101 + n // 21_000
        body = f"{area}{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
        ids.append(body + id_check_char(body))
        names.append(f"会员{n}")
        genders.append("male" if int(body[16]) % 2 else "female")
        phones.append(f"139{n % 100_000_000:08d}")
        village = villages[n * len(villages) // total]
        village_ids.append(village)
        group_ids.append(groups[village][n % GROUPS])
        joins.append(dt.date(2020, 1, 1) + dt.timedelta(days=n % 1500))
    return {
        "village_id": village_ids,
        "group_id": group_ids,
        "name": names,
        "gender": genders,
        "id_number": ids,
        "phone": phones,
        "category": ["other"] * count,
        "status": ["active" if n % 30 else "applied" for n in range(start, start + count)],
        "join_date": joins,
        "party_member": [n % 7 == 0 for n in range(start, start + count)],
        "volunteer": [False] * count,
    }


def build(url, marker, members):
    """The database of the module's doc, written to ``url``; ``marker`` says it is whole."""
    import datetime as dt

    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import audit
    from app.demo import load_demo
    from app.models import Member, MemberGroup, Township, Village

    app = make_app(url)
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        load_demo(session, "Bench@2026-" + os.urandom(4).hex())
        township = Township(name="基准镇")
        villages = [Village(township=township, name=f"基准村{v}") for v in range(VILLAGES)]
        session.add_all([township, *villages])
        session.flush()
        groups = {}
        for village in villages:
            rows = [MemberGroup(village_id=village.id, name=f"第{g}组") for g in range(GROUPS)]
            session.add_all(rows)
            session.flush()
            groups[village.id] = [g.id for g in rows]
        village_ids = [v.id for v in villages]
        session.commit()
        for start in range(0, members, CHUNK):
            count = min(CHUNK, members - start)
            columns = member_columns(start, count, members, village_ids, groups)
            audit.bulk_insert_columns(session, Member, columns)
            session.commit()
            print(f"  {start + len(columns['name']):,} members", file=sys.stderr)
        first = session.execute(select(Member.id).where(Member.name == "会员0")).scalar()
        step = max(members // 2000, 1)
        spread = select(Member).where(Member.id >= first, (Member.id - first) % step == 0)
        for n, member in enumerate(session.execute(spread.limit(2000)).scalars()):
            member.address = f"基准路{n}号"
            if n % 3 == 0:
                member.join_date = dt.date(2024, 1, 1)
        session.commit()
        before = {
            m.id: {"phone": m.phone, "name": m.name}
            for m in session.execute(
                select(Member).where(Member.id >= first + 1).order_by(Member.id).limit(500)
            ).scalars()
        }
        audit.bulk_update(
            session,
            Member,
            [
                {"id": k, "phone": "13800000000", "name": v["name"] + "改"}
                for k, v in before.items()
            ],
            before,
        )
        session.commit()
        for member in session.execute(
            select(Member).where(Member.id > first + 1000).order_by(Member.id).limit(100)
        ).scalars():
            session.delete(member)
        session.commit()
    with open(marker, "w") as done:
        done.write(str(members))
    print(f"built in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def member_count(marker):
    """The members the database was built with (None: not built, or not fully)."""
    try:
        with open(marker) as done:
            return int(done.read())
    except (OSError, ValueError):
        return None


def timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def measure(url, repeat):
    from sqlalchemy import text

    from app import audit, audit_records

    app = make_app(url)
    with app.app_context():
        session = app.appbuilder.session
        chain, records, read, peak = [], [], [], None

        def read_rows():
            """The floor of any such check: every audited row read once, nothing compared."""
            connection = session.connection()
            return sum(
                1
                for model in audit_records.audited_models()
                for _row in audit_records._Register(model).rows(connection)
            )

        for _ in range(repeat):
            # The records first: the peak memory read after it is its own (the chain walk
            # loads 2,000 entries at a time, batch entries of ~250 KB each included).
            report, wall, cpu = timed(lambda: audit_records.verify_records(session.connection()))
            assert report.ok, audit_records.report_lines(report)[:5]
            records.append((wall, cpu))
            session.rollback()
            if peak is None:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            (intact, message), wall, cpu = timed(lambda: audit.verify(session))
            assert intact, message
            chain.append((wall, cpu))
            session.rollback()
            _rows, wall, cpu = timed(read_rows)
            read.append((wall, cpu))
            session.rollback()
        print(message)
        print(audit_records.report_lines(report)[0])
        # Tampered: one member's name, in a transaction rolled back afterwards.
        connection = session.connection()
        victim = connection.execute(text("SELECT max(id) FROM member")).scalar() - 12345
        connection.execute(text("UPDATE member SET name = 'x' WHERE id = :id"), {"id": victim})
        tampered, wall, cpu = timed(lambda: audit_records.verify_records(connection))
        session.rollback()
        assert not tampered.ok and tampered.findings[0].record_id == victim
        print(f"tampered: {audit_records.finding_line(tampered.findings[0])}")
    (chain_wall, chain_cpu), (rec_wall, rec_cpu) = min(chain), min(records)
    read_wall, read_cpu = min(read)
    print(
        f"chain only (flask audit verify):  {chain_wall:6.1f} s wall, {chain_cpu:6.1f} s cpu\n"
        f"audited rows read, no comparison: {read_wall:6.1f} s wall, {read_cpu:6.1f} s cpu\n"
        f"records (--records adds):         {rec_wall:6.1f} s wall, {rec_cpu:6.1f} s cpu "
        f"({rec_wall / chain_wall:.1f}x / {rec_cpu / chain_cpu:.1f}x the chain, "
        f"{rec_wall / read_wall:.1f}x / {rec_cpu / read_cpu:.1f}x reading the rows)\n"
        f"verify --records in all:          {chain_wall + rec_wall:6.1f} s wall, "
        f"{chain_cpu + rec_cpu:6.1f} s cpu\n"
        f"tampered run:                     {wall:6.1f} s wall, {cpu:6.1f} s cpu\n"
        f"peak memory after the records:    {peak:6.0f} MB"
    )


def database(args):
    """(URL, marker file) of the bench database: a SQLite file, or a database on the
    PostgreSQL server of TEST_DATABASE_URL (``--postgres``)."""
    if not args.postgres:
        path = args.db or os.path.join(tempfile.gettempdir(), f"verify_records_{args.members}.db")
        return f"sqlite:///{path}", path + ".members"
    from sqlalchemy.engine import make_url

    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        sys.exit('--postgres: set TEST_DATABASE_URL (eval "$(.ci/postgres.sh)")')
    url = make_url(server)
    name = f"{url.database}_verify_records_{args.members}"
    marker = os.path.join(tempfile.gettempdir(), f"{name}.{url.port}.members")
    return url.set(database=name).render_as_string(hide_password=False), marker


def fresh(url, marker):
    """An empty database at ``url``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if os.path.exists(marker):
        os.remove(marker)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(parsed.database + suffix):
                os.remove(parsed.database + suffix)
        return
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine.dispose()


def size_mb(url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return os.path.getsize(parsed.database) / 1e6
    engine = create_engine(parsed)
    with engine.connect() as connection:
        size = connection.execute(text("SELECT pg_database_size(current_database())")).scalar()
    engine.dispose()
    return size / 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--db", default=None, help="SQLite file, kept between runs")
    parser.add_argument("--postgres", action="store_true", help="on TEST_DATABASE_URL's server")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url, marker = database(args)
    if args.build:
        build(url, marker, args.members)
        return
    if member_count(marker) != args.members:
        fresh(url, marker)
        command = [sys.executable, __file__, "--build", "--members", str(args.members)]
        command += ["--postgres"] if args.postgres else ["--db", url.removeprefix("sqlite:///")]
        subprocess.run(command, check=True)
    where = "PostgreSQL" if args.postgres else url.removeprefix("sqlite:///")
    print(f"{args.members:,} members, database {where} ({size_mb(url):,.0f} MB)")
    measure(url, args.repeat)


if __name__ == "__main__":
    main()
