"""Township tasks (上级交办任务, seeds 000 Art. 8.13; issue 9): assigning, reporting, following.

The administrator assigns a task to one, several or all villages of a township in one step (the
task form or ``POST /api/v1/task/`` with ``village_ids`` or ``all_villages``); each assignment is
a ``TaskAssignment`` of the village, scoped and audited like any record. A task for every village
of a county (``whole_county``, issue 18) is the same task given to each township of the county
in the same step, so that a township, its villages and the norm R21 see a task of their own
township as before; the county follows them per township (``/tasks/county``). The village's
president or secretary reports it done with a note and an optional file (``/tasks/report/<id>``);
the township follows every village on a read-only table of tasks × villages (``/tasks/progress``).
A task is overdue the day after its due date while it is still open.
"""

import datetime as dt
import uuid

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.fields import QuerySelectMultipleField
from flask_appbuilder.fieldwidgets import Select2ManyWidget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, select
from wtforms import BooleanField

from app import accounts, records, security, uploads
from app.inputs import record_id, valid_pk
from app.machinery import FieldErrors, RecordApi, RecordView, api, flag
from app.models import Attachment, Branch, Task, TaskAssignment, Township, Village
from app.speed import SQLAInterface

# --- Assigning ---


def village_choices():
    """The villages the writer may assign a task to (the scope filter, as everywhere)."""
    session = current_app.appbuilder.session
    return session.scalars(
        select(Village)
        .where(security.scope_criteria(Village, accounts.current_scope()))
        .order_by(Village.township_id, Village.id)
    ).all()


WHOLE_COUNTY_LABEL = _l("Every village of the county")
WHOLE_COUNTY_HELP = _l(
    "The same task for every township of the chosen township's county, each to all its villages"
)


def assignment_fields() -> dict:
    """The task form's extra fields: all villages of the township, or a choice of them."""
    return {
        "all_villages": BooleanField(_l("All villages of the township"), default=False),
        "villages": QuerySelectMultipleField(
            _l("Assigned to"),
            query_func=village_choices,
            get_pk_func=lambda village: village.id,
            get_label=lambda village: f"{village.township} {village.name}",
            widget=Select2ManyWidget(),
        ),
    }


def wanted(township_id, village_ids, all_villages, session) -> tuple[list[int], dict]:
    """(the villages a task goes to, field → message for what is wrong)."""
    if not township_id:
        return [], {}
    of_township = session.scalars(
        select(Village.id).where(Village.township_id == township_id).order_by(Village.id)
    ).all()
    if all_villages:
        if not of_township:
            return [], {"villages": _l("This township has no villages yet")}
        return list(of_township), {}
    ids = list(dict.fromkeys(village_ids or []))
    if not ids:
        return [], {"villages": _l("Choose at least one village, or all villages of the township")}
    if set(ids) - set(of_township):
        return [], {"villages": _l("Only villages of the task's township can be assigned")}
    return ids, {}


def county_townships(township_id, session) -> tuple[list[tuple[int, list[int]]], dict]:
    """(the other townships of the township's county with their villages, field → message):
    where a task given to the whole county goes besides its own township."""
    county_id = session.scalar(select(Township.county_id).where(Township.id == township_id))
    if county_id is None:
        return [], {"whole_county": _l("This township belongs to no county")}
    villages = session.execute(
        select(Village.township_id, Village.id)
        .join(Township, Township.id == Village.township_id)
        .where(Township.county_id == county_id, Township.id != township_id)
        .order_by(Village.township_id, Village.id)
    ).all()
    others = {}
    for other, village_id in villages:
        others.setdefault(other, []).append(village_id)
    return list(others.items()), {}


def give_to_county(task, session) -> list[Task]:
    """The task, just added for its township, added for every other township of its county
    too, each to all its villages: in the same transaction, audited as any insert."""
    others, errors = county_townships(task.township_id, session)
    if errors:
        raise FieldErrors(errors)
    copies = []
    for township_id, village_ids in others:
        copy = Task(
            township_id=township_id, title=task.title, body=task.body, due_date=task.due_date
        )
        session.add(copy)
        assign(copy, village_ids, session)
        copies.append(copy)
    return copies


