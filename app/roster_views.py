"""The roster page (issue 5, items 5-7): upload → preview → confirm, and the exports.

An upload is checked by its content, run as a dry run, and kept server-side (under the instance
folder, readable by the app only, or in the object store: app/storage.py) until the same user
confirms it or an hour passes: the confirm form carries a random token, never a path, and the
stored bytes must still match the SHA-256 the preview saw. Who may import what follows the role
table: a KIND is offered to those who may add and edit its register; the Township role reads and
exports only.
"""

import hashlib
import io
import json
import os
import re
import secrets
import time

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from app import (
    accounts,
    exporter,
    inputs,
    registry,
    roster_template,
    security,
    storage,
    uploads,
)
from app.models import MemberGroup, Village
from app.reminders import RELATION_EQUAL
from app.resources import RESOURCES
from app.views import CATEGORY_LABELS

PENDING_FOLDER = "roster_uploads"
PENDING_LIFETIME = 3600  # seconds an upload waits for its confirmation
SHOWN_ERRORS = 20
TOKEN = re.compile(r"^[0-9a-f]{32}$")
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ACCEPT = ".csv,.xlsx,.xls"
MIMETYPES = {
    "xlsx": uploads.XLSX,
    "csv": "text/csv; charset=utf-8",
}


# --- Who may do what ---


def importable(user) -> list:
    """The KINDs whose register the user may add to and edit."""
    return [
        r
        for r in RESOURCES.values()
        if all(accounts.can(user, a, r.model.__name__) for a in (accounts.ADD, accounts.EDIT))
    ]


def exportable(user) -> list:
    return [r for r in RESOURCES.values() if accounts.can(user, accounts.READ, r.model.__name__)]


def current_labels(resource) -> str:
    """在册 (or 需帮扶, 享受中 …): the statuses an export writes unless every row is asked for."""
    choices = resource.model.status.info["choices"] if resource.current_statuses else None
    return "、".join(str(choices.label(code)) for code in resource.current_statuses)


def villages_in_scope(scope) -> list:
    session = current_app.appbuilder.session
    query = select(Village).where(security.scope_criteria(Village, scope)).order_by(Village.id)
    return list(session.scalars(query))


def target(user, village_id=None):
    """(village, group) the user's import lands in: Admin's chosen village, a village account's
    village, a group leader's group. None when there is none (404)."""
    scope = accounts.user_scope(user)
    session = current_app.appbuilder.session
    if scope.level == "all":
        village = session.get(Village, village_id) if village_id else None
        return (village, None) if village is not None else None
    if scope.level == "village":
        return session.get(Village, scope.village_id), None
    if scope.level == "group":
        return session.get(Village, scope.village_id), session.get(MemberGroup, scope.group_id)
    return None


def reading_name(filename: str, data: bytes) -> str | None:
    """The name the importer reads the bytes under, its suffix taken from the content: an
    .xlsx workbook (macro-free), an .xls workbook, or text named .csv; None for anything else."""
    stem = os.path.splitext(uploads.clean_filename(filename))[0] or "roster"
    if data.startswith(b"PK\x03\x04"):
        return f"{stem}.xlsx" if uploads.detect_type(data) == uploads.XLSX else None
    if data.startswith(XLS_MAGIC):
        return f"{stem}.xls"
    suffix = os.path.splitext(filename)[1].lower()
    if suffix == ".csv" and b"\x00" not in data:
        return f"{stem}.csv"
    return None


# --- Uploads waiting for their confirmation ---


def pending_files():
    """Where uploads wait (app.storage: under the instance folder, or the object store of
    STORAGE_URL, so that the confirmation may reach another app server than the preview)."""
    return storage.store(PENDING_FOLDER)


def sweep() -> None:
    """Remove uploads left unconfirmed for more than an hour."""
    files = pending_files()
    limit = time.time() - PENDING_LIFETIME
    for name, modified in files.list():
        if modified < limit:
            files.delete(name)


def keep(data: bytes, meta: dict) -> str:
    """Store an upload and what it is for; the token names it (the file first: its
    description is what makes it confirmable)."""
    token = secrets.token_hex(16)
    files = pending_files()
    for suffix, content in ((".bin", data), (".json", json.dumps(meta).encode())):
        files.put(token + suffix, content)
    return token


def pending(token: str, user) -> tuple[dict, bytes]:
    """The upload behind ``token`` if this user made it within the hour and it is intact (404
    otherwise: another user's token confirms nothing about it)."""
    if not TOKEN.fullmatch(token or ""):
        abort(404)
    files = pending_files()
    try:
        meta = json.loads(files.get(token + ".json"))
        data = files.get(token + ".bin")
        modified = dict(files.list(token))[token + ".bin"]
    except (FileNotFoundError, KeyError, ValueError):
        abort(404)
    if (
        not isinstance(meta, dict)
        or meta.get("user_id") != user.id
        or time.time() - modified > PENDING_LIFETIME
        or hashlib.sha256(data).hexdigest() != meta.get("sha256")
    ):
        abort(404)
    return meta, data


