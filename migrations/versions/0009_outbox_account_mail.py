"""account e-mails through the outbox: a set-password link, a password-change notice

- outbox_message.alert_id becomes nullable: a message about an account (a set-password link
  e-mailed to its owner, "your password was changed") belongs to no alert.

Downgrading deletes those account messages (sent or not): the old column cannot hold them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=True)


def downgrade():
    op.execute("DELETE FROM outbox_message WHERE alert_id IS NULL")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.alter_column("alert_id", existing_type=sa.Integer(), nullable=False)
