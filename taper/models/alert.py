"""Alerts for the care team, patients' alert thresholds, and the e-mail outbox."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now

# One *open* alert per kind and patient (and per plan, for a plan's alerts), except urgent
# ones: every red flag is its own alert. An acknowledged alert does not hide a new one.
# A note's review alert is never merged either: each note is quoted to the care team.
NEVER_MERGED_KIND = "note"
OPEN_WHERE = text(
    f"status = 'open' AND tier <> 'urgent' AND kind <> '{NEVER_MERGED_KIND}' AND plan_id IS NULL"
)
OPEN_PLAN_WHERE = text("status = 'open' AND tier <> 'urgent' AND plan_id IS NOT NULL")


def _enum(cls, name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        length=16,
        values_callable=lambda members: [m.value for m in members],
    )


class AlertStatus(enum.StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(db.Model):
    """Something the care team should look at. One open alert per kind and patient (per plan
    for a plan's alerts); urgent alerts are never merged."""

    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    kind: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(255))
    log_id: Mapped[int | None] = mapped_column(ForeignKey("daily_log.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("red_flag_report.id"))
    # The plan it is about (a dose deviation or a plan's end), for a crossover's two drugs.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("taper_plan.id"))
    # What situation raised it (e.g. the last log day for missed logs): a scan that finds the
    # same situation again raises nothing new, even after the alert was acknowledged.
    cause: Mapped[str] = mapped_column(String(64), default="", server_default="")
    status: Mapped[AlertStatus] = mapped_column(
        _enum(AlertStatus, "alert_status"), default=AlertStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    # The patient's own words that raised it (a screened note), quoted to the care team.
    quote: Mapped[str] = mapped_column(Text, default="", server_default="")

    patient = relationship("User", foreign_keys=[patient_id])
    acknowledged_by = relationship("User", foreign_keys=[acknowledged_by_id])
    resolved_by = relationship("User", foreign_keys=[resolved_by_id])
    log = relationship("DailyLog")
    plan = relationship("TaperPlan")

    __table_args__ = (
        Index(
            "uq_alert_open_kind",
            "patient_id",
            "kind",
            unique=True,
            sqlite_where=OPEN_WHERE,
            postgresql_where=OPEN_WHERE,
        ),
        Index(
            "uq_alert_open_plan_kind",
            "patient_id",
            "kind",
            "plan_id",
            unique=True,
            sqlite_where=OPEN_PLAN_WHERE,
            postgresql_where=OPEN_PLAN_WHERE,
        ),
        Index("ix_alert_patient_status", "patient_id", "status"),
    )


class AlertSettings(db.Model):
    """A patient's alert thresholds, where a clinician changed the defaults."""

    __tablename__ = "alert_settings"

    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    thresholds: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class OutboxMessage(db.Model):
    """An e-mail waiting to be sent by ``flask notify send``: written with its alert (or, for
    a message about an account, with the account change), so a dead mail server loses nothing.
    It carries no health details, only a link."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for a message about an account: a set-password link, a password-change notice.
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alert.id"))
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(255), default="")

    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),)
