"""Screens and REST resources, declared per model; the shared behaviour lives in app/machinery.py.

``RecordView`` (HTML) and ``RecordApi`` (REST) read each model's declarations — labels, choices,
checks and ``__scope__`` — so that a new model needs only its column lists here. The task
screens live with the tasks (app/tasks.py).
"""

import datetime as dt
import functools
import json

from flask import abort, current_app, flash, g, redirect, request
from flask_appbuilder import IndexView, ModelRestApi, ModelView, expose
from flask_appbuilder.actions import action
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import (
    Boolean,
    extract,
    func,
    select,
)

from app import (
    accounts,
    audit,
    crypto,
    inputs,
    records,
    reminders,
    security,
    speed,
    tasks,
)
from app.inputs import valid_pk
from app.machinery import (
    Declared,
    RecordView,
    api,
    flag,
    yes_no,
)
from app.masking import MASKERS
from app.models import (
    BUSINESS_MODELS,
    Activity,
    Agreement,
    Assistance,
    AuditLog,
    Award,
    Benefit,
    Branch,
    Complaint,
    ContactHousehold,
    CouncilSeat,
    CouncilTerm,
    Document,
    FundEntry,
    Household,
    Meeting,
    Member,
    MemberGroup,
    Notice,
    Resolution,
    Survey,
    Township,
    Venue,
    Village,
)
from app.resources import RESOURCES
from app.speed import SQLAInterface


class TownshipView(RecordView):
    datamodel = SQLAInterface(Township)
    list_columns = ["name", "division_code", "county"]
    add_columns = edit_columns = show_columns = ["name", "division_code", "county"]
    search_columns = ["name", "county"]
    base_order = ("name", "asc")


class MemberGroupView(RecordView):
    datamodel = SQLAInterface(MemberGroup)
    list_columns = ["village", "name", "leader"]
    add_columns = ["village", "name", "leader", "contact_heads"]
    edit_columns = add_columns
    show_columns = ["village", "name", "leader", "contact_heads"]
    search_columns = ["village", "name"]
    base_order = ("id", "asc")
    label_columns = {"leader": _l("Group leader"), "contact_heads": _l("Contact household heads")}


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
    method_permission_name = {
        **RecordView.method_permission_name,
        "approve": "approve",
        "reject": "approve",
    }

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
        return redirect(self.get_redirect())


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
    search_columns = ["head_name", "group", "member", "household_type"]
    base_order = ("id", "asc")
    label_columns = {"member": _l("Contact member")}


class CouncilSeatView(RecordView):
    datamodel = SQLAInterface(CouncilSeat)
    list_columns = ["term", "member", "position", "composition", "day_job"]
    add_columns = edit_columns = ["village", "term", "member", "position", "composition", "day_job"]
    show_columns = add_columns
    search_columns = ["term", "member", "position", "composition"]
    base_order = ("id", "asc")
    label_columns = {"term": _l("Council term"), "member": _l("Member")}


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
    related_views = [CouncilSeatView]


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
    related_views = [MemberGroupView, CouncilTermView]
    description_columns = {"branch": _l("Optional: the branch (responsibility zone) it belongs to")}


class BranchView(RecordView):
    datamodel = SQLAInterface(Branch)
    list_columns = ["name", "township", "head"]
    add_columns = edit_columns = show_columns = ["township", "name", "head"]
    search_columns = ["name", "township", "head"]
    base_order = ("name", "asc")
    related_views = [VillageView]


# --- Work records ---


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
    related_views = [ResolutionView]


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
    search_columns = ["kind", "theme", "group", "date"]
    base_order = ("date", "desc")
    label_columns = {"participants": _l("Members who took part")}


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
    search_columns = ["household", "kind", "date", "provided_by"]
    base_order = ("date", "desc")
    label_columns = {"household": _l("Household")}


def assistance_by_year(household_id):
    """(year, records, money total) of a household's assistance, newest year first; scoped."""
    if not accounts.can(accounts.current_user(), accounts.READ, "Assistance"):
        return []
    year = extract("year", Assistance.date)
    return current_app.appbuilder.session.execute(
        select(year, func.count(), func.sum(Assistance.money))
        .where(
            # The template passes the pk as the URL gave it: text, which PostgreSQL won't compare.
            Assistance.household_id == int(household_id),
            security.scope_criteria(Assistance, accounts.current_scope()),
        )
        .group_by(year)
        .order_by(year.desc())
    ).all()


