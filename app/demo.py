"""The demo township of SPEC §6: 二郎镇 with three villages, invented people, valid ID numbers.

Deterministic (a fixed random seed) and idempotent. Some norms are left unmet on purpose so
that the dashboard shows both duties done and duties missed.
"""

import datetime as dt
import random

from app.models import (
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    Member,
    MemberGroup,
    Township,
    Village,
)
from app.validation import id_check_char

TOWNSHIP = "二郎镇"
# name, size class, groups, population, households, married women, active members
VILLAGES = [
    ("新檀村", "standard", 6, 2400, 720, 410, 246),
    ("龙王村", "standard", 4, 1859, 560, 320, 176),
    ("小河村", "small", 2, 600, 180, 95, 61),
]
GROUP_NAMES = ["第一组", "第二组", "第三组", "第四组", "第五组", "第六组"]
# Real county-level area codes of 泸州市 (古蔺县 first: 二郎镇 lies there).
AREA_CODES = ["510525", "510525", "510525", "510524", "510502"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何罗高林袁曾邓彭"
GIVEN = "秀英华明国平建军丽芳桂兰志强文玉春海红梅德福永成家才金凤琼云"

DEMO_ACCOUNTS = [
    ("admin", "Admin", "—"),
    ("township", "Township", TOWNSHIP),
    ("xintan_president", "President", "新檀村"),
    ("xintan_secretary", "Secretary", "新檀村"),
    ("xintan_group1", "GroupLeader", "新檀村 第一组"),
    ("longwang_president", "President", "龙王村"),
    ("longwang_secretary", "Secretary", "龙王村"),
    ("longwang_group1", "GroupLeader", "龙王村 第一组"),
    ("xiaohe_president", "President", "小河村"),
]
# 5 elders / 3 notables / 3 cadres for a standard village, 3 / 2 / 1 for a small one (000 Art. 3).
COUNCIL_MODEL = {"standard": (5, 3, 3), "small": (3, 2, 1)}


class People:
    """Invented people with unique, valid ID numbers and phones."""

    def __init__(self, rng):
        self.rng = rng
        self.seen = set()

    def id_number(self, birth, gender):
        while True:
            seq = self.rng.randint(0, 99)
            sex_digit = self.rng.choice("13579" if gender == "male" else "02468")
            body = f"{self.rng.choice(AREA_CODES)}{birth:%Y%m%d}{seq:02d}{sex_digit}"
            number = body + id_check_char(body)
            if number not in self.seen:
                self.seen.add(number)
                return number

    def person(self):
        gender = self.rng.choice(["male", "female"])
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randint(0, 365 * 52))
        name = self.rng.choice(SURNAMES) + "".join(self.rng.sample(GIVEN, self.rng.choice([1, 2])))
        phone = (
            self.rng.choice(["138", "139", "152", "158", "182", "187"])
            + f"{self.rng.randint(0, 10**8 - 1):08d}"
        )
        return {
            "name": name,
            "gender": gender,
            "birth_date": birth,
            "id_number": self.id_number(birth, gender),
            "phone": phone,
        }


def load_demo(session, password):
    """Create the demo township and its accounts unless they exist; return a one-line summary."""
    from app.cli import create_account

    township = session.query(Township).filter_by(name=TOWNSHIP).one_or_none()
    created = township is None
    if created:
        township = build_township(session)
    made = 0
    for username, role, scope in DEMO_ACCOUNTS:
        if current_user_exists(username):
            continue
        village = group = None
        names = scope.split()
        if role in ("President", "Secretary", "GroupLeader"):
            village = session.query(Village).filter_by(name=names[0], township_id=township.id).one()
        if role == "GroupLeader":
            group = session.query(MemberGroup).filter_by(village_id=village.id, name=names[1]).one()
            village = None
        create_account(
            session,
            username,
            role,
            password,
            township=township if role == "Township" else None,
            village=village,
            group=group,
        )
        made += 1
    members = session.query(Member).count()
    return (
        f"Demo township {TOWNSHIP}: {'created' if created else 'already present'}; "
        f"{members} members; {made} account(s) created."
    )


def current_user_exists(username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username) is not None


