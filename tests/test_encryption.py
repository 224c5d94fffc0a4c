"""Issue 7, items 3 and 4: ID numbers and sensitive household fields encrypted at rest, a keyed
hash for uniqueness and lookup, a President's audited reveal, the data migration."""

import json
import re

import pytest
from cryptography.exceptions import InvalidTag
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from app import create_app, crypto
from app.models import AuditLog, Household, Member
from app.validation import mask_id_number
from tests.helpers import member, valid_id, village
from tests.rosters import roster_rows, run, write_csv

FULL_ID = re.compile(r"\b\d{17}[\dX]\b")


def _stored(session, table, column, pk):
    return session.execute(
        text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": pk}
    ).scalar()


def _first_member(app):
    with app.app_context():
        row = member(app.appbuilder.session, "新檀村")
        return row.id, row.id_number


def _special_household(app):
    with app.app_context():
        row = (
            app.appbuilder.session.query(Household)
            .filter(Household.special.is_(True), Household.notes.isnot(None))
            .order_by(Household.id)
            .first()
        )
        return row.id, row.id_number, row.family_type, row.difficulty, row.notes


def test_the_database_holds_ciphertext_and_the_orm_plain_text(app, db_session):
    pk, number = _first_member(app)
    stored = _stored(db_session, "member", "id_number", pk)
    assert crypto.is_sealed(stored) and number not in stored
    assert _stored(db_session, "member", "id_number_hash", pk) == crypto.lookup_hash(number)
    # Two equal values do not look equal: a fresh nonce each time.
    assert crypto.seal(number) != crypto.seal(number)
    assert FULL_ID.match(number)


def test_sensitive_household_fields_are_encrypted_and_special_stays_clear(app, db_session):
    pk, number, family_type, difficulty, notes = _special_household(app)
    for column, plain in (
        ("id_number", number),
        ("family_type", family_type),
        ("difficulty", difficulty),
        ("notes", notes),
    ):
        stored = _stored(db_session, "household", column, pk)
        if plain is not None:
            assert crypto.is_sealed(stored) and plain not in stored, column
    assert _stored(db_session, "household", "special", pk) in (1, True)


def test_another_key_cannot_read_the_values(app, db_session):
    pk, _number = _first_member(app)
    stored = _stored(db_session, "member", "id_number", pk)
    other = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "ID_ENCRYPTION_KEY": "other"})
    with other.app_context(), pytest.raises(InvalidTag):
        crypto.unseal(stored)


def test_lookup_by_the_full_id_goes_through_the_hash(app, db_session):
    pk, number = _first_member(app)
    query = select(Member.id).where(Member.id_number == number.lower())
    assert "id_number_hash" in str(query)
    assert db_session.scalars(query).all() == [pk]
    assert db_session.scalars(select(Member.id).where(Member.id_number.in_([number]))).all() == [pk]
    with pytest.raises(crypto.NotSearchable):
        Member.id_number.contains(number[:6])


def test_api_search_by_id_equality_finds_partial_is_refused(app, client, api_token):
    pk, number = _first_member(app)
    headers = api_token("xintan_secretary")
    found = client.get(
        f"/api/v1/member/?q=(filters:!((col:id_number,opr:eq,value:'{number}')))",
        headers=headers,
    )
    assert [row["id"] for row in found.get_json()["result"]] == [pk]
    partial = client.get(
        f"/api/v1/member/?q=(filters:!((col:id_number,opr:ct,value:'{number[:6]}')))",
        headers=headers,
    )
    assert partial.status_code == 400


def test_html_list_finds_by_full_id_and_ignores_a_partial_search(app, login_as):
    pk, number = _first_member(app)
    client = login_as("xintan_secretary")
    count = re.compile(r"记录数目?:\s*(\d+)")

    def total(url):
        page = re.sub(r"<[^>]+>", " ", client.get(url).get_data(as_text=True))
        return int(count.search(page).group(1))

    everything = total("/memberview/list/")
    # FAB's string filters: 0 starts with, 1 ends with, 2 contains, 3 equal …
    assert total(f"/memberview/list/?_flt_3_id_number={number}") == 1
    assert total(f"/memberview/list/?_flt_2_id_number={number[:6]}") == everything


