"""red flags never missed: when a flag happened, alcohol and sedatives, quoted notes

- daily_log gets red_flags_when ('now', 'past' or ''), substances (alcohol, opioids or other
  sedatives that day; NULL on older logs) and substances_detail.
- red_flag_report gets when, source (help, log, note, kept), note and reported_at (when the
  patient sent it, for a report kept on the device while Taper could not store it).
- alert gets quote (the patient's words a screened note matched); a note's review alert is
  never merged with another open one, so the open-alert index leaves kind 'note' out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 17:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_OPEN = "status = 'open' AND tier <> 'urgent' AND plan_id IS NULL"
NEW_OPEN = "status = 'open' AND tier <> 'urgent' AND kind <> 'note' AND plan_id IS NULL"


def _open_index(where: str) -> None:
    op.create_index(
        "uq_alert_open_kind",
        "alert",
        ["patient_id", "kind"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade():
    # Plain ADD COLUMN (no batch copy), so the tables keep their triggers on SQLite.
    op.add_column(
        "daily_log",
        sa.Column("red_flags_when", sa.String(length=8), server_default="", nullable=False),
    )
    op.add_column("daily_log", sa.Column("substances", sa.Boolean(), nullable=True))
    op.add_column(
        "daily_log",
        sa.Column("substances_detail", sa.String(length=200), server_default="", nullable=False),
    )
    op.add_column(
        "red_flag_report",
        sa.Column("when", sa.String(length=8), server_default="", nullable=False),
    )
    op.add_column(
        "red_flag_report",
        sa.Column("source", sa.String(length=16), server_default="help", nullable=False),
    )
    op.add_column(
        "red_flag_report", sa.Column("note", sa.Text(), server_default="", nullable=False)
    )
    op.add_column(
        "red_flag_report", sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("alert", sa.Column("quote", sa.Text(), server_default="", nullable=False))
    op.drop_index("uq_alert_open_kind", table_name="alert")
    _open_index(NEW_OPEN)


def downgrade():
    # Only one open review alert per kind could exist before: resolve the extra note alerts
    # (the newest stays) so the old index can be built.
    op.execute(
        "UPDATE alert SET status = 'resolved' WHERE kind = 'note' AND status = 'open' "
        "AND tier <> 'urgent' AND plan_id IS NULL AND id NOT IN (SELECT MAX(id) FROM alert "
        "WHERE kind = 'note' AND status = 'open' AND tier <> 'urgent' AND plan_id IS NULL "
        "GROUP BY patient_id)"
    )
    op.drop_index("uq_alert_open_kind", table_name="alert")
    _open_index(OLD_OPEN)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("quote")
    with op.batch_alter_table("red_flag_report", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
        batch_op.drop_column("note")
        batch_op.drop_column("source")
        batch_op.drop_column("when")
    with op.batch_alter_table("daily_log", schema=None) as batch_op:
        batch_op.drop_column("substances_detail")
        batch_op.drop_column("substances")
        batch_op.drop_column("red_flags_when")