def build_township(session):
    rng = random.Random(20261125)
    people = People(rng)
    township = Township(name=TOWNSHIP, division_code="510525105", county="古蔺县")
    session.add(township)
    for index, (name, size, n_groups, population, households, women, active) in enumerate(VILLAGES):
        village = Village(
            township=township,
            name=name,
            kind="village",
            size_class=size,
            households=households,
            population=population,
            married_women=women,
            address=f"四川省泸州市古蔺县二郎镇{name}村委会",
            phone=f"0830-72{index + 1}{rng.randint(1000, 9999)}",
        )
        session.add(village)
        groups = [MemberGroup(village=village, name=GROUP_NAMES[g]) for g in range(n_groups)]
        session.add_all(groups)
        members = []
        for i in range(active):
            group = groups[i % n_groups]
            joined = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 365 * 10))
            members.append(
                Member(
                    village=village,
                    group=group,
                    category=rng.choice(
                        [
                            "elder",
                            "activist",
                            "backbone",
                            "entrepreneur",
                            "notable",
                            "cadre",
                            "other",
                        ]
                    ),
                    party_member=rng.random() < 0.3,
                    volunteer=rng.random() < 0.4,
                    status="active",
                    join_date=joined,
                    applied_on=joined - dt.timedelta(days=20),
                    approved_on=joined,
                    address=f"{name}{group.name}{rng.randint(1, 80)}号",
                    **people.person(),
                )
            )
        # Pending applications, a rejection and members who left.
        for status in ["applied", "applied", "applied", "rejected", "withdrawn", "deceased"]:
            extra = Member(
                village=village,
                group=groups[rng.randrange(n_groups)],
                category="other",
                status=status,
                applied_on=dt.date(2026, 10, rng.randint(1, 28)),
                **people.person(),
            )
            if status in ("withdrawn", "deceased"):
                extra.join_date = dt.date(2018, 5, 1)
                extra.left_on = dt.date(2026, 3, 1)
                extra.leave_reason = "迁出本村" if status == "withdrawn" else "病故"
            members.append(extra)
        session.add_all(members)
        session.flush()
        for g, group in enumerate(groups):
            own = [m for m in members if m.group is group and m.status == "active"]
            group.leader = own[0]
            # 龙王村 第三组 has one contact household head only: a gap the dashboard will show.
            heads = 1 if (name == "龙王村" and g == 2) else 2 + (g % 2)
            group.contact_heads = own[1 : 1 + heads]
            for head in group.contact_heads:
                for _n in range(rng.randint(3, 5)):
                    other = people.person()
                    session.add(
                        ContactHousehold(
                            village=village,
                            group=group,
                            member=head,
                            head_name=other["name"],
                            address=f"{name}{group.name}{rng.randint(1, 80)}号",
                            phone=other["phone"],
                            household_type=rng.choice(
                                ["family_planning", "difficult", "migrant", "special", "other"]
                            ),
                        )
                    )
        term = CouncilTerm(
            village=village,
            number=3,
            elected_on=dt.date(2022, 3, 15),
            term_end=dt.date(2027, 3, 14),
            # 小河村 has not filed its council with the township: another gap.
            filed_on=None if name == "小河村" else dt.date(2022, 4, 2),
            approval_ref=None if name == "小河村" else f"二郎计生协〔2022〕{index + 3}号",
        )
        session.add(term)
        elders, notables, cadres = COUNCIL_MODEL[size]
        composition = ["cadre"] * cadres + ["elder"] * elders + ["notable"] * notables
        positions = ["president", "secretary", "vice_president", "executive_vice"]
        day_jobs = {
            "cadre": ["村党支部书记", "村计生专干", "村委会主任"],
            "elder": ["退休教师"],
            "notable": ["个体工商户"],
        }
        seated = rng.sample([m for m in members if m.status == "active"], len(composition))
        for seat_no, (member, comp) in enumerate(zip(seated, composition, strict=True)):
            position = positions[seat_no] if seat_no < len(positions) else "director"
            if size == "small" and position == "executive_vice":
                position = "director"
            session.add(
                CouncilSeat(
                    village=village,
                    term=term,
                    member=member,
                    position=position,
                    composition=comp,
                    day_job=rng.choice(day_jobs[comp]),
                )
            )
    session.commit()
    return township