def test_the_one_active_membership_rule_holds_on_the_hash(app, client, api_token):
    pk, number = _first_member(app)
    with app.app_context():
        village_id = app.appbuilder.session.get(Member, pk).village_id
    # The register's own check (through the hash) answers first …
    response = client.post(
        "/api/v1/member/",
        headers=api_token("admin"),
        json={"village_id": village_id, "name": "重", "id_number": number, "status": "active"},
    )
    assert response.status_code == 400 and "id_number" in response.get_json()["message"]
    # … and the database's unique index on the hash holds behind it.
    with app.app_context():
        session = app.appbuilder.session
        session.add(Member(village_id=village_id, name="重", id_number=number, status="active"))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_audit_entries_never_hold_a_plain_id_and_show_it_masked(app, login_as):
    pk, number = _first_member(app)
    new_number = valid_id(birth="19800101", seq="77", sex_digit=str(int(number[16]) % 2 + 2))
    client = login_as("xintan_secretary")
    form = client.get(f"/memberview/edit/{pk}")
    assert form.status_code == 200
    with app.app_context():
        session = app.appbuilder.session
        item = session.get(Member, pk)
        item.id_number = new_number
        item.birth_date = None
        item.gender = None
        session.commit()
        entry = session.scalars(
            select(AuditLog)
            .where(AuditLog.model == "Member", AuditLog.record_id == pk)
            .order_by(AuditLog.id.desc())
        ).first()
        assert number not in entry.changes and new_number not in entry.changes
        before, after = json.loads(entry.changes)["id_number"]
        assert crypto.unseal(before) == number and crypto.unseal(after) == new_number
    # The audit log shows it as the records do: masked for the roles that see it masked.
    shown = login_as("admin").get(f"/auditlogview/show/{entry.id}").get_data(as_text=True)
    assert new_number in shown
    api = login_as("township")
    listed = api.get("/auditlogview/list/").get_data(as_text=True)
    assert new_number not in listed


def test_no_entry_of_the_log_holds_a_plain_id_or_family_detail(app, client, api_token):
    """Inserts and deletes (forms, API, demo) log sealed values, as updates and bulk writes do."""
    headers = api_token("xintan_president")
    with app.app_context():
        village_id = village(app.appbuilder.session, "新檀村").id
    number = valid_id(birth="19850607", seq="31", sex_digit="3")
    created = client.post(
        "/api/v1/member/",
        headers=headers,
        json={"village_id": village_id, "name": "审计测", "id_number": number, "status": "active"},
    )
    assert created.status_code == 201, created.get_json()
    pk = created.get_json()["id"]
    assert client.delete(f"/api/v1/member/{pk}", headers=headers).status_code == 200
    _hid, _number, family_type, _difficulty, notes = _special_household(app)
    with app.app_context():
        session = app.appbuilder.session
        logged = session.scalars(select(AuditLog.changes).where(AuditLog.changes.isnot(None)))
        text_of_log = "\n".join(logged)
        ids = {m.id_number for m in session.query(Member)} | {number}
        assert not ids & set(FULL_ID.findall(text_of_log))
        assert notes not in text_of_log and f'"{family_type}"' not in text_of_log
        entries = session.scalars(
            select(AuditLog).where(AuditLog.model == "Member", AuditLog.record_id == pk)
        ).all()
        assert [e.action for e in entries] == ["insert", "delete"]
        assert crypto.unseal(json.loads(entries[0].changes)["id_number"][1]) == number
        assert crypto.unseal(json.loads(entries[1].changes)["id_number"][0]) == number


def test_import_stores_ciphertext_and_finds_duplicates_and_upserts(app, tmp_path):
    rows = roster_rows(3, start=900)
    path = write_csv(tmp_path / "roster.csv", rows)
    result = run(app, path)
    assert result.exit_code == 0, result.output
    number = rows[0][3]
    with app.app_context():
        session = app.appbuilder.session
        found = session.scalars(select(Member).where(Member.id_number == number)).all()
        assert len(found) == 1
        stored = _stored(session, "member", "id_number", found[0].id)
        assert crypto.is_sealed(stored)
        assert _stored(session, "member", "id_number_hash", found[0].id) == crypto.lookup_hash(
            number
        )
        batch = session.scalars(
            select(AuditLog.changes).where(AuditLog.model == "Member").order_by(AuditLog.id.desc())
        ).first()
        assert number not in batch
    again = run(app, path)
    assert again.exit_code != 0 or "already" in again.output or "已" in again.output
    with app.app_context():
        assert app.appbuilder.session.query(Member).filter(Member.id_number == number).count() == 1
    rows[0][6] = "五老"
    upsert = run(app, write_csv(tmp_path / "again.csv", rows), "--upsert")
    assert upsert.exit_code == 0, upsert.output
    with app.app_context():
        session = app.appbuilder.session
        updated = session.scalars(select(Member).where(Member.id_number == number)).one()
        assert updated.category == "elder"
        assert _stored(session, "member", "id_number_hash", updated.id) == crypto.lookup_hash(
            number
        )


# --- The President's reveal ---


