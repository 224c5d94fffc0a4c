"""The demo township of SPEC §6: 二郎镇 with three villages, invented people, valid ID numbers.

Deterministic (fixed random seeds) and idempotent. The work records cover the twelve months up
to the day the demo is loaded, so that reminders speak of the present. Some duties are left
undone on purpose (``DILIGENCE``) so that reminders and the dashboard show both sides.
"""

import dataclasses
import datetime as dt
import decimal
import random

from sqlalchemy import select

from app import accounts, registry
from app.models import (
    SPECIAL_FAMILY_TYPES,
    Activity,
    Agreement,
    Assistance,
    Award,
    Benefit,
    Branch,
    Complaint,
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    County,
    Document,
    FundEntry,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Notice,
    Resolution,
    Survey,
    Task,
    TaskAssignment,
    Township,
    Venue,
    Village,
)
from app.reminders import month_start, quarter_start
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
# The real names (姓名) of the demo accounts, invented as the members' are.
DEMO_NAMES = {
    "admin": "周志远",
    "township": "刘晓梅",
    "xintan_president": "陈德华",
    "xintan_secretary": "李春燕",
    "xintan_group1": "王秀英",
    "longwang_president": "张国强",
    "longwang_secretary": "赵丽",
    "longwang_group1": "杨桂芳",
    "xiaohe_president": "黄明",
}
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


def load_demo(session, password, today=None):
    """Create the demo township, its year of work records and its accounts unless they exist.

    Returns a one-line summary. ``today`` (default: the current date) ends the year of records.
    """
    today = today or dt.date.today()
    township = session.query(Township).filter_by(name=TOWNSHIP).one_or_none()
    created = township is None
    if created:
        township = build_township(session, today)
    records = 0
    if not session.execute(
        select(Meeting.id).join(Village).where(Village.township_id == township.id).limit(1)
    ).first():
        records = build_work_year(session, township, today)
    if not session.execute(select(Branch.id).where(Branch.township_id == township.id)).first():
        records += build_tasks_and_surveys(session, township, today)
    records += build_declared(session, township, today)
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
        accounts.create_account(
            session,
            username,
            role,
            password,
            township=township if role == "Township" else None,
            village=village,
            group=group,
            first_name=DEMO_NAMES[username],
        )
        made += 1
    members = session.query(Member).count()
    return (
        f"Demo township {TOWNSHIP}: {'created' if created else 'already present'}; "
        f"{members} members; {records} work records created; {made} account(s) created."
    )


def current_user_exists(username):
    from flask import current_app

    return current_app.appbuilder.sm.find_user(username=username) is not None


