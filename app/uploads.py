"""Attachments: activity photos, archive documents and venue photos (issue 4, item 5).

Files live outside the web root (``UPLOAD_FOLDER`` under the instance folder, or the object
store of ``STORAGE_URL``: app/storage.py) under a random name, and are served only by
``download`` below. An attachment carries the village and group
of the record it belongs to, so the one scope filter finds it like any record; reading it needs
the right to read that record's register, adding or deleting one the right to edit it. A file's
type is read from its content, never from its name.
"""

import datetime as dt
import io
import re
import unicodedata
import uuid
import zipfile

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    request,
    send_file,
    url_for,
)
from flask_appbuilder import ModelView
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from app import accounts, records, security, storage, untrusted
from app.inputs import valid_pk
from app.models import BUSINESS_MODELS, Attachment

# The registers whose records take attachments (``__attachments__ = True`` on the model).
OWNERS = {m.__name__: m for m in BUSINESS_MODELS if getattr(m, "__attachments__", False)}

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# content type → the file name extensions that go with it (the first is added when missing).
EXTENSIONS = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
    DOCX: (".docx",),
    XLSX: (".xlsx",),
}
# Shown in the browser (photos as thumbnails); everything else is only ever downloaded.
INLINE = {JPEG, PNG}
# Office archives identified by their main part; a macro project makes it another kind of file.
OFFICE_PARTS = {"word/document.xml": DOCX, "xl/workbook.xml": XLSX}
MACROS = re.compile(r"(^|/)vbaProject\.bin$", re.IGNORECASE)
ZIP = b"PK\x03\x04"

MAX_NAME = 100
# Path separators and what Windows refuses in a file name.
UNSAFE_CHARS = re.compile(r'[<>:"|?*]')

PENDING_REMOVAL = "attachment_files_to_remove"

bp = Blueprint("attachments", __name__, url_prefix="/attachment")


# --- Checking a file ---


def detect_type(data: bytes) -> str | None:
    """The content type read from the file's bytes, or None for anything not accepted."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(ZIP):
        entries = untrusted.zip_entries(data)
        if entries is not None and entries > current_app.config["ZIP_MAX_ENTRIES"]:
            return None  # a directory too long to be worth parsing (file_problem says so)
        try:
            # Only the archive's directory is read: nothing is decompressed.
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            return None
        if any(MACROS.search(name) for name in names):
            return None
        for part, content_type in OFFICE_PARTS.items():
            if part in names:
                return content_type
    return None


def clean_filename(name: str | None, content_type: str | None = None) -> str:
    """A name safe to show and to download under: Chinese kept; no path, control characters or
    leading dots; at most MAX_NAME characters; ending in the extension of its real type."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    # Category C: control and format characters (a right-to-left override can fake "gpj.exe").
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = UNSAFE_CHARS.sub("", name).strip().lstrip(". ").rstrip(". ")
    extensions = EXTENSIONS.get(content_type, ())
    stem, dot, ext = name.rpartition(".")
    if dot and (content_type is None or f".{ext.lower()}" in extensions):
        extension = f".{ext}"
    else:
        stem, extension = name, extensions[0] if extensions else ""
    stem = stem.rstrip(". ") or "file"
    return stem[: MAX_NAME - len(extension)] + extension


def human_size(size: int) -> str:
    """10 MB, 512 KB, 800 B."""
    for unit, factor in (("MB", 1024 * 1024), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} B"


def too_large_message():
    limit = human_size(current_app.config["UPLOAD_MAX_BYTES"])
    return _("The file is too large: at most %(limit)s can be uploaded", limit=limit)


def file_problem(file) -> tuple[str | None, bytes, str | None]:
    """(why the file is refused or None, its bytes, its content type)."""
    if file is None or not file.filename:
        return _("Choose a file to upload"), b"", None
    limit = current_app.config["UPLOAD_MAX_BYTES"]
    data = file.stream.read(limit + 1)
    if len(data) > limit:
        return too_large_message(), b"", None
    if not data:
        return _("The file %(name)s is empty", name=clean_filename(file.filename)), b"", None
    # What its headers say about its size comes first (app.untrusted): an archive's directory
    # (detect_type would refuse one of too many parts unexplained), then a photo's pixels.
    # Nothing here is decoded, but browsers show photos and people open documents.
    problem = untrusted.zip_problem(data, current_app.config) if data.startswith(ZIP) else None
    content_type = None if problem else detect_type(data)
    if content_type in (JPEG, PNG):
        problem = untrusted.image_problem(data, current_app.config)
    if problem:
        name = clean_filename(file.filename)
        return _("%(name)s is refused: %(problem)s", name=name, problem=problem), b"", None
    if content_type is None:
        return (
            _(
                "%(name)s is not a PDF, JPEG, PNG, Word (.docx) or Excel (.xlsx) file "
                "(the content is checked, not the name)",
                name=clean_filename(file.filename),
            ),
            b"",
            None,
        )
    return None, data, content_type


