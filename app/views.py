"""The registers: one block per register — its screen class and a ``declare`` call naming its REST
resource, menu place, rights group, related lists and roster (SPEC §2, §6).

Importing this module fills ``app.registry`` and nothing else; ``register(appbuilder)`` adds the
screens and APIs. The machinery derives the rest: the API columns from the form columns (a
relationship ``village`` is ``village_id``; a block overrides only where they differ), the role
table from the rights groups (``accounts.RIGHTS_GROUPS``), the roster KINDs, the menu. A new
register is its model in app/models.py, one block here, a migration and the catalogues.
The blocks come in menu order (the home page lists the registers in it too).
"""

import datetime as dt
import decimal

from flask import abort, current_app, flash, redirect
from flask_appbuilder import IndexView, expose
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app import accounts, inputs, records, reminders, resources, security, speed, tasks
from app.audit_views import AuditLogApi, AuditLogView
from app.inputs import valid_pk
from app.machinery import RecordView, Summary, derived_api, flag
from app.models import (
    DECISION_STATUSES,
    VOLUNTEER_KIND,
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
    VolunteerService,
)
from app.registry import REGISTRY, check_declared, declare
from app.speed import SQLAInterface

CATEGORY_LABELS = {
    "Organisation": _l("Organisation"),
    "Registers": _l("Registers"),
    "Records": _l("Work records"),
    "Assistance": _l("Families and assistance"),
    "Archive": _l("Archive"),
}


# --- Organisation ---


class CountyView(RecordView):
    datamodel = SQLAInterface(County)
    list_columns = add_columns = edit_columns = show_columns = ["name", "division_code"]
    search_columns = ["name", "division_code"]
    base_order = ("name", "asc")


declare(
    County,
    view=CountyView,
    rest="county",
    menu=("Organisation", "fa-map-location-dot"),
    # Managed by the Admin; the County reads its own, a village its township's (as a township).
    rights="township",
    related=("Township",),
)


class TownshipView(RecordView):
    datamodel = SQLAInterface(Township)
    list_columns = ["name", "division_code", "county"]
    add_columns = edit_columns = show_columns = ["name", "division_code", "county"]
    search_columns = ["name", "county"]
    base_order = ("name", "asc")
    description_columns = {"county": _l("The county association (县计生协) above the township")}


declare(
    Township,
    view=TownshipView,
    rest="township",
    menu=("Organisation", "fa-landmark"),
    rights="township",
)


class VillageView(RecordView):
    datamodel = SQLAInterface(Village)
    list_columns = ["name", "township", "branch", "kind", "size_class", "population"]
    add_columns = edit_columns = [
        "township",
        "branch",
        "name",
        "kind",
        "size_class",
        "households",
        "population",
        "married_women",
        "address",
        "phone",
    ]
    show_columns = add_columns
    search_columns = ["name", "township", "branch", "kind", "size_class"]
    base_order = ("id", "asc")
    description_columns = {"branch": _l("Optional: the branch (responsibility zone) it belongs to")}


declare(
    Village,
    view=VillageView,
    rest="village",
    menu=("Organisation", "fa-house-flag"),
    rights="village",
    related=(
        "MemberGroup",
        "CouncilTerm",
        "Meeting",
        "Activity",
        "Household",
        "Complaint",
        "Document",
    ),
)


class MemberGroupView(RecordView):
    datamodel = SQLAInterface(MemberGroup)
    list_columns = ["village", "name", "leader"]
    add_columns = ["village", "name", "leader", "contact_heads"]
    edit_columns = add_columns
    show_columns = ["village", "name", "leader", "contact_heads"]
    search_columns = ["village", "name"]
    base_order = ("id", "asc")
    label_columns = {"leader": _l("Group leader"), "contact_heads": _l("Contact household heads")}


declare(
    MemberGroup,
    view=MemberGroupView,
    rest="member_group",
    menu=("Organisation", "fa-people-group"),
    rights="member_groups",
    related=("Member", "ContactHousehold", "Meeting", "Household"),
)


class CouncilTermView(RecordView):
    datamodel = SQLAInterface(CouncilTerm)
    list_columns = ["village", "number", "elected_on", "term_end", "filed_on"]
    add_columns = edit_columns = [
        "village",
        "number",
        "elected_on",
        "term_end",
        "filed_on",
        "approval_ref",
    ]
    show_columns = add_columns
    search_columns = ["village", "number", "elected_on"]
    base_order = ("id", "asc")


