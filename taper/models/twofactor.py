"""Two-step login (TOTP) for clinicians and admins (SECURITY.md A1, D7)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from taper.extensions import db
from taper.models.types import UTCDateTime, utc_now


class TwoFactor(db.Model):
    """A user's TOTP secret (encrypted: a Fernet token under TWO_STEP_KEYS), the last time step
    used (so a code works once) and their unused recovery codes, each as
    ``{"prefix": <first group, not secret>, "hash": <argon2id>}``; codes made before migration
    0010 have no prefix and their hash is argon2id over the old SHA-256 hex digest.

    ``version`` makes each use a compare-and-swap: of two requests that read the row before
    either wrote, only the first to write may spend a code (SQLite has no row locks)."""

    __tablename__ = "two_factor"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    last_step: Mapped[int] = mapped_column(Integer, default=0)
    recovery_hashes: Mapped[list[dict[str, str | None]]] = mapped_column(JSON, default=list)
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class TwoFactorSetup(db.Model):
    """A secret being set up: shown to its owner as a QR code, kept here (encrypted) rather than
    in the session cookie, which anyone holding the cookie can read, until the first code
    confirms it."""

    __tablename__ = "two_factor_setup"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), primary_key=True)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
