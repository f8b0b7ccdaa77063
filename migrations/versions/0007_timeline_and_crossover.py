"""timeline and crossover: holds and pauses move dates, one dose answer per plan, alerts per plan

- plan_revision gets hold_kind ('hold' or 'pause'; NULL with a hold_start reads as 'hold') and
  hold_shift (the days a hold moved the later steps, so its end can change later).
- log_dose holds one dose answer per plan in force on a log's day (a crossover has two); the
  four dose columns of daily_log move there, row for row.
- alert gets plan_id and cause; "one open alert per kind" now counts open alerts only (an
  acknowledged one no longer hides a new one), per plan for a plan's alerts.

Plans stored before this change are brought onto the new rules as new revisions (inserts only;
saved revisions stay as they were): a dated hold still in force whose later steps were never
moved gets them moved (so its end no longer skips a step), and a paused plan gets its pause on
record (from the day it was paused), so it stays frozen.

Downgrading keeps each log's first dose answer on the log and drops the others; the revisions
added on upgrade stay (they are part of the plan's history).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:20:00

"""

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DOSE = sa.Numeric(precision=10, scale=3)
OLD_OPEN = "status <> 'resolved' AND tier <> 'urgent'"
NEW_OPEN = "status = 'open' AND tier <> 'urgent' AND plan_id IS NULL"
NEW_OPEN_PLAN = "status = 'open' AND tier <> 'urgent' AND plan_id IS NOT NULL"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _sqlite_append_only(table: str) -> None:
    """Batch mode copies a SQLite table to change it, which drops its triggers: put back the
    append-only ones of migration 0006."""
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb.lower()}")
        op.execute(
            f'CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, '{table} rows are append-only'); END"
        )


