"""The registry (issue 16): a register is one block in app/views.py, and what is derived from the
blocks — the REST API, the menu, the rights — stays exactly what SPEC §6 and the tools know."""

import json
import pathlib

from flask_appbuilder import ModelRestApi

from app import registry
from app.models import BUSINESS_MODELS, UNREGISTERED

PINNED = pathlib.Path(__file__).parent / "data" / "api_columns.json"
KEYS = [
    "list_columns",
    "show_columns",
    "add_columns",
    "edit_columns",
    "search_columns",
    "order_columns",
    "include_route_methods",
    "base_order",
]


def _shape(api):
    shape = {"model": api.datamodel.obj.__name__}
    for key in KEYS:
        value = getattr(api, key)
        if isinstance(value, set):
            value = sorted(value)
        shape[key] = None if value is None else list(value)
    return shape


def test_every_api_resource_keeps_its_pinned_columns(app):
    served = {
        api.resource_name: _shape(api)
        for api in app.appbuilder.baseviews
        if isinstance(api, ModelRestApi)
    }
    pinned = json.loads(PINNED.read_text(encoding="utf-8"))
    assert sorted(served) == sorted(pinned)
    for name, shape in pinned.items():
        assert served[name] == shape, name


def test_every_scoped_model_is_declared_once():
    declared = registry.models()
    assert len(declared) == len(set(declared))
    assert set(declared) | set(UNREGISTERED) == set(BUSINESS_MODELS)
    assert registry.undeclared() == []