def removal_errors(task, ids) -> dict:
    """A village that has reported the task done keeps it: its report is a record."""
    kept = [
        a.village.name for a in task.assignments if a.status == "done" and a.village_id not in ids
    ]
    if kept:
        return {
            "villages": _l(
                "%(villages)s reported this task done: it stays assigned", villages="、".join(kept)
            )
        }
    return {}


def assign(task, ids, session) -> None:
    """Add the assignments the task lacks and take off the open ones no longer wanted."""
    current = {a.village_id: a for a in task.assignments}
    for village_id in ids:
        if village_id not in current:
            task.assignments.append(TaskAssignment(village_id=village_id, status="open"))
    for village_id, assignment in current.items():
        if village_id not in ids and assignment.status == "open":
            task.assignments.remove(assignment)
            if assignment.id is not None:
                # Deleted now, not as an orphan at flush time: its attachments (and their files)
                # go with it (uploads.follow_owners reads the session's deletions).
                session.delete(assignment)
    task.assigned_on = task.assigned_on or dt.date.today()


def assignment_errors(values: dict, old: dict | None, user, session) -> dict:
    """A village reports its task done on the day it reports it, as ``/tasks/report`` does;
    no one dates a report in the future or before the task was assigned; only the
    administrator reopens a task reported done."""
    old = old or {}
    admin = "Admin" in accounts.role_names(user)
    errors = {}
    done_on, today = values.get("done_on"), dt.date.today()
    if done_on and done_on != old.get("done_on"):
        task = session.get(Task, values.get("task_id")) if values.get("task_id") else None
        if done_on > today:
            errors["done_on"] = _l("Cannot be in the future")
        elif task is not None and task.assigned_on and done_on < task.assigned_on:
            errors["done_on"] = _l(
                "Cannot be before the task was assigned (%(day)s)", day=task.assigned_on.isoformat()
            )
        elif not admin and done_on != today:
            errors["done_on"] = _l("A village reports a task done on the day it reports it (today)")
    if old.get("status") == "done" and values.get("status") == "open" and not admin:
        errors["status"] = _l("Only the system administrator reopens a task reported done")
    return errors


def chosen_villages(task) -> list[int]:
    """The villages the form (or the API request) chose for the task, checked once more."""
    session = current_app.appbuilder.session
    if "task_villages" in g:
        village_ids, all_villages = g.pop("task_villages")
    else:
        village_ids = [v.id for v in getattr(task, "villages", None) or []]
        all_villages = bool(getattr(task, "all_villages", False))
    all_villages = all_villages or whole_county(task)
    ids, errors = wanted(task.township_id, village_ids, all_villages, session)
    errors = errors or removal_errors(task, ids)
    if errors:
        raise FieldErrors(errors)
    return ids


def whole_county(task) -> bool:
    """Whether the task being added goes to every village of its county (the form's box, or
    ``whole_county`` in the API request)."""
    return bool(getattr(task, "whole_county", False)) or g.get("task_county", False)


def assigning_form(form_class):
    """The task form, refusing a choice of villages that does not fit (and keeping the input)."""

    class AssigningForm(form_class):
        def validate(self, extra_validators=None):
            valid = super().validate(extra_validators)
            township = self.township.data
            if township is None:
                return False
            session = current_app.appbuilder.session
            county = getattr(self, "whole_county", None)
            ids, errors = wanted(
                township.id,
                [v.id for v in self.villages.data or []],
                self.all_villages.data or bool(county and county.data),
                session,
            )
            pk = (request.view_args or {}).get("pk")
            if not errors and pk is not None:
                task = session.get(Task, int(pk))
                errors = removal_errors(task, ids) if task is not None else {}
            if not errors and county is not None and county.data:
                errors = county_townships(township.id, session)[1]
            for name, message in errors.items():
                field = getattr(self, name)
                field.errors = list(field.errors) + [str(message)]
            return valid and not errors

    AssigningForm.__name__ = form_class.__name__
    return AssigningForm


