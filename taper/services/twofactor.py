"""Two-step login with a time-based code (pyotp) and one-time recovery codes.

Secrets at rest (SECURITY.md D7): the TOTP secret is stored encrypted with Fernet under the keys
in ``TWO_STEP_KEYS`` (the first encrypts, all decrypt; ``rotate_keys`` moves every secret to the
first), including a secret still being set up, which never goes into the session cookie.
Recovery codes hold 100 random bits in five groups of four; the first group is a lookup prefix
kept in clear, so a typed code costs one Argon2id check, not ten.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import logging
import secrets
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, TypeVar

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from taper.extensions import db
from taper.models import Role, TwoFactor, User
from taper.models.twofactor import TwoFactorSetup
from taper.models.types import utc_now
from taper.services import ServiceError, audit, committed
from taper.services.passwords import verify_password
from taper.services.savepoint import insert_once

log = logging.getLogger(__name__)
T = TypeVar("T")

ISSUER = "Taper"
STEP_SECONDS = 30
RECOVERY_CODES = 10
ALLOWED_ROLES = (Role.CLINICIAN, Role.ADMIN)
SETUP_MINUTES = 30  # a QR code shown longer ago than this is replaced by a new one
# Crockford's base32: no i, l, o or u, so a code read aloud or copied by hand is unambiguous.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
GROUPS, GROUP_LENGTH = 5, 4  # 20 symbols = 100 bits; the first group is the lookup prefix
_READ_AS = str.maketrans({"o": "0", "i": "1", "l": "1"})
# The key derived from SECRET_KEY when TWO_STEP_KEYS is empty (development and tests only).
# Migration 0010 keeps its own copy of this derivation: change neither without the other.
DERIVED_KEY_INFO = b"taper two-step secrets at rest"


class SecretUnreadable(RuntimeError):
    """No key in TWO_STEP_KEYS decrypts a stored secret: a key was dropped too early."""


# --- keys ----------------------------------------------------------------------------------


def new_key() -> str:
    """A fresh Fernet key for TWO_STEP_KEYS."""
    return Fernet.generate_key().decode()


def derived_key(secret_key: str) -> str:
    """The Fernet key HKDF-SHA256 derives from SECRET_KEY (never used in production)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=DERIVED_KEY_INFO)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()


def configured_keys(config: Mapping[str, Any]) -> list[str]:
    """The keys in TWO_STEP_KEYS (a comma-separated string or a list), first one first; when
    empty, the key derived from SECRET_KEY where the configuration allows it."""
    value = config.get("TWO_STEP_KEYS") or ""
    keys = [key.strip() for key in (value.split(",") if isinstance(value, str) else value)]
    keys = [key for key in keys if key]
    if keys:
        return keys
    if not config.get("TWO_STEP_KEY_FROM_SECRET_KEY") or not config.get("SECRET_KEY"):
        raise RuntimeError("TWO_STEP_KEYS is not set: two-step secrets cannot be encrypted")
    return [derived_key(config["SECRET_KEY"])]


def _cipher() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in configured_keys(current_app.config)])


def encrypt_secret(secret: str) -> str:
    """A Fernet token of the secret under the first key."""
    return _cipher().encrypt(secret.encode()).decode()


def decrypt_secret(token: str, user_id: int | None = None) -> str:
    """The secret inside a token made with any of the configured keys."""
    try:
        return _cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        log.error("two-step secret of user=%s cannot be decrypted with TWO_STEP_KEYS", user_id)
        raise SecretUnreadable(
            "A two-step secret cannot be decrypted with any key in TWO_STEP_KEYS: was a key "
            "removed before `flask twostep rotate-keys` ran, or SECRET_KEY changed while "
            "TWO_STEP_KEYS was empty?"
        ) from None


def rotate_keys() -> int:
    """Re-encrypt every stored secret (on and being set up) with the first key and commit;
    return how many. All or nothing: one unreadable secret of two-step login that is on (or
    a malformed key) rolls everything back and raises; an unreadable set-up in progress is
    dropped (its page makes a new one)."""
    try:
        count = _rotate_every_secret()
    except (RuntimeError, ValueError):
        db.session.rollback()
        raise
    db.session.commit()
    return count


