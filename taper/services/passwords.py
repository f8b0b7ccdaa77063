"""Password hashing (Argon2id, argon2-cffi defaults) and policy (SECURITY.md A2, A3).

The policy: 12 to 128 characters, no composition rules, not the account's email, not in the
list of breached passwords shipped in ``taper/data/common-passwords.txt.gz`` (source and
licence in its header), and a zxcvbn strength score of at least ``MIN_SCORE`` with the
account's email and name counted as known words.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from taper.services import ServiceError

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn scores 0-4; 3 is "safely unguessable: moderate protection from offline attacks".
MIN_SCORE = 3
# zxcvbn's matching grows faster than the length (a random 128-character password takes
# seconds): the estimate looks at the first 64 characters, plenty for any real passphrase.
STRENGTH_CHARS = 64
BREACHED_LIST = Path(__file__).resolve().parent.parent / "data" / "common-passwords.txt.gz"
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not a real password, only for timing")
# zxcvbn keeps the user inputs of a call in a module-level dictionary: one call at a time.
_zxcvbn_lock = threading.Lock()


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
def breached_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords, lower-cased (read once)."""
    with gzip.open(BREACHED_LIST, "rt", encoding="utf-8") as lines:
        return frozenset(
            line.rstrip("\n") for line in lines if line.strip() and not line.startswith("#")
        )


def _known_words(email: str, name: str) -> list[str]:
    """The account's email, its parts and the words of its name: guessable by anyone."""
    words = [email, name] if name else [email]
    words += re.split(r"[\s@.+_-]+", f"{email} {name}")
    return [word.lower() for word in words if len(word) >= 3]


def _strength(password: str, known: Iterable[str]) -> dict:
    with _zxcvbn_lock:
        return zxcvbn(password[:STRENGTH_CHARS], user_inputs=list(known), max_length=MAX_LENGTH)


def _feedback(result: dict) -> str:
    feedback = result.get("feedback") or {}
    parts = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    said = [part for part in parts if part]
    return " ".join(said or ["Add another word or two. Uncommon words are better."])


def check_password_policy(password: str, email: str = "", name: str = "") -> None:
    """Raise ServiceError (field "password") when the password is too short, too long, the
    email, a breached password, or too easy to guess; the message says what to change."""
    if len(password) < MIN_LENGTH:
        raise ServiceError(f"Use at least {MIN_LENGTH} characters.", "password")
    if len(password) > MAX_LENGTH:
        raise ServiceError(f"Use at most {MAX_LENGTH} characters.", "password")
    lowered = password.lower()
    if email and lowered == email.strip().lower():
        raise ServiceError("This password is too common: it is your email address.", "password")
    if lowered in breached_passwords():
        raise ServiceError(
            "This password is too common: it is on a list of passwords known to attackers. "
            "Choose another.",
            "password",
        )
    result = _strength(password, _known_words(email, name))
    if result["score"] < MIN_SCORE:
        raise ServiceError(
            f"This password is too easy to guess. {_feedback(result)}",
            "password",
        )