def build_township(session, today):
    """The township, its villages, groups, members, contact households and councils."""
    rng = random.Random(20261125)
    people = People(rng)
    county = session.query(County).filter_by(name="古蔺县").one_or_none()
    if county is None:
        county = County(name="古蔺县", division_code="510525")
    township = Township(name=TOWNSHIP, division_code="510525105", county=county)
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
                applied_on=today - dt.timedelta(days=rng.randint(3, 40)),
                **people.person(),
            )
            if status in ("withdrawn", "deceased"):
                extra.join_date = dt.date(2018, 5, 1)
                extra.left_on = today - dt.timedelta(days=200)
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
        # Dates follow the day the demo is loaded: 小河村's term ends within the reminder's 90
        # days, the others' some 15 months later.
        term_end = today + dt.timedelta(days=75 if name == "小河村" else 470)
        elected_on = dt.date(term_end.year - 5, term_end.month, min(term_end.day, 28))
        elected_on += dt.timedelta(days=1)
        term = CouncilTerm(
            village=village,
            number=3,
            elected_on=elected_on,
            term_end=term_end,
            # 小河村 has not filed its council with the township: another gap.
            filed_on=None if name == "小河村" else elected_on + dt.timedelta(days=18),
            approval_ref=None
            if name == "小河村"
            else f"二郎计生协〔{elected_on.year}〕{index + 3}号",
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


# --- A year of work records ---


@dataclasses.dataclass(frozen=True)
class Diligence:
    """How a demo village kept its duties over the year: what it left undone, on purpose.

    Months and quarters count back from the one the demo is loaded in (0 = the current one).
    """

    households: int = 12
    special_families: int = 3
    missed_work_months: tuple[int, ...] = ()
    missed_council_quarters: tuple[int, ...] = ()
    missed_review_quarters: tuple[int, ...] = ()
    missed_notice_quarters: tuple[int, ...] = ()
    idle_groups: tuple[str, ...] = ()  # no activity this year
    work_plan: bool = True
    signage_everywhere: bool = True
    overdue_complaint: bool = False
    overdue_resolution: bool = False
    # A special family with no village contact person, and so not visited this month.
    special_without_village_contact: bool = False
    unassisted_household: bool = False  # needs help, no assistance this year
    agreement_share: float = 0.86  # agreements in force / married women of childbearing age


DILIGENCE = {
    "新檀村": Diligence(households=16),
    "龙王村": Diligence(
        missed_work_months=(0, 4),
        missed_review_quarters=(0,),
        overdue_complaint=True,
        overdue_resolution=True,
        special_without_village_contact=True,
        unassisted_household=True,
        agreement_share=0.7,
    ),
    "小河村": Diligence(
        households=6,
        special_families=1,
        missed_work_months=(2,),
        missed_council_quarters=(0,),
        missed_notice_quarters=(1,),
        idle_groups=("第二组",),
        work_plan=False,
        signage_everywhere=False,
        agreement_share=0.82,
    ),
}

# (month, day, kind, theme): the association's days, held when they fall within the year.
THEME_DAYS = [
    (3, 8, "family_health", "3·8 妇女健康知识讲座"),
    (5, 29, "publicity", "5·29 会员活动日"),
    (7, 11, "publicity", "7·11 世界人口日宣传"),
    (10, 28, "family_health", "10·28 男性健康日义诊"),
    (12, 1, "youth_health", "12·1 世界艾滋病日青春健康讲座"),
]
# One more activity each month, in this order (counted back from the current month).
MONTHLY_ACTIVITIES = [
    ("parenting", "优生优育指导进万家"),
    ("training", "会员骨干业务培训"),
    ("youth_health", "青春健康同伴教育"),
    ("marriage_culture", "婚育新风进万家"),
    ("culture", "会员广场舞联谊"),
    ("service", "计生家庭健康体检服务"),
    ("reading", "会员读书分享会"),
    ("volunteer", "志愿者入户走访"),
    ("training", "小组长工作方法培训"),
    ("family_health", "家庭健康促进讲座"),
    ("assistance", "暖心行动帮扶日"),
    ("parenting", "科学育儿讲座"),
]
WORK_TOPICS = [
    "通报上月工作完成情况，安排本月工作",
    "研究会员发展和入会申请审核工作",
    "部署计生特殊家庭走访慰问",
    "落实5·29会员活动日准备工作",
    "研究困难家庭摸底和帮扶对象调整",
    "安排奖扶、特扶对象资格审核",
]
COUNCIL_TOPICS = [
    "审议季度工作计划和经费使用情况",
    "研究帮扶对象和帮扶资金分配",
    "讨论村民自治章程执行情况",
    "研究评选表彰和会员发展工作",
]
RESOLUTIONS = [
    "完成本季度计生特殊家庭全覆盖走访",
    "更新会员花名册并报镇计生协备案",
    "组织一次青春健康进校园活动",
    "落实困难家庭帮扶资金发放",
    "整理本季度会议记录并归档",
]
COMPLAINTS = [
    ("consultation", "phone", "咨询独生子女父母奖励扶助申领条件和所需材料"),
    ("consultation", "visit", "咨询计生特殊家庭扶助金发放时间"),
    ("mediation", "visit", "婆媳因赡养老人问题发生争执，请求协会调解"),
    ("rights", "box", "反映双女户优待政策未落实到位"),
    ("suggestion", "box", "建议增加会员活动室开放时间"),
    ("consultation", "phone", "咨询优生优育免费检查项目"),
]
DIFFICULTIES = ["illness", "disability", "poverty", "schooling", "elderly_care"]
HELP_KINDS = ["three_combinations", "schooling", "medical", "condolence", "warm_heart", "pension"]


def money(rng, low=2, high=30) -> decimal.Decimal:
    """A plausible sum in yuan: a multiple of 50, now and then with small change."""
    return decimal.Decimal(f"{rng.randint(low, high) * 50}.{rng.choice(['00', '00', '50'])}")


class WorkYear:
    """The twelve months of records of one village up to ``today``."""

    def __init__(self, session, rng, people, village, today, diligence):
        self.session, self.rng, self.people = session, rng, people
        self.village, self.today, self.diligence = village, today, diligence
        self.start = month_start(today, 11)
        self.year_start = dt.date(today.year, 1, 1)
        self.groups = sorted(village.groups, key=lambda g: g.id)
        self.members = session.scalars(
            select(Member)
            .where(Member.village_id == village.id, Member.status == "active")
            .order_by(Member.id)
        ).all()
        seats = session.scalars(
            select(CouncilSeat).where(CouncilSeat.village_id == village.id).order_by(CouncilSeat.id)
        ).all()
        self.council = [seat.member for seat in seats]
        by_position = {seat.position: seat.member for seat in seats}
        self.president = by_position["president"].name
        self.secretary = by_position["secretary"].name
        self.cadres = [s.member.name for s in seats if s.composition == "cadre"]
        self.records = []

    def day(self, start, offset=0, until=None):
        """``offset`` days into a period, never before the year began nor after ``until``/today."""
        return min(
            max(start, self.start) + dt.timedelta(days=offset), until or self.today, self.today
        )

    def quarters(self):
        """(quarters back, first day, last day) of each quarter the year touches."""
        for back in range(5):
            first, following = quarter_start(self.today, back), quarter_start(self.today, back - 1)
            if following > self.start:
                yield back, max(first, self.start), following - dt.timedelta(days=1)

    def add(self, record):
        self.records.append(record)
        return record

    def sample(self, people, low, high):
        return self.rng.sample(people, min(len(people), self.rng.randint(low, high)))

    def build(self):
        self.meetings()
        self.activities()
        households = self.households()
        self.benefits(households)
        self.agreements(households)
        self.archive()
        self.complaints()
        self.notices_and_funds()
        self.session.add_all(self.records)
        return len(self.records)

    def meeting(self, kind, date, attendees, topics, group=None):
        return self.add(
            Meeting(
                village=self.village,
                group=group,
                type=kind,
                date=date,
                place=f"{self.village.name}计生协会员活动室"
                if group is None
                else f"{group.name}会员小组之家",
                chair=self.president if group is None else group.leader.name,
                recorder=self.secretary,
                attendees=attendees,
                topics=topics,
                minutes=f"{topics}。与会人员充分讨论，形成一致意见，会后分头落实。",
                sent_to_township_on=(
                    min(date + dt.timedelta(days=3), self.today) if kind == "council" else None
                ),
            )
        )

    def meetings(self):
        rng, d = self.rng, self.diligence
        for back in range(12):
            if back not in d.missed_work_months:
                self.meeting(
                    "work",
                    self.day(month_start(self.today, back), rng.randint(2, 8)),
                    self.sample(self.council, 5, 9),
                    rng.choice(WORK_TOPICS),
                )
        leaders = [g.leader for g in self.groups]
        councils = []
        for back, first, last in self.quarters():
            if back not in d.missed_council_quarters:
                council = self.meeting(
                    "council",
                    self.day(first, rng.randint(8, 20), last),
                    list(self.council),
                    rng.choice(COUNCIL_TOPICS),
                )
                self.resolutions(council)
                councils.append(council)
            if back not in d.missed_review_quarters:
                self.meeting(
                    "review",
                    self.day(first, rng.randint(60, 80), last),
                    self.sample(self.council, 6, 10) + leaders,
                    "审核评议本季度会员发展、帮扶对象和经费使用情况",
                )
            self.meeting(
                "group_leaders",
                self.day(first, rng.randint(20, 40), last),
                leaders,
                "布置小组本季度工作",
            )
            for group in self.groups:
                own = [m for m in self.members if m.group_id == group.id]
                self.meeting(
                    "group",
                    self.day(first, rng.randint(25, 55), last),
                    self.sample(own, 5, 9),
                    "学习协会章程，通报本组联系户情况",
                    group=group,
                )
        self.meeting(
            "congress",
            self.day(self.year_start, 14),
            self.sample(self.members, 30, 45),
            "审议年度工作报告和工作计划",
        )
        self.meeting(
            "villagers",
            self.day(month_start(self.today, 6), 18),
            self.sample(self.members, 20, 30),
            "修订村规民约和村民自治章程",
        )
        due = self.today - dt.timedelta(days=20)
        earlier = [c for c in councils if c.date < due - dt.timedelta(days=10)]
        if d.overdue_resolution and earlier:
            self.add(
                Resolution(
                    village=self.village,
                    meeting=earlier[0],
                    text="为三户困难家庭申请临时救助",
                    owner=self.secretary,
                    due_date=due,
                    status="open",
                )
            )

    def resolutions(self, meeting):
        for n, text in enumerate(self.rng.sample(RESOLUTIONS, 2)):
            due = meeting.date + dt.timedelta(days=30 + 30 * n)
            done = due < self.today
            self.add(
                Resolution(
                    village=self.village,
                    meeting=meeting,
                    text=text,
                    owner=self.rng.choice([self.president, self.secretary] + self.cadres),
                    due_date=due,
                    status="done" if done else "open",
                    done_on=due - dt.timedelta(days=self.rng.randint(0, 10)) if done else None,
                )
            )

    def activity(self, kind, theme, date, group=None):
        pool = (
            self.members if group is None else [m for m in self.members if m.group_id == group.id]
        )
        taking_part = self.sample(pool, 6, 15 if group is None else 8)
        return self.add(
            Activity(
                village=self.village,
                group=group,
                kind=kind,
                theme=theme,
                date=date,
                place=f"{self.village.name}文化广场"
                if group is None
                else f"{group.name}会员小组之家",
                participants_count=len(taking_part) + self.rng.randint(5, 60),
                participants=taking_part,
                materials=self.rng.choice(["宣传折页200份", "宣传手册100册、环保袋50个", None]),
                description=f"{theme}，会员和群众踊跃参加。",
            )
        )

    def activities(self):
        for month, mday, kind, theme in THEME_DAYS:
            date = dt.date(self.today.year, month, mday)
            if date > self.today:
                date = dt.date(self.today.year - 1, month, mday)
            if date >= self.start:
                self.activity(kind, theme, date)
        for back, (kind, theme) in enumerate(MONTHLY_ACTIVITIES):
            self.activity(
                kind, theme, self.day(month_start(self.today, back), self.rng.randint(9, 22))
            )
        for group in self.groups:
            if group.name not in self.diligence.idle_groups:
                date = self.day(self.year_start, self.rng.randint(20, 300))
                self.activity("publicity", "小组会员进家入户宣传", date, group=group)

    def households(self):
        rng, d = self.rng, self.diligence
        types = list(SPECIAL_FAMILY_TYPES) * 2
        types = (
            types[: d.special_families] + ["only_child", "two_daughters", "other"] * d.households
        )
        households = []
        for n in range(d.households):
            group = self.groups[n % len(self.groups)]
            head = self.people.person()
            family_type = types[n]
            special = family_type in SPECIAL_FAMILY_TYPES
            status = (
                "needs_help"
                if special or rng.random() < 0.75
                else rng.choice(["recovered", "moved", "closed"])
            )
            paired = [m for m in self.members if m.group_id == group.id]
            households.append(
                self.add(
                    Household(
                        village=self.village,
                        group=group,
                        head_name=head["name"],
                        id_number=head["id_number"],
                        family_type=family_type,
                        difficulty=rng.choice(DIFFICULTIES),
                        size=1 if family_type == "special_lost" else rng.randint(2, 5),
                        address=f"{self.village.name}{group.name}{rng.randint(1, 80)}号",
                        phone=head["phone"],
                        surveyed_on=self.day(self.year_start, rng.randint(10, 60)),
                        status=status,
                        paired_member=rng.choice(paired) if status == "needs_help" else None,
                        township_contact=self.people.person()["name"] if special else None,
                        village_contact=rng.choice(self.cadres) if special else None,
                        family_doctor=special or rng.random() < 0.4,
                        notes="双岗联系人每月走访" if special else None,
                    )
                )
            )
        if d.special_without_village_contact:
            households[0].village_contact = None
        unassisted = next(
            (
                h
                for h in households
                if d.unassisted_household and not h.special and h.status == "needs_help"
            ),
            None,
        )
        for household in households:
            self.assistance(household, skip_this_year=household is unassisted)
        return households

    def assistance(self, household, skip_this_year=False):
        rng = self.rng
        help_given = []
        if household.special:
            unvisited = household.village_contact is None
            for back in range(12):
                if back == 0 and unvisited:
                    continue
                help_given.append(
                    (
                        self.day(month_start(self.today, back), rng.randint(3, 25)),
                        "contact_visit",
                        None,
                    )
                )
            help_given.append(
                (self.day(month_start(self.today, 9), 5), "festival", money(rng, 6, 12))
            )
            help_given.append((self.day(month_start(self.today, 4), 12), "counselling", None))
        if household.status == "needs_help" and not skip_this_year:
            for _n in range(rng.randint(1, 3)):
                date = self.day(self.year_start, rng.randint(0, 330))
                help_given.append((date, rng.choice(HELP_KINDS), money(rng)))
        if self.year_start > self.start:
            # Last year's help, where the year reaches back into last year.
            date = self.start + dt.timedelta(
                days=rng.randint(0, (self.year_start - self.start).days - 1)
            )
            help_given.append((date, rng.choice(HELP_KINDS), money(rng)))
        for date, kind, amount in help_given:
            self.add(
                Assistance(
                    village=self.village,
                    household=household,
                    date=date,
                    kind=kind,
                    money=amount,
                    goods=rng.choice(["大米一袋、食用油一桶", "慰问品一份", None])
                    if amount
                    else None,
                    provided_by=household.village_contact or self.secretary,
                )
            )

    def benefits(self, households):
        rng, year = self.rng, self.today.year
        kinds = {
            "special_lost": ("special_assistance", decimal.Decimal("9600.00")),
            "special_disabled": ("special_assistance", decimal.Decimal("7560.00")),
            "special_complication": ("special_assistance", decimal.Decimal("4800.00")),
            "only_child": ("reward_assistance", decimal.Decimal("960.00")),
            "two_daughters": ("two_daughters", decimal.Decimal("600.00")),
        }
        for n, household in enumerate(households):
            if household.family_type not in kinds:
                continue
            kind, amount = kinds[household.family_type]
            self.add(
                Benefit(
                    village=self.village,
                    person_name=household.head_name,
                    id_number=household.id_number,
                    household=household,
                    kind=kind,
                    certificate_no=f"古计奖〔{year}〕{self.village.id:02d}{n + 1:03d}号",
                    year=year,
                    amount=amount,
                    status="active" if household.status != "moved" else "suspended",
                )
            )
        for _n in range(rng.randint(3, 5)):
            person = self.people.person()
            self.add(
                Benefit(
                    village=self.village,
                    person_name=person["name"],
                    id_number=person["id_number"],
                    kind=rng.choice(["glory_certificate", "pension_subsidy"]),
                    year=year,
                    amount=decimal.Decimal("300.00") if rng.random() < 0.5 else None,
                )
            )

    def agreements(self, households):
        rng = self.rng
        in_force = round((self.village.married_women or 0) * self.diligence.agreement_share)
        for n in range(in_force + 4):
            signed = self.today - dt.timedelta(days=rng.randint(10, 900))
            household = households[n] if n < len(households) else None
            status = "in_force" if n < in_force else rng.choice(["breached", "ended"])
            self.add(
                Agreement(
                    village=self.village,
                    household=household,
                    party_name=household.head_name if household else self.people.person()["name"],
                    signed_on=signed,
                    expires_on=signed + dt.timedelta(days=3 * 365),
                    status=status,
                    review_notes="每月评议：履约良好"
                    if status == "in_force" and n % 5 == 0
                    else None,
                )
            )

    def archive(self):
        rng, d, year, name = self.rng, self.diligence, self.today.year, self.village.name
        documents = [
            ("charter", f"{name}计划生育协会章程", 2022, dt.date(2022, 3, 15)),
            ("self_governance", f"{name}村民自治章程", 2022, dt.date(2022, 3, 15)),
            ("village_rules", f"{name}村规民约", year, self.day(month_start(self.today, 6), 18)),
            ("network_diagram", f"{name}计生协组织网络示意图", year, self.day(self.year_start, 5)),
            ("approval", "关于同意选举产生第三届理事会的批复", 2022, dt.date(2022, 4, 2)),
            ("duties", f"{name}计生协会长、秘书长岗位职责", 2022, dt.date(2022, 3, 15)),
            ("work_plan", f"{name}计生协{year - 1}年工作计划", year - 1, dt.date(year - 1, 1, 12)),
            (
                "work_summary",
                f"{name}计生协{year - 1}年工作总结",
                year - 1,
                self.day(self.year_start, 8),
            ),
        ]
        if d.work_plan:
            documents.append(
                ("work_plan", f"{name}计生协{year}年工作计划", year, self.day(self.year_start, 12))
            )
        for kind, title, doc_year, adopted in documents:
            self.add(
                Document(
                    village=self.village,
                    kind=kind,
                    title=title,
                    year=doc_year,
                    adopted_on=adopted,
                    adopted_by="理事会" if kind != "approval" else "二郎镇计生协",
                    filed_on=adopted + dt.timedelta(days=7) if kind != "approval" else None,
                )
            )
        venues = [("office", None, True), ("activity_room", None, d.signage_everywhere)]
        if len(self.groups) > 4:
            venues.append(("population_school", None, True))
        venues += [("group_home", g, True) for g in self.groups[: len(self.groups) // 2]]
        for kind, group, signage in venues:
            self.add(
                Venue(
                    village=self.village,
                    group=group,
                    kind=kind,
                    signage=signage,
                    facilities="桌椅、档案柜、宣传栏、图书角",
                    area=decimal.Decimal(rng.randint(20, 90)),
                    checked_on=self.day(month_start(self.today, rng.randint(0, 5)), 10),
                )
            )
        for kind, recipient, level in [
            ("five_good_member", rng.choice(self.members), "village"),
            ("five_good_member", rng.choice(self.members), "village"),
            ("good_mother_in_law", None, "village"),
            ("model_household", None, "township"),
            ("excellent_cadre", self.council[0], "township"),
        ]:
            self.add(
                Award(
                    village=self.village,
                    year=year - 1,
                    kind=kind,
                    member=recipient,
                    recipient_name=None if recipient else self.people.person()["name"],
                    level=level,
                )
            )
        self.add(
            Award(village=self.village, year=year - 1, kind="advanced_group", group=self.groups[0])
        )

    def complaints(self):
        rng, today = self.rng, self.today
        received = [today - dt.timedelta(days=days) for days in (300, 200, 120, 60)]
        cases = [(day, "resolved") for day in received[: 3 if len(self.groups) > 2 else 1]]
        cases.append((received[3], "referred"))
        cases.append((today - dt.timedelta(days=5), "received"))
        if self.diligence.overdue_complaint:
            cases.append((today - dt.timedelta(days=45), "handling"))
        for (kind, channel, text), (date, status) in zip(
            rng.sample(COMPLAINTS, len(cases)), cases, strict=True
        ):
            person = self.people.person()
            done = status in ("resolved", "referred")
            self.add(
                Complaint(
                    village=self.village,
                    received_on=date,
                    channel=channel,
                    kind=kind,
                    complainant=person["name"],
                    phone=person["phone"],
                    description=text,
                    handler=self.secretary,
                    status=status,
                    resolution="已向当事人解释政策并跟踪落实" if done else None,
                    resolved_on=date + dt.timedelta(days=rng.randint(2, 15)) if done else None,
                )
            )

    def notices_and_funds(self):
        rng, d = self.rng, self.diligence
        for back, first, last in self.quarters():
            if back not in d.missed_notice_quarters:
                for kind, title in [
                    ("benefits", "奖励扶助、特别扶助对象公示"),
                    ("government", "计生协季度工作公开"),
                ]:
                    self.add(
                        Notice(
                            village=self.village,
                            kind=kind,
                            title=title,
                            body=f"{self.village.name}{title}，公示期七天，如有异议请向村计生协反映。",
                            published_on=self.day(first, rng.randint(5, 40), last),
                        )
                    )
            for days, direction, category, amount, text in [
                (
                    10,
                    "in",
                    "allocation",
                    decimal.Decimal(rng.choice([1000, 2000, 3000])),
                    "镇计生协拨付工作经费",
                ),
                (15, "in", "village", decimal.Decimal(rng.choice([500, 1000])), "村委会投入"),
                (30, "out", "activity", money(rng, 4, 16), "开展会员活动购买宣传品"),
                (45, "out", "subsidy", money(rng, 6, 20), "发放困难家庭慰问金"),
            ]:
                self.add(
                    FundEntry(
                        village=self.village,
                        date=self.day(first, days, last),
                        direction=direction,
                        category=category,
                        amount=amount,
                        description=text,
                        handled_by=self.secretary,
                    )
                )


def build_work_year(session, township, today):
    """Twelve months of work records for each village, up to ``today``; returns how many."""
    rng = random.Random(20260529)
    people = People(rng)
    villages = session.scalars(
        select(Village).where(Village.township_id == township.id).order_by(Village.id)
    ).all()
    made = sum(
        WorkYear(session, rng, people, village, today, DILIGENCE[village.name]).build()
        for village in villages
        if village.name in DILIGENCE
    )
    session.commit()
    return made


def build_declared(session, township, today):
    """The demo rows a register's block declares (``declare(…, demo=build)``) for each village
    of the year, for every such register the township has no row of yet — so that a register
    declared since the demo was loaded gets its rows on the next `flask demo load`. ``build``
    is given the village's ``WorkYear`` and returns its records; each register draws from a
    random generator of its own, so that a new one changes no other demo row.

    What a builder may read of the ``WorkYear``: ``village``, ``session``, ``rng`` (its own),
    ``today``, ``members`` (the village's active members, by id), ``council`` (the council's
    members), ``president`` and ``secretary`` (names), ``groups``, and ``day(start, offset)``
    (a date ``offset`` days into a period, never before the year of records nor after today).
    """
    villages = session.scalars(
        select(Village).where(Village.township_id == township.id).order_by(Village.id)
    ).all()
    made = 0
    for register in registry.registers():
        build, model = register.extra.get("demo"), register.model
        if (
            build is None
            or session.execute(
                select(model.id)
                .join(Village, model.village_id == Village.id)
                .where(Village.township_id == township.id)
                .limit(1)
            ).first()
        ):
            continue
        for village in villages:
            if village.name not in DILIGENCE:
                continue
            rng = random.Random(f"{register.name} {village.name}")
            year = WorkYear(session, rng, People(rng), village, today, DILIGENCE[village.name])
            records = list(build(year))
            session.add_all(records)
            made += len(records)
    session.commit()
    return made


# --- Branches, township tasks and surveys (issue 9) ---

# branch, its head, its villages (seeds 001: branches by responsibility zone)
BRANCHES = [("东片分会", "罗德明", ("新檀村", "龙王村")), ("西片分会", "袁桂兰", ("小河村",))]
# title, due (days from the load date), {village: days done after the due date, None: open}
TASKS = [
    (
        "报送上半年工作总结",
        -60,
        {"新檀村": -5, "龙王村": -1, "小河村": -2},
    ),
    (
        "报送“5·29会员活动日”活动开展情况",
        -10,
        {"新檀村": -3, "龙王村": None},
    ),
    (
        "统计计生特殊家庭走访慰问情况",
        14,
        {"新檀村": None, "龙王村": None, "小河村": None},
    ),
]
# village → (asked, answered well) for cadre knowledge, resident knowledge, satisfaction;
# 龙王村's residents fall short of the 80% target (R19).
SURVEYS = {
    "新檀村": ((50, 46), (200, 170), (200, 180)),
    "龙王村": ((50, 47), (200, 152), (200, 176)),
    "小河村": ((20, 18), (100, 82), (100, 86)),
}
SURVEY_KINDS = ("cadre_knowledge", "resident_knowledge", "satisfaction")


def build_tasks_and_surveys(session, township, today):
    """Two branches, three township tasks (some done, one overdue) and this year's surveys."""
    villages = {
        v.name: v
        for v in session.scalars(select(Village).where(Village.township_id == township.id))
    }
    made = 0
    for name, head, members in BRANCHES:
        branch = Branch(township=township, name=name, head=head)
        session.add(branch)
        for village_name in members:
            villages[village_name].branch = branch
        made += 1
    for title, due_in, states in TASKS:
        due = today + dt.timedelta(days=due_in)
        task = Task(
            township=township,
            title=title,
            body=f"请于{due:%Y年%m月%d日}前完成并报送镇计生协。",
            due_date=due,
            assigned_on=due - dt.timedelta(days=30),
        )
        for village_name, done_after in states.items():
            done = done_after is not None
            task.assignments.append(
                TaskAssignment(
                    village=villages[village_name],
                    status="done" if done else "open",
                    done_on=due + dt.timedelta(days=done_after) if done else None,
                    note="已按要求完成并报送。" if done else None,
                )
            )
        session.add(task)
        made += 1 + len(states)
    surveyed_on = min(today, dt.date(today.year, 3, 15))
    for village_name, counts in SURVEYS.items():
        for kind, (asked, well) in zip(SURVEY_KINDS, counts, strict=True):
            session.add(
                Survey(
                    village=villages[village_name],
                    year=today.year,
                    kind=kind,
                    asked=asked,
                    answered_well=well,
                    surveyed_on=surveyed_on,
                )
            )
            made += 1
    session.commit()
    return made