class TaskApi(RecordApi):
    """/api/v1/task/: a task and, in the same request, the villages it goes to
    (``village_ids``: a list of ids, or ``all_villages``: true; on adding, ``whole_county``:
    true gives it to every village of the township's county, a task per township, and answers
    their ids as ``county_task_ids``)."""

    datamodel = SQLAInterface(Task)
    resource_name = "task"
    list_columns = show_columns = [
        "id",
        "township_id",
        "title",
        "body",
        "due_date",
        "assigned_on",
        "file_name",
    ]
    add_columns = edit_columns = ["township_id", "title", "body", "due_date"]
    search_columns = ["township_id", "title", "due_date", "assigned_on"]
    order_columns = ["id", "title", "due_date", "assigned_on"]
    base_order = ("id", "asc")
    openapi_spec_methods = {
        "post": {
            "post": {
                "description": "Add a task; give `village_ids` or `all_villages`, or "
                "`whole_county` for every village of the township's county (a task per township)."
            }
        }
    }

    def _take_villages(self, required):
        """Read the villages out of the request body before the schema sees it."""
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return
        county = data.pop("whole_county", False)
        if county not in (True, False) or (county and not required):
            raise FieldErrors(
                {"whole_county": _l("Give true to add the task for every village of the county")}
            )
        g.task_county = county
        village_ids = data.pop("village_ids", None)
        all_villages = data.pop("all_villages", False) or county
        if village_ids is None and not all_villages and not required:
            return
        if not isinstance(village_ids, list | type(None)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in village_ids or []
        ):
            raise FieldErrors({"village_ids": _l("Give a list of village numbers")})
        g.task_villages = (village_ids, all_villages is True)

    def _post_with_villages(self):
        try:
            self._take_villages(required=True)
        except FieldErrors as exc:
            return self.response_400(message=exc.errors)
        return super().post_headless()

    def put_headless(self, pk):
        try:
            self._take_villages(required=False)
        except FieldErrors as exc:
            return self.response_400(message=exc.errors)
        return super().put_headless(pk)

    def _write(self, item, old):
        moved = old is not None and old.get("township_id") != item.township_id
        if moved and "task_villages" not in g and item.assignments:
            # Its villages would stay in the old township: move it with its new villages.
            raise FieldErrors(
                {
                    "township_id": _l(
                        "The task is assigned to villages of its township: give the villages "
                        "of the new township (village_ids or all_villages) to move it"
                    )
                }
            )
        super()._write(item, old)
        if old is None or "task_villages" in g:
            assign(item, chosen_villages(item), self.datamodel.session)
        if old is None and whole_county(item):
            g.county_tasks = give_to_county(item, self.datamodel.session)

    def post_headless(self):
        response = self._post_with_villages()
        copies = g.pop("county_tasks", None)
        if response.status_code == 201 and copies is not None:
            body = response.get_json()
            body["county_task_ids"] = [body["id"], *(copy.id for copy in copies)]
            return self.response(201, **body)
        return response

    def post_delete(self, item):
        if item.file_stored:
            uploads.remove(item.file_stored)


# --- Reporting done ---


def signed_in():
    user = accounts.current_user()
    if user is None or not user.is_authenticated:
        abort(401)
    return user


def report(pk):
    """The village's president or secretary reports its task done: note, optional file."""
    user = signed_in()
    if not accounts.can(user, accounts.EDIT, "TaskAssignment"):
        abort(403)
    assignment = uploads.scoped(TaskAssignment, pk)
    session = current_app.appbuilder.session
    back = url_for("TaskAssignmentView.show", pk=assignment.id)
    if assignment.status == "done":
        flash(_("This task was already reported done"), "info")
        return redirect(back)
    note = (request.form.get("note") or "").strip()
    if request.method == "GET":
        return render_report(assignment, note)
    file = request.files.get("file")
    data = content_type = None
    if file is not None and file.filename:
        problem, data, content_type = uploads.file_problem(file)
        if problem:
            flash(problem, "danger")
            return render_report(assignment, note), 400
    old = records.item_values(assignment)
    values = {**old, "status": "done", "done_on": dt.date.today(), "note": note or None}
    errors = records.prepare_write(TaskAssignment, values, old, user, session)
    if errors:
        for message in errors.values():
            flash(str(message), "danger")
        return render_report(assignment, note), 400
    records.apply_values(assignment, values, session)
    stored = None
    if data:
        stored = uuid.uuid4().hex
        uploads.store(stored, data)
        session.add(
            Attachment(
                village_id=assignment.village_id,
                group_id=None,
                owner_model="TaskAssignment",
                owner_id=assignment.id,
                filename=uploads.clean_filename(file.filename, content_type),
                stored_name=stored,
                content_type=content_type,
                size=len(data),
                uploaded_on=dt.datetime.now(dt.UTC).replace(tzinfo=None),
            )
        )
    try:
        session.commit()
    except Exception:
        session.rollback()
        if stored:
            uploads.remove(stored)
        raise
    flash(_("Reported done: %(task)s", task=assignment.task.title), "success")
    return redirect(back)