declare(
    CouncilTerm,
    view=CouncilTermView,
    rest="council_term",
    menu=("Organisation", "fa-sitemap"),
    rights="council",
    related=("CouncilSeat",),
)


class CouncilSeatView(RecordView):
    datamodel = SQLAInterface(CouncilSeat)
    list_columns = ["term", "member", "position", "composition", "day_job"]
    add_columns = edit_columns = ["village", "term", "member", "position", "composition", "day_job"]
    show_columns = add_columns
    search_columns = ["village", "term", "member", "position", "composition"]
    base_order = ("id", "asc")
    label_columns = {"term": _l("Council term"), "member": _l("Member")}


declare(
    CouncilSeat,
    view=CouncilSeatView,
    rest="council_seat",
    menu=("Organisation", "fa-user-tie"),
    rights="council",
    roster=resources.COUNCIL_SEATS,
)


# --- Registers ---


MEMBER_FIELDSETS_COMMON = [
    "village",
    "group",
    "name",
    "gender",
    "id_number",
    "birth_date",
    "phone",
    "address",
    "category",
    "party_member",
    "volunteer",
    "status",
    "join_date",
]


class MemberView(RecordView):
    datamodel = SQLAInterface(Member)
    list_columns = [
        "name",
        "group",
        "gender",
        "id_number",
        "phone",
        "category",
        "status",
        "join_date",
    ]
    add_columns = MEMBER_FIELDSETS_COMMON + ["applied_on", "notes"]
    edit_columns = MEMBER_FIELDSETS_COMMON + ["applied_on", "left_on", "leave_reason", "notes"]
    show_columns = (
        ["village"]
        + MEMBER_FIELDSETS_COMMON[1:]
        + [
            "applied_on",
            "approved_on",
            "left_on",
            "leave_reason",
            "notes",
        ]
    )
    # id_number: the full number only, compared through its keyed hash (issue 7).
    search_columns = [
        "name",
        "id_number",
        "village",
        "group",
        "gender",
        "category",
        "status",
        "join_date",
    ]
    base_order = ("id", "asc")
    description_columns = {
        "gender": _l("Left blank, it is taken from the ID number"),
        "birth_date": _l("Left blank, it is taken from the ID number"),
        "status": _l("New members enter as applications; only the president approves or rejects"),
        "left_on": _l("Required when a member leaves (withdrawn, advised out, deceased)"),
    }
    summaries = (
        Summary(
            "volunteer-hours-by-year",
            _l("Volunteer service by year"),
            VolunteerService,
            "member_id",
            "date",
            (
                (_l("Services"), "count", None, "{}"),
                (_l("Hours"), "sum", "hours", "{:.1f}"),
            ),
        ),
    )
    method_permission_name = {
        **RecordView.method_permission_name,
        "approve": "approve",
        "reject": "approve",
    }

    def shape_form(self, form, editing):
        """One who does not decide admissions is offered no decision: a new member is an
        application (申请中), an existing one keeps her status or leaves."""
        super().shape_form(form, editing)
        if accounts.can(accounts.current_user(), accounts.APPROVE, "Member"):
            return
        status = form._fields["status"]
        if editing:
            item = self.edited_item()
            current = item.status if item is not None else None
            allowed = {c for c, _label in status.choices if c not in DECISION_STATUSES}
            allowed.add(current)
        else:
            allowed = {"applied"}
        status.choices = [(c, label) for c, label in status.choices if c in allowed]

    @action(
        "approve",
        _l("Approve application"),
        _l("Approve the selected applications?"),
        "fa-check",
    )
    def approve(self, items):
        return self._decide(items, "active")

    @action("reject", _l("Reject application"), _l("Reject the selected applications?"), "fa-times")
    def reject(self, items):
        return self._decide(items, "rejected")

    def _decide(self, items, status):
        done, refused = 0, []
        for item in items:
            if item.status != "applied":
                refused.append(_("%(name)s: not an application", name=item.name))
                continue
            values = records.item_values(item)
            old = dict(values)
            values["status"] = status
            errors = records.prepare_write(
                Member, values, old, accounts.current_user(), self.datamodel.session
            )
            if errors:
                refused.append(f"{item.name}: " + "；".join(str(m) for m in errors.values()))
                continue
            records.apply_values(item, values, self.datamodel.session)
            done += 1
        self.datamodel.session.commit()
        if done:
            flash(_("%(n)d application(s) decided", n=done), "success")
        for message in refused:
            flash(message, "warning")
        # Back to the applications still waiting (the home page's reminder links the same list),
        # not to the page before the list (FAB's get_redirect: the home page).
        pending = reminders.RULES_BY_KEY["pending_applications"]
        return redirect(reminders.list_url(pending, dt.date.today()))


