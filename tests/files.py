"""Files and attachments for the upload tests: tiny real files of each accepted type, a record
to attach them to, an upload as the browser sends it, and a PDF already attached."""

import datetime as dt
import io
import struct
import zipfile
import zlib

import openpyxl
from sqlalchemy import func, select

from app.models import Activity, Attachment, Document, Venue
from tests.helpers import group, village

# --- Tiny real files ---


def pdf_bytes():
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def jpeg_bytes():
    # SOI, a JFIF APP0 segment, a 1×1 frame header (its size is checked), EOI.
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        b"\xff\xc0\x00\x0b\x08\x00\x01\x00\x01\x01\x01\x11\x00\xff\xd9"
    )


def png_bytes():
    """A valid 1×1 grey PNG."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


def zip_bytes(parts):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def docx_bytes():
    return zip_bytes(
        {
            "[Content_Types].xml": "<Types/>",
            "word/document.xml": "<w:document/>",
        }
    )


def xlsx_bytes():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "会员花名册"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- Owners and requests ---


def make(app, model, village_name, group_name=None, **values):
    """A record of ``model`` in a demo village (and group); returns its id."""
    defaults = {
        Activity: {"kind": "publicity", "date": dt.date(2024, 5, 29), "theme": "5·29"},
        Document: {"kind": "charter", "title": "协会章程"},
        Venue: {"kind": "activity_room"},
    }
    with app.app_context():
        session = app.appbuilder.session
        values = {**defaults[model], **values}
        item = model(village_id=village(session, village_name).id, **values)
        if group_name:
            item.group_id = group(session, village_name, group_name).id
        session.add(item)
        session.commit()
        return item.id


def upload(client, owner, pk, data, name):
    return client.post(
        f"/attachment/upload/{owner}/{pk}",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def newest_attachment(app):
    """The id of the attachment stored last."""
    with app.app_context():
        return app.appbuilder.session.scalar(select(func.max(Attachment.id)))