class HouseholdView(RecordView):
    datamodel = SQLAInterface(Household)
    show_template = "household_show.html"
    extra_args = {"assistance_by_year": assistance_by_year}
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
    related_views = [AssistanceView]


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
    search_columns = ["kind", "group", "signage"]
    base_order = ("id", "asc")


class NoticeView(RecordView):
    datamodel = SQLAInterface(Notice)
    list_columns = ["published_on", "kind", "title"]
    add_columns = edit_columns = ["village", "kind", "title", "body", "published_on"]
    show_columns = add_columns
    search_columns = ["kind", "title", "published_on"]
    base_order = ("published_on", "desc")


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


VillageView.related_views = [
    MemberGroupView,
    CouncilTermView,
    MeetingView,
    ActivityView,
    HouseholdView,
    ComplaintView,
    DocumentView,
]
MemberGroupView.related_views = [MemberView, ContactHouseholdView, MeetingView, HouseholdView]
MemberView.related_views = [ActivityView, AwardView, ContactHouseholdView]


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


# --- REST API (SPEC §6) ---

MEMBER_API_COLUMNS = [
    "village_id",
    "group_id",
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
    "applied_on",
    "left_on",
    "leave_reason",
    "notes",
]

APIS = [
    api(Township, "township", ["name", "division_code", "county"]),
    api(
        Village,
        "village",
        [
            "township_id",
            "branch_id",
            "name",
            "kind",
            "size_class",
            "households",
            "population",
            "married_women",
            "address",
            "phone",
        ],
    ),
    api(MemberGroup, "member_group", ["village_id", "name", "leader_id"]),
    api(
        Member,
        "member",
        MEMBER_API_COLUMNS,
        search=[
            "village_id",
            "group_id",
            "name",
            "id_number",
            "gender",
            "category",
            "status",
            "join_date",
        ],
    ),
    api(
        ContactHousehold,
        "contact_household",
        [
            "village_id",
            "group_id",
            "member_id",
            "head_name",
            "address",
            "phone",
            "household_type",
            "notes",
        ],
    ),
    api(
        CouncilTerm,
        "council_term",
        ["village_id", "number", "elected_on", "term_end", "filed_on", "approval_ref"],
    ),
    api(
        CouncilSeat,
        "council_seat",
        ["village_id", "term_id", "member_id", "position", "composition", "day_job"],
    ),
    api(
        Meeting,
        "meeting",
        [
            "village_id",
            "group_id",
            "type",
            "date",
            "place",
            "chair",
            "recorder",
            "other_attendees",
            "topics",
            "minutes",
            "sent_to_township_on",
        ],
    ),
    api(
        Resolution,
        "resolution",
        ["village_id", "meeting_id", "text", "owner", "due_date", "status", "done_on"],
    ),
    api(
        Activity,
        "activity",
        [
            "village_id",
            "group_id",
            "kind",
            "theme",
            "date",
            "place",
            "participants_count",
            "materials",
            "description",
        ],
    ),
    api(
        Household,
        "household",
        [
            "village_id",
            "group_id",
            "head_name",
            "id_number",
            "family_type",
            "difficulty",
            "size",
            "address",
            "phone",
            "surveyed_on",
            "status",
            "paired_member_id",
            "township_contact",
            "village_contact",
            "family_doctor",
            "notes",
        ],
        search=["village_id", "group_id", "head_name", "id_number", "special", "status"],
    ),
    api(
        Assistance,
        "assistance",
        ["village_id", "household_id", "date", "kind", "money", "goods", "provided_by", "notes"],
    ),
    api(
        Benefit,
        "benefit",
        [
            "village_id",
            "person_name",
            "id_number",
            "household_id",
            "kind",
            "certificate_no",
            "year",
            "amount",
            "status",
        ],
        search=["village_id", "person_name", "id_number", "kind", "year", "status"],
    ),
    api(
        Agreement,
        "agreement",
        [
            "village_id",
            "household_id",
            "party_name",
            "signed_on",
            "expires_on",
            "status",
            "review_notes",
        ],
    ),
    api(
        Document,
        "document",
        ["village_id", "kind", "title", "year", "adopted_on", "adopted_by", "filed_on", "body"],
    ),
    api(
        Complaint,
        "complaint",
        [
            "village_id",
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
        ],
        search=["village_id", "received_on", "channel", "kind", "status"],
    ),
    api(
        Award,
        "award",
        ["village_id", "group_id", "year", "kind", "member_id", "recipient_name", "level", "notes"],
    ),
    api(
        Venue,
        "venue",
        ["village_id", "group_id", "kind", "signage", "facilities", "area", "checked_on"],
    ),
    api(Notice, "notice", ["village_id", "title", "body", "kind", "published_on"]),
    api(
        FundEntry,
        "fund_entry",
        ["village_id", "date", "direction", "category", "amount", "description", "handled_by"],
    ),
    api(Branch, "branch", ["township_id", "name", "head"]),
    tasks.TaskAssignmentApi,
    api(
        Survey,
        "survey",
        [
            "village_id",
            "year",
            "kind",
            "asked",
            "answered_well",
            "rate",
            "surveyed_on",
            "notes",
        ],
        read_only=("rate",),
    ),
]


