"""The registry: one declaration per register, read by every layer that needs the list.

A register is its model (app/models.py) and one block in app/views.py calling ``declare``: its
screen, its REST resource, its menu place, its rights group, its related lists and its roster.
Everything else is derived from the registry — the role table (``accounts.role_rights``), the
API classes (``views.register``), the roster KINDs (``resources.RESOURCES``), the menu, the
tests' sweeps.

Below accounts and above the models: nothing here imports a screen. The blocks fill the registry
when app/views.py is imported; a lower layer that asks before that (the command line, a test
collecting its parameters) gets app/views.py imported on first use — a declaration only, cheap
and without side effects beyond filling the registry (the screens are added by
``views.register``).
"""

import dataclasses
import importlib
from collections.abc import Callable, Mapping

from app.models import BUSINESS_MODELS, UNREGISTERED

# Where the blocks are: imported on first use by ``registers()``.
DECLARATIONS = "app.views"


@dataclasses.dataclass
class Register:
    """One register, as its block declares it."""

    model: type
    # The screen class (a RecordView); None for a register without its own screen.
    view: type | None = None
    # /api/v1/<rest>/ (SPEC §6), or None for no REST resource.
    rest: str | None = None
    # The RecordApi class, built from the view's form columns (``views.register``) or given.
    api: type | None = None
    # (menu category, icon), or None for no menu entry.
    menu: tuple[str, str] | None = None
    # The rights group (``accounts.RIGHTS_GROUPS``): what each role may do on the register.
    rights: str = ""
    # The model names whose lists the detail page shows (FAB's related_views).
    related: tuple[str, ...] = ()
    # The roster KIND (an ``app.resources.Resource``), or None.
    roster: object | None = None
    # Anything else the block declares for the machinery (API overrides, demo rows…).
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.__name__


# model name → Register, in the order declared (the menu's and the home page's order).
REGISTRY: dict[str, Register] = {}


def declare(model, **fields) -> Register:
    """A register's block: ``declare(Member, view=MemberView, rest="member", …)``."""
    name = model.__name__
    if name in REGISTRY:
        raise ValueError(f"register {name} declared twice")
    known = {f.name for f in dataclasses.fields(Register)}
    extra = {k: fields.pop(k) for k in list(fields) if k not in known}
    REGISTRY[name] = Register(model=model, extra={**fields.pop("extra", {}), **extra}, **fields)
    return REGISTRY[name]


def registers() -> list[Register]:
    """Every declared register, in order. The blocks' module is imported first (once: Python
    keeps it), so that no reader sees the registry part-filled — the one edge from this layer
    up to app/views.py, made at run time (the import-linter contract does not see it) — and
    a scoped model without a block is refused here too, for the `flask` commands as for the
    server."""
    importlib.import_module(DECLARATIONS)
    check_declared()
    return list(REGISTRY.values())


def models() -> list[type]:
    return [r.model for r in registers()]


def undeclared() -> list[type]:
    """The scoped models (``models.BUSINESS_MODELS``) without a block: each is a mistake."""
    importlib.import_module(DECLARATIONS)
    declared = {r.model for r in REGISTRY.values()}
    return [m for m in BUSINESS_MODELS if m not in declared and m not in UNREGISTERED]


def check_declared() -> None:
    """Refuse to start with a scoped model that no block declares: the Township would not read
    it, nor would it have a screen, an API or rights."""
    missing = undeclared()
    if missing:
        names = ", ".join(m.__name__ for m in missing)
        raise RuntimeError(
            f"models with __scope__ but no register block in app/views.py: {names} "
            f"(模型声明了 __scope__ 但 app/views.py 中没有登记: {names})"
        )


class Derived(Mapping):
    """A mapping built from the registry on first use (after the blocks are declared)."""

    def __init__(self, build: Callable[[], dict]):
        self._build = build
        self._value: dict | None = None

    def _get(self) -> dict:
        if self._value is None:
            self._value = self._build()
        return self._value

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())

    def __repr__(self):
        return f"Derived({self._get()!r})"
