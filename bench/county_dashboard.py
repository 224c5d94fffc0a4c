"""Speed of the county's dashboards (issue 18 part 4): a generated county of 30 townships × 30
villages (270k members, a year of records), served through the app's own HTTP stack.

    .venv/bin/python bench/county_dashboard.py [--townships 30] [--villages 30] [--repeat 5]

The county is written as bench/compliance.py writes its own (Core executemany into a fresh
migrated SQLite database), its townships put in one county, and a County and a Township
account made. Printed, each the median of --repeat warm requests through the Flask test client
(login, permission checks, scope, queries, template), and each as a ratio to the baseline
measured in the same run — one village's dashboard, as its president sees it:

- the county's dashboard (`/dashboard/`, the County account): targets ≤ 1 s;
- a township's dashboard opened from it (`/dashboard/?township=ID`): ≤ 0.2 s;
- the same township as its own Township account sees it: ≤ 0.2 s;
- the compliance API narrowed to that township (`&township=ID`);
- the county's annual statistics by township (.xlsx): ≤ 10 s.
"""

import argparse
import datetime as dt
import gc
import os
import random
import secrets
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.compliance import YEAR, build_county  # noqa: E402

# The bench accounts' password: from the environment, else a random one for this run (it meets
# the complexity rule: upper, lower, digit, symbol), as bench/list_1m.py does.
PASSWORD = os.environ.get("BENCH_PASSWORD") or "Bench@1" + secrets.token_hex(8)


def median_time(client, url, repeat):
    """(wall, CPU) seconds of a request, medians: the app and SQLite run in this process, so
    its CPU time is the request's own even on a machine shared with other work."""
    wall, cpu = [], []
    for _n in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(wall), statistics.median(cpu)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--townships", type=int, default=30)
    parser.add_argument("--villages", type=int, default=30, help="villages per township")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import select, update

    from app import accounts, create_app, db
    from app.models import County, Township, Village

    folder = tempfile.mkdtemp()
    os.environ.setdefault("INSTANCE_DIR", folder)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/county.db",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "FAB_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    with app.app_context():
        upgrade()
        start = time.perf_counter()
        with db.engine.begin() as connection:
            counts = build_county(
                connection, args.townships * args.villages, random.Random(2025), args.townships
            )
        print(
            f"county built in {time.perf_counter() - start:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )
        with db.engine.begin() as connection:
            connection.execute(County.__table__.insert().values(id=1, name="基准县"))
            connection.execute(update(Township.__table__).values(county_id=1))
        session = app.appbuilder.session
        county = session.get(County, 1)
        township = session.scalars(select(Township).order_by(Township.id)).first()
        village = session.scalars(
            select(Village).where(Village.township_id == township.id).order_by(Village.id)
        ).first()
        accounts.create_account(session, "bench_county", "County", PASSWORD, county=county)
        accounts.create_account(session, "bench_township", "Township", PASSWORD, township=township)
        accounts.create_account(session, "bench_village", "President", PASSWORD, village=village)
        township_id = township.id

    def signed_in(username):
        client = app.test_client()
        response = client.post("/login/", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, username
        return client

    gc.collect()
    gc.freeze()
    county_client = signed_in("bench_county")
    year = f"year={YEAR}"
    measured = [
        ("one village's dashboard (baseline)", signed_in("bench_village"), f"/dashboard/?{year}"),
        ("county dashboard", county_client, f"/dashboard/?{year}"),
        (
            "a township's, opened by the county",
            county_client,
            f"/dashboard/?{year}&township={township_id}",
        ),
        ("a township's, by its own account", signed_in("bench_township"), f"/dashboard/?{year}"),
        (
            "compliance API, &township=ID",
            county_client,
            f"/api/v1/compliance/?{year}&township={township_id}",
        ),
        ("county annual statistics (.xlsx)", county_client, f"/dashboard/report/annual?{year}"),
    ]
    targets = {"county dashboard": 1.0, "county annual statistics (.xlsx)": 10.0}
    results = {}
    for label, client, url in measured:
        median_time(client, url, 1)  # warm
        results[label] = median_time(client, url, args.repeat)
    baseline = results[measured[0][0]][0]
    print(
        f"{args.townships} townships × {args.villages} villages, {YEAR}, "
        f"median of {args.repeat} warm requests ({dt.date.today()}, load {os.getloadavg()[0]:.1f}):"
    )
    failed = False
    for label, (seconds, cpu) in results.items():
        target = targets.get(label, 0.2 if "township" in label and "API" not in label else None)
        mark = ""
        if target is not None:
            ok = seconds <= target
            failed |= not ok
            mark = f"  target ≤ {target:g} s: {'PASS' if ok else 'SLOWER'}"
        print(
            f"  {label:36} {seconds:7.3f} s (CPU {cpu:6.3f} s, {seconds / baseline:5.1f} × "
            f"baseline){mark}"
        )
    print("PASS" if not failed else "SLOWER THAN TARGET")


if __name__ == "__main__":
    main()