PLAN = sa.table(
    "taper_plan",
    sa.column("id", sa.Integer),
    sa.column("patient_id", sa.Integer),
    sa.column("status", sa.String),
    sa.column("version", sa.Integer),
    sa.column("current_revision_id", sa.Integer),
    sa.column("updated_at", sa.DateTime),
)
REVISION = sa.table(
    "plan_revision",
    sa.column("id", sa.Integer),
    sa.column("plan_id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("author_id", sa.Integer),
    sa.column("created_at", sa.DateTime),
    sa.column("reason", sa.Text),
    sa.column("hold_start", sa.Date),
    sa.column("hold_until", sa.Date),
    sa.column("hold_kind", sa.String),
    sa.column("hold_shift", sa.Integer),
)
STEP = sa.table(
    "taper_step",
    sa.column("revision_id", sa.Integer),
    sa.column("start_date", sa.Date),
    sa.column("total", DOSE),
    *(sa.column(name, DOSE) for name in ("morning", "midday", "evening", "bedtime")),
    sa.column("note", sa.Text),
)
AUDIT = sa.table(
    "audit_event",
    sa.column("at", sa.DateTime),
    sa.column("action", sa.String),
    sa.column("object_type", sa.String),
    sa.column("object_id", sa.Integer),
)
STEP_COLUMNS = ("start_date", "total", "morning", "midday", "evening", "bedtime", "note")


def _as_date(value) -> date:
    return value if isinstance(value, date) and not isinstance(value, datetime) else value.date()


def _bring_plans_onto_the_timeline() -> None:
    """Written out here (not the app's code) so the migration stays as it was."""
    bind = op.get_bind()
    # A day's margin: the patient's local day may still be yesterday in UTC terms.
    today = datetime.now(UTC).date() - timedelta(days=1)
    plans = bind.execute(
        sa.select(
            PLAN.c.id,
            PLAN.c.status,
            PLAN.c.version,
            PLAN.c.updated_at,
            REVISION.c.id,
            REVISION.c.number,
            REVISION.c.author_id,
            REVISION.c.hold_start,
            REVISION.c.hold_until,
        )
        .join(REVISION, REVISION.c.id == PLAN.c.current_revision_id)
        .where(PLAN.c.status.in_(["active", "paused"]))
        .order_by(PLAN.c.id)
    ).all()
    for plan_id, status, version, updated_at, rev_id, number, author, start, until in plans:
        steps = [
            dict(zip(STEP_COLUMNS, row, strict=True))
            for row in bind.execute(
                sa.select(*(STEP.c[name] for name in STEP_COLUMNS))
                .where(STEP.c.revision_id == rev_id)
                .order_by(STEP.c.start_date)
            )
        ]
        in_force = start is not None and (until is None or until >= today)
        if status == "paused":
            paused_at = bind.execute(
                sa.select(sa.func.max(AUDIT.c.at)).where(
                    AUDIT.c.action == "plan.status",
                    AUDIT.c.object_type == "taper_plan",
                    AUDIT.c.object_id == plan_id,
                )
            ).scalar()
            pause_day = start if in_force else _as_date(paused_at or updated_at)
            hold = (pause_day, None, "pause", 0)
            reason = "Pause put on record (migration 0007): the dose in force stays until resumed."
        elif start is not None and until is not None and until >= today:
            held = max((i for i, s in enumerate(steps) if s["start_date"] <= start), default=None)
            following = 0 if held is None else held + 1
            if following >= len(steps) or steps[following]["start_date"] > until:
                continue  # nothing is passed over: no change needed
            shift = (until + timedelta(days=1) - steps[following]["start_date"]).days
            for step in steps[following:]:
                step["start_date"] += timedelta(days=shift)
            hold = (start, until, "hold", shift)
            reason = (
                "Later steps moved by the hold (migration 0007), so its end goes on to the next "
                "typed step instead of passing over it."
            )
        else:
            continue
        new_id = bind.execute(
            REVISION.insert()
            .values(
                plan_id=plan_id,
                number=number + 1,
                author_id=author,
                created_at=datetime.now(UTC),
                reason=reason,
                hold_start=hold[0],
                hold_until=hold[1],
                hold_kind=hold[2],
                hold_shift=hold[3],
            )
            .returning(REVISION.c.id)
        ).scalar_one()
        if steps:
            bind.execute(STEP.insert(), [{**step, "revision_id": new_id} for step in steps])
        bind.execute(
            PLAN.update()
            .where(PLAN.c.id == plan_id)
            .values(current_revision_id=new_id, version=version + 1)
        )


def upgrade():
    with op.batch_alter_table("plan_revision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold_kind", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("hold_shift", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint(
            "hold_kind_known", "hold_kind IS NULL OR hold_kind IN ('hold', 'pause')"
        )
        batch_op.create_check_constraint("hold_shift_not_negative", "hold_shift >= 0")
    if _sqlite():
        _sqlite_append_only("plan_revision")
    _bring_plans_onto_the_timeline()

    op.create_table(
        "log_dose",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("medication", sa.String(length=80), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("dose_scheduled", DOSE, nullable=False),
        sa.Column("took_as_scheduled", sa.Boolean(), nullable=False),
        sa.Column("dose_taken", DOSE, nullable=False),
        sa.CheckConstraint("dose_taken >= 0", name=op.f("ck_log_dose_dose_taken_not_negative")),
        sa.CheckConstraint(
            "dose_scheduled >= 0", name=op.f("ck_log_dose_dose_scheduled_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["log_id"], ["daily_log.id"], name=op.f("fk_log_dose_log_id_daily_log")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["taper_plan.id"], name=op.f("fk_log_dose_plan_id_taper_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_dose")),
        sa.UniqueConstraint("log_id", "plan_id", name="uq_log_dose_plan"),
    )
    with op.batch_alter_table("log_dose", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_log_dose_log_id"), ["log_id"], unique=False)
    op.execute(
        "INSERT INTO log_dose (log_id, plan_id, medication, unit, dose_scheduled, "
        "took_as_scheduled, dose_taken) "
        "SELECT daily_log.id, daily_log.plan_id, taper_plan.medication, taper_plan.unit, "
        "daily_log.dose_scheduled, daily_log.took_as_scheduled, daily_log.dose_taken "
        "FROM daily_log JOIN taper_plan ON taper_plan.id = daily_log.plan_id "
        "WHERE daily_log.dose_scheduled IS NOT NULL AND daily_log.dose_taken IS NOT NULL "
        "AND daily_log.took_as_scheduled IS NOT NULL"
    )
    with op.batch_alter_table("daily_log", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("fk_daily_log_plan_id_taper_plan"), type_="foreignkey")
        batch_op.drop_constraint(op.f("ck_daily_log_dose_taken_not_negative"), type_="check")
        batch_op.drop_column("plan_id")
        batch_op.drop_column("dose_scheduled")
        batch_op.drop_column("dose_taken")
        batch_op.drop_column("took_as_scheduled")

    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("cause", sa.String(length=64), server_default="", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_alert_plan_id_taper_plan"), "taper_plan", ["plan_id"], ["id"]
        )
        batch_op.drop_index(
            "uq_alert_open_kind",
            sqlite_where=sa.text(OLD_OPEN),
            postgresql_where=sa.text(OLD_OPEN),
        )
    # Before the new index: earlier acknowledged-then-reopened states cannot clash, since the
    # old index allowed one unresolved (open or acknowledged) alert per kind at most.
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            "uq_alert_open_kind",
            ["patient_id", "kind"],
            unique=True,
            sqlite_where=sa.text(NEW_OPEN),
            postgresql_where=sa.text(NEW_OPEN),
        )
        batch_op.create_index(
            "uq_alert_open_plan_kind",
            ["patient_id", "kind", "plan_id"],
            unique=True,
            sqlite_where=sa.text(NEW_OPEN_PLAN),
            postgresql_where=sa.text(NEW_OPEN_PLAN),
        )


def downgrade():
    # Only one unresolved non-urgent alert per kind could exist before: resolve the extra ones
    # (the newest stays) so the old index can be built.
    op.execute(
        "UPDATE alert SET status = 'resolved' WHERE tier <> 'urgent' AND status <> 'resolved' "
        "AND id NOT IN (SELECT MAX(id) FROM alert WHERE tier <> 'urgent' AND status <> 'resolved' "
        "GROUP BY patient_id, kind)"
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alert_open_plan_kind",
            sqlite_where=sa.text(NEW_OPEN_PLAN),
            postgresql_where=sa.text(NEW_OPEN_PLAN),
        )
        batch_op.drop_index(
            "uq_alert_open_kind",
            sqlite_where=sa.text(NEW_OPEN),
            postgresql_where=sa.text(NEW_OPEN),
        )
        batch_op.drop_constraint(batch_op.f("fk_alert_plan_id_taper_plan"), type_="foreignkey")
        batch_op.drop_column("cause")
        batch_op.drop_column("plan_id")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            "uq_alert_open_kind",
            ["patient_id", "kind"],
            unique=True,
            sqlite_where=sa.text(OLD_OPEN),
            postgresql_where=sa.text(OLD_OPEN),
        )

    with op.batch_alter_table("daily_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("took_as_scheduled", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("dose_taken", DOSE, nullable=True))
        batch_op.add_column(sa.Column("dose_scheduled", DOSE, nullable=True))
        batch_op.add_column(sa.Column("plan_id", sa.Integer(), nullable=True))
        batch_op.create_check_constraint(
            "dose_taken_not_negative", "dose_taken IS NULL OR dose_taken >= 0"
        )
        batch_op.create_foreign_key(
            op.f("fk_daily_log_plan_id_taper_plan"), "taper_plan", ["plan_id"], ["id"]
        )
    # Each log keeps its first dose answer (fixed column names, no input).
    first = "(SELECT MIN(id) FROM log_dose f WHERE f.log_id = daily_log.id)"
    for column in ("took_as_scheduled", "dose_taken", "dose_scheduled", "plan_id"):
        statement = f"UPDATE daily_log SET {column} = (SELECT {column} FROM log_dose WHERE "  # noqa: S608
        op.execute(statement + f"log_dose.id = {first})")
    with op.batch_alter_table("log_dose", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_dose_log_id"))
    op.drop_table("log_dose")

    with op.batch_alter_table("plan_revision", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_plan_revision_hold_shift_not_negative"), type_="check")
        batch_op.drop_constraint(op.f("ck_plan_revision_hold_kind_known"), type_="check")
        batch_op.drop_column("hold_shift")
        batch_op.drop_column("hold_kind")
    if _sqlite():
        _sqlite_append_only("plan_revision")
