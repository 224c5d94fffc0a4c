"""Work the list pages did on every request that can be done once (issue 7 item 8).

Measured with bench/list_1m.py (README, Performance). Each piece keeps FAB's and Flask-Babel's
behaviour and only drops repeated work:

- ``CachedJsonschema``: FAB validates every REST request's ``q`` argument with
  ``jsonschema.validate``, which first checks the schema itself against the JSON Schema
  meta-schema — about 15 ms per request, most of a REST list. The validator of each (constant)
  schema is built and checked once.
- ``RequestDomain``: Flask-Babel looks the catalogue up again for every string it translates
  (the request's locale, its identifier string, a cache key): ~20 µs a string, a few hundred
  strings a page. The catalogue is kept for the rest of the request, for as long as the
  request's locale object is the same (``flask_babel.refresh()`` drops it).
"""

import jsonschema
from flask.globals import _cv_app
from flask_babel import Domain, get_babel


class CachedJsonschema:
    """What FAB's ``rison`` decorator uses of the ``jsonschema`` module, with ``validate``
    checking each schema once instead of on every call."""

    ValidationError = jsonschema.ValidationError

    def __init__(self):
        self._validators = {}

    def validate(self, instance, schema, *args, **kwargs):
        if args or kwargs:
            return jsonschema.validate(instance, schema, *args, **kwargs)
        entry = self._validators.get(id(schema))
        if entry is None or entry[0] is not schema:
            cls = jsonschema.validators.validator_for(schema)
            cls.check_schema(schema)
            entry = self._validators[id(schema)] = (schema, cls(schema))
        error = jsonschema.exceptions.best_match(entry[1].iter_errors(instance))
        if error is not None:
            raise error


class RequestDomain(Domain):
    """Flask-Babel's domain, its catalogue looked up once per request and locale."""

    def get_translations(self):
        app_ctx = _cv_app.get(None)
        state = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        locale = getattr(state, "babel_locale", None)
        if locale is not None:
            kept = state.__dict__.get("jsx_translations")
            if kept is not None and kept[0] is locale and kept[1] is self:
                return kept[2]
        translations = super().get_translations()
        state = app_ctx.g.__dict__.get("_flask_babel") if app_ctx is not None else None
        locale = getattr(state, "babel_locale", None)
        if locale is not None:
            state.jsx_translations = (locale, self, translations)
        return translations


def install(app):
    """Apply both to ``app`` (after AppBuilder is set up)."""
    import flask_appbuilder.api

    if not isinstance(flask_appbuilder.api.jsonschema, CachedJsonschema):
        flask_appbuilder.api.jsonschema = CachedJsonschema()
    config = get_babel(app)
    if not isinstance(config.instance.__dict__.get("domain_instance"), RequestDomain):
        # Babel.domain_instance is a cached property: this is the value it would cache.
        config.instance.__dict__["domain_instance"] = RequestDomain(domain=config.default_domain)
