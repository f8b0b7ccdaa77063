"""the revision a plan started with

- taper_plan.activated_revision: the number of the revision in force when the plan was
  activated. The revisions before it were replaced while the plan was a draft and never ran:
  the patient's own copy of the record leaves them out, the care team's calls them cancelled.
  Filled in for existing plans from the audit trail (the first "plan.status" change from
  draft to active, and the latest revision saved by then); None where the trail does not tell
  (the exports then treat every revision as having run, as before).

Downgrading drops the column.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 01:40:00

"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("activated_revision", sa.Integer(), nullable=True))
    connection = op.get_bind()
    activated = {}
    for plan_id, at, summary in connection.execute(
        sa.text(
            "SELECT object_id, at, summary FROM audit_event "
            "WHERE action = 'plan.status' AND object_type = 'taper_plan' ORDER BY at, id"
        )
    ):
        change = json.loads(summary) if isinstance(summary, str) else (summary or {})
        if change.get("from") == "draft" and change.get("to") == "active":
            activated.setdefault(plan_id, at)
    for plan_id, at in activated.items():
        number = connection.execute(
            sa.text(
                "SELECT max(number) FROM plan_revision WHERE plan_id = :plan AND created_at <= :at"
            ),
            {"plan": plan_id, "at": at},
        ).scalar()
        if number is not None:
            connection.execute(
                sa.text("UPDATE taper_plan SET activated_revision = :number WHERE id = :plan"),
                {"number": number, "plan": plan_id},
            )


def downgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.drop_column("activated_revision")
