"""the day a plan was completed

- taper_plan.completed_on: the patient's day the clinician completed the plan. The days
  before it stay the plan's own: a log of yesterday still asks about that plan's dose, and a
  correction keeps its answer. Plans completed before this revision have none (as before:
  never in force once completed).

Downgrading drops the column.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 23:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.add_column(sa.Column("completed_on", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.drop_column("completed_on")
