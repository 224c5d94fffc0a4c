"""Command-line interface of SPEC §6: `flask demo load`, `flask users create`, `flask audit`,
`flask roster import`, `flask roster export`, `flask roster template`, `flask backup`."""

import os
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_babel import gettext as _
from wtforms.validators import ValidationError

from app import accounts, audit, exporter
from app.models import County, MemberGroup, Township, Village
from app.resources import RESOURCES

demo_cli = AppGroup("demo", help="The demo county.")
users_cli = AppGroup("users", help="Accounts.")
audit_cli = AppGroup("audit", help="The audit log.")
roster_cli = AppGroup("roster", help="Roster import and export (花名册导入导出).")
backup_cli = AppGroup("backup", help="Backup and restore of the database (备份与恢复).")
# Rejected rows echoed on the terminal; the file from --errors-out holds them all.
SHOWN_ERRORS = 20
# Rows above which the import shows a progress bar on a terminal.
BIG_FILE_ROWS = 5_000


@audit_cli.command("verify")
@click.option(
    "--records",
    is_flag=True,
    help="Also compare every audited record with its last state in the log.",
)
def audit_verify(records):
    """Walk the hash chain (and with --records check the records against it): exit 0 when
    intact, 1 naming the first bad entry and each record that differs."""
    # Imported here, not at the top: audit_records (with backup and demo, below) costs start-up
    # (about 4 ms, measured with -X importtime) that only this command needs.
    from app import audit_records

    session = current_app.appbuilder.session
    intact, message = audit.verify(session)
    click.echo(message)
    if records:
        report = audit_records.verify_records(session.connection())
        click.echo("\n".join(audit_records.report_lines(report)))
        intact = intact and report.ok
    sys.exit(0 if intact else 1)