# --- Audit log: read-only for everyone, Admin included ---


def record_name(model, pk):
    """A record's human name (its ``__repr__``) for display, looked up once per request."""
    names = g.setdefault("record_names", {})
    key = (model.__name__, pk)
    if key not in names:
        item = current_app.appbuilder.session.get(model, pk) if valid_pk(pk) else None
        names[key] = str(item) if item is not None else f"#{pk}"
    return names[key]


def village_name(village_id):
    return "" if village_id is None else record_name(Village, village_id)


def roster_title(kind):
    """A roster KIND by its register's name (花名册), as the import and export pages say it."""
    resource = RESOURCES.get(kind)
    return getattr(resource, "title", None) or kind


# What an import, export or other event entry says, besides register fields.
EVENT_LABELS = {
    "kind": _l("Register"),
    "file": _l("File"),
    "format": _l("Format"),
    "rows": _l("Rows"),
    "sha256": "SHA-256",
    "inserted": _l("Inserted"),
    "updated": _l("Updated"),
    "unchanged": _l("Unchanged"),
    "rejected": _l("Rejected rows"),
    "bytes": _l("Size (bytes)"),
    "database": _l("Database"),
    "revision": _l("Schema revision"),
    "backup_last_entry": _l("Last entry in the backup"),
    "replaced_last_entry": _l("Last entry of the replaced database"),
    "replaced_last_hash": _l("Its hash"),
}


def _field_display():
    """Field name → (label, how to show a value), from the audited models' declarations."""
    shown = {key: (label, str) for key, label in EVENT_LABELS.items()}
    shown["kind"] = (EVENT_LABELS["kind"], roster_title)
    tables = {model.__tablename__: model for model in BUSINESS_MODELS}
    for model in BUSINESS_MODELS:
        for key, column in records.columns(model).items():
            if key in shown or "label" not in column.info:
                continue
            choices = column.info.get("choices")
            targets = [tables.get(fk.column.table.name) for fk in column.foreign_keys]
            if choices is not None:
                show = choices.label
            elif isinstance(column.type, Boolean):
                show = yes_no
            elif targets and targets[0] is not None:
                show = functools.partial(record_name, targets[0])
            else:
                show = str
            shown[key] = (column.info["label"], show)
    return shown


FIELD_DISPLAY = _field_display()


