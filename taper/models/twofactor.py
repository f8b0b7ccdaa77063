"""Two-step login (TOTP) for clinicians and admins (SECURITY.md A1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now


class TwoFactor(db.Model):
    """A user's TOTP secret, the last time step used (so a code works once) and the hashes of
    their unused recovery codes."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    recovery_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