def render_report(assignment, note):
    return render_template(
        "task_report.html",
        appbuilder=current_app.appbuilder,
        assignment=assignment,
        note=note,
        accept=",".join(ext for exts in uploads.EXTENSIONS.values() for ext in exts),
        limit=uploads.human_size(current_app.config["UPLOAD_MAX_BYTES"]),
    )


# --- The task's own file ---


def task_file(pk):
    """GET: the task's file, to whoever sees the task; POST: the administrator replaces it."""
    user = signed_in()
    task = uploads.scoped(Task, pk)
    if request.method == "GET":
        if not task.file_stored:
            abort(404)
        response = uploads.send_stored(task.file_stored, task.file_type, task.file_name)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "sandbox"
        return response
    if not accounts.can(user, accounts.EDIT, "Task"):
        abort(403)
    back = redirect(url_for("TaskView.show", pk=task.id))
    problem, data, content_type = uploads.file_problem(request.files.get("file"))
    if problem:
        flash(problem, "danger")
        return back
    previous, stored = task.file_stored, uuid.uuid4().hex
    uploads.store(stored, data)
    task.file_name = uploads.clean_filename(request.files["file"].filename, content_type)
    task.file_stored, task.file_type = stored, content_type
    session = current_app.appbuilder.session
    try:
        session.commit()
    except Exception:
        session.rollback()
        uploads.remove(stored)
        raise
    if previous:
        uploads.remove(previous)
    flash(_("%(name)s uploaded", name=task.file_name), "success")
    return back


# --- Following: the home page and the table of tasks × villages ---


def home_tasks(scope, today: dt.date) -> dict:
    """What the home page shows: a village's open tasks; a township's overdue assignments; a
    county's count of them only (hundreds of rows: it follows them per township)."""
    session = current_app.appbuilder.session
    if scope.level == "county":
        overdue = session.scalar(
            select(func.count())
            .select_from(TaskAssignment)
            .join(Task, Task.id == TaskAssignment.task_id)
            .where(
                TaskAssignment.status == "open",
                Task.due_date < today,
                security.scope_criteria(TaskAssignment, scope),
            )
        )
        return {"open": [], "overdue": overdue}
    rows = session.execute(
        select(TaskAssignment, Task.due_date)
        .join(Task, Task.id == TaskAssignment.task_id)
        .where(
            TaskAssignment.status == "open",
            security.scope_criteria(TaskAssignment, scope),
        )
        .order_by(Task.due_date, TaskAssignment.id)
    ).all()
    open_items = [
        {"assignment": a, "due": due, "overdue": a.overdue_on(today), "village": a.village.name}
        for a, due in rows
    ]
    return {
        "open": open_items,
        "overdue": sum(1 for item in open_items if item["overdue"]),
    }


def progress(scope, today: dt.date, branch_id=None, township_id=None) -> dict:
    """Tasks × villages of the scope (of one branch or one township of it, if given): each cell
    open, done or overdue."""
    session = current_app.appbuilder.session
    villages_query = select(Village).where(security.scope_criteria(Village, scope))
    tasks_query = select(Task).where(security.scope_criteria(Task, scope))
    if branch_id is not None:
        villages_query = villages_query.where(Village.branch_id == branch_id)
    if township_id is not None:
        villages_query = villages_query.where(Village.township_id == township_id)
        tasks_query = tasks_query.where(Task.township_id == township_id)
    villages = session.scalars(villages_query.order_by(Village.branch_id, Village.id)).all()
    tasks = session.scalars(tasks_query.order_by(Task.due_date.desc(), Task.id.desc())).all()
    cells = {}
    for assignment in session.scalars(
        select(TaskAssignment).where(
            TaskAssignment.village_id.in_([v.id for v in villages]),
            TaskAssignment.task_id.in_([t.id for t in tasks]),
        )
    ):
        state = "overdue" if assignment.overdue_on(today) else assignment.status
        cells[(assignment.task_id, assignment.village_id)] = (state, assignment)
    branches_query = select(Branch).where(security.scope_criteria(Branch, scope))
    if township_id is not None:
        branches_query = branches_query.where(Branch.township_id == township_id)
    branches = session.scalars(branches_query.order_by(Branch.name)).all()
    return {"villages": villages, "tasks": tasks, "cells": cells, "branches": branches}


