"""daily logs, red-flag reports, alerts, outbox, visit assessments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 13:27:48.283579

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed by hand: the partial unique index keeps one unresolved alert per kind and patient.
    op.create_table(
        "alert_settings",
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_alert_settings_patient_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["user.id"], name=op.f("fk_alert_settings_updated_by_id_user")
        ),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_alert_settings")),
    )
    op.create_table(
        "red_flag_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_red_flag_report_patient_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flag_report")),
        sa.UniqueConstraint("submission_id", name=op.f("uq_red_flag_report_submission_id")),
    )
    with op.batch_alter_table("red_flag_report", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_red_flag_report_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "visit_assessment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "total >= 0 AND total <= 80", name=op.f("ck_visit_assessment_total_range")
        ),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["user.id"], name=op.f("fk_visit_assessment_clinician_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_visit_assessment_patient_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_assessment")),
    )
    with op.batch_alter_table("visit_assessment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visit_assessment_patient_id"), ["patient_id"], unique=False
        )

    op.create_table(
        "daily_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("scale", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("patient_total", sa.Integer(), nullable=True),
        sa.Column("red_flags", sa.JSON(), nullable=False),
        sa.Column("took_as_scheduled", sa.Boolean(), nullable=True),
        sa.Column("dose_taken", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("dose_scheduled", sa.Numeric(precision=10, scale=3), nullable=True),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("sleep_hours", sa.Numeric(precision=3, scale=1), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "dose_taken IS NULL OR dose_taken >= 0",
            name=op.f("ck_daily_log_dose_taken_not_negative"),
        ),
        sa.CheckConstraint(
            "patient_total IS NULL OR (patient_total >= 0 AND patient_total <= 68)",
            name=op.f("ck_daily_log_patient_total_range"),
        ),
        sa.CheckConstraint(
            "sleep_hours IS NULL OR (sleep_hours >= 0 AND sleep_hours <= 24)",
            name=op.f("ck_daily_log_sleep_range"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_daily_log_version_positive")),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["user.id"], name=op.f("fk_daily_log_patient_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["taper_plan.id"], name=op.f("fk_daily_log_plan_id_taper_plan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_log")),
        sa.UniqueConstraint("patient_id", "day", "version", name="uq_daily_log_version"),
        sa.UniqueConstraint("submission_id", name=op.f("uq_daily_log_submission_id")),
    )
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=True),
        sa.Column("report_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "acknowledged",
                "resolved",
                name="alert_status",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by_id", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_id"], ["user.id"], name=op.f("fk_alert_acknowledged_by_id_user")
        ),
        sa.ForeignKeyConstraint(
            ["log_id"], ["daily_log.id"], name=op.f("fk_alert_log_id_daily_log")
        ),
        sa.ForeignKeyConstraint(["patient_id"], ["user.id"], name=op.f("fk_alert_patient_id_user")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["red_flag_report.id"], name=op.f("fk_alert_report_id_red_flag_report")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["user.id"], name=op.f("fk_alert_resolved_by_id_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index("ix_alert_patient_status", ["patient_id", "status"], unique=False)
        batch_op.create_index(
            "uq_alert_open_kind",
            ["patient_id", "kind"],
            unique=True,
            sqlite_where=sa.text("status <> 'resolved'"),
            postgresql_where=sa.text("status <> 'resolved'"),
        )

    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("to_email", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_outbox_message_alert_id_alert")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_pending", ["sent_at", "next_attempt_at"], unique=False)

    # ### end Alembic commands ###


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_pending")

    op.drop_table("outbox_message")
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alert_open_kind",
            sqlite_where=sa.text("status <> 'resolved'"),
            postgresql_where=sa.text("status <> 'resolved'"),
        )
        batch_op.drop_index("ix_alert_patient_status")

    op.drop_table("alert")
    op.drop_table("daily_log")
    with op.batch_alter_table("visit_assessment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_assessment_patient_id"))

    op.drop_table("visit_assessment")
    with op.batch_alter_table("red_flag_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_red_flag_report_patient_id"))

    op.drop_table("red_flag_report")
    op.drop_table("alert_settings")
    # ### end Alembic commands ###
