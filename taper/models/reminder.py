"""Daily reminder e-mails already queued: one row per patient and local day."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now


class ReminderSent(db.Model):
    """A reminder queued for a patient's local day, written in the same transaction as its
    outbox message. The key (patient, day) is what makes it one e-mail a day: two workers
    running the reminders at once cannot both insert it. Never changed or removed."""

    __tablename__ = "reminder_sent"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
