"""Cost of auditing a bulk insert (issue 3): 10k members through ``audit.bulk_insert`` against
the same insert without audit rows, in the same run, on fresh migrated SQLite databases.

    .venv/bin/python bench/audit_bulk.py [--rows 10000] [--repeat 5]

Prints the median of each and their ratio; the target is a ratio of at most 1.30. The audited
insert writes one hash-chained batch entry per 1,000 rows carrying every row's values (see
``app.audit.bulk_insert``); the two are timed alternately so that load on the machine hits both.
"""

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from operator import itemgetter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rows_for(village_id, n):
    from app.validation import id_check_char

    rows = []
    for i in range(n):
        body = f"510525{1950 + i % 50}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
        rows.append(
            {
                "village_id": village_id,
                "name": f"会员{i}",
                "gender": "male" if int(body[16]) % 2 else "female",
                "id_number": body + id_check_char(body),
                "phone": f"138{i:08d}",
                "category": "other",
                "status": "applied",
                "party_member": False,
                "volunteer": False,
            }
        )
    return rows


def timed(audited, n):
    from flask_migrate import upgrade

    from app import audit, create_app
    from app.models import Member, Township, Village

    folder = tempfile.mkdtemp()
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db"})
    with app.app_context():
        upgrade()
        session = app.appbuilder.session
        township = Township(name="基准镇")
        village = Village(township=township, name="基准村")
        session.add_all([township, village])
        session.commit()
        rows = rows_for(village.id, n)
        gc.collect()
        start = time.perf_counter()
        if audited:
            audit.bulk_insert(session, Member, rows)
        else:
            # The same insert — ids, defaults, one executemany — without the audit entries.
            connection = session.connection()
            columns = {key: list(map(itemgetter(key), rows)) for key in rows[0]}
            numbered = audit.numbered_columns(connection, Member, columns, len(rows))
            audit.insert_columns(connection, Member.__table__, numbered)
        session.commit()
        elapsed = time.perf_counter() - start
        session.remove()
        from app import db

        db.engine.dispose()
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    plain, audited = [], []
    for _ in range(args.repeat):
        plain.append(timed(False, args.rows))
        audited.append(timed(True, args.rows))
    p, a = statistics.median(plain), statistics.median(audited)
    print(f"{args.rows} rows: without audit {p:.3f} s, with audit {a:.3f} s, ratio {a / p:.2f}")


if __name__ == "__main__":
    main()