def by_township(scope, today: dt.date) -> list[dict]:
    """The tasks of the scope's townships, counted per township (one query): each task — the
    tasks of one title and due date, as a task given to a whole county is one task per
    township — with a row per township of its villages done, open and not yet due, and
    overdue. Newest due date first."""
    session = current_app.appbuilder.session
    is_open = TaskAssignment.status == "open"
    rows = session.execute(
        select(
            Task.title,
            Task.due_date,
            Township.id,
            Township.name,
            func.min(Task.id),
            func.count(TaskAssignment.id),
            func.count(case((TaskAssignment.status == "done", 1))),
            func.count(case((is_open & (Task.due_date >= today), 1))),
            func.count(case((is_open & (Task.due_date < today), 1))),
        )
        .join(Township, Township.id == Task.township_id)
        # The villages counted are the reader's too: a village sees its own task, not how the
        # other villages of its township stand.
        .outerjoin(
            TaskAssignment,
            and_(
                TaskAssignment.task_id == Task.id,
                security.scope_criteria(TaskAssignment, scope),
            ),
        )
        .where(security.scope_criteria(Task, scope))
        .group_by(Task.title, Task.due_date, Township.id, Township.name)
        .order_by(Task.due_date.desc(), Task.title, Township.id)
    ).all()
    tasks = {}
    for title, due, township_id, township, task_id, assigned, done, due_later, overdue in rows:
        task = tasks.setdefault((title, due), {"title": title, "due_date": due, "townships": []})
        task["townships"].append(
            {
                "id": township_id,
                "name": township,
                "task_id": task_id,
                "assigned": assigned,
                "done": done,
                "open": due_later,
                "overdue": overdue,
            }
        )
    for task in tasks.values():
        task["total"] = {
            key: sum(t[key] for t in task["townships"])
            for key in ("assigned", "done", "open", "overdue")
        }
    return list(tasks.values())


class TaskProgressView(BaseView):
    """The township's table of tasks × villages: read-only, the scope filter as everywhere."""

    route_base = "/tasks"
    default_view = "progress"
    class_permission_name = "Task"
    method_permission_name = {"progress": accounts.READ, "county": accounts.READ}

    @expose("/progress")
    @has_access
    def progress(self):
        scope = accounts.current_scope()
        branch_id = request.args.get("branch", type=record_id)
        township = None
        township_id = request.args.get("township", type=record_id)
        if township_id is not None:
            # A township of the scope, or as if there were none (404, never a 403).
            township = current_app.appbuilder.session.scalars(
                select(Township).where(
                    Township.id == township_id, security.scope_criteria(Township, scope)
                )
            ).first()
            if township is None:
                abort(404)
        table = progress(scope, dt.date.today(), branch_id, township_id)
        return self.render_template(
            "task_progress.html",
            branch_id=branch_id,
            township=township,
            today=dt.date.today(),
            **table,
        )

    @expose("/county")
    @has_access
    def county(self):
        """The county's tasks followed per township: villages done, open, overdue."""
        return self.render_template(
            "task_county.html",
            tasks=by_township(accounts.current_scope(), dt.date.today()),
            place=accounts.current_scope().label(),
        )


def task_panel(pk, assignment=False):
    """What a task's (or a village's task's) detail page adds: its file, who may do what."""
    if not valid_pk(pk):
        return None
    scope, user = accounts.current_scope(), accounts.current_user()
    session = current_app.appbuilder.session
    model = TaskAssignment if assignment else Task
    item = session.scalars(
        select(model).where(model.id == int(pk), security.scope_criteria(model, scope))
    ).one_or_none()
    if item is None:
        return None
    task = item.task if assignment else item
    return {
        "task": task,
        "can_edit": accounts.can(user, accounts.EDIT, "Task"),
        "can_follow": scope.level in ("all", "township"),
        "can_report": assignment
        and item.status == "open"
        and accounts.can(user, accounts.EDIT, "TaskAssignment"),
        "overdue": assignment and item.overdue,
        "accept": ",".join(ext for exts in uploads.EXTENSIONS.values() for ext in exts),
        "limit": uploads.human_size(current_app.config["UPLOAD_MAX_BYTES"]),
    }