@audit_cli.command("prune")
@click.option("--before", "before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]))
def audit_prune(before):
    """Delete entries older than DATE (at least 6 months ago); the run itself is logged."""
    try:
        deleted = audit.prune(current_app.appbuilder.session, before.date())
    except ValueError as exc:
        raise click.UsageError(
            _("Entries are kept 6 months at least: give a date on or before %(date)s", date=exc)
        ) from exc
    click.echo(_("%(n)d entries older than %(date)s pruned", n=deleted, date=before.date()))


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when a township already exists.")
def demo_load(if_empty):
    """Load the demo county (二郎镇, 太平镇) and its accounts (idempotent)."""
    # Lazily, as audit_records above: the demo module is ~14 ms of start-up.
    from app.demo import load_demo

    session = current_app.appbuilder.session
    problem = password_problem(current_app.config["DEMO_PASSWORD"])
    if problem:
        raise click.UsageError(f"DEMO_PASSWORD: {problem}")
    if if_empty and session.query(Township).count():
        click.echo("Demo data already present.")
        return
    summary = load_demo(session, current_app.config["DEMO_PASSWORD"])
    click.echo(summary)


def password_problem(password):
    """FAB's complexity rule, applied outside the forms too (FAB-NOTES: add_user accepts '1')."""
    if current_app.config.get("FAB_PASSWORD_COMPLEXITY_ENABLED"):
        validator = current_app.config.get("FAB_PASSWORD_COMPLEXITY_VALIDATOR")
        try:
            if validator:
                validator(password)
            else:
                from flask_appbuilder.validators import default_password_complexity

                default_password_complexity(password)
        except (ValidationError, PasswordComplexityValidationError) as exc:
            return str(exc)
    return None


# Village names repeat across the townships of a county: the township tells them apart.
TOWNSHIP_HELP = "The village's township, where villages of that name are in several."


def find_township(session, name):
    """The township named ``name`` (None for no name), or a usage error in the user's words."""
    if not name:
        return None
    township = session.query(Township).filter_by(name=name).one_or_none()
    if township is None:
        raise click.UsageError(_("No township named %(name)s", name=name))
    return township


def find_village(session, name, township=None, strict=True):
    """The village named ``name``, or a usage error: none of that name, or several in different
    townships and no --township to choose. ``township`` chooses among several; ``strict``, it
    must hold the village found (else ``accounts.bind`` says it does not, as the form does)."""
    found = session.query(Village).filter_by(name=name).order_by(Village.id).all()
    if not found:
        raise click.UsageError(_("No village named %(name)s", name=name))
    if township is not None and (strict or len(found) > 1):
        found = [village for village in found if village.township_id == township.id]
        if not found:
            raise click.UsageError(
                _("No village %(village)s in %(township)s", village=name, township=township.name)
            )
    if len(found) > 1:
        raise click.UsageError(
            _(
                "Villages named %(name)s are in several townships: name one with --township",
                name=name,
            )
        )
    return found[0]


def read_password():
    if sys.stdin.isatty():
        return click.prompt(_("Password"), hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(list(accounts.ROLE_RIGHTS)))
@click.option("--county", "county_name", help="County name (County role).")
@click.option("--township", "township_name", help="Township name (Township role).")
@click.option("--village", "village_name", help="Village name (President, Secretary, GroupLeader).")
@click.option("--group", "group_name", help="Member group name (GroupLeader).")
@click.option("--first-name", default="", help="Given name shown in the app.")
@click.option("--email", default=None, help="E-mail address (optional).")
def users_create(
    username, role, county_name, township_name, village_name, group_name, first_name, email
):
    """Create an account bound to its scope; the password is prompted twice or read from stdin."""
    session = current_app.appbuilder.session
    sm = current_app.appbuilder.sm
    county = township = village = group = None
    if county_name:
        county = session.query(County).filter_by(name=county_name).one_or_none()
        if county is None:
            raise click.UsageError(_("No county named %(name)s", name=county_name))
    if township_name:
        township = session.query(Township).filter_by(name=township_name).one_or_none()
        if township is None:
            raise click.UsageError(_("No township named %(name)s", name=township_name))
    if village_name:
        village = find_village(session, village_name, township, strict=False)
    if group_name:
        if village is None:
            raise click.UsageError(_("--group needs --village"))
        group = (
            session.query(MemberGroup)
            .filter_by(village_id=village.id, name=group_name)
            .one_or_none()
        )
        if group is None:
            raise click.UsageError(
                _("No group %(group)s in %(village)s", group=group_name, village=village_name)
            )
    # The same rule as the user form: the group's village may be named, and must be its own.
    county, township, village, group, problem = accounts.bind(
        [role], county, township, village, group
    )
    if problem:
        raise click.UsageError(str(problem))
    if sm.find_user(username=username):
        raise click.UsageError(_("User %(name)s already exists", name=username))
    password = read_password()
    problem = password_problem(password)
    if problem:
        raise click.UsageError(problem)
    user = accounts.create_account(
        session,
        username,
        role,
        password,
        county=county,
        township=township,
        village=village,
        group=group,
        first_name=first_name,
        email=email,
    )
    click.echo(_("Created %(name)s (%(role)s)", name=user.username, role=role))


class ProgressBar:
    """The importer's progress on stderr, for big files on a terminal only."""

    def __init__(self):
        self.bar, self.done = None, 0
        self.checked_at = None  # when every row had been checked (half of the total)

    def __call__(self, done, total):
        if self.checked_at is None and total and done >= total // 2:
            self.checked_at = time.perf_counter()
        # The importer counts each row twice: checked, then written.
        if self.bar is None:
            if total // 2 <= BIG_FILE_ROWS or not sys.stderr.isatty():
                return
            self.bar = click.progressbar(length=total, file=sys.stderr, label=_("Importing"))
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@roster_cli.command("import")
@click.argument("kind", type=click.Choice(sorted(RESOURCES)))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--village", "village_name", required=True, help="Village the rows belong to.")
@click.option("--township", "township_name", help=TOWNSHIP_HELP)
@click.option("--group", "group_name", help="Put every row in this member group.")
@click.option("--dry-run", is_flag=True, help="Check and count; write nothing.")
@click.option("--upsert", is_flag=True, help="Update rows whose ID number is already here.")
@click.option("--errors-out", type=click.Path(dir_okay=False), help="Rejected rows (.xlsx).")
def roster_import(kind, file, village_name, township_name, group_name, dry_run, upsert, errors_out):
    """Import a roster: exit 0 committed, 1 rejected with nothing written, 2 usage."""
    # Here, not at the top: the importer loads pandas, which no other command needs.
    from app import importer

    session = current_app.appbuilder.session
    village = find_village(session, village_name, find_township(session, township_name))
    group = None
    if group_name:
        group = (
            session.query(MemberGroup)
            .filter_by(village_id=village.id, name=group_name)
            .one_or_none()
        )
        if group is None:
            raise click.UsageError(
                _("No group %(group)s in %(village)s", group=group_name, village=village_name)
            )
    with open(file, "rb") as fh:
        raw = fh.read()
    bar = ProgressBar()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        result = importer.import_roster(
            session,
            RESOURCES[kind],
            file,
            raw,
            village,
            group,
            upsert=upsert,
            dry_run=dry_run,
            progress=bar,
        )
    except importer.ImportUsageError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        bar.close()
    if os.environ.get("ROSTER_TIMING"):
        # For bench/import_roster.py: the import alone, without starting Python and the app.
        checked = bar.checked_at or time.perf_counter()
        click.echo(
            f"pipeline {time.perf_counter() - started:.3f} s (read and checked "
            f"{checked - started:.3f} s, written {time.perf_counter() - checked:.3f} s; "
            f"cpu {time.process_time() - cpu:.3f} s)",
            err=True,
        )
    counts = result.counts
    if result.committed:
        click.echo(
            _(
                "Imported: %(inserted)d inserted, %(updated)d updated, %(unchanged)d unchanged",
                **counts,
            )
        )
    else:
        click.echo(
            _(
                "Would insert %(inserted)d, update %(updated)d; %(unchanged)d unchanged, "
                "%(rejected)d rejected",
                **counts,
            )
        )
    for row_number, _cells, problems in result.rejected[:SHOWN_ERRORS]:
        click.echo(result.message(row_number, problems))
    if len(result.rejected) > SHOWN_ERRORS:
        more = len(result.rejected) - SHOWN_ERRORS
        click.echo(_("… and %(n)d more rows (--errors-out writes them all)", n=more))
    if errors_out and result.rejected:
        importer.write_errors(result, errors_out)
        click.echo(_("Rejected rows written to %(path)s", path=errors_out))
    if result.rejected:
        click.echo(_("Nothing was imported: correct the rows above and run again."))
        sys.exit(1)
    if dry_run:
        click.echo(_("Dry run: nothing written."))


@roster_cli.command("export")
@click.argument("kind", type=click.Choice(sorted(RESOURCES)))
@click.option("--village", "village_name", required=True, help="Village whose roster is written.")
@click.option("--township", "township_name", help=TOWNSHIP_HELP)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="FILE.xlsx or FILE.csv",
)
@click.option(
    "--all",
    "every_status",
    is_flag=True,
    help="Every row, those who left or ended included (default: the rows on the register today).",
)
def roster_export(kind, village_name, township_name, output, every_status):
    """Export a roster in register layout (.xlsx) or as CSV (UTF-8 with BOM), full ID numbers.

    Registers with a status list their current rows (members 在册) unless --all is given."""
    fmt = os.path.splitext(output)[1].lower().lstrip(".")
    if fmt not in exporter.FORMATS:
        raise click.UsageError(_("The output file must end in .xlsx or .csv"))
    session = current_app.appbuilder.session
    village = find_village(session, village_name, find_township(session, township_name))
    rows = exporter.export_roster(
        session,
        RESOURCES[kind],
        village,
        fmt,
        output,
        filename=os.path.basename(output),
        every_status=every_status,
    )
    click.echo(_("Exported %(n)d rows to %(path)s", n=rows, path=output))


