"""taper plans, revisions, steps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 13:17:08.376097

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed by hand: the cyclic plan<->revision key is added after both tables exist.
    op.create_table(
        "taper_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("medication", sa.String(length=80), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "active",
                "paused",
                "completed",
                name="plan_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("current_revision_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_taper_plan_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user.id"], name=op.f("fk_taper_plan_created_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_taper_plan_patient_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taper_plan")),
    )
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_taper_plan_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "plan_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("hold_start", sa.Date(), nullable=True),
        sa.Column("hold_until", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "hold_until IS NULL OR (hold_start IS NOT NULL AND hold_until >= hold_start)",
            name=op.f("ck_plan_revision_hold_dates"),
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user.id"], name=op.f("fk_plan_revision_author_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["taper_plan.id"], name=op.f("fk_plan_revision_plan_id_taper_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_revision")),
        sa.UniqueConstraint("plan_id", "number", name="uq_plan_revision_number"),
    )
    # The plan and its revisions point at each other: add the plan's link once both exist.
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_taper_plan_current_revision", "plan_revision", ["current_revision_id"], ["id"]
        )

    op.create_table(
        "plan_receipt",
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_plan_receipt_patient_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["taper_plan.id"], name=op.f("fk_plan_receipt_plan_id_taper_plan")
        ),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["plan_revision.id"],
            name=op.f("fk_plan_receipt_revision_id_plan_revision"),
        ),
        sa.PrimaryKeyConstraint("plan_id", name=op.f("pk_plan_receipt")),
    )
    with op.batch_alter_table("plan_receipt", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_plan_receipt_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "taper_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("total", sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column("morning", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("midday", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("evening", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("bedtime", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(morning IS NULL OR morning >= 0) AND (midday IS NULL OR midday >= 0) AND (evening IS NULL OR evening >= 0) AND (bedtime IS NULL OR bedtime >= 0)",
            name=op.f("ck_taper_step_parts_not_negative"),
        ),
        sa.CheckConstraint("total >= 0", name=op.f("ck_taper_step_total_not_negative")),
        sa.ForeignKeyConstraint(
            ["revision_id"],
            ["plan_revision.id"],
            name=op.f("fk_taper_step_revision_id_plan_revision"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taper_step")),
        sa.UniqueConstraint("revision_id", "start_date", name="uq_taper_step_date"),
    )
    # ### end Alembic commands ###


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_table("taper_step")
    with op.batch_alter_table("plan_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_receipt_patient_id"))

    op.drop_table("plan_receipt")
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.drop_constraint("fk_taper_plan_current_revision", type_="foreignkey")

    op.drop_table("plan_revision")
    with op.batch_alter_table("taper_plan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_taper_plan_patient_id"))

    op.drop_table("taper_plan")
    # ### end Alembic commands ###
