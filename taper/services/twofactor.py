"""Two-step login with a time-based code (pyotp) and one-time recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time

import pyotp
import segno

from taper.extensions import db
from taper.models import Role, TwoFactor, User
from taper.services import ServiceError, audit
from taper.services.passwords import verify_password

ISSUER = "Taper"
STEP_SECONDS = 30
RECOVERY_CODES = 10
ALLOWED_ROLES = (Role.CLINICIAN, Role.ADMIN)


def new_secret() -> str:
    """A fresh base32 secret for the authenticator app."""
    return pyotp.random_base32()


def qr_svg(user: User, secret: str) -> bytes:
    """The otpauth:// URI as an SVG QR code, drawn on our own server."""
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(
        buffer,
        kind="svg",
        scale=5,
        border=2,
        xmldecl=False,
        svgns=True,
        title="QR code for your authenticator app",
    )
    return buffer.getvalue()


def settings_of(user: User) -> TwoFactor | None:
    return db.session.get(TwoFactor, user.id)


def _hash(code: str) -> str:
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


def _matching_step(secret: str, code: str, now: float) -> int | None:
    """The time step (current one or one either side, for clock drift) the code belongs to."""
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None  # compare_digest refuses non-ASCII text; no such code can match anyway
    totp = pyotp.TOTP(secret)
    current = int(now // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def enable(user: User, secret: str, code: str, now: float | None = None) -> list[str]:
    """Turn on two-step login after checking a first code; return the recovery codes."""
    if user.role not in ALLOWED_ROLES:
        raise ServiceError("Two-step login is for clinicians and admins.")
    if settings_of(user) is not None:
        raise ServiceError("Two-step login is already on.")
    step = _matching_step(secret, code.strip(), now or time.time())
    if step is None:
        raise ServiceError("That code did not match. Check your app's clock and try again.", "code")
    codes = [
        f"{secrets.token_hex(2)}-{secrets.token_hex(2)}-{secrets.token_hex(2)}"
        for _ in range(RECOVERY_CODES)
    ]
    db.session.add(
        TwoFactor(
            user_id=user.id,
            secret=secret,
            last_step=step,
            recovery_hashes=[_hash(c) for c in codes],
        )
    )
    audit.record(user, "2fa.enable", "user", user.id)
    return codes


def verify(user: User, code: str, now: float | None = None) -> bool:
    """Check a login code or a recovery code; each works once."""
    settings = settings_of(user)
    if settings is None:
        return False
    code = code.strip()
    if code.isdigit() and len(code) == 6:
        step = _matching_step(settings.secret, code, now or time.time())
        if step is None or step <= settings.last_step:
            return False
        settings.last_step = step
        return True
    hashed = _hash(code)
    if hashed in settings.recovery_hashes:
        settings.recovery_hashes = [h for h in settings.recovery_hashes if h != hashed]
        audit.record(
            user,
            "2fa.recovery_code",
            "user",
            user.id,
            summary={"left": len(settings.recovery_hashes)},
        )
        return True
    return False


def disable(user: User, password: str, code: str) -> None:
    """Turn two-step login off; needs the password and a current code."""
    if not verify_password(user.password_hash, password):
        raise ServiceError("That is not your password.", "password")
    if not verify(user, code):
        raise ServiceError("That code did not match.", "code")
    db.session.delete(settings_of(user))
    user.end_sessions()
    audit.record(user, "2fa.disable", "user", user.id)
