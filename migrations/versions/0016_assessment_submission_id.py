"""the visit assessment form's one-time id

- visit_assessment.submission_id: the id the assessment form carries (uuid4 hex), unique, so
  the same form sent twice (a double click, Back and Save again) saves one assessment
  (SECURITY.md F2). Assessments saved before this revision have none.

Downgrading drops the column and its unique constraint.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 02:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("visit_assessment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_id", sa.String(length=36), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_visit_assessment_submission_id"), ["submission_id"]
        )


def downgrade():
    with op.batch_alter_table("visit_assessment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_visit_assessment_submission_id"), type_="unique")
        batch_op.drop_column("submission_id")
