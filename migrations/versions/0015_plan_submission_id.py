"""the new-plan form's one-time id

- taper_plan.submission_id: the id the new-plan form carries (uuid4 hex), unique, so the
  same form sent twice (a double click, Back and Save again) saves one plan (SECURITY.md F2).
  Plans made before this revision have none.

Downgrading drops the column and its unique constraint.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_id", sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_taper_plan_submission_id"), ["submission_id"]
        )


def downgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_taper_plan_submission_id"), type_="unique")
        batch_op.drop_column("submission_id")