def _rotate_every_secret() -> int:
    cipher = _cipher()
    count = 0
    for row in [
        *db.session.scalars(select(TwoFactor)),
        *db.session.scalars(select(TwoFactorSetup)),
    ]:
        try:
            row.encrypted_secret = cipher.rotate(row.encrypted_secret.encode()).decode()
        except InvalidToken:
            if isinstance(row, TwoFactorSetup):
                db.session.delete(row)
                continue
            decrypt_secret(row.encrypted_secret, row.user_id)  # logs and raises the clear error
        count += 1
    return count


# --- setting up ----------------------------------------------------------------------------


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
    """The user's two-step login settings, or None while it is off."""
    return db.session.get(TwoFactor, user.id)


def secret_of(settings: TwoFactor) -> str:
    """The TOTP secret of a user with two-step login on."""
    return decrypt_secret(settings.encrypted_secret, settings.user_id)


def start_setup(user: User) -> str:
    """A new secret for the set-up page, kept encrypted on the server (replacing any earlier
    one) until the first code confirms it; return it to show once."""
    secret = new_secret()
    pending = db.session.get(TwoFactorSetup, user.id)
    if pending is None:
        pending = TwoFactorSetup(user_id=user.id)
        db.session.add(pending)
    pending.encrypted_secret = encrypt_secret(secret)
    pending.started_at = utc_now()
    return secret


def pending_secret(user: User) -> str | None:
    """The secret being set up, while it is fresh (and readable: one made under a key since
    removed is simply replaced, as nothing depends on it yet)."""
    pending = db.session.get(TwoFactorSetup, user.id)
    if pending is None or utc_now() - pending.started_at > timedelta(minutes=SETUP_MINUTES):
        return None
    try:
        return decrypt_secret(pending.encrypted_secret, user.id)
    except SecretUnreadable:
        return None


# --- codes ---------------------------------------------------------------------------------


def _hasher() -> PasswordHasher:
    return PasswordHasher(**current_app.config["RECOVERY_CODE_HASH"])  # Argon2id


def _new_recovery_codes() -> list[str]:
    """Ten codes like ``k3m9-x2qa-...``, each with its own first group (the lookup prefix)."""
    codes: dict[str, str] = {}
    while len(codes) < RECOVERY_CODES:
        symbols = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LENGTH))
        groups = [symbols[i : i + GROUP_LENGTH] for i in range(0, len(symbols), GROUP_LENGTH)]
        codes.setdefault(groups[0], "-".join(groups))
    return list(codes.values())


def _hashed(codes: list[str]) -> list[dict[str, str | None]]:
    hasher = _hasher()
    return [{"prefix": c[:GROUP_LENGTH], "hash": hasher.hash(_normalise(c))} for c in codes]


def older_recovery_codes(settings: TwoFactor) -> int:
    """How many unused codes are of the short kind made before migration 0010."""
    return sum(1 for entry in settings.recovery_hashes if entry.get("prefix") is None)


def _normalise(code: str) -> str:
    """Lower case, no spaces or dashes; o read as 0 and i, l as 1 (Crockford's base32)."""
    return "".join(code.split()).replace("-", "").lower().translate(_READ_AS)


def _check(hasher: PasswordHasher, stored: str, typed: str) -> bool:
    try:
        return hasher.verify(stored, typed)
    except (VerificationError, InvalidHashError):
        return False


