"""append-only triggers: the database itself refuses UPDATE and DELETE on audit_event,
plan_revision and taper_step (SECURITY.md D5, F4)

The app never changes these rows (ORM listeners refuse it); the triggers stop raw SQL and
bulk statements too. Written out here rather than imported, so the migration stays as it was.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 11:20:00

"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("audit_event", "plan_revision", "taper_step")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION taper_refuse_change() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION '% rows are append-only', TG_TABLE_NAME; END $$ LANGUAGE plpgsql"
        )
        for table in TABLES:
            op.execute(
                f'CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON "{table}" '
                "FOR EACH ROW EXECUTE FUNCTION taper_refuse_change()"
            )
    else:
        for table in TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f'CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON "{table}" '
                    f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
                )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS {table}_append_only ON "{table}"')
        op.execute("DROP FUNCTION IF EXISTS taper_refuse_change()")
    else:
        for table in TABLES:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
