"""Least privilege in PostgreSQL (SECURITY.md D6): two database roles instead of a superuser.

- The *owner* role owns the tables and runs the migrations (``flask db upgrade`` with
  ``DATABASE_URL`` naming the owner).
- The *app* role is what the running app connects as. It may read and add rows, and change or
  remove only the rows the app really changes (``RIGHTS`` below, table by table). It cannot
  TRUNCATE, create, alter or drop anything, switch a trigger off, or change a row of the
  append-only history: audit events, plan revisions and their steps, daily-log versions and
  their doses, red-flag reports.

``flask --app taper db roles`` creates both roles if missing, hands every table, sequence and
function in the schema to the owner, and grants the app role exactly ``RIGHTS``. It is safe to
run again, and is meant to be run after every ``flask db upgrade``: tables a migration adds get
``NEW_TABLE_RIGHTS`` at once (the owner's default privileges), and this narrows them to their
entry here. ``--sql`` prints the statements to run by hand (``psql -v ON_ERROR_STOP=1``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable

import click
from flask.cli import with_appcontext
from sqlalchemy import inspect

READ_ADD = ("SELECT", "INSERT")
READ_ADD_CHANGE = ("SELECT", "INSERT", "UPDATE")
READ_ADD_CHANGE_REMOVE = ("SELECT", "INSERT", "UPDATE", "DELETE")

# Rows the app writes once and never changes: history. The app role gets no UPDATE or DELETE
# on these (and, like every table, no TRUNCATE).
APPEND_ONLY = (
    "audit_event",  # every view and change of a patient's data (D5)
    "plan_revision",  # a saved revision of a plan (F4)
    "taper_step",  # the steps of a saved revision (F4)
    "daily_log",  # one version of a day's log: a correction adds a version
    "log_dose",  # the dose answers of one log version
    "red_flag_report",  # red flags sent without a log
    "visit_assessment",  # a CIWA-B recorded at a visit
)

# What the app role may do on each table, and why it needs more than SELECT, INSERT.
RIGHTS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(APPEND_ONLY, READ_ADD),
    # password, session version, active, login throttle, time zone, name.
    "user": READ_ADD_CHANGE,
    # links are added (a patient joins a team) and removed by an admin (a clinician taken off
    # a patient's team); never changed.
    "care_team": (*READ_ADD, "DELETE"),
    # status, version and the current revision change; a plan is never deleted.
    "taper_plan": READ_ADD_CHANGE,
    # which revision of a plan the patient last saw: moved on to the newer one.
    "plan_receipt": READ_ADD_CHANGE,
    # alerts are triaged in place (acknowledged, resolved, with a note), only those columns:
    # what raised an alert (kind, tier, reason, the patient's quoted words) stays as it was.
    "alert": (
        *READ_ADD,
        "UPDATE (status, acknowledged_by_id, acknowledged_at, resolved_by_id, resolved_at, note)",
    ),
    # a patient's thresholds, changed by their clinician.
    "alert_settings": READ_ADD_CHANGE,
    # attempts, next try and sent time; `notify send` locks the rows it sends (FOR UPDATE).
    "outbox_message": READ_ADD_CHANGE,
    # the last code's time step, recovery codes used up, keys rotated; removed when two-step
    # login is turned off or reset.
    "two_factor": READ_ADD_CHANGE_REMOVE,
    # a secret being set up: replaced, then removed once confirmed.
    "two_factor_setup": READ_ADD_CHANGE_REMOVE,
    # a daily reminder queued for a patient's day: written once, never changed (its key is
    # what keeps it to one e-mail a day).
    "reminder_sent": READ_ADD,
    # the migrations' bookkeeping: the owner's alone.
    "alembic_version": (),
}

# What a table that is not in RIGHTS gets, and what the owner's default privileges give each
# table a later migration makes (so the app keeps working between `db upgrade` and `db roles`).
NEW_TABLE_RIGHTS = READ_ADD_CHANGE_REMOVE

DEFAULT_OWNER = "taper_owner"
DEFAULT_APP_ROLE = "taper_app"
NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SCRAM_ITERATIONS = 4096


class RoleError(ValueError):
    """A role or schema name that cannot be used."""


def quote_name(name: str) -> str:
    """A checked, double-quoted SQL identifier (lower-case letters, digits and _ only)."""
    if not NAME.fullmatch(name):
        raise RoleError(
            f"{name!r} is not a usable role or schema name: use lower-case letters, digits and _"
        )
    return f'"{name}"'


def quote_literal(value: str) -> str:
    """A SQL string literal (standard_conforming_strings is on since PostgreSQL 9.1)."""
    if "\x00" in value:
        raise RoleError("A NUL character cannot be stored.")
    return "'" + value.replace("'", "''") + "'"


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, 7677): the
    server is given this, never the password, so it is not in the printed SQL or server logs."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def rights_of(table: str) -> tuple[str, ...]:
    return RIGHTS.get(table, NEW_TABLE_RIGHTS)


def _role_statements(name: str, password: str | None) -> list[str]:
    role, literal = quote_name(name), quote_literal(name)
    statements = [
        # Created if missing; an existing role with any power beyond logging in is refused
        # rather than quietly used (or quietly stripped).
        "DO $$ BEGIN\n"  # noqa: S608  # nosec B608
        f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {literal}) THEN\n"
        f"    CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION"
        " NOBYPASSRLS;\n"
        f"  ELSIF EXISTS (SELECT FROM pg_roles WHERE rolname = {literal} AND (rolsuper OR"
        " rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN\n"
        f"    RAISE EXCEPTION 'role % has more powers than a Taper role may have', {literal};\n"
        "  END IF;\n"
        "END $$",
        f"ALTER ROLE {role} LOGIN",
    ]
    if password:
        statements.append(f"ALTER ROLE {role} PASSWORD {quote_literal(scram_verifier(password))}")
    return statements


def statements(
    owner: str,
    app_role: str,
    tables: Iterable[str],
    *,
    schema: str = "public",
    owner_password: str | None = None,
    app_password: str | None = None,
) -> list[str]:
    """The SQL that sets up both roles on the current database; safe to run again."""
    if owner == app_role:
        raise RoleError("The owner and the app role must be two different roles.")
    o, a, s = quote_name(owner), quote_name(app_role), quote_name(schema)
    o_lit, a_lit, s_lit = quote_literal(owner), quote_literal(app_role), quote_literal(schema)
    sql = [*_role_statements(owner, owner_password), *_role_statements(app_role, app_password)]
    sql.append(
        "DO $$ BEGIN\n"
        f"  IF pg_has_role({a_lit}, {o_lit}, 'MEMBER') THEN\n"
        "    RAISE EXCEPTION 'role % is a member of % and would have its rights', "
        f"{a_lit}, {o_lit};\n"
        "  END IF;\n"
        "  EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), "
        f"{o_lit});\n"
        "  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), "
        f"{a_lit});\n"
        # No temporary tables for the app role either (TEMPORARY is granted to PUBLIC).
        "  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());\n"
        "  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM %I', current_database(), "
        f"{a_lit});\n"
        "END $$"
    )
    # Only the owner creates things in the schema.
    sql += [
        f"REVOKE CREATE ON SCHEMA {s} FROM PUBLIC",
        f"GRANT USAGE, CREATE ON SCHEMA {s} TO {o}",
        f"REVOKE ALL ON SCHEMA {s} FROM {a}",
        f"GRANT USAGE ON SCHEMA {s} TO {a}",
    ]
    # The owner owns every table, view, sequence and function in the schema (a database
    # migrated by a superuser before these roles existed is handed over). A sequence that
    # belongs to a column moves with its table; extensions' objects stay as they are.
    sql.append(
        "DO $$ DECLARE item record; BEGIN\n"  # noqa: S608  # nosec B608
        "  FOR item IN SELECT c.relname, c.relkind FROM pg_class c\n"
        "      JOIN pg_namespace n ON n.oid = c.relnamespace\n"
        f"      WHERE n.nspname = {s_lit} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')\n"
        f"        AND pg_get_userbyid(c.relowner) <> {o_lit}\n"
        "        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass\n"
        "          AND d.objid = c.oid AND (d.deptype = 'e' OR (c.relkind = 'S'\n"
        "          AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))))\n"
        "  LOOP\n"
        "    EXECUTE format('ALTER %s %I.%I OWNER TO %I', CASE item.relkind\n"
        "      WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'\n"
        "      WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,\n"
        f"      {s_lit}, item.relname, {o_lit});\n"
        "  END LOOP;\n"
        "  FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p\n"
        "      JOIN pg_namespace n ON n.oid = p.pronamespace\n"
        f"      WHERE n.nspname = {s_lit} AND pg_get_userbyid(p.proowner) <> {o_lit}\n"
        "        AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass\n"
        "          AND d.objid = p.oid AND d.deptype = 'e')\n"
        "  LOOP\n"
        f"    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', item.signature, {o_lit});\n"
        "  END LOOP;\n"
        "END $$"
    )
    # Tables a later migration adds: usable by the app at once; `db roles` then narrows them.
    new_rights = ", ".join(NEW_TABLE_RIGHTS)
    sql += [
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT {new_rights} ON TABLES TO {a}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE ON SEQUENCES TO {a}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {a}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {a}",
    ]
    # Each table's rights, for the tables there are (the printed SQL lists the models' tables,
    # and may be run on a database not migrated yet).
    grants = []
    for table in sorted(set(tables)):
        if rights := rights_of(table):
            name = f"{s}.{quote_name(table)}"
            grants.append(
                f"  IF to_regclass({quote_literal(name)}) IS NOT NULL THEN\n"
                f"    GRANT {', '.join(rights)} ON {name} TO {a};\n"
                "  END IF;\n"
            )
    if grants:
        sql.append("DO $$ BEGIN\n" + "".join(grants) + "END $$")
    # nextval() for the id columns; no setval().
    sql.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {s} TO {a}")
    return sql


def model_tables() -> list[str]:
    """The tables the models define, and Alembic's."""
    from taper.extensions import db

    return [table.name for table in db.metadata.sorted_tables] + ["alembic_version"]


