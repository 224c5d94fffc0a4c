"""How each maskable field is shown masked (SPEC §4); ``accounts.MASKED_FIELDS`` says for whom.

Below the services: the screens, the API, exports, reports and the audit log's pages all mask
with this one table.
"""

from flask_babel import gettext as _

from app.models import FAMILY_TYPE, SPECIAL_FAMILY_TYPES
from app.validation import mask_birth_date, mask_id_number, mask_phone


def hide_special_type(value):
    # Plain text, not a lazy label: the audit API puts it into JSON (a LazyString was a 500).
    return _("Not disclosed") if value in SPECIAL_FAMILY_TYPES else str(FAMILY_TYPE.label(value))


def hide_text(value):
    return _("Not disclosed") if value else value


# How each maskable field is masked; accounts.MASKED_FIELDS says for whom.
MASKERS = {
    "id_number": mask_id_number,
    "birth_date": mask_birth_date,
    "phone": mask_phone,
    "family_type": hide_special_type,
    "notes": hide_text,
}
