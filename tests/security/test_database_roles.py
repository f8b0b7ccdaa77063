"""D6: the app's database role cannot alter its own history. On PostgreSQL the suite runs the
app as a restricted role (tests/conftest.py, as ``flask db roles`` sets up production): it
cannot TRUNCATE, change the schema, switch a trigger off, or UPDATE or DELETE a row of the
append-only tables, and the app still works as that role. The rights listed in
taper/db_roles.py are checked on both databases; what only PostgreSQL has (roles, grants) is
tried on PostgreSQL, which `.ci/run` runs the whole suite on."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import DBAPIError

from taper import create_app
from taper.db_roles import (
    APPEND_ONLY,
    NEW_TABLE_RIGHTS,
    RIGHTS,
    RoleError,
    rights_of,
    scram_verifier,
    statements,
)
from taper.extensions import db
from taper.models import Alert, AuditEvent, DailyLog, LogDose, PlanRevision, RedFlagReport
from tests.conftest import PASSWORD, login_as
from tests.helpers import fill_log, patient_today, plan_form, version_of
from tests.tools.databases import fresh_database_with_roles, is_postgres

POSTGRES = is_postgres(os.environ.get("TEST_DATABASE_URL"))
postgres_only = pytest.mark.skipif(
    not POSTGRES, reason="database roles are PostgreSQL's; .ci/run runs these on PostgreSQL"
)
MODEL_TABLES = sorted(table.name for table in db.metadata.sorted_tables)
PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def refused(engine, statement: str) -> None:
    """``statement`` fails for lack of a privilege (not for a trigger or a missing row)."""
    with engine.connect() as conn:
        with pytest.raises(DBAPIError) as failure:
            conn.execute(text(statement))
        conn.rollback()
    assert isinstance(failure.value.orig, psycopg.errors.InsufficientPrivilege), failure.value


@pytest.fixture
def app_engine(app):
    with app.app_context():
        return db.engine


# --- The list of rights (both databases) ---------------------------------------------------


def test_every_table_has_its_rights_listed_and_history_is_never_changed():
    assert set(MODEL_TABLES) <= set(RIGHTS), "add new tables to taper/db_roles.py RIGHTS"
    assert set(APPEND_ONLY) <= set(MODEL_TABLES)
    # The list: audit events, plan revisions, steps, log versions.
    assert {"audit_event", "plan_revision", "taper_step", "daily_log", "log_dose"} <= set(
        APPEND_ONLY
    )
    for table in APPEND_ONLY:
        assert set(rights_of(table)) == {"SELECT", "INSERT"}, table
    verbs = {right.split()[0] for rights in RIGHTS.values() for right in rights}
    assert verbs <= {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert "TRUNCATE" not in NEW_TABLE_RIGHTS
    assert rights_of("alembic_version") == ()


def test_the_sql_names_only_checked_roles_and_never_the_password():
    sql = "\n".join(
        statements("clinic_owner", "clinic_app", MODEL_TABLES, app_password="it's a secret")
    )
    assert "it's a secret" not in sql
    assert "it''s a secret" not in sql
    assert re.search(r"ALTER ROLE \"clinic_app\" PASSWORD 'SCRAM-SHA-256\$4096:", sql)
    assert 'GRANT SELECT, INSERT ON "public"."audit_event" TO "clinic_app"' in sql
    assert 'GRANT SELECT, INSERT, UPDATE ON "public"."user" TO "clinic_app"' in sql
    assert "GRANT SELECT, INSERT, UPDATE (status, acknowledged_by_id," in sql
    assert "TRUNCATE" not in sql
    for bad in ('app"; DROP TABLE audit_event; --', "App", "x" * 64, ""):
        with pytest.raises(RoleError):
            statements("clinic_owner", bad, MODEL_TABLES)
    with pytest.raises(RoleError, match="two different roles"):
        statements("same", "same", MODEL_TABLES)


def test_the_password_verifier_is_postgresqls_scram_sha_256():
    # RFC 7677's example user "user", password "pencil", salt from the RFC's exchange.
    import base64

    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_verifier("pencil", salt)
    assert verifier == (
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
    )


def test_db_roles_prints_the_sql_and_refuses_sqlite(app):
    runner = app.test_cli_runner()
    printed = runner.invoke(args=["db", "roles", "--sql", "--app-role", "clinic_app"])
    assert printed.exit_code == 0, printed.output
    assert 'GRANT USAGE ON SCHEMA "public" TO "clinic_app";' in printed.output
    assert 'REVOKE CREATE ON SCHEMA "public" FROM PUBLIC;' in printed.output
    bad = runner.invoke(args=["db", "roles", "--sql", "--app-role", "Robert'); DROP"])
    assert bad.exit_code != 0
    assert "not a usable role" in bad.output
    if not POSTGRES:
        ran = runner.invoke(args=["db", "roles"])
        assert ran.exit_code != 0
        assert "need PostgreSQL" in ran.output


# --- As the app role on PostgreSQL --------------------------------------------------------


@postgres_only
def test_the_app_connects_as_the_restricted_role(app_engine, test_database):
    with app_engine.connect() as conn:
        me = conn.scalar(text("SELECT current_user"))
        powers = conn.execute(
            text(
                "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication "
                "FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        member_of_owner = conn.scalar(
            text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"),
            {"owner": test_database.owner},
        )
    assert me == test_database.app_role
    assert tuple(powers) == (False,) * 5
    assert member_of_owner is False


@postgres_only
@pytest.mark.parametrize("table", MODEL_TABLES)
def test_the_app_role_cannot_truncate(app_engine, table):
    refused(app_engine, f'TRUNCATE "{table}" CASCADE')


@postgres_only
@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("change", ['UPDATE "{table}" SET id = id', 'DELETE FROM "{table}"'])
def test_the_app_role_cannot_update_or_delete_history(app_engine, table, change):
    refused(app_engine, change.format(table=table))


@postgres_only
@pytest.mark.parametrize(
    "statement",
    [
        'DROP TABLE "audit_event"',
        'ALTER TABLE "audit_event" DISABLE TRIGGER audit_event_append_only',
        'ALTER TABLE "plan_revision" DISABLE TRIGGER ALL',
        'DROP TRIGGER taper_step_append_only ON "taper_step"',
        'ALTER TABLE "daily_log" ADD COLUMN rewritten text',
        'ALTER TABLE "audit_event" OWNER TO CURRENT_USER',
        'CREATE INDEX ix_rewrite ON "daily_log" (note)',
        "CREATE TABLE shadow (id integer)",
        "CREATE TEMPORARY TABLE shadow (id integer)",
        "CREATE SCHEMA shadow",
        "CREATE VIEW shadow AS SELECT 1",
        "CREATE OR REPLACE FUNCTION taper_refuse_change() RETURNS trigger AS $$ BEGIN "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "SET session_replication_role = replica",
        'LOCK TABLE "audit_event" IN ACCESS EXCLUSIVE MODE',
        "SELECT setval(pg_get_serial_sequence('audit_event', 'id'), 1)",
    ],
)
def test_the_app_role_cannot_change_the_schema_or_switch_triggers_off(app_engine, statement):
    refused(app_engine, statement)


@postgres_only
def test_the_app_role_has_exactly_the_listed_rights(app_engine):
    with app_engine.connect() as conn:
        tables = conn.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        held = {
            table: {
                privilege
                for privilege in PRIVILEGES
                if conn.scalar(
                    text("SELECT has_table_privilege(:table, :privilege)"),
                    {"table": f'public."{table}"', "privilege": privilege},
                )
            }
            for table in tables
        }
        schema_create = conn.scalar(text("SELECT has_schema_privilege('public', 'CREATE')"))
    assert set(tables) == set(MODEL_TABLES)
    # Whole-table rights; UPDATE of some columns only (alert) is tried below.
    assert held == {table: {r for r in rights_of(table) if " " not in r} for table in tables}
    assert schema_create is False


@postgres_only
@pytest.mark.parametrize(
    "change",
    [
        "reason = 'nothing to see'",
        "tier = 'review'",
        "kind = 'other'",
        "quote = ''",
        "patient_id = patient_id",
        "created_at = now()",
    ],
)
def test_what_raised_an_alert_cannot_be_rewritten(app_engine, change):
    refused(app_engine, f"UPDATE alert SET {change}")  # noqa: S608  (fixed text)


@postgres_only
def test_triage_may_update_an_alerts_status_and_note(app_engine):
    with app_engine.connect() as conn:
        conn.execute(
            text(
                "UPDATE alert SET status = status, note = note, acknowledged_at = "
                "acknowledged_at, acknowledged_by_id = acknowledged_by_id, resolved_at = "
                "resolved_at, resolved_by_id = resolved_by_id"
            )
        )
        conn.rollback()


@postgres_only
def test_db_roles_sets_up_a_database_a_superuser_migrated():
    """Production: the migrations ran as the superuser before; `flask db roles` makes both
    roles, hands the tables over to the owner and grants the app role its rights; running it
    again changes nothing; the app role then cannot rewrite history, the owner can migrate."""
    from flask_migrate import upgrade

    base = os.environ["TEST_DATABASE_URL"]
    with fresh_database_with_roles(base) as database:
        # Roles made for this database alone, then the schema made the old way.
        migrated = create_app({"SQLALCHEMY_DATABASE_URI": database.admin_url})
        with migrated.app_context():
            upgrade()
            db.engine.dispose()
        runner = migrated.test_cli_runner()
        args = ["db", "roles", "--owner", database.owner, "--app-role", database.app_role]
        for _ in range(2):
            result = runner.invoke(args=args)
            assert result.exit_code == 0, result.output
            assert "Warning" not in result.output
        admin = create_engine(database.admin_url)
        with admin.connect() as conn:
            owners = set(
                conn.scalars(
                    text(
                        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN "
                        "pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public' "
                        "AND relkind IN ('r', 'S', 'i')"
                    )
                )
            )
            function_owner = conn.scalar(
                text(
                    "SELECT pg_get_userbyid(proowner) FROM pg_proc "
                    "WHERE proname = 'taper_refuse_change'"
                )
            )
        admin.dispose()
        assert owners == {database.owner}
        assert function_owner == database.owner
        app_engine = create_engine(database.app_url)
        try:
            for table in APPEND_ONLY:
                refused(app_engine, f'DELETE FROM "{table}"')  # noqa: S608  (fixed names)
            refused(app_engine, 'TRUNCATE "audit_event"')
            with app_engine.connect() as conn:
                assert conn.scalar(text('SELECT count(*) FROM "audit_event"')) == 0
        finally:
            app_engine.dispose()
        # The owner may change the schema (the full migration round trip as the owner is
        # tests/tools/migration_check.py's).
        owner_engine = create_engine(database.owner_url)
        try:
            with owner_engine.connect() as conn:
                conn.execute(text('ALTER TABLE "audit_event" ADD COLUMN later integer'))
                conn.execute(text("CREATE TABLE later (id integer)"))
                conn.rollback()
        finally:
            owner_engine.dispose()


@postgres_only
def test_db_roles_refuses_a_superuser_as_the_app_role(test_database):
    as_superuser = create_app({"SQLALCHEMY_DATABASE_URI": test_database.admin_url})
    with as_superuser.app_context():
        superuser = db.session.scalar(text("SELECT current_user"))
        db.session.remove()
    result = as_superuser.test_cli_runner().invoke(
        args=["db", "roles", "--owner", "taper_never_made_owner", "--app-role", superuser]
    )
    assert result.exit_code == 1
    assert f"role {superuser} has more powers than a Taper role may have" in result.output
    engine = create_engine(test_database.admin_url)
    with engine.connect() as conn:
        made = conn.scalar(
            text("SELECT count(*) FROM pg_roles WHERE rolname = 'taper_never_made_owner'")
        )
    engine.dispose()
    assert made == 0  # one transaction: nothing half done


# --- The app works as that role (both databases) -----------------------------------------


def test_the_app_works_as_its_role_and_corrections_stay_versions(
    app, client, clinician, patient, write_plan, test_database
):
    """A clinician writes and revises a plan, a patient saves a log and corrects it, sends a
    red flag, the clinician acknowledges the alert: all as the app role. No UPDATE or DELETE
    is ever sent for a log version, a dose answer, a plan revision or the audit trail."""
    changes: list[str] = []

    def watch(_conn, _cursor, statement, *_args):
        if re.match(r"\s*(UPDATE|DELETE)\b", statement, re.I):
            changes.append(statement)

    with app.app_context():
        engine = db.engine
        if test_database is not None:
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT current_user")) == test_database.app_role
    event.listen(engine, "before_cursor_execute", watch)
    try:
        today = patient_today(patient)
        login_as(client, clinician)
        steps = [
            (today - timedelta(days=10), "10", {}, ""),
            (today + timedelta(days=4), "8", {}, ""),
        ]
        plan_id = write_plan(patient, steps)
        steps[1] = (steps[1][0], "9", {}, "Slower")
        response = client.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(
                steps, reason="Slower", version=version_of(app, plan_id), password=PASSWORD
            ),
        )
        assert response.status_code == 302, response.get_data(as_text=True)

        login_as(client, patient)
        assert client.post("/log", data=fill_log(client, score=1, note="first")).status_code == 302
        correction = fill_log(client, score=2, took="no", dose_taken="9.5", note="second")
        assert client.post("/log", data=correction).status_code == 302
        page = client.get("/help").get_data(as_text=True)
        token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
        response = client.post("/help", data={"red_flags": "seizure", "submission_id": token})
        assert response.status_code == 200

        login_as(client, clinician)
        with app.app_context():
            alert_id = db.session.scalar(select(Alert.id).where(Alert.tier == "urgent"))
        response = client.post(f"/clinician/alerts/{alert_id}/acknowledge", data={"note": "Called"})
        assert response.status_code == 302
    finally:
        event.remove(engine, "before_cursor_execute", watch)

    with app.app_context():
        versions = db.session.scalars(select(DailyLog).order_by(DailyLog.version)).all()
        assert [(v.version, v.day, v.patient_total, v.note) for v in versions] == [
            (1, today, 17, "first"),
            (2, today, 34, "second"),
        ]
        doses = db.session.scalars(select(LogDose).order_by(LogDose.log_id)).all()
        assert [(d.log_id, d.took_as_scheduled, d.dose_taken) for d in doses] == [
            (versions[0].id, True, Decimal("10")),
            (versions[1].id, False, Decimal("9.5")),
        ]
        assert db.session.scalar(select(func.count()).select_from(PlanRevision)) == 2
        assert db.session.scalar(select(func.count()).select_from(RedFlagReport)) == 1
        assert db.session.get(Alert, alert_id).status == "acknowledged"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) > 0
    protected = "|".join(APPEND_ONLY)
    rewrites = [
        s for s in changes if re.match(rf'\s*(UPDATE|DELETE FROM)\s+"?({protected})"?\b', s)
    ]
    assert rewrites == []
    assert any(s.lstrip().startswith("UPDATE alert") for s in changes)  # triage is an update
