"""What patients log each day, and what clinicians record at a visit."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models.plan import DOSE
from taper.models.types import UTCDateTime, utc_now


class DailyLog(db.Model):
    """One version of a patient's log for one day. A correction adds a version; none is
    ever changed in place, and the highest version is the one in force."""

    __tablename__ = "daily_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    day: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # The form's one-time token: a double submit or a replayed POST cannot add a second row.
    submission_id: Mapped[str] = mapped_column(String(36), unique=True)
    scale: Mapped[str] = mapped_column(String(16), default="ciwa-b")
    answers: Mapped[dict[str, int] | None] = mapped_column(JSON)
    patient_total: Mapped[int | None] = mapped_column(Integer)
    red_flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # When the ticked red flags happened: "now", "past" (since the last log) or "" (not said).
    red_flags_when: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # Alcohol, opioids or other sedatives taken that day (None: not asked, an older log).
    substances: Mapped[bool | None] = mapped_column(Boolean)
    substances_detail: Mapped[str] = mapped_column(String(200), default="", server_default="")
    sleep_hours: Mapped[Decimal | None] = mapped_column(Numeric(3, 1))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    patient = relationship("User", foreign_keys=[patient_id])
    # One answer per plan in force that day (a crossover has two), in plan order.
    doses: Mapped[list[LogDose]] = relationship(
        back_populates="log", order_by="LogDose.plan_id", lazy="selectin"
    )

    __table_args__ = (
        UniqueConstraint("patient_id", "day", "version", name="uq_daily_log_version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "patient_total IS NULL OR "
            f"(patient_total >= 0 AND patient_total <= {CIWA_B.patient_max})",
            name="patient_total_range",
        ),
        CheckConstraint(
            "sleep_hours IS NULL OR (sleep_hours >= 0 AND sleep_hours <= 24)", name="sleep_range"
        ),
    )


class LogDose(db.Model):
    """The dose question of one plan on one log: the clinician's dose for that day when the
    log was saved (copied from the step in force), and what the patient says they took."""

    __tablename__ = "log_dose"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    log_id: Mapped[int] = mapped_column(ForeignKey("daily_log.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("taper_plan.id"))
    medication: Mapped[str] = mapped_column(String(80))
    unit: Mapped[str] = mapped_column(String(8), default="mg")
    dose_scheduled: Mapped[Decimal] = mapped_column(DOSE)
    took_as_scheduled: Mapped[bool] = mapped_column(Boolean)
    dose_taken: Mapped[Decimal] = mapped_column(DOSE)

    log: Mapped[DailyLog] = relationship(back_populates="doses")

    __table_args__ = (
        UniqueConstraint("log_id", "plan_id", name="uq_log_dose_plan"),
        CheckConstraint("dose_taken >= 0", name="dose_taken_not_negative"),
        CheckConstraint("dose_scheduled >= 0", name="dose_scheduled_not_negative"),
    )

    @property
    def deviates(self) -> bool:
        return self.dose_taken != self.dose_scheduled


class VisitAssessment(db.Model):
    """A full CIWA-B (all 20 items) recorded by a clinician at a visit."""

    __tablename__ = "visit_assessment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    day: Mapped[date] = mapped_column(Date)
    answers: Mapped[dict[str, int]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # The form's one-time id: the same form sent twice saves one assessment (F2).
    submission_id: Mapped[str | None] = mapped_column(String(36), unique=True, nullable=True)

    clinician = relationship("User", foreign_keys=[clinician_id])

    __table_args__ = (CheckConstraint("total >= 0 AND total <= 80", name="total_range"),)


class RedFlagReport(db.Model):
    """Red flags sent without the rest of the daily log: from "I need help now", the log's
    "Send this now", a note's "Is that right?" question, or a report kept on the patient's
    device while Taper could not store it (sent late: ``reported_at`` is when it was sent)."""

    __tablename__ = "red_flag_report"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    flags: Mapped[list[str]] = mapped_column(JSON)
    submission_id: Mapped[str] = mapped_column(String(36), unique=True)
    when: Mapped[str] = mapped_column(String(8), default="", server_default="")
    source: Mapped[str] = mapped_column(String(16), default="help", server_default="help")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
