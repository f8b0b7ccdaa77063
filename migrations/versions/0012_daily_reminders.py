"""the patient's daily reminder e-mail

- user.reminder_on: the patient opted in (off for everyone until they do: an e-mail from Taper
  tells whoever reads the inbox that its owner is tapering).
- user.reminder_at: the local time it goes at, 20:00 until they choose another.
- reminder_sent: one row per patient and local day a reminder was queued for, written with
  its outbox message; its key keeps it to one e-mail a day, whatever runs at once.

Downgrading drops the columns (everyone's choice) and the table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 18:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reminder_on", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("reminder_at", sa.Time(), server_default="20:00:00", nullable=False)
        )
    op.create_table(
        "reminder_sent",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["user.id"],
            name=op.f("fk_reminder_sent_patient_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("patient_id", "day", name=op.f("pk_reminder_sent")),
    )


def downgrade():
    op.drop_table("reminder_sent")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("reminder_at")
        batch_op.drop_column("reminder_on")