def apply(connection, owner: str, app_role: str, *, schema: str = "public", **passwords) -> list:
    """Run ``statements`` on ``connection`` (a superuser's, in a transaction) for the tables
    that are in the schema now. Returns the tables not listed in ``RIGHTS``."""
    tables = inspect(connection).get_table_names(schema=schema)
    run(connection, statements(owner, app_role, tables, schema=schema, **passwords))
    return sorted(set(tables) - set(RIGHTS))


def run(connection, sql: Iterable[str]) -> None:
    """Execute statements as written: straight to the driver, with no parameters, so neither
    SQLAlchemy (``:name``) nor psycopg (``%s``) reads anything in them as a placeholder."""
    driver_error = connection.dialect.loaded_dbapi.Error
    cursor = connection.connection.cursor()
    try:
        for statement in sql:
            try:
                cursor.execute(statement)
            except driver_error as error:  # e.g. a role with too many powers
                raise RoleError(str(error).strip().splitlines()[0]) from error
    finally:
        cursor.close()


@click.command("roles")
@click.option(
    "--owner",
    envvar="TAPER_DB_OWNER",
    default=DEFAULT_OWNER,
    show_default=True,
    help="Role that owns the tables and runs the migrations (env TAPER_DB_OWNER).",
)
@click.option(
    "--app-role",
    envvar="TAPER_DB_APP_ROLE",
    default=DEFAULT_APP_ROLE,
    show_default=True,
    help="Role the app connects as (env TAPER_DB_APP_ROLE).",
)
@click.option(
    "--owner-password",
    envvar="TAPER_DB_OWNER_PASSWORD",
    default=None,
    help="Set the owner's password (better: env TAPER_DB_OWNER_PASSWORD).",
)
@click.option(
    "--app-password",
    envvar="TAPER_DB_APP_PASSWORD",
    default=None,
    help="Set the app role's password (better: env TAPER_DB_APP_PASSWORD).",
)
@click.option("--schema", default="public", show_default=True)
@click.option("--sql", "print_sql", is_flag=True, help="Print the SQL instead of running it.")
@with_appcontext
def roles_command(
    owner: str,
    app_role: str,
    owner_password: str | None,
    app_password: str | None,
    schema: str,
    print_sql: bool,
) -> None:
    """Create the owner and app database roles (PostgreSQL) and grant the app role only what
    it needs. Connects with DATABASE_URL as a superuser; run it again after every upgrade."""
    from taper.extensions import db

    passwords = {"owner_password": owner_password, "app_password": app_password}
    try:
        if print_sql:
            sql = statements(owner, app_role, model_tables(), schema=schema, **passwords)
            click.echo(";\n\n".join(sql) + ";")
            return
        if db.engine.dialect.name != "postgresql":
            raise click.ClickException(
                "Database roles need PostgreSQL; DATABASE_URL names "
                f"{db.engine.dialect.name}. Use --sql to see the statements."
            )
        with db.engine.begin() as connection:
            unlisted = apply(connection, owner, app_role, schema=schema, **passwords)
    except RoleError as error:  # nothing was changed: all of it is one transaction
        raise click.ClickException(str(error)) from error
    finally:
        db.engine.dispose()
    for table in unlisted:
        click.echo(
            f"Warning: table {table} has no entry in taper/db_roles.py RIGHTS; "
            f"the app role may {', '.join(NEW_TABLE_RIGHTS)} on it.",
            err=True,
        )
    click.echo(
        f"Roles ready: {owner} owns the schema {schema}; {app_role} may only read and add "
        "rows, and change the rows the app changes."
    )


def register(app) -> None:
    """Add ``roles`` to Flask-Migrate's ``db`` command group."""
    from flask_migrate.cli import db as db_group

    db_group.add_command(roles_command)