# --- Storage ---


def files():
    """The store the files live in (app.storage: this host's UPLOAD_FOLDER, or the object
    store of STORAGE_URL shared by every app server)."""
    return storage.store("uploads")


def store(stored_name: str, data: bytes) -> None:
    """Write a new file (on the filesystem readable by the app's account only, never over
    another)."""
    files().put(stored_name, data)


def remove(stored_name: str) -> None:
    files().delete(stored_name)


def send_stored(stored_name: str, content_type: str, download_name: str, as_attachment=True):
    """The response carrying a stored file; 404 if the store has lost it."""
    try:
        data = files().get(stored_name)
    except FileNotFoundError:
        abort(404)
    return send_file(
        io.BytesIO(data),
        mimetype=content_type,
        as_attachment=as_attachment,
        download_name=download_name,
        conditional=True,
        etag=stored_name,  # a stored file never changes: a new one gets a new name
    )


# --- Attachments follow their record (session events) ---


def attachments_of(session, owner_model: str, owner_id: int) -> list[Attachment]:
    query = select(Attachment).where(
        Attachment.owner_model == owner_model, Attachment.owner_id == owner_id
    )
    return list(session.scalars(query))


def moved(obj) -> bool:
    """Whether a record's village or group is being changed."""
    state = inspect(obj)
    return any(
        state.attrs[key].history.has_changes()
        for key in ("village_id", "group_id", "village", "group")
        if key in state.mapper.attrs
    )


def follow_owners(session, _flush_context, _instances):
    """Before a flush: attachments move with their record's village or group and go with it;
    a deleted attachment's file is removed once the deletion is committed."""
    with session.no_autoflush:
        for obj in list(session.dirty):
            name = type(obj).__name__
            if name not in OWNERS or not moved(obj):
                continue
            # The relationship may have been set rather than its column: read both.
            values = records.item_values(obj)
            where = {"village_id": values["village_id"], "group_id": values.get("group_id")}
            for attachment in attachments_of(session, name, obj.id):
                for key, value in where.items():
                    if getattr(attachment, key) != value:
                        setattr(attachment, key, value)
        for obj in list(session.deleted):
            if type(obj).__name__ in OWNERS:
                for attachment in attachments_of(session, type(obj).__name__, obj.id):
                    session.delete(attachment)
        gone = {obj.stored_name for obj in session.deleted if isinstance(obj, Attachment)}
        if gone:
            session.info.setdefault(PENDING_REMOVAL, set()).update(gone)


def remove_committed(session):
    for stored_name in session.info.pop(PENDING_REMOVAL, set()):
        remove(stored_name)


def forget_removals(session, _previous_transaction=None):
    session.info.pop(PENDING_REMOVAL, None)


# --- Lookups: scope first (404), then rights (403) ---


def signed_in_user():
    user = accounts.current_user()
    if user is None or not user.is_authenticated:
        return None
    return user


def scoped(model, pk):
    """The record with this id if it lies in the user's scope; 404 otherwise."""
    if not valid_pk(pk):
        abort(404)
    session = current_app.appbuilder.session
    item = session.scalars(
        select(model).where(
            model.id == pk, security.scope_criteria(model, accounts.current_scope())
        )
    ).one_or_none()
    if item is None:
        abort(404)
    return item


def scoped_attachment(pk) -> Attachment:
    """An attachment in scope whose record is in scope too (404 otherwise)."""
    attachment = scoped(Attachment, pk)
    model = OWNERS.get(attachment.owner_model)
    if model is None:
        abort(404)
    scoped(model, attachment.owner_id)
    return attachment


def show_url(owner_model: str, owner_id: int) -> str:
    """The detail page of the record attachments belong to."""
    view = next(
        v
        for v in current_app.appbuilder.baseviews
        if isinstance(v, ModelView) and v.datamodel.obj is OWNERS[owner_model]
    )
    return url_for(f"{view.endpoint}.show", pk=owner_id)


def to_login(next_url=None):
    return redirect(current_app.appbuilder.get_url_for_login_with(next_url))


# --- Views ---