def _shown(key, value):
    """One value of an entry, as the records show it: labels, masked for the user's role."""
    value = crypto.unseal(value)
    if value is None or value == "":
        return ""
    if key in audit.SECRET_FIELDS:
        return "***"  # the log's keyed fingerprint of a password hash: for verify, not readers
    if key in MASKERS and accounts.masks(key):
        return MASKERS[key](value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return FIELD_DISPLAY.get(key, (key, str))[1](value)


def _record_filter():
    """The record the audit list is filtered to (a record's history), if any."""
    value = request.args.get(f"_flt_{reminders.NUMBER_EQUAL}_record_id", "")
    return int(value) if valid_pk(value) else None


def changes_table(value):
    """An entry's {field: [before, after]} as a small table: labels, masked like the records."""
    if not value:
        return ""
    try:
        changes = json.loads(value)
    except ValueError:
        return value
    if "rows" in changes and "fields" in changes:
        return batch_table(changes)
    rows = []
    for key, pair in sorted(changes.items()):
        if not isinstance(pair, list) or len(pair) != 2:
            pair = [None, pair]
        label = FIELD_DISPLAY.get(key, (key, str))[0]
        cells = [_shown(key, v) for v in pair]
        rows.append(Markup("<tr><th>{}</th><td>{}</td><td>{}</td></tr>").format(label, *cells))
    return Markup('<table class="table table-condensed audit-changes">{}</table>').format(
        Markup("").join(rows)
    )


def batch_table(changes):
    """A bulk write's rows: the record asked for, all of them on the entry's page, else a count."""
    fields, rows, same = changes["fields"], changes["rows"], changes.get("same", {})
    wanted = _record_filter()
    caption = _("%(n)d records written in one batch", n=len(rows))
    if wanted is not None:
        # A record's history: its own row, as an insert entry shows it.
        row = next((row for row in rows if row[0] == wanted), None)
        if row is None:
            return caption
        values = {**same, **dict(zip(fields, row[1:], strict=True))}
        pairs = {k: [None, v] for k, v in values.items() if v is not None}
        return changes_table(json.dumps(pairs, default=str))
    if request.endpoint != "AuditLogView.show":
        return Markup('<span class="audit-batch">{}</span>').format(caption)
    shared = changes_table(
        json.dumps({k: [None, v] for k, v in same.items() if v is not None}, default=str)
    )
    cell = Markup("<td>{}</td>")
    header = Markup("").join(
        Markup("<th>{}</th>").format(FIELD_DISPLAY.get(k, (k, str))[0]) for k in fields
    )
    body = Markup("").join(
        Markup("<tr><th>#{}</th>{}</tr>").format(
            row[0],
            Markup("").join(
                cell.format(_shown(k, v)) for k, v in zip(fields, row[1:], strict=True)
            ),
        )
        for row in rows
    )
    return Markup(
        '<div class="audit-batch table-responsive"><p>{}</p>{}<p>{}</p>'
        '<table class="table table-condensed audit-changes"><tr><th></th>{}</tr>{}</table></div>'
    ).format(caption, shared, _("Row by row:"), header, body)


def utc_time(value):
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def role_labels(value):
    return "、".join(str(accounts.ROLE_LABELS.get(r, r)) for r in (value or "").split(",") if r)


def _unsealed(value):
    """An entry's changes with encrypted values decrypted (the log keeps them sealed)."""
    if isinstance(value, dict):
        return {k: _unsealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsealed(v) for v in value]
    return crypto.unseal(value)


def masked_changes(value):
    """The changes JSON with ID numbers and phones masked for the roles that see them masked."""
    if not value:
        return value
    changes = _unsealed(json.loads(value))
    if "rows" in changes and "fields" in changes:
        for i, key in enumerate(changes["fields"], start=1):
            if key in MASKERS and accounts.masks(key):
                for row in changes["rows"]:
                    row[i] = MASKERS[key](row[i]) if row[i] else row[i]
        same = changes.get("same", {})
        for key in MASKERS:
            if same.get(key) and accounts.masks(key):
                same[key] = MASKERS[key](same[key])
        return json.dumps(changes, ensure_ascii=False, sort_keys=True)
    for key in MASKERS:
        if key in changes and accounts.masks(key) and isinstance(changes[key], list):
            changes[key] = [MASKERS[key](v) if v else v for v in changes[key]]
    for key in audit.SECRET_FIELDS & changes.keys():
        if isinstance(changes[key], list):
            changes[key] = ["***" if v else v for v in changes[key]]
    return json.dumps(changes, ensure_ascii=False, sort_keys=True)


from app.speed import AuditLogInterface  # noqa: E402 (its FAB filter hook: app/fab_hooks.py)

AUDIT_COLUMNS = [
    "ts",
    "username",
    "role",
    "action",
    "model",
    "records",
    "village_id",
    "changes",
]


class AuditLogView(Declared, ModelView):
    """The audit log: list and detail only — there is no way to add, edit or delete an entry."""

    datamodel = AuditLogInterface(AuditLog)
    include_route_methods = {"list", "show"}
    method_permission_name = {"list": "read", "show": "read"}
    list_columns = AUDIT_COLUMNS
    show_columns = [*audit.HASHED_FIELDS, "record_last", "prev_hash", "hash"]
    search_columns = ["ts", "username", "action", "model", "record_id"]
    # Not by the changes: they hold values a reader may see masked (a birth date).
    order_columns = ["ts", "username", "role", "action", "model", "records", "village_id"]
    base_order = ("id", "desc")
    page_size = 50
    sort_by = {"records": "record_id"}

    def __init__(self, **kwargs):
        self._declare()
        self.label_columns["records"] = _l("Record")
        self.formatters_columns.update(
            changes=changes_table, ts=utc_time, role=role_labels, village_id=village_name
        )
        super().__init__(**kwargs)


class AuditLogApi(Declared, ModelRestApi):
    """GET only: the API offers no way to write the log, to Admin neither."""

    datamodel = AuditLogInterface(AuditLog)
    resource_name = "audit_log"
    include_route_methods = {"get", "get_list", "info"}
    method_permission_name = {"get": "read", "get_list": "read", "info": "read"}
    list_columns = show_columns = ["id"] + AuditLogView.show_columns[1:]
    search_columns = ["ts", "username", "action", "model", "record_id", "village_id"]
    order_columns = ["id", "ts"]
    base_order = ("id", "desc")

    def __init__(self, **kwargs):
        self._declare()
        super().__init__(**kwargs)

    def _mask(self, row):
        if "changes" in row:
            row["changes"] = masked_changes(row["changes"])

    def pre_get(self, data):
        self._mask(data.get("result", {}))

    def pre_get_list(self, data):
        for row in data.get("result", []):
            self._mask(row)


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
                    (name, MENU_LABELS[name])
                    for _view, name, _icon, _category in MENU
                    if accounts.can(user, accounts.READ, name)
                ],
            }
        self.update_redirect()
        return self.render_template(self.index_template, appbuilder=self.appbuilder, **context)