def _matching_recovery_code(entries: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    """The stored entry the typed code belongs to. A new code is checked against the one entry
    with its prefix; a code from before migration 0010 (12 hex digits) against each old entry."""
    symbols = _normalise(code)
    if len(symbols) == GROUPS * GROUP_LENGTH and set(symbols) <= set(ALPHABET):
        prefix = symbols[:GROUP_LENGTH]
        candidates, typed = [e for e in entries if e.get("prefix") == prefix], symbols
    elif len(symbols) == 12 and set(symbols) <= set("0123456789abcdef"):
        candidates = [e for e in entries if e.get("prefix") is None]
        typed = hashlib.sha256(symbols.encode()).hexdigest()  # what the old rows hashed
    else:
        return None
    hasher = _hasher()
    return next((e for e in candidates if _check(hasher, e["hash"], typed)), None)


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
    codes = _new_recovery_codes()
    turned_on = TwoFactor(
        user_id=user.id,
        encrypted_secret=encrypt_secret(secret),
        last_step=step,
        recovery_hashes=_hashed(codes),
    )
    if not insert_once(turned_on):  # the same form sent twice at once: the other one did it
        raise ServiceError("Two-step login is already on.")
    pending = db.session.get(TwoFactorSetup, user.id)
    if pending is not None:
        db.session.delete(pending)
    audit.record(user, "2fa.enable", "user", user.id)
    return codes


def verify(user: User, code: str, now: float | None = None) -> bool:
    """Check a login code or a recovery code; each works once, even when sent twice at once:
    the row is locked (PostgreSQL) and written at once under its version (everywhere), so of
    two requests spending one code the second finds it spent. That one's transaction is
    rolled back here; nothing else was written in it yet."""
    settings = db.session.get(TwoFactor, user.id, with_for_update=True, populate_existing=True)
    if settings is None:
        return False
    code = code.strip()
    if code.isdigit() and len(code) == 6:
        step = _matching_step(secret_of(settings), code, now or time.time())
        if step is None or step <= settings.last_step:
            return False
        settings.last_step = step
    else:
        entry = _matching_recovery_code(settings.recovery_hashes, code)
        if entry is None:
            return False
        settings.recovery_hashes = [e for e in settings.recovery_hashes if e is not entry]
        audit.record(
            user,
            "2fa.recovery_code",
            "user",
            user.id,
            summary={"left": len(settings.recovery_hashes)},
        )
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        return False
    return True


def disable(user: User, password: str, code: str) -> None:
    """Turn two-step login off; needs the password and a current code."""
    if not verify_password(user.password_hash, password):
        raise ServiceError("That is not your password.", "password")
    if not verify(user, code):
        raise ServiceError("That code did not match.", "code")
    db.session.delete(settings_of(user))
    user.end_sessions()
    audit.record(user, "2fa.disable", "user", user.id)


def renew_recovery_codes(user: User, password: str, code: str) -> list[str]:
    """Ten new recovery codes in place of every unused one; needs the password and a code."""
    if not verify_password(user.password_hash, password):
        raise ServiceError("That is not your password.", "password")
    if not verify(user, code):
        raise ServiceError("That code did not match.", "code")
    codes = _new_recovery_codes()
    settings_of(user).recovery_hashes = _hashed(codes)
    audit.record(user, "2fa.recovery_codes", "user", user.id)
    return codes


# --- use cases the pages call: each commits once --------------------------------------------


def begin_setup(user: User) -> str:
    """``start_setup``, committed: the new secret to show once."""
    secret = start_setup(user)
    db.session.commit()
    return secret


def turn_on(user: User, secret: str, code: str) -> list[str]:
    """``enable``, committed: the recovery codes to show once."""
    codes = enable(user, secret, code)
    db.session.commit()
    return codes


def spend_login_code(user: User, code: str) -> bool:
    """The second step of a login: a right code is spent in the login's transaction, which
    ``accounts.log_in`` commits once the view has started the session; a wrong one leaves
    nothing written."""
    if verify(user, code):
        return True
    db.session.rollback()
    return False


def turn_off(user: User, password: str, code: str) -> None:
    """``disable``, committed (every session of the user ends)."""
    committed(disable, user, password, code)


def replace_recovery_codes(user: User, password: str, code: str) -> list[str]:
    """``renew_recovery_codes``, committed: the new codes to show once."""
    return committed(renew_recovery_codes, user, password, code)
