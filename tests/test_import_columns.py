"""The column-at-a-time paths of the roster import (issue 5 item 8): a whole column checked or
changed in one pass over its joined text, rows handed to the writer column by column, dates
turned into ISO text once. Each gives what the cell-by-cell path gave."""

import datetime as dt
import json

import pandas as pd
import pytest

from app import audit, importer
from app.models import AuditLog, Member
from tests.rosters import counts, refused, roster_rows, run, write_csv, zh

COLUMNS = {
    "clean": ["110101194901010011", "11010119490101002X", "110101194901010038"],
    "one odd": ["110101194901010011", "1101011949010100", "11010119490101002x"],
    "separator in a cell": ["110101194901010011", "1101\x0001194901010011", "abc"],
    "a missing cell": ["110101194901010011", None, "11010119490101002X"],
    "one cell": ["11010119490101002X"],
    "empty": [],
}


@pytest.mark.parametrize("cells", COLUMNS.values(), ids=COLUMNS.keys())
def test_a_joined_column_matches_as_its_cells_do(cells):
    texts = pd.Series(cells, index=range(10, 10 + len(cells)), dtype=object)
    pattern = r"[0-9]{17}[0-9X]"
    expected = texts.str.fullmatch(pattern).fillna(False).astype(bool)
    assert importer._fullmatch(texts, pattern).tolist() == expected.tolist()
    assert importer._fullmatch(texts, pattern).index.equals(texts.index)


@pytest.mark.parametrize(
    "cells",
    [
        ["1101 0119 4901 01002x", "139 1234 5678", "ß x"],
        ["a\x00b c", "d e"],
        ["already clean"],
        [],
    ],
)
def test_blanks_go_and_capitals_come_as_cell_by_cell(cells):
    texts = pd.Series(cells, index=range(5, 5 + len(cells)), dtype=object)
    spaced = texts.str.replace(" ", "", regex=False)
    assert importer._without_blanks(texts).tolist() == spaced.tolist()
    assert importer._without_blanks(texts, upper=True).tolist() == spaced.str.upper().tolist()
    assert importer._without_blanks(texts, upper=True).index.equals(texts.index)


def test_phone_problems_name_the_bad_cells_only():
    texts = pd.Series(["13912345678", "139 1234 5678", "1391234567", "0830-7123456", "电话"])
    problems = importer.phone_problems(texts)
    assert problems.isna().tolist() == [True, True, False, True, False]
    assert "11" in problems[2]


def test_iso_dates_are_each_dates_isoformat():
    day = dt.date(2023, 5, 1)
    values = [day, None, dt.date(1949, 12, 31), day, dt.datetime(2024, 1, 2, 3, 4, 5), None]
    assert audit.iso_dates(values) == [audit._iso_date(v) for v in values]
    assert audit.iso_dates([]) == []


def test_spaced_ids_and_float_phones_import_as_they_read(app, tmp_path):
    """The fast column paths on real input: an ID number typed with spaces and a small x, a
    phone that went through a float (139….0), all stored normalised and logged as stored."""
    rows = roster_rows(4)
    birth = rows[1][3][6:14]
    rows[1][3] = " ".join([rows[1][3][:6], rows[1][3][6:14], rows[1][3][14:].lower()])
    rows[2][4] = rows[2][4] + ".0"
    result = run(app, write_csv(tmp_path / "spaced.csv", rows))
    assert result.exit_code == 0, result.output
    with app.app_context():
        session = app.appbuilder.session
        second = session.query(Member).filter_by(name=rows[1][1]).one()
        third = session.query(Member).filter_by(name=rows[2][1]).one()
        assert second.birth_date == dt.datetime.strptime(birth, "%Y%m%d").date()
        assert third.phone == rows[2][4][:-2]
        entries = session.query(AuditLog).filter_by(action="insert", model="Member").all()
        logged = {}
        for entry in entries:
            changes = json.loads(entry.changes)
            for row in changes.get("rows", []):  # batch entries; the fixtures' are per row
                logged[row[0]] = {
                    **changes["same"],
                    **dict(zip(changes["fields"], row[1:], strict=True)),
                }
        assert logged[second.id]["birth_date"] == second.birth_date.isoformat()
        assert logged[third.id]["phone"] == third.phone


def test_one_bad_phone_among_good_ones_is_named_and_nothing_written(app, tmp_path):
    rows = roster_rows(6)
    rows[3][4] = "139123"
    before = counts(app)
    result = run(app, write_csv(tmp_path / "phone.csv", rows))
    assert result.exit_code == 1
    assert zh(app, "A mobile number has 11 digits (this one has %(n)d)", n=6) in result.output
    assert (
        result.output.count(zh(app, "A mobile number has 11 digits (this one has %(n)d)", n=6)) == 1
    )
    assert counts(app) == refused(before)


def test_an_imported_id_is_sealed_once_for_the_row_and_its_batch_entry(app, tmp_path):
    """The batch entry keeps the row's own ciphertext: never the plain ID number."""
    from sqlalchemy import text

    from app import crypto

    rows = roster_rows(3, start=40)
    assert run(app, write_csv(tmp_path / "sealed.csv", rows)).exit_code == 0
    with app.app_context():
        session = app.appbuilder.session
        record = session.query(Member).filter_by(name=rows[0][1]).one()
        stored = session.execute(
            text("SELECT id_number FROM member WHERE id = :id"), {"id": record.id}
        ).scalar()
        assert crypto.is_sealed(stored) and crypto.unseal(stored) == rows[0][3]
        entry = (
            session.query(AuditLog)
            .filter(AuditLog.action == "insert", AuditLog.record_id <= record.id)
            .filter(AuditLog.record_last >= record.id)
            .one()
        )
        changes = json.loads(entry.changes)
        assert rows[0][3] not in entry.changes
        logged = {
            row[0]: {**changes["same"], **dict(zip(changes["fields"], row[1:], strict=True))}
            for row in changes["rows"]
        }
        assert logged[record.id]["id_number"] == stored
