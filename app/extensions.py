"""The database and migration objects, below every module that needs them (app/backup.py), so
that none imports the package that builds the app."""

from flask_appbuilder.models.sqla import Model
from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate

# FAB's Model carries its own metadata; giving it to the db object lets Alembic see every
# table, FAB's included (FAB-NOTES item 4).
db = get_sqla_class()(metadata=Model.metadata)
migrate = Migrate()