def discard(token: str) -> None:
    files = pending_files()
    for suffix in (".bin", ".json"):
        files.delete(token + suffix)


# --- The page ---


class RosterView(BaseView):
    """花名册导入导出: import a roster file after a preview; export each register."""

    route_base = "/roster"
    default_view = "index"
    class_permission_name = accounts.ROSTER
    method_permission_name = {
        "index": "read",
        "export": "read",
        "preview": accounts.IMPORT,
        "confirm": accounts.IMPORT,
        "errors": accounts.IMPORT,
        "template": accounts.IMPORT,
    }

    def _user(self):
        return accounts.current_user()

    def _page(self):
        user = self._user()
        scope = accounts.user_scope(user)
        villages = villages_in_scope(scope)
        place = target(user) if scope.level != "all" else None
        # An import needs somewhere to land: the village Admin picks, or the account's own.
        may_import = accounts.can(user, accounts.IMPORT, accounts.ROSTER) and (
            scope.level == "all" or place is not None
        )
        return self.render_template(
            "roster.html",
            importable=importable(user) if may_import else [],
            exportable=exportable(user),
            current_labels=current_labels,
            villages=villages,
            choose_village=scope.level == "all",
            choose_export_village=len(villages) > 1,
            target=place,
            accept=ACCEPT,
            limit=uploads.human_size(current_app.config["UPLOAD_MAX_BYTES"]),
        )

    @expose("/")
    @has_access
    def index(self):
        sweep()
        return self._page()

    @expose("/export/<kind>/<fmt>")
    @has_access
    def export(self, kind, fmt):
        """The register of one village in the user's scope, as .xlsx or CSV: the rows on the
        register today (在册), or every row with ``all=1``."""
        user = self._user()
        resource = RESOURCES.get(kind)
        if resource is None or fmt not in exporter.FORMATS:
            abort(404)
        if resource not in exportable(user):
            abort(403)
        villages = villages_in_scope(accounts.user_scope(user))
        village_id = request.args.get("village", type=inputs.record_id)
        if village_id is None and len(villages) == 1:
            village_id = villages[0].id
        village = next((v for v in villages if v.id == village_id), None)
        if village is None:
            abort(404)
        name = exporter.file_name(resource, village, fmt)
        out = io.BytesIO()
        exporter.export_roster(
            self.appbuilder.session,
            resource,
            village,
            fmt,
            out,
            user=user,
            filename=name,
            every_status=request.args.get("all") == "1",
        )
        out.seek(0)
        response = send_file(out, mimetype=MIMETYPES[fmt], as_attachment=True, download_name=name)
        response.headers["Cache-Control"] = "private, no-store"
        return response

    @expose("/template/<kind>")
    @has_access
    def template(self, kind):
        """The blank template of a KIND the user may import (.xlsx): no record in it."""
        resource = RESOURCES.get(kind)
        if resource is None or resource not in importable(self._user()):
            abort(404)
        out = io.BytesIO()
        roster_template.write_template(resource, out)
        out.seek(0)
        return send_file(
            out,
            mimetype=uploads.XLSX,
            as_attachment=True,
            download_name=roster_template.file_name(resource),
        )

    @expose("/preview", methods=["POST"])
    @has_access
    def preview(self):
        """Check an uploaded file (a dry run) and keep it for its confirmation."""
        user = self._user()
        sweep()
        try:
            form, file = request.form, request.files.get("file")
        except RequestEntityTooLarge:
            return self._refused_file(uploads.too_large_message())
        resource = RESOURCES.get(form.get("kind", ""))
        if resource is None or resource not in importable(user):
            return self._refused(_("Choose a register you may import into"))
        place = target(user, form.get("village", type=inputs.record_id))
        if place is None:
            return self._refused(_("Choose the village the rows belong to"))
        problem, data = self._read(file)
        if problem:
            return self._refused_file(problem, resource, place, file, data)
        name = reading_name(file.filename, data)
        if name is None:
            return self._refused_file(
                _(
                    "%(name)s is not a CSV, .xlsx or .xls file "
                    "(the content is checked, not the name)",
                    name=uploads.clean_filename(file.filename),
                ),
                resource,
                place,
                file,
                data,
            )
        upsert = form.get("mode") == "upsert"
        result, problem = self._run(resource, name, data, place, upsert, dry_run=True)
        if problem:
            return self._refused(problem)
        meta = {
            "user_id": user.id,
            "sha256": result.sha256,
            "kind": resource.kind,
            "filename": name,
            "village_id": place[0].id,
            "group_id": place[1].id if place[1] else None,
            "upsert": upsert,
        }
        token = keep(data, meta)
        return self._result_page(resource, meta, result, token=token)

    @expose("/confirm", methods=["POST"])
    @has_access
    def confirm(self):
        """Import the previewed file for real: every row or none."""
        user = self._user()
        sweep()
        token = request.form.get("token", "")
        meta, data = pending(token, user)
        resource = RESOURCES.get(meta["kind"])
        if resource is None or resource not in importable(user):
            abort(403)
        place = self._place(user, meta)
        try:
            result, problem = self._run(
                resource, meta["filename"], data, place, meta["upsert"], dry_run=False
            )
        finally:
            discard(token)
        if problem:
            return self._refused(problem)
        if result.committed:
            flash(_("The roster was imported"), "success")
        return self._result_page(resource, meta, result, done=True)

    @expose("/errors/<token>")
    @has_access
    def errors(self, token):
        """The rejected rows of a previewed file, with an error column (.xlsx)."""
        user = self._user()
        meta, data = pending(token, user)
        resource = RESOURCES.get(meta["kind"])
        if resource is None or resource not in importable(user):
            abort(403)
        place = self._place(user, meta)
        result, problem = self._run(
            resource, meta["filename"], data, place, meta["upsert"], dry_run=True
        )
        if problem:
            abort(404)
        from app import importer

        out = io.BytesIO()
        importer.write_errors(result, out)
        out.seek(0)
        stem = os.path.splitext(meta["filename"])[0]
        return send_file(
            out,
            mimetype=uploads.XLSX,
            as_attachment=True,
            download_name=_("%(name)s-errors.xlsx", name=stem),
        )

    # --- Helpers ---

    def _refused(self, message):
        flash(str(message), "danger")
        return redirect(url_for(".index"))

    def _refused_file(self, message, resource=None, place=None, file=None, data=None):
        """Refuse an upload before its rows are read, with an audit entry (issue 15): every
        refused import is in the log, not only those whose rows were checked."""
        from app import importer

        importer.audit_refused(
            self.appbuilder.session,
            message,
            resource,
            uploads.clean_filename(file.filename) if file is not None and file.filename else None,
            data or None,
            place[0] if place else None,
            self._user(),
        )
        return self._refused(message)

    @staticmethod
    def _read(file) -> tuple[str | None, bytes]:
        if file is None or not file.filename:
            return _("Choose a file to upload"), b""
        limit = current_app.config["UPLOAD_MAX_BYTES"]
        data = file.stream.read(limit + 1)
        if len(data) > limit:
            return uploads.too_large_message(), b""
        if not data.strip():
            return _("The file %(name)s is empty", name=uploads.clean_filename(file.filename)), b""
        return None, data

    @staticmethod
    def _place(user, meta):
        """The village and group of a pending upload, as the user's scope still allows."""
        place = target(user, meta["village_id"])
        if place is None or place[0].id != meta["village_id"]:
            abort(404)
        if (place[1].id if place[1] else None) != meta["group_id"]:
            abort(404)
        return place

    def _run(self, resource, name, data, place, upsert, dry_run):
        """(the import's result, None) or (None, why the file cannot be read at all)."""
        # Here, not at the top: the importer loads pandas (0.3 s), at the first roster file
        # rather than at every start of the server.
        from app import importer

        village, group = place
        try:
            result = importer.import_roster(
                self.appbuilder.session,
                resource,
                name,
                data,
                village,
                group,
                upsert=upsert,
                dry_run=dry_run,
                user=self._user(),
            )
        except importer.ImportUsageError as exc:
            return None, str(exc)
        except ValueError as exc:
            # pandas' CSV parser and empty files end here: the file is not a table.
            current_app.logger.info("roster file refused: %s", exc)
            message = _("The file could not be read as a table: %(problem)s", problem=exc)
            self.appbuilder.session.rollback()
            importer.audit_refused(
                self.appbuilder.session, message, resource, name, data, village, self._user()
            )
            return None, message
        return result, None

    def _result_page(self, resource, meta, result, token=None, done=False):
        village = self.appbuilder.session.get(Village, meta["village_id"])
        group = (
            self.appbuilder.session.get(MemberGroup, meta["group_id"]) if meta["group_id"] else None
        )
        return self.render_template(
            "roster_preview.html",
            rows_url=rows_url(resource, village) if done and result.committed else None,
            resource=resource,
            village=village,
            group=group,
            filename=meta["filename"],
            upsert=meta["upsert"],
            result=result,
            errors=result.rejected[:SHOWN_ERRORS],
            more_errors=max(len(result.rejected) - SHOWN_ERRORS, 0),
            token=token,
            done=done,
        )


def rows_url(resource, village) -> str | None:
    """The register's list page showing the village's rows, the newest (the imported) first;
    None when the register has no list page."""
    entry = next((r for r in registry.registers() if r.roster is resource), None)
    if entry is None or entry.view is None:
        return None
    name = entry.view.__name__
    view = inputs.list_views().get(name)
    if view is None:
        return None
    args = {}
    filters = getattr(view, "_filters", None)
    if filters is not None and "village" in filters._all_filters:
        args[f"_flt_{RELATION_EQUAL}_village"] = village.id
    if "id" in (view.order_columns or []):
        args.update({f"_oc_{name}": "id", f"_od_{name}": "desc"})
    return url_for(f"{name}.list", **args)


def register(appbuilder):
    """The page, in the Registers menu."""
    appbuilder.add_view(
        RosterView,
        accounts.ROSTER,
        label=_l("Roster import and export"),
        icon="fa-file-excel",
        category="Registers",
        category_label=CATEGORY_LABELS["Registers"],
    )
