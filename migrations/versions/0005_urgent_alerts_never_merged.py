"""urgent alerts are never merged: one open alert per kind applies to review and info only

Every red-flag report must reach the care team as an alert of its own, even while an earlier
one is still open or acknowledged. Downgrading restores the old index, which fails while a
patient has two unresolved urgent alerts of one kind: resolve them first.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_WHERE = "status <> 'resolved'"
NEW_WHERE = "status <> 'resolved' AND tier <> 'urgent'"


def _replace_index(drop_where: str, create_where: str) -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alert_open_kind",
            sqlite_where=sa.text(drop_where),
            postgresql_where=sa.text(drop_where),
        )
        batch_op.create_index(
            "uq_alert_open_kind",
            ["patient_id", "kind"],
            unique=True,
            sqlite_where=sa.text(create_where),
            postgresql_where=sa.text(create_where),
        )


def upgrade():
    _replace_index(OLD_WHERE, NEW_WHERE)


def downgrade():
    _replace_index(NEW_WHERE, OLD_WHERE)
