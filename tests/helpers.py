"""Small helpers shared by the tests: demo records looked up by name, never by hard-coded id."""

from app.models import Member, MemberGroup, Village
from app.validation import id_check_char
from tests.databases import TEST_PASSWORD


def valid_id(birth="19900101", seq="12", sex_digit="3", area="510525"):
    """A valid GB 11643 ID number (odd sex digit = male)."""
    body = f"{area}{birth}{seq}{sex_digit}"
    return body + id_check_char(body)


def village(session, name):
    return session.query(Village).filter_by(name=name).one()


def group(session, village_name, group_name):
    v = village(session, village_name)
    return session.query(MemberGroup).filter_by(village_id=v.id, name=group_name).one()


def member(session, village_name, status="active", group_name=None):
    query = session.query(Member).filter_by(
        village_id=village(session, village_name).id, status=status
    )
    if group_name:
        query = query.filter_by(group_id=group(session, village_name, group_name).id)
    return query.order_by(Member.id).first()


def wrong_guess(number):
    """Another valid ID of the same area, birth year and last four digits as ``number``: what
    a masked role sees (first 6, last 4, the year) leaves it as likely as the right one."""
    for month in range(1, 13):
        for day in range(1, 29):
            body = number[:10] + f"{month:02d}{day:02d}" + number[14:17]
            candidate = body + id_check_char(body)
            if candidate != number and candidate[-1] == number[-1]:
                return candidate
    raise AssertionError(number)


def account_entries(app, username):
    """The id of account ``username`` and its audit entries (action, township, village, group)."""
    from sqlalchemy import select

    from app.accounts import ScopedUser
    from app.models import AuditLog

    with app.app_context():
        session = app.appbuilder.session
        pk = session.scalar(select(ScopedUser.id).where(ScopedUser.username == username))
        rows = session.scalars(
            select(AuditLog).where(AuditLog.model == "ScopedUser", AuditLog.record_id == pk)
        ).all()
        return pk, [(r.action, r.township_id, r.village_id, r.group_id) for r in rows]


def township_sees(app, pk):
    """Whether the township 二郎镇's audit log lists the creation of account ``pk``."""
    client = app.test_client()
    login = {"username": "township", "password": TEST_PASSWORD, "provider": "db"}
    token = client.post("/api/v1/security/login", json=login).get_json()["access_token"]
    query = (
        "(filters:!((col:model,opr:eq,value:ScopedUser),(col:action,opr:eq,value:insert),"
        f"(col:record_id,opr:eq,value:{pk})))"
    )
    answer = client.get(
        f"/api/v1/audit_log/?q={query}", headers={"Authorization": f"Bearer {token}"}
    )
    return answer.get_json()["count"] > 0


def ensure_county_account(session):
    """The County account ``county`` of 古蔺县 (SPEC §6), in the tests' database whether or not
    the demo made it (issue 18: the demo county's accounts come with its townships)."""
    from app.accounts import ScopedUser, create_account
    from app.models import County

    if session.query(ScopedUser).filter_by(username="county").one_or_none() is None:
        county = session.query(County).filter_by(name="古蔺县").one()
        create_account(
            session, "county", "County", TEST_PASSWORD, county=county, first_name="县计生协"
        )