@roster_cli.command("template")
@click.argument("kind", type=click.Choice(sorted(RESOURCES)))
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False),
    help="FILE.xlsx (default: the register's name, e.g. 会员花名册导入模板.xlsx).",
)
def roster_template(kind, output):
    """Write the blank template of a roster KIND (.xlsx): its columns and an example row."""
    from app import roster_template as template

    resource = RESOURCES[kind]
    output = output or template.file_name(resource)
    if not output.lower().endswith(".xlsx"):
        raise click.UsageError(_("The template is an .xlsx file: give a name ending in .xlsx"))
    template.write_template(resource, output)
    click.echo(_("Template of %(title)s written to %(path)s", title=resource.title, path=output))


@backup_cli.command("create")
@click.argument("file", type=click.Path(dir_okay=False))
def backup_create(file):
    """Write a backup of the database to FILE (a new file): SQLite copy or pg_dump -Fc."""
    # Lazily, as audit_records above: the backup module is ~4 ms of start-up.
    from app import backup

    try:
        created = backup.create(file)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        _(
            "Backup written to %(path)s (%(size)s bytes, SHA-256 %(sha256)s)",
            path=created.path,
            size=f"{created.size:,}",
            sha256=created.sha256,
        )
    )


@backup_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def backup_verify(file):
    """Check FILE: integrity, schema revision, rows per table, audit chain. Exit 0 sound, 1 not."""
    from app import backup

    try:
        report = backup.verify(file)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("\n".join(report.lines()))
    sys.exit(0 if report.ok else 1)


@backup_cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace the database without asking.")
def backup_restore(file, yes):
    """Replace the database with FILE, checked first; exit 0 restored, 1 refused or aborted."""
    from app import backup

    try:
        with backup.restoring(file) as restore:
            click.echo("\n".join(restore.report.lines()))
            if not restore.report.ok:
                click.echo(_("Nothing was changed."))
                sys.exit(1)
            if not yes and not click.confirm(
                _(
                    "Replace the database %(target)s with this backup? What was written since "
                    "the backup is lost",
                    target=backup.target_name(),
                )
            ):
                click.echo(_("Nothing was changed."))
                sys.exit(1)
            restore.commit()
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("Database restored from %(path)s; the restore is in the audit log.", path=file))


def register(app):
    app.cli.add_command(demo_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(roster_cli)
    app.cli.add_command(backup_cli)
