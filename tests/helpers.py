"""Small helpers shared by the tests: demo records looked up by name, never by hard-coded id."""

from app.models import Member, MemberGroup, Village
from app.validation import id_check_char


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