# --- Screens (declared like the registers of app/views.py, which puts them in its menu) ---


class TaskAssignmentView(RecordView):
    """A task as each village has it: the village reports it done (status, date, note, files)."""

    datamodel = SQLAInterface(TaskAssignment)
    show_template = "task_assignment_show.html"
    # Assignments are made with their task (TaskView), never one by one.
    exclude_route_methods = RecordView.exclude_route_methods | {"add"}
    list_columns = ["task", "village", "due_date", "status", "done_on", "overdue"]
    edit_columns = ["status", "done_on", "note"]
    show_columns = ["task", "village", "due_date", "status", "done_on", "note"]
    search_columns = ["task", "village", "status", "done_on"]
    base_order = ("id", "desc")
    label_columns = {"task": _l("Task"), "due_date": _l("Due date"), "overdue": _l("Overdue")}
    formatters_columns = {"overdue": lambda v: flag(v, _l("Overdue"))}
    sort_by = {"due_date": "task.due_date"}
    write_check = staticmethod(assignment_errors)


class TaskView(RecordView):
    """上级交办任务: the administrator assigns a task to some or all villages of a township."""

    datamodel = SQLAInterface(Task)
    show_template = "task_show.html"
    list_columns = ["due_date", "title", "township", "assigned_on"]
    add_columns = edit_columns = [
        "township",
        "title",
        "body",
        "due_date",
        "all_villages",
        "villages",
    ]
    show_columns = ["township", "title", "body", "due_date", "assigned_on"]
    search_columns = ["township", "title", "due_date"]
    base_order = ("due_date", "desc")
    # Given to a whole county only when added: afterwards each township's task is its own.
    add_columns = [*add_columns, "whole_county"]
    label_columns = {
        "all_villages": _l("All villages of the township"),
        "villages": _l("Assigned to"),
        "whole_county": WHOLE_COUNTY_LABEL,
    }
    description_columns = {
        "villages": _l("One or several villages; or tick the box above for all of them"),
        "whole_county": WHOLE_COUNTY_HELP,
    }

    def __init__(self, **kwargs):
        extra = assignment_fields()
        county = {"whole_county": BooleanField(WHOLE_COUNTY_LABEL, default=False)}
        self.add_form_extra_fields = {**extra, **county, **(self.add_form_extra_fields or {})}
        self.edit_form_extra_fields = {**extra, **(self.edit_form_extra_fields or {})}
        super().__init__(**kwargs)

    def _init_forms(self):
        super()._init_forms()
        self.add_form = assigning_form(self.add_form)
        self.edit_form = assigning_form(self.edit_form)

    def prefill_form(self, form, pk):
        super().prefill_form(form, pk)
        item = self.datamodel.get(pk, self._base_filters)
        if item is not None:
            form.villages.data = [a.village for a in item.assignments]

    def _write(self, item, is_new):
        super()._write(item, is_new)
        assign(item, chosen_villages(item), self.datamodel.session)
        if is_new and whole_county(item):
            g.county_tasks = give_to_county(item, self.datamodel.session)

    def post_add(self, item):
        super().post_add(item)
        copies = g.pop("county_tasks", None)
        if copies is not None:
            flash(
                _(
                    "Added for %(n)d more townships of the county, each to all its villages",
                    n=len(copies),
                ),
                "success",
            )

    def post_delete(self, item):
        if item.file_stored:
            uploads.remove(item.file_stored)


TaskAssignmentApi = api(
    TaskAssignment,
    "task_assignment",
    ["task_id", "village_id", "status", "done_on", "note"],
    # Made with their task (POST /api/v1/task/), reported done by the village.
    read_only=("task_id", "village_id"),
    routes={"get", "get_list", "info", "put", "delete"},
    write_check=staticmethod(assignment_errors),
)


def register(appbuilder):
    """The progress table and the report and file routes (the task API: its block, app/views.py)."""
    app = current_app
    app.add_template_global(task_panel)
    appbuilder.add_view_no_menu(TaskProgressView)
    app.add_url_rule("/tasks/report/<int:pk>", "task_report", report, methods=["GET", "POST"])
    app.add_url_rule("/tasks/<int:pk>/file", "task_file", task_file, methods=["GET", "POST"])