@bp.get("/<int:pk>")
def download(pk):
    """The file, to those who may read the record it belongs to."""
    user = signed_in_user()
    if user is None:
        return to_login(request.full_path.rstrip("?"))
    attachment = scoped_attachment(pk)
    if not accounts.can(user, accounts.READ, attachment.owner_model):
        abort(403)
    inline = attachment.content_type in INLINE and not request.args.get("download")
    response = send_stored(
        attachment.stored_name,
        attachment.content_type,
        attachment.filename,
        as_attachment=not inline,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Even opened directly, a file runs no script and reaches nothing of the app.
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.post("/upload/<owner>/<int:owner_id>")
def upload(owner, owner_id):
    """Add a file to a record the user may edit; a refused file says why and writes nothing."""
    user = signed_in_user()
    if user is None:
        return to_login()
    if owner not in OWNERS:
        abort(404)
    if not accounts.can(user, accounts.EDIT, owner):
        abort(403)
    item = scoped(OWNERS[owner], owner_id)
    back = redirect(show_url(owner, owner_id))
    problem, data, content_type = file_problem(request.files.get("file"))
    if problem:
        flash(problem, "danger")
        return back
    values = {
        "village_id": item.village_id,
        "group_id": getattr(item, "group_id", None),
        "owner_model": owner,
        "owner_id": item.id,
        "filename": clean_filename(request.files["file"].filename, content_type),
        "stored_name": uuid.uuid4().hex,
        "content_type": content_type,
        "size": len(data),
        "uploaded_on": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }
    session = current_app.appbuilder.session
    errors = records.prepare_write(Attachment, values, None, user, session)
    if errors:
        for message in errors.values():
            flash(str(message), "danger")
        return back
    store(values["stored_name"], data)
    try:
        session.add(Attachment(**values))
        session.commit()
    except Exception:
        session.rollback()
        remove(values["stored_name"])
        raise
    flash(_("%(name)s uploaded", name=values["filename"]), "success")
    return back


@bp.post("/<int:pk>/delete")
def delete(pk):
    """Remove a file from a record the user may edit (the row now, the file once committed)."""
    user = signed_in_user()
    if user is None:
        return to_login()
    attachment = scoped_attachment(pk)
    if not accounts.can(user, accounts.EDIT, attachment.owner_model):
        abort(403)
    name, back = attachment.filename, show_url(attachment.owner_model, attachment.owner_id)
    session = current_app.appbuilder.session
    session.delete(attachment)
    session.commit()
    flash(_("%(name)s deleted", name=name), "success")
    return redirect(back)


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(error):
    """A body past MAX_CONTENT_LENGTH is cut off unread: say so on the record's page."""
    args = request.view_args or {}
    if request.endpoint != "attachments.upload" or args.get("owner") not in OWNERS:
        return error
    flash(too_large_message(), "danger")
    return redirect(show_url(args["owner"], args["owner_id"]))


# --- The panel on a record's detail page (templates/attachments.html) ---


def attachment_panel(pk):
    """The attachments of the record on this detail page, or None if its register takes none."""
    view = next(
        (v for v in current_app.appbuilder.baseviews if v.endpoint == request.blueprint), None
    )
    model = getattr(getattr(view, "datamodel", None), "obj", None)
    if model is None or model.__name__ not in OWNERS or not valid_pk(pk):
        return None
    owner = model.__name__
    session = current_app.appbuilder.session
    items = session.scalars(
        select(Attachment)
        .where(
            Attachment.owner_model == owner,
            Attachment.owner_id == int(pk),
            security.scope_criteria(Attachment, accounts.current_scope()),
        )
        .order_by(Attachment.id)
    ).all()
    return {
        "items": items,
        "can_edit": accounts.can(accounts.current_user(), accounts.EDIT, owner),
        "upload_url": url_for("attachments.upload", owner=owner, owner_id=pk),
        "accept": ",".join(ext for exts in EXTENSIONS.values() for ext in exts),
        "limit": human_size(current_app.config["UPLOAD_MAX_BYTES"]),
        "inline": INLINE,
        "size": human_size,
        "when": lambda value: format_datetime(value, "yyyy-MM-dd HH:mm"),
    }


def register(app):
    """The routes, the detail-page panel and the session events (once per process)."""
    app.register_blueprint(bp)
    app.add_template_global(attachment_panel)
    if not event.contains(Session, "before_flush", follow_owners):
        event.listen(Session, "before_flush", follow_owners)
        event.listen(Session, "after_commit", remove_committed)
        event.listen(Session, "after_soft_rollback", forget_removals)