MENU_LABELS = {model.__name__: model.__label__ for model in BUSINESS_MODELS}

MENU = [
    # (view, model name, icon, category)
    (TownshipView, "Township", "fa-landmark", "Organisation"),
    (VillageView, "Village", "fa-house-flag", "Organisation"),
    (MemberGroupView, "MemberGroup", "fa-people-group", "Organisation"),
    (CouncilTermView, "CouncilTerm", "fa-sitemap", "Organisation"),
    (CouncilSeatView, "CouncilSeat", "fa-user-tie", "Organisation"),
    (MemberView, "Member", "fa-address-book", "Registers"),
    (ContactHouseholdView, "ContactHousehold", "fa-house-user", "Registers"),
    (BenefitView, "Benefit", "fa-award", "Registers"),
    (AgreementView, "Agreement", "fa-file-signature", "Registers"),
    (MeetingView, "Meeting", "fa-people-roof", "Records"),
    (ResolutionView, "Resolution", "fa-list-check", "Records"),
    (ActivityView, "Activity", "fa-calendar-check", "Records"),
    (ComplaintView, "Complaint", "fa-comments", "Records"),
    (NoticeView, "Notice", "fa-bullhorn", "Records"),
    (HouseholdView, "Household", "fa-hand-holding-heart", "Assistance"),
    (AssistanceView, "Assistance", "fa-hands-helping", "Assistance"),
    (DocumentView, "Document", "fa-folder-open", "Archive"),
    (AwardView, "Award", "fa-medal", "Archive"),
    (VenueView, "Venue", "fa-building", "Archive"),
    (FundEntryView, "FundEntry", "fa-coins", "Archive"),
    (BranchView, "Branch", "fa-map", "Organisation"),
    (tasks.TaskView, "Task", "fa-clipboard-check", "Records"),
    (tasks.TaskAssignmentView, "TaskAssignment", "fa-list-check", "Records"),
    (SurveyView, "Survey", "fa-square-poll-vertical", "Records"),
]
CATEGORY_LABELS = {
    "Organisation": _l("Organisation"),
    "Registers": _l("Registers"),
    "Records": _l("Work records"),
    "Assistance": _l("Families and assistance"),
    "Archive": _l("Archive"),
}


def register(appbuilder):
    """Every screen and API, in one block by menu category."""
    app = current_app
    speed.install(app)
    inputs.install(app)

    @app.url_value_preprocessor
    def unknown_pk_is_not_found(_endpoint, values):
        # A record number no id column holds is simply not found (not a 500): pk, owner_id…
        for key, value in (values or {}).items():
            if (key == "pk" or key.endswith("_id")) and not valid_pk(value):
                abort(404)

    for view, name, icon, category in MENU:
        appbuilder.add_view(
            view,
            name,
            label=MENU_LABELS[name],
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
    for api_class in APIS + [AuditLogApi]:
        appbuilder.add_api(api_class)
    tasks.register(appbuilder)