def test_president_sees_a_masked_id_and_reveals_it_with_an_audited_post(app, login_as):
    pk, number = _first_member(app)
    client = login_as("xintan_president")
    page = client.get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert number not in page and mask_id_number(number) in page
    assert f"/memberview/reveal/{pk}" in page
    assert client.get(f"/memberview/reveal/{pk}").status_code == 405
    revealed = client.post(f"/memberview/reveal/{pk}")
    assert revealed.status_code == 200
    assert number in revealed.get_data(as_text=True)
    with app.app_context():
        entry = app.appbuilder.session.scalars(
            select(AuditLog).where(AuditLog.action == "reveal").order_by(AuditLog.id.desc())
        ).first()
        assert (entry.model, entry.record_id, entry.username) == ("Member", pk, "xintan_president")
        assert number not in (entry.changes or "")
    # The next visit shows it masked again.
    assert number not in client.get(f"/memberview/show/{pk}").get_data(as_text=True)


def test_household_head_id_reveal(app, login_as):
    pk, number, *_rest = _special_household(app)
    with app.app_context():
        name = app.appbuilder.session.get(Household, pk).village.name
    if name != "新檀村":
        pytest.skip("the first special household is not in 新檀村")
    client = login_as("xintan_president")
    assert number not in client.get(f"/householdview/show/{pk}").get_data(as_text=True)
    assert number in client.post(f"/householdview/reveal/{pk}").get_data(as_text=True)


@pytest.mark.parametrize(
    "username,full", [("xintan_secretary", True), ("admin", True), ("township", False)]
)
def test_other_roles_see_what_they_saw_and_cannot_reveal(app, login_as, username, full):
    pk, number = _first_member(app)
    client = login_as(username)
    page = client.get(f"/memberview/show/{pk}").get_data(as_text=True)
    assert (number in page) == full
    assert "/reveal/" not in page
    assert client.post(f"/memberview/reveal/{pk}").status_code in (302, 403)
    with app.app_context():
        assert (
            app.appbuilder.session.scalar(select(AuditLog.id).where(AuditLog.action == "reveal"))
            is None
        )


def test_a_president_cannot_reveal_outside_the_village(app, login_as):
    with app.app_context():
        session = app.appbuilder.session
        other = (
            session.query(Member)
            .filter(Member.village_id != village(session, "新檀村").id)
            .order_by(Member.id)
            .first()
        )
        pk = other.id
    client = login_as("xintan_president")
    assert client.post(f"/memberview/reveal/{pk}").status_code == 404


# --- The migration ---


def test_the_migration_encrypts_plain_rows_and_decrypts_them_going_down(tmp_path):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "ID_ENCRYPTION_KEY": "migration-key"})
    number = valid_id()
    with app.app_context():
        upgrade(revision="0005_branches_tasks_surveys")
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO township (id, name) VALUES (1, '镇')"))
            connection.execute(
                text(
                    "INSERT INTO village (id, township_id, name, kind, size_class) "
                    "VALUES (1, 1, '村', 'village', 'standard')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO member (id, village_id, name, id_number, category, "
                    "party_member, volunteer, status) VALUES "
                    "(1, 1, '张三', :n, 'other', 0, 0, 'active')"
                ),
                {"n": number},
            )
            connection.execute(
                text(
                    "INSERT INTO household (id, village_id, head_name, id_number, family_type, "
                    "difficulty, status, family_doctor, notes) VALUES "
                    "(1, 1, '李四', :n, 'special_lost', 'illness', 'needs_help', 0, '住院')"
                ),
                {"n": number},
            )
        upgrade()
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT id_number, id_number_hash FROM member")).one()
            household = connection.execute(
                text("SELECT id_number, family_type, difficulty, notes, special FROM household")
            ).one()
        assert crypto.unseal(stored[0]) == number and number not in stored[0]
        assert stored[1] == crypto.lookup_hash(number)
        assert [crypto.unseal(v) for v in household[:4]] == [
            number,
            "special_lost",
            "illness",
            "住院",
        ]
        assert "住院" not in household[3] and household[4] in (1, True)
        session = app.appbuilder.session
        assert session.scalar(select(Member.name).where(Member.id_number == number)) == "张三"
        downgrade(revision="0005_branches_tasks_surveys")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT id_number FROM member")).scalar() == number
            assert connection.execute(text("SELECT family_type, notes FROM household")).one() == (
                "special_lost",
                "住院",
            )
        engine.dispose()


def test_the_special_flag_follows_the_family_type_on_every_write(app, client, api_token):
    pk, *_rest = _special_household(app)
    headers = api_token("admin")
    response = client.put(f"/api/v1/household/{pk}", headers=headers, json={"family_type": "other"})
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        session = app.appbuilder.session
        assert _stored(session, "household", "special", pk) in (0, False)
        assert crypto.unseal(_stored(session, "household", "family_type", pk)) == "other"
    response = client.put(
        f"/api/v1/household/{pk}", headers=headers, json={"family_type": "special_disabled"}
    )
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        assert _stored(app.appbuilder.session, "household", "special", pk) in (1, True)
