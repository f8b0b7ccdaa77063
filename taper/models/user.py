"""People: users of every role and the clinician-patient care-team link."""

from __future__ import annotations

import enum
import unicodedata
from datetime import datetime, time

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Integer,
    String,
    Time,
    false,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now

# When the daily reminder goes, in the patient's own time zone, until they choose another time.
DEFAULT_REMINDER_AT = time(20, 0)


class Role(enum.StrEnum):
    """What a user may do."""

    CLINICIAN = "clinician"
    PATIENT = "patient"
    ADMIN = "admin"


class User(UserMixin, db.Model):
    """An account. Email is stored lower-cased, so uniqueness is case-insensitive."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            name="user_role",
            native_enum=False,
            length=16,
            values_callable=lambda roles: [r.value for r in roles],
        )
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on logout, password change and deactivation: every older session stops working.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # A number the care team can call, as its owner typed it (trimmed); optional.
    phone: Mapped[str | None] = mapped_column(String(32))
    # The patient's daily reminder e-mail: off unless they turn it on (an e-mail from Taper tells
    # whoever reads the inbox that its owner is tapering), and the local time it goes at.
    reminder_on: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reminder_at: Mapped[time] = mapped_column(
        Time, default=DEFAULT_REMINDER_AT, server_default=DEFAULT_REMINDER_AT.strftime("%H:%M:%S")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    __table_args__ = (CheckConstraint("session_version >= 1", name="session_version_positive"),)

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return normalise_email(value)

    def get_id(self) -> str:
        """Flask-Login identity: the id plus the session version, checked on every request."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def phone_uri(self) -> str | None:
        """The phone number as a ``tel:`` link: only its digits and a leading "+". In the
        international form a national trunk "(0)" is not dialled: "+44 (0)7700 900123" is
        tel:+447700900123."""
        if not self.phone:
            return None
        text = self.phone.strip()
        international = text.startswith("+")
        if international:
            text = text.replace("(0)", "")
        digits = "".join(c for c in text if c.isdigit())
        return f"tel:{'+' if international else ''}{digits}"

    def end_sessions(self) -> None:
        """Invalidate every session cookie issued so far."""
        self.session_version = (self.session_version or 1) + 1

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


def normalise_email(value: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return value.strip().lower()


def has_control_characters(value: str) -> bool:
    """True when the text holds a control character (NUL, ESC, DEL...): never part of a name
    or an address, and PostgreSQL refuses NUL outright."""
    return any(unicodedata.category(c) == "Cc" for c in value)


def find_user_by_email(email: str) -> User | None:
    """Look up an account by email, whatever its case."""
    email = normalise_email(email)
    if has_control_characters(email):
        return None
    return db.session.scalar(select(User).where(User.email == email))


class CareTeamLink(db.Model):
    """A clinician on a patient's care team."""

    __tablename__ = "care_team"

    clinician_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)

    __table_args__ = (CheckConstraint("clinician_id <> patient_id", name="not_self"),)