declare(
    Member,
    view=MemberView,
    rest="member",
    menu=("Registers", "fa-address-book"),
    rights="members",
    related=("Activity", "Award", "ContactHousehold", "VolunteerService"),
    roster=resources.MEMBERS,
    api_search=[
        "village_id",
        "group_id",
        "name",
        "id_number",
        "gender",
        "category",
        "status",
        "join_date",
    ],
)


class ContactHouseholdView(RecordView):
    datamodel = SQLAInterface(ContactHousehold)
    list_columns = ["head_name", "group", "member", "phone", "household_type"]
    add_columns = edit_columns = [
        "village",
        "group",
        "member",
        "head_name",
        "address",
        "phone",
        "household_type",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["head_name", "village", "group", "member", "household_type"]
    base_order = ("id", "asc")
    label_columns = {"member": _l("Contact member")}


declare(
    ContactHousehold,
    view=ContactHouseholdView,
    rest="contact_household",
    menu=("Registers", "fa-house-user"),
    rights="contact_households",
    roster=resources.CONTACT_HOUSEHOLDS,
)


class BenefitView(RecordView):
    datamodel = SQLAInterface(Benefit)
    list_columns = [
        "year",
        "person_name",
        "id_number",
        "kind",
        "certificate_no",
        "amount",
        "status",
    ]
    add_columns = edit_columns = [
        "village",
        "person_name",
        "id_number",
        "household",
        "kind",
        "certificate_no",
        "year",
        "amount",
        "status",
    ]
    show_columns = add_columns
    search_columns = ["year", "person_name", "id_number", "kind", "status"]
    base_order = ("id", "asc")
    label_columns = {"household": _l("Household")}


declare(
    Benefit,
    view=BenefitView,
    rest="benefit",
    menu=("Registers", "fa-award"),
    rights="day_to_day",
    roster=resources.BENEFITS,
    api_search=["village_id", "person_name", "id_number", "kind", "year", "status"],
)


class AgreementView(RecordView):
    datamodel = SQLAInterface(Agreement)
    list_columns = ["party_name", "household", "signed_on", "expires_on", "status"]
    add_columns = edit_columns = [
        "village",
        "household",
        "party_name",
        "signed_on",
        "expires_on",
        "status",
        "review_notes",
    ]
    show_columns = add_columns
    search_columns = ["party_name", "signed_on", "status"]
    base_order = ("id", "asc")
    label_columns = {"household": _l("Household")}


declare(
    Agreement,
    view=AgreementView,
    rest="agreement",
    menu=("Registers", "fa-file-signature"),
    rights="day_to_day",
    roster=resources.AGREEMENTS,
)


# --- Work records ---


class MeetingView(RecordView):
    datamodel = SQLAInterface(Meeting)
    list_columns = ["date", "type", "group", "place", "chair", "sent_to_township_on"]
    add_columns = edit_columns = [
        "village",
        "group",
        "type",
        "date",
        "place",
        "chair",
        "recorder",
        "attendees",
        "other_attendees",
        "topics",
        "minutes",
        "sent_to_township_on",
    ]
    show_columns = add_columns
    search_columns = ["type", "village", "group", "date", "place"]
    base_order = ("date", "desc")
    label_columns = {"attendees": _l("Members attending")}


declare(
    Meeting,
    view=MeetingView,
    rest="meeting",
    menu=("Records", "fa-people-roof"),
    rights="group_work",
    related=("Resolution",),
)


class ResolutionView(RecordView):
    datamodel = SQLAInterface(Resolution)
    list_columns = ["meeting", "text", "owner", "due_date", "status", "overdue"]
    add_columns = edit_columns = [
        "village",
        "meeting",
        "text",
        "owner",
        "due_date",
        "status",
        "done_on",
    ]
    show_columns = add_columns
    search_columns = ["village", "meeting", "owner", "due_date", "status"]
    base_order = ("due_date", "asc")
    label_columns = {"meeting": _l("Meeting"), "overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}


declare(
    Resolution,
    view=ResolutionView,
    rest="resolution",
    menu=("Records", "fa-list-check"),
    rights="day_to_day",
)


class ActivityView(RecordView):
    datamodel = SQLAInterface(Activity)
    list_columns = ["date", "kind", "theme", "group", "place", "participants_count"]
    add_columns = edit_columns = [
        "village",
        "group",
        "kind",
        "theme",
        "date",
        "place",
        "participants_count",
        "participants",
        "materials",
        "description",
    ]
    show_columns = add_columns
    search_columns = ["kind", "theme", "village", "group", "date"]
    base_order = ("date", "desc")
    label_columns = {"participants": _l("Members who took part")}
    # Its page holds the photos: one step from the saved form.
    show_after_add = True


declare(
    Activity,
    view=ActivityView,
    rest="activity",
    menu=("Records", "fa-calendar-check"),
    rights="group_work",
)


def service_errors(values: dict, _old, _user, session) -> dict:
    """The household served belongs to the group the service is filed under (the member's,
    see models._served_by_member): a group leader reads her group's households only."""
    household_id, group_id = values.get("household_id"), values.get("group_id")
    member = session.get(Member, values["member_id"]) if values.get("member_id") else None
    if member is not None and member.group_id is not None:
        group_id = member.group_id
    household = session.get(Household, household_id) if household_id else None
    if household is None or group_id is None or household.group_id in (None, group_id):
        return {}
    return {"household_id": _l("This household belongs to another group")}


class VolunteerServiceView(RecordView):
    """志愿服务: who served, when, how long, and the household served (seeds 000 Art. 8.9)."""

    datamodel = SQLAInterface(VolunteerService)
    list_columns = ["date", "volunteer_name", "member", "group", "kind", "hours", "household"]
    add_columns = edit_columns = [
        "village",
        "group",
        "member",
        "volunteer_name",
        "date",
        "hours",
        "kind",
        "household",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["village", "group", "member", "volunteer_name", "date", "kind"]
    base_order = ("date", "desc")
    write_check = staticmethod(service_errors)
    description_columns = {
        "volunteer_name": _l("A volunteer who is not a member: their name"),
        "hours": _l("Between 0.5 and 24, to one decimal"),
    }


# What the demo's volunteers did, by kind of service.
VOLUNTEER_WORK = {
    "publicity": "上门宣传计生协惠民政策",
    "visit": "走访慰问计生家庭，帮助打扫卫生",
    "youth_health": "青春健康知识进校园",
    "parenting": "优生优育知识讲解",
    "other": "协助会员小组开展活动",
}


def volunteer_demo(year):
    """The demo's service (`flask demo load`): one to three services a month by the village's
    volunteers, a visit to a household of the village among them, and a helper from the
    township health centre who is not a member."""
    rng, village = year.rng, year.village
    people = [m for m in year.members if m.volunteer] or year.members[:8]
    households = year.session.scalars(
        select(Household).where(Household.village_id == village.id).order_by(Household.id)
    ).all()
    done = set()
    for back in range(12):
        first = reminders.month_start(year.today, back)
        for _turn in range(rng.randint(1, 3)):
            member, kind = rng.choice(people), rng.choice(VOLUNTEER_KIND.codes)
            day = year.day(first, rng.randint(0, 27))
            if (member.id, day, kind) in done:
                continue  # one line per volunteer, day and kind (the register's key)
            done.add((member.id, day, kind))
            # A visit goes to a household of the member's own group.
            near = [h for h in households if h.group_id == member.group_id]
            yield VolunteerService(
                village=village,
                group=member.group,
                member=member,
                volunteer_name=member.name,
                date=day,
                hours=decimal.Decimal(rng.choice(("1.5", "2", "2.5", "3", "4"))),
                kind=kind,
                household=rng.choice(near) if kind == "visit" and near else None,
                notes=VOLUNTEER_WORK[kind],
            )
    yield VolunteerService(
        village=village,
        volunteer_name="镇卫生院志愿者",
        date=year.day(reminders.month_start(year.today, 2), 9),
        hours=decimal.Decimal("2"),
        kind="parenting",
        notes=VOLUNTEER_WORK["parenting"],
    )


declare(
    VolunteerService,
    view=VolunteerServiceView,
    rest="volunteer_service",
    menu=("Records", "fa-hands-helping"),
    rights="group_work",
    # A sheet names the member (ID number or name) or a volunteer who is not one; a member's
    # row takes their name and group.
    roster=resources.from_fields(
        VolunteerService,
        kind="volunteer_services",
        title="志愿服务记录",
        natural_key=("volunteer_name", "date", "kind"),
        headers={
            "group_id": (),
            "member_id": (),
            "volunteer_name": ("志愿者", "志愿者姓名", "姓名"),
            "date": ("服务日期", "日期"),
            "hours": ("服务时长", "时长", "小时数", "服务时长(小时)"),
            "kind": ("服务类别", "服务内容", "类别"),
            "household_id": ("服务对象", "服务家庭"),
            "notes": ("备注", "服务情况"),
        },
        overrides={
            "member_id": resources.Column(
                "member_id",
                ("会员", "会员身份证号", "会员姓名", "member"),
                kind="lookup",
                lookup=resources.member_lookup(
                    copies=(("volunteer_name", "name"), ("group_id", "group_id"))
                ),
            ),
        },
    ),
    api_search=["village_id", "group_id", "member_id", "volunteer_name", "date", "kind"],
    demo=volunteer_demo,
)


class ComplaintView(RecordView):
    datamodel = SQLAInterface(Complaint)
    list_columns = ["received_on", "channel", "kind", "complainant", "status", "overdue"]
    add_columns = edit_columns = [
        "village",
        "received_on",
        "channel",
        "kind",
        "complainant",
        "phone",
        "description",
        "handler",
        "status",
        "resolution",
        "resolved_on",
    ]
    show_columns = add_columns
    search_columns = ["village", "received_on", "channel", "kind", "status"]
    base_order = ("received_on", "desc")
    label_columns = {"overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}


declare(
    Complaint,
    view=ComplaintView,
    rest="complaint",
    menu=("Records", "fa-comments"),
    rights="day_to_day",
    api_search=["village_id", "received_on", "channel", "kind", "status"],
)


class NoticeView(RecordView):
    datamodel = SQLAInterface(Notice)
    list_columns = ["published_on", "kind", "title"]
    add_columns = edit_columns = ["village", "kind", "title", "body", "published_on"]
    show_columns = add_columns
    search_columns = ["kind", "title", "published_on"]
    base_order = ("published_on", "desc")


declare(
    Notice,
    view=NoticeView,
    rest="notice",
    menu=("Records", "fa-bullhorn"),
    rights="day_to_day",
    # SPEC §6 orders a notice's fields so.
    api_columns=["village_id", "title", "body", "kind", "published_on"],
)


# --- Families and assistance ---


class HouseholdView(RecordView):
    datamodel = SQLAInterface(Household)
    summaries = (
        Summary(
            "assistance-by-year",
            _l("Assistance by year"),
            Assistance,
            "household_id",
            "date",
            (
                (_l("Assistance records"), "count", None, "{}"),
                (_l("Money (yuan)"), "sum", "money", "{:.2f}"),
            ),
        ),
    )
    list_columns = ["head_name", "group", "family_type", "difficulty", "status", "paired_member"]
    add_columns = edit_columns = [
        "village",
        "group",
        "head_name",
        "id_number",
        "family_type",
        "difficulty",
        "size",
        "address",
        "phone",
        "surveyed_on",
        "status",
        "paired_member",
        "township_contact",
        "village_contact",
        "family_doctor",
        "notes",
    ]
    show_columns = add_columns
    # The family type and difficulty are encrypted (issue 7): searched by the clear flag.
    search_columns = ["head_name", "id_number", "village", "group", "special", "status"]
    base_order = ("id", "asc")
    label_columns = {"paired_member": _l("Paired member (一帮一)")}
    description_columns = {
        "township_contact": _l("For a special family: its township cadre contact (双岗联系人)"),
        "village_contact": _l("For a special family: its village cadre contact (双岗联系人)"),
    }


declare(
    Household,
    view=HouseholdView,
    rest="household",
    menu=("Assistance", "fa-hand-holding-heart"),
    rights="group_work",
    related=("Assistance",),
    roster=resources.HOUSEHOLDS,
    api_search=["village_id", "group_id", "head_name", "id_number", "special", "status"],
)


class AssistanceView(RecordView):
    datamodel = SQLAInterface(Assistance)
    list_columns = ["date", "household", "kind", "money", "goods", "provided_by"]
    add_columns = edit_columns = [
        "village",
        "household",
        "date",
        "kind",
        "money",
        "goods",
        "provided_by",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["village", "household", "kind", "date", "provided_by"]
    base_order = ("date", "desc")
    label_columns = {"household": _l("Household")}


declare(
    Assistance,
    view=AssistanceView,
    rest="assistance",
    menu=("Assistance", "fa-hands-helping"),
    rights="day_to_day",
)


# --- Archive ---


class DocumentView(RecordView):
    datamodel = SQLAInterface(Document)
    list_columns = ["year", "kind", "title", "adopted_on", "filed_on"]
    add_columns = edit_columns = [
        "village",
        "kind",
        "title",
        "year",
        "adopted_on",
        "adopted_by",
        "filed_on",
        "body",
    ]
    show_columns = add_columns
    search_columns = ["kind", "title", "year"]
    base_order = ("year", "desc")


declare(
    Document,
    view=DocumentView,
    rest="document",
    menu=("Archive", "fa-folder-open"),
    rights="archive",
)


class AwardView(RecordView):
    datamodel = SQLAInterface(Award)
    list_columns = ["year", "kind", "member", "group", "recipient_name", "level"]
    add_columns = edit_columns = [
        "village",
        "year",
        "kind",
        "member",
        "group",
        "recipient_name",
        "level",
        "notes",
    ]
    show_columns = add_columns
    search_columns = ["year", "kind", "level"]
    base_order = ("year", "desc")


declare(
    Award,
    view=AwardView,
    rest="award",
    menu=("Archive", "fa-medal"),
    rights="archive",
    # SPEC §6 orders an award's fields so.
    api_columns=[
        "village_id",
        "group_id",
        "year",
        "kind",
        "member_id",
        "recipient_name",
        "level",
        "notes",
    ],
)


class VenueView(RecordView):
    datamodel = SQLAInterface(Venue)
    list_columns = ["kind", "group", "signage", "area", "checked_on"]
    add_columns = edit_columns = [
        "village",
        "group",
        "kind",
        "signage",
        "facilities",
        "area",
        "checked_on",
    ]
    show_columns = add_columns
    search_columns = ["kind", "village", "group", "signage"]
    base_order = ("id", "asc")


declare(
    Venue,
    view=VenueView,
    rest="venue",
    menu=("Archive", "fa-building"),
    rights="archive",
)


class FundEntryView(RecordView):
    datamodel = SQLAInterface(FundEntry)
    list_columns = ["date", "direction", "category", "amount", "description", "handled_by"]
    add_columns = edit_columns = [
        "village",
        "date",
        "direction",
        "category",
        "amount",
        "description",
        "handled_by",
    ]
    show_columns = add_columns
    search_columns = ["date", "direction", "category"]
    base_order = ("date", "desc")


declare(
    FundEntry,
    view=FundEntryView,
    rest="fund_entry",
    menu=("Archive", "fa-coins"),
    rights="archive",
)


# --- Township: branches, tasks and surveys (issue 9) ---


class BranchView(RecordView):
    datamodel = SQLAInterface(Branch)
    list_columns = ["name", "township", "head"]
    add_columns = edit_columns = show_columns = ["township", "name", "head"]
    search_columns = ["name", "township", "head"]
    base_order = ("name", "asc")


declare(
    Branch,
    view=BranchView,
    rest="branch",
    menu=("Organisation", "fa-map"),
    rights="township_records",
    related=("Village",),
)


# The task screens live with the tasks (app/tasks.py); their blocks are here with the others'.
declare(
    Task,
    view=tasks.TaskView,
    api=tasks.TaskApi,
    menu=("Records", "fa-clipboard-check"),
    rights="township_records",
    related=("TaskAssignment",),
)
declare(
    TaskAssignment,
    view=tasks.TaskAssignmentView,
    api=tasks.TaskAssignmentApi,
    menu=("Records", "fa-list-check"),
    rights="task_reports",
)


class SurveyView(RecordView):
    """知晓率·满意度: people asked and answering well; the rate follows from them."""

    datamodel = SQLAInterface(Survey)
    list_columns = ["year", "village", "kind", "asked", "answered_well", "rate"]
    add_columns = edit_columns = [
        "village",
        "year",
        "kind",
        "asked",
        "answered_well",
        "surveyed_on",
        "notes",
    ]
    show_columns = add_columns[:5] + ["rate", "surveyed_on", "notes"]
    search_columns = ["village", "year", "kind"]
    base_order = ("year", "desc")
    formatters_columns = {"rate": lambda v: "" if v is None else f"{v.normalize():f}%"}
    description_columns = {"rate": _l("Worked out from the two counts")}


declare(
    Survey,
    view=SurveyView,
    rest="survey",
    menu=("Records", "fa-square-poll-vertical"),
    rights="day_to_day",
    roster=resources.SURVEYS,
    api_columns=[
        "village_id",
        "year",
        "kind",
        "asked",
        "answered_well",
        "rate",
        "surveyed_on",
        "notes",
    ],
    api_read_only=("rate",),
)


# --- Home ---


class HomeView(IndexView):
    """The home page: the user's scope, its reminders, members by status and groups."""

    index_template = "home.html"

    @expose("/")
    def index(self):
        user = accounts.current_user()
        context = {}
        if user is not None and user.is_authenticated:
            scope = accounts.current_scope()
            session = self.appbuilder.session
            in_scope = security.scope_criteria(Member, scope)
            by_status = dict(
                session.execute(
                    select(Member.status, func.count()).where(in_scope).group_by(Member.status)
                ).all()
            )
            groups = session.execute(
                select(func.count())
                .select_from(MemberGroup)
                .where(security.scope_criteria(MemberGroup, scope))
            ).scalar()
            villages = session.execute(
                select(func.count())
                .select_from(Village)
                .where(security.scope_criteria(Village, scope))
            ).scalar()
            context = {
                "scope_label": scope.label(),
                "roles": [accounts.ROLE_LABELS.get(r, r) for r in accounts.role_names(user)],
                "by_status": by_status,
                "statuses": Member.status.info["choices"],
                "groups": groups,
                "villages": villages,
                "board": reminders.board(scope, dt.date.today(), user),
                "tasks": tasks.home_tasks(scope, dt.date.today())
                if accounts.can(user, accounts.READ, "TaskAssignment")
                else None,
                "may_report": accounts.can(user, accounts.EDIT, "TaskAssignment"),
                "scope_level": scope.level,
                "registers": [
                    (name, REGISTRY[name].model.__label__)
                    for _view, name, _icon, _category in menu()
                    if accounts.can(user, accounts.READ, name)
                ],
            }
        self.update_redirect()
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)


def menu():
    """(view, model name, icon, category) of every register with a menu place, in order."""
    return [(r.view, r.name, *reversed(r.menu)) for r in REGISTRY.values() if r.menu]


def apis():
    """Every register's API class: given by its block, or derived from its screen's forms."""
    for reg in REGISTRY.values():
        if reg.api is None and reg.rest:
            reg.api = derived_api(reg)
    return [reg.api for reg in REGISTRY.values() if reg.api is not None]


def _relate():
    """The detail pages' related lists, from the blocks (by model name: declared in any order)."""
    for reg in REGISTRY.values():
        if reg.related:
            reg.view.related_views = [REGISTRY[name].view for name in reg.related]


def register(appbuilder):
    """Every screen and API, from the registry: in one block by menu category."""
    check_declared()
    app = current_app
    speed.install(app)
    inputs.install(app)

    @app.url_value_preprocessor
    def unknown_pk_is_not_found(_endpoint, values):
        # A record number no id column holds is simply not found (not a 500): pk, owner_id…
        for key, value in (values or {}).items():
            if (key == "pk" or key.endswith("_id")) and not valid_pk(value):
                abort(404)

    _relate()
    for view, name, icon, category in menu():
        appbuilder.add_view(
            view,
            name,
            label=REGISTRY[name].model.__label__,
            icon=icon,
            category=category,
            category_label=CATEGORY_LABELS[category],
        )
    appbuilder.add_view(
        AuditLogView,
        "AuditLog",
        label=_l("Audit log"),
        icon="fa-clipboard-list",
        category="Audit",
        category_label=_l("Audit"),
    )
    for api_class in apis() + [AuditLogApi]:
        appbuilder.add_api(api_class)
    tasks.register(appbuilder)
