"""The machinery of the model declarations in ``app/models.py``: what a register's class is
declared with, kept apart so that models.py holds the registers alone.

- ``field()``: a mapped column carrying its translated label, its choices and its value check
  (``info``), read by the forms, the API, the importer and the write path's checks.
- ``Choices``: an enumeration of stable codes, each with a translated label.
- ``VillageRecord`` and ``GroupRecord``: what a record kept by a village or by one of its member
  groups is scoped by (``__scope__``, read by ``app/security.py``) and that it is audited.

``app.models`` re-exports these names: a module that reads the registers imports them there.
"""

from flask_babel import force_locale
from sqlalchemy.orm import mapped_column


class Choices:
    """An enumeration: ordered stable codes, each with a translated label."""

    def __init__(self, *pairs):
        self.pairs = pairs
        self.labels = dict(pairs)

    @property
    def codes(self):
        return [code for code, _label in self.pairs]

    def label(self, code):
        return self.labels.get(code, code)

    def by_label(self, text_value):
        """The code for a code, a zh label or an en label (case-insensitive), or None."""
        if not hasattr(self, "_by_label"):
            table = {code.lower(): code for code in self.codes}
            for locale in ("en", "zh"):
                with force_locale(locale):
                    table.update({str(label).strip().lower(): code for code, label in self.pairs})
            self._by_label = table
        return self._by_label.get(str(text_value).strip().lower())


def field(label, *args, choices=None, check=None, **kwargs):
    """A mapped column carrying its translated label, its choices and its value check."""
    info = {"label": label}
    if choices is not None:
        info["choices"] = choices
    if check is not None:
        info["check"] = check
    return mapped_column(*args, info=info, **kwargs)


def required(column) -> bool:
    """Whether a new row must give ``column``: NOT NULL, not the key, not computed, and no
    default on either side (the form, the API, the roster and the tests' factories ask this)."""
    return (
        not column.nullable
        and not column.primary_key
        and column.computed is None
        and column.default is None
        and column.server_default is None
    )


class VillageRecord:
    """A record kept by one village."""

    __scope__ = {"village": "village_id"}
    __audited__ = True


class GroupRecord:
    """A record kept by one member group of a village."""

    __scope__ = {"village": "village_id", "group": "group_id"}
    __audited__ = True
