"""Field checks shared by the HTML forms, the REST API, the CLI and (later) the importer.

Each check returns a message in the user's language, or None when the value is fine.
"""

import datetime as dt
import re

from flask_babel import lazy_gettext as _l

# GB 11643-1999: weights of the first 17 digits, and the check character for sum mod 11.
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARS = "10X98765432"
ID_PATTERN = re.compile(r"^\d{17}[\dX]$")
MOBILE_PATTERN = re.compile(r"^1[3-9]\d{9}$")
# Landline: optional area code 0xx(x), 7-8 digit number, optional extension.
LANDLINE_PATTERN = re.compile(r"^(0\d{2,3}-?)?[2-9]\d{6,7}(-\d{1,6})?$")


def id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits of an ID number."""
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def normalise_id_number(value):
    """Strip spaces and upper-case the check character; None stays None."""
    if value is None:
        return None
    return str(value).strip().replace(" ", "").upper() or None


def id_birth_date(id_number: str):
    """The birth date encoded in a (well-formed) ID number, or None."""
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except (ValueError, TypeError):
        return None


def id_gender(id_number: str) -> str:
    """'male' or 'female' from the 17th digit (odd = male)."""
    return "male" if int(id_number[16]) % 2 else "female"


def id_number_problem(value):
    """Why an ID number is not a valid 18-character GB 11643 number, or None."""
    value = normalise_id_number(value)
    if not value:
        return None
    if re.match(r"^\d(\.\d+)?E\+?\d+$", value):
        return _l(
            "The ID number was turned into scientific notation by Excel; "
            "format the column as text and type it again"
        )
    if len(value) != 18:
        return _l("An ID number has 18 characters (this one has %(n)d)", n=len(value))
    if not ID_PATTERN.match(value):
        return _l("An ID number is 17 digits followed by a digit or X")
    if id_birth_date(value) is None or id_birth_date(value) > dt.date.today():
        return _l("The ID number holds no valid birth date")
    if id_check_char(value[:17]) != value[17]:
        return _l("The ID number's check digit is wrong; please check it")
    return None


def phone_problem(value):
    """Why a phone number is neither a mainland mobile nor a landline, or None."""
    if value is None or str(value).strip() == "":
        return None
    value = str(value).strip().replace(" ", "")
    if MOBILE_PATTERN.match(value) or LANDLINE_PATTERN.match(value):
        return None
    if value.isdigit() and value.startswith("1"):
        return _l("A mobile number has 11 digits (this one has %(n)d)", n=len(value))
    return _l("Not a phone number: give an 11-digit mobile or a landline such as 0830-7123456")


def division_code_problem(value):
    """Why a township division code is not 9 digits, or None."""
    if value in (None, ""):
        return None
    if not re.match(r"^\d{9}$", str(value)):
        return _l("A township division code has 9 digits")
    return None


def county_division_code_problem(value):
    """Why a county division code is not 6 digits, or None."""
    if value in (None, ""):
        return None
    if not re.match(r"^\d{6}$", str(value)):
        return _l("A county division code has 6 digits")
    return None


def id_agreement(values: dict) -> dict:
    """Errors where birth date or gender disagree with the ID number."""
    number = normalise_id_number(values.get("id_number"))
    if not number or id_number_problem(number):
        return {}
    errors = {}
    birth = values.get("birth_date")
    if birth and birth != id_birth_date(number):
        errors["birth_date"] = _l(
            "The birth date does not agree with the ID number (%(date)s)",
            date=id_birth_date(number).isoformat(),
        )
    gender = values.get("gender")
    if gender and gender != id_gender(number):
        errors["gender"] = _l("The gender does not agree with the ID number")
    return errors


def mask_id_number(value):
    """510525********1234: the first 6 and the last 4 characters."""
    if not value:
        return value
    value = str(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:] if len(value) > 10 else "*" * len(value)


def mask_phone(value):
    """138****5678: the first 3 and the last 4 digits."""
    if not value:
        return value
    value = str(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:] if len(value) > 7 else "*" * len(value)


def mask_birth_date(value):
    """1990: the year only. The month and day are the hidden digits of a masked ID number."""
    if not value:
        return value
    return str(getattr(value, "year", None) or str(value)[:4])
