"""a phone number the care team can call

- user.phone: optional, up to 32 characters, as its owner (or their clinician) typed it.

Downgrading drops the column, and the numbers in it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("phone")
