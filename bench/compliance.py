"""Speed of the compliance norms (issue 6 item 5): R1–R18 for a year over a generated county —
500 villages, 150k members, 6k groups, 40k meetings, 60k activities — on SQLite.

    .venv/bin/python bench/compliance.py [--villages 500] [--repeat 5] [--loop-sample 50]

The county is written with Core ``executemany`` into a fresh migrated database in a temporary
folder (not through the ORM). Printed, in the same run: the median time of ``evaluate`` for the
whole county (target: at most 1 s); a baseline of plain ``SELECT count(*)`` over the tables the
norms read; and the per-village loop that the set-based queries avoid (``evaluate`` one village
at a time, timed over a sample of villages and scaled up to the county).
"""

import argparse
import datetime as dt
import gc
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

YEAR = 2025
MEMBERS, GROUPS, MEETINGS, ACTIVITIES = 300, 12, 80, 120  # per village


def day(rng, year=YEAR):
    return dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))


def build_county(connection, villages: int, rng, townships: int | None = None) -> dict:
    """Insert the county (``townships`` of its villages, one per 20 by default) with
    executemany; returns row counts per table."""
    from app.models import (
        Activity,
        Agreement,
        Assistance,
        Complaint,
        ContactHousehold,
        CouncilSeat,
        CouncilTerm,
        Document,
        Household,
        Meeting,
        Member,
        MemberGroup,
        Notice,
        Township,
        Venue,
        Village,
        group_contact_head,
    )

    rows = {
        name: []
        for name in (
            "township",
            "village",
            "group",
            "member",
            "heads",
            "contact",
            "term",
            "seat",
            "meeting",
            "activity",
            "household",
            "assistance",
            "document",
            "venue",
            "notice",
            "complaint",
            "agreement",
        )
    }
    townships = townships or max(villages // 20, 1)
    rows["township"] = [{"id": t + 1, "name": f"基准镇{t + 1}"} for t in range(townships)]
    member_id = group_id = household_id = term_id = 0
    for v in range(1, villages + 1):
        rows["village"].append(
            {
                "id": v,
                "township_id": (v - 1) % townships + 1,
                "name": f"基准村{v}",
                "kind": "village",
                "size_class": "small" if v % 5 == 0 else "standard",
                "population": rng.randint(2500, 3300),
                "married_women": rng.randint(100, 140),
            }
        )
        groups = []
        for g in range(GROUPS):
            group_id += 1
            groups.append(group_id)
            rows["group"].append({"id": group_id, "village_id": v, "name": f"第{g + 1}组"})
        members = []
        for m in range(MEMBERS):
            member_id += 1
            members.append(member_id)
            rows["member"].append(
                {
                    "id": member_id,
                    "village_id": v,
                    "group_id": groups[m % GROUPS],
                    "name": f"会员{member_id}",
                    "gender": rng.choice(["male", "female"]),
                    "id_number": f"{member_id:018d}",
                    "category": "other",
                    "status": "active" if m % 30 else "applied",
                    "party_member": False,
                    "volunteer": False,
                }
            )
        for n, g in enumerate(groups):
            rows["group"][g - 1]["leader_id"] = members[n]
            for k in range(rng.choice([1, 2, 3])):
                head = members[GROUPS + n * 3 + k]
                rows["heads"].append({"group_id": g, "member_id": head})
                rows["contact"].append(
                    {
                        "village_id": v,
                        "group_id": g,
                        "member_id": head,
                        "head_name": "联系户",
                        "household_type": "other",
                    }
                )
        term_id += 1
        rows["term"].append(
            {
                "id": term_id,
                "village_id": v,
                "number": 1,
                "elected_on": dt.date(2023, 3, 1),
                "term_end": dt.date(2028, 2, 28),
                "filed_on": dt.date(2023, 3, 20) if v % 7 else None,
            }
        )
        for s, (position, composition) in enumerate(
            zip(
                ["president", "vice_president", "secretary"] + ["director"] * 8,
                ["elder"] * 5 + ["notable"] * 3 + ["cadre"] * 3,
                strict=True,
            )
        ):
            rows["seat"].append(
                {
                    "village_id": v,
                    "term_id": term_id,
                    "member_id": members[s],
                    "position": position,
                    "composition": composition,
                }
            )
        kinds = (
            ["work"] * 12
            + ["council"] * 4
            + ["review"] * 4
            + ["group"] * 56
            + ["group_leaders"] * 4
        )
        for kind in kinds[:MEETINGS]:
            rows["meeting"].append(
                {
                    "village_id": v,
                    "type": kind,
                    "date": day(rng),
                    "group_id": rng.choice(groups) if kind == "group" else None,
                }
            )
        for a in range(ACTIVITIES):
            rows["activity"].append(
                {
                    "village_id": v,
                    "group_id": groups[a % GROUPS] if a % 2 else None,
                    "kind": "training" if a % 40 == 0 else "publicity",
                    "date": day(rng),
                    "participants_count": rng.randint(5, 60),
                }
            )
        for h in range(20):
            household_id += 1
            special = h < 3
            rows["household"].append(
                {
                    "id": household_id,
                    "village_id": v,
                    "group_id": groups[h % GROUPS],
                    "head_name": f"户{household_id}",
                    "family_type": "special_lost" if special else "only_child",
                    "status": "needs_help",
                    "surveyed_on": day(rng),
                    "family_doctor": False,
                    "township_contact": "镇干部" if special else None,
                    "village_contact": "村干部" if special else None,
                }
            )
            for month in range(1, 13) if special else range(rng.randint(0, 2)):
                rows["assistance"].append(
                    {
                        "village_id": v,
                        "household_id": household_id,
                        "date": dt.date(YEAR, month, 10) if special else day(rng),
                        "kind": "contact_visit" if special else "medical",
                    }
                )
        for kind in (
            "charter",
            "self_governance",
            "network_diagram",
            "approval",
            "duties",
            "work_plan",
        ):
            rows["document"].append(
                {
                    "village_id": v,
                    "kind": kind,
                    "title": kind,
                    "year": YEAR if kind == "work_plan" else 2023,
                }
            )
        rows["venue"] += [
            {"village_id": v, "kind": "office", "signage": True},
            {"village_id": v, "kind": "activity_room", "signage": v % 3 > 0},
        ]
        rows["notice"] += [
            {
                "village_id": v,
                "title": "公示",
                "kind": "other",
                "published_on": dt.date(YEAR, q * 3 + 1, 15),
            }
            for q in range(4)
        ]
        rows["complaint"] += [
            {
                "village_id": v,
                "received_on": day(rng),
                "channel": "phone",
                "kind": "consultation",
                "description": "咨询",
                "status": rng.choice(["resolved", "handling"]),
            }
            for _c in range(6)
        ]
        rows["agreement"] += [
            {
                "village_id": v,
                "party_name": "户",
                "signed_on": dt.date(2024, 1, 1),
                "status": "in_force",
            }
            for _a in range(100)
        ]
    tables = [
        (Township.__table__, "township"),
        (Village.__table__, "village"),
        (MemberGroup.__table__, "group"),
        (Member.__table__, "member"),
        (group_contact_head, "heads"),
        (ContactHousehold.__table__, "contact"),
        (CouncilTerm.__table__, "term"),
        (CouncilSeat.__table__, "seat"),
        (Meeting.__table__, "meeting"),
        (Activity.__table__, "activity"),
        (Household.__table__, "household"),
        (Assistance.__table__, "assistance"),
        (Document.__table__, "document"),
        (Venue.__table__, "venue"),
        (Notice.__table__, "notice"),
        (Complaint.__table__, "complaint"),
        (Agreement.__table__, "agreement"),
    ]
    leaders = {g["id"]: g.pop("leader_id") for g in rows["group"]}
    for table, name in tables:
        connection.execute(table.insert(), rows[name])
    # The leader is a member of the group: set once both exist.
    from sqlalchemy import bindparam

    connection.execute(
        MemberGroup.__table__.update()
        .where(MemberGroup.__table__.c.id == bindparam("gid"))
        .values(leader_id=bindparam("leader")),
        [{"gid": g, "leader": m} for g, m in leaders.items()],
    )
    return {name: len(rows[name]) for _t, name in tables}


def median_time(call, repeat):
    times = []
    for _n in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--villages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-sample", type=int, default=50)
    args = parser.parse_args()

    from flask_migrate import upgrade
    from sqlalchemy import func, select, text

    from app import compliance, create_app, db
    from app.accounts import Scope
    from app.models import (
        Activity,
        Agreement,
        Assistance,
        Complaint,
        CouncilSeat,
        Document,
        Household,
        Meeting,
        Member,
        MemberGroup,
        Notice,
        Venue,
    )

    folder = tempfile.mkdtemp()
    os.environ.setdefault("INSTANCE_DIR", folder)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/county.db"})
    with app.app_context():
        upgrade()
        start = time.perf_counter()
        with db.engine.begin() as connection:
            counts = build_county(connection, args.villages, random.Random(2025))
        built = time.perf_counter() - start
        print(
            f"county built in {built:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )

    today = dt.date(YEAR, 12, 31)
    # As a long-running server would (FAB-NOTES: gc.freeze() after start-up): the app's own
    # objects are not rescanned by every collection the evaluation's rows trigger.
    gc.collect()
    gc.freeze()
    with app.test_request_context():
        session = app.appbuilder.session
        county = Scope("all")
        results = compliance.evaluate(county, YEAR, None, today)  # warm the cache once
        unmet = sum(1 for r in results for x in r.rules.values() if x.met is False)
        set_based = median_time(lambda: compliance.evaluate(county, YEAR, None, today), args.repeat)

        tables = (
            Member,
            MemberGroup,
            Meeting,
            Activity,
            Household,
            Assistance,
            Agreement,
            Complaint,
            CouncilSeat,
            Document,
            Venue,
            Notice,
        )

        def count_all():
            for model in tables:
                session.execute(select(func.count()).select_from(model)).scalar()

        counting = median_time(count_all, args.repeat)

        sample = [r.village_id for r in results[: args.loop_sample]]

        def per_village():
            for village_id in sample:
                compliance.evaluate(county, YEAR, None, today, village_id)

        loop = median_time(per_village, 1) * len(results) / max(len(sample), 1)
        sqlite = session.execute(text("select sqlite_version()")).scalar()

    print(f"villages judged: {len(results)}, norms unmet: {unmet:,} (SQLite {sqlite})")
    print(
        f"R1–R18 for {YEAR}, whole county, set-based: {set_based:.3f} s "
        f"(median of {args.repeat}; target ≤ 1 s)"
    )
    print(
        f"baseline, SELECT count(*) over the {len(tables)} tables the norms read: {counting:.3f} s"
    )
    print(
        f"baseline, one village at a time ({len(sample)} timed, scaled to {len(results)}): "
        f"{loop:.1f} s"
    )
    print("PASS" if set_based <= 1.0 else "SLOWER THAN TARGET")


if __name__ == "__main__":
    main()
