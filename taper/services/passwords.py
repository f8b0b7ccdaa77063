"""Password hashing (Argon2id, argon2-cffi defaults) and policy (SECURITY.md A2, A3)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from taper.services import ServiceError

MIN_LENGTH = 12
MAX_LENGTH = 128
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")


def hash_password(password: str) -> str:
    """An Argon2id hash of the password."""
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; spends the same effort when there is no hash."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@cache
def _common_passwords() -> frozenset[str]:
    path = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def check_password_policy(password: str, email: str = "") -> None:
    """Raise ServiceError when the password is too short, too long or too common."""
    if len(password) < MIN_LENGTH:
        raise ServiceError(f"Use at least {MIN_LENGTH} characters.", "password")
    if len(password) > MAX_LENGTH:
        raise ServiceError(f"Use at most {MAX_LENGTH} characters.", "password")
    lowered = password.lower()
    if lowered in _common_passwords() or (email and lowered == email.lower()):
        raise ServiceError("This password is too common. Choose another.", "password")
