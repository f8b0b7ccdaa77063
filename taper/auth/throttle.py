"""Password attempts slow down; they never lock the right password out (SECURITY.md A4).

Every place that checks a typed password goes through ``guard`` by way of ``checked``:
the login form, the inline confirmation on schedule changes, the password-change form and
turning two-step login off or renewing its recovery codes.
They share one count per account, so an attacker cannot spread guesses across the forms.

- Per account (the typed email, hashed, whether an account has it or not, so the answer never
  tells which emails have accounts): after ``LOGIN_DELAY_FREE_FAILURES`` failures in a row,
  each further attempt must wait 1 s, 2 s, 4 s ... up to ``LOGIN_DELAY_MAX_SECONDS`` after
  the last failure. The right password after the wait works and resets the count. One attempt
  per account is checked at a time, so parallel guesses cannot all slip in when a wait ends.
- Per (address, account) pair: ``LOGIN_LIMIT_PER_IP_ACCOUNT`` failures per window, so one
  address guessing one account gets few tries, while colleagues behind the same address are
  not held up by each other's typos.
- Per address: ``LOGIN_LIMIT_PER_IP`` failures per window across accounts, a high ceiling
  against spraying one password over many accounts.

A device this account has signed in from before (a signed ``taper_device`` cookie, set after
a right password, kept ``TRUSTED_DEVICE_DAYS``) is not held up by the account's wait: its
failures are counted and slowed down for that device alone (OWASP's "device cookies"). So
guesses from anywhere, however many addresses they come from, never keep the owner out of the
devices they use; only a device new to the account waits with everyone else.

The counts live in the limiter's storage (``RATELIMIT_STORAGE_URI``): with several app servers
that is Redis, so each server sees the failures counted by the others. The address is the one
ProxyFix leaves (``PROXY_COUNT``), never a raw header. While that storage is unreachable
(Redis down or slow), the counts are kept in this process's memory instead, and the outage is
logged: login keeps working, and failures still slow down, per process, until Redis answers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from flask import after_this_request, current_app, request
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage
from limits.strategies import STRATEGIES, RateLimiter
from redis.exceptions import RedisError

from taper.extensions import limiter
from taper.models import normalise_email
from taper.services import ServiceError
from taper.shared import outage

log = logging.getLogger(__name__)
# An attempt that died half-way (a crash) frees its account after this long at most.
BUSY_SECONDS = 30
DEVICE_COOKIE = "taper_device"
# The salt namespaces the signed cookie; it is not a secret.
_DEVICE_SALT = "taper.trusted-device"  # noqa: S105  # nosec B105
DEVICE_ACCOUNTS = 5  # accounts remembered per device (a shared family or clinic computer)
# After the shared storage fails, count in memory this long before asking it again, so a dead
# Redis costs one timeout (and one warning) per interval, not one per attempt.
STORAGE_RETRY_SECONDS = 15
T = TypeVar("T")


def _counted(action: Callable[[Storage, RateLimiter], T]) -> T:
    """``action(storage, strategy)`` on the limiter's storage, or on this app's in-process
    counts while that storage fails (``taper.shared.Outage``)."""
    down = outage("login throttling storage", STORAGE_RETRY_SECONDS)
    if down.ready():
        storage = limiter.storage
        try:
            return action(storage, _strategy(storage))
        except (StorageError, RedisError) as error:
            down.failed(getattr(error, "storage_error", error), "counting in this process")
    memory = current_app.extensions.get("taper_password_counts")
    if memory is None:  # made once per app: a MemoryStorage runs an expiry timer of its own
        memory = current_app.extensions.setdefault("taper_password_counts", MemoryStorage())
    return action(memory, _strategy(memory))


def _strategy(storage: Storage) -> RateLimiter:
    return STRATEGIES[current_app.config.get("RATELIMIT_STRATEGY", "fixed-window")](storage)


@dataclass
class Attempt:
    """One password check. When ``wait`` is above 0 the password must not be checked: tell
    the user to wait that many seconds. Otherwise check it and call ``record``."""

    account: str
    wait: int = 0
    outcome: bool | None = None
    # The account's own counts, or this device's when it signed in to the account before.
    scope: tuple[str, ...] = ()

    def record(self, right: bool) -> None:
        """Was the password right?"""
        self.outcome = right


def account_of(email: str) -> str:
    """The account's key in the shared store: a hash, so no email is written there."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]


def delay_after(failures: int) -> int:
    """Seconds to wait after this many failures in a row: 0, then 1, 2, 4 ... up to the cap."""
    config = current_app.config
    free = config["LOGIN_DELAY_FREE_FAILURES"]
    if failures < free:
        return 0
    return min(config["LOGIN_DELAY_MAX_SECONDS"], 2 ** min(failures - free, 30))


def wait_message(seconds: int) -> str:
    """The plain answer while an account is slowed down."""
    if seconds >= 120:
        minutes = math.ceil(seconds / 60)
        return f"Too many wrong passwords. Wait {minutes} minutes and try again."
    unit = "second" if seconds == 1 else "seconds"
    return f"Too many wrong passwords. Wait {seconds} {unit} and try again."


def _key(*parts: str) -> str:
    return "/".join([current_app.config.get("RATELIMIT_KEY_PREFIX", ""), "taper-password", *parts])


def _windows(account: str) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
    config = current_app.config
    prefix = config.get("RATELIMIT_KEY_PREFIX", "")
    address = get_remote_address() or "unknown"
    return [
        (parse(config["LOGIN_LIMIT_PER_IP"]), (prefix, "password-ip", address)),
        (parse(config["LOGIN_LIMIT_PER_IP_ACCOUNT"]), (prefix, "password-pair", address, account)),
    ]


def _seconds_left(key: str) -> int:
    def left(storage: Storage, _strategy) -> int:
        if storage.get(key) <= 0:
            return 0
        return max(1, math.ceil(storage.get_expiry(key) - time.time()))

    return _counted(left)


def _window_wait(windows) -> int:
    def wait(_storage, strategy: RateLimiter) -> int:
        for item, ids in windows:
            if not strategy.test(item, *ids):
                reset = strategy.get_window_stats(item, *ids).reset_time
                return max(1, math.ceil(reset - time.time()))
        return 0

    return _counted(wait)


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_DEVICE_SALT)


def _device() -> dict:
    """This device's signed cookie: its id and the accounts that signed in on it."""
    max_age = current_app.config["TRUSTED_DEVICE_DAYS"] * 86400
    try:
        data = _device_serializer().loads(request.cookies.get(DEVICE_COOKIE, ""), max_age=max_age)
    except BadSignature:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("d"), str):
        return {}
    accounts = data.get("a")
    return {"d": data["d"], "a": accounts if isinstance(accounts, list) else []}


def _trust_this_device(account: str) -> None:
    """After a right password: remember this device for the account (a cookie of the response)."""
    device = _device() or {"d": secrets.token_hex(8), "a": []}
    accounts = [account, *(a for a in device["a"] if a != account)][:DEVICE_ACCOUNTS]
    value = _device_serializer().dumps({"d": device["d"], "a": accounts})
    config = current_app.config

    @after_this_request
    def set_cookie(response):
        """Remember this device on the response."""
        response.set_cookie(
            DEVICE_COOKIE,
            value,
            max_age=config["TRUSTED_DEVICE_DAYS"] * 86400,
            httponly=True,
            secure=config["SESSION_COOKIE_SECURE"],
            samesite="Lax",
        )
        return response


def _scope(account: str) -> tuple[str, ...]:
    device = _device()
    return (account, device["d"]) if account in device.get("a", []) else (account,)


def _failed(attempt: Attempt, windows) -> None:
    memory = current_app.config["LOGIN_FAILURE_MEMORY_HOURS"] * 3600

    def count(storage: Storage, strategy: RateLimiter) -> None:
        failures = storage.incr(_key("failures", *attempt.scope), memory)
        delay = delay_after(failures)
        if delay:
            wait_key = _key("wait", *attempt.scope)
            storage.clear(wait_key)
            storage.incr(wait_key, delay)
            log.info("password attempts slowed down: failures=%s wait=%ss", failures, delay)
        for item, ids in windows:
            strategy.hit(item, *ids)

    _counted(count)


def _succeeded(attempt: Attempt) -> None:
    def forget(storage: Storage, _strategy) -> None:
        for scope in {attempt.scope, (attempt.account,)}:
            storage.clear(_key("failures", *scope))
            storage.clear(_key("wait", *scope))

    _counted(forget)
    _trust_this_device(attempt.account)


@contextmanager
def guard(email: str) -> Iterator[Attempt]:
    """Wrap one password check for the account with this email (see the module's text)."""
    account = account_of(email)
    attempt = Attempt(account, scope=_scope(account))
    if not current_app.config["RATELIMIT_ENABLED"]:
        yield attempt  # throttling switched off (a test of something else)
        return
    windows = _windows(attempt.account)
    attempt.wait = _window_wait(windows)
    if attempt.wait:
        yield attempt
        return
    busy = _key("busy", *attempt.scope)
    if _counted(lambda storage, _: storage.incr(busy, BUSY_SECONDS)) > 1:
        # Another attempt on this account is being checked right now.
        attempt.wait = 1
        yield attempt
        return
    try:
        attempt.wait = _seconds_left(_key("wait", *attempt.scope))
        yield attempt
        if attempt.wait == 0 and attempt.outcome is False:
            _failed(attempt, windows)
        elif attempt.wait == 0 and attempt.outcome:
            _succeeded(attempt)
    finally:
        _counted(lambda storage, _: storage.clear(busy))


def checked(
    email: str, check: Callable[[], T], refused_field: str = "password"
) -> tuple[T | None, ServiceError | None, int]:
    """Run ``check`` (a use case that checks a typed password) under ``guard`` for the
    account: (its result, the ServiceError it raised, seconds to wait: when above 0 nothing
    was checked). Only a refusal beside ``refused_field`` counts as a wrong password."""
    result = error = None
    with guard(email) as attempt:
        if not attempt.wait:
            try:
                result = check()
            except ServiceError as refused:
                error = refused
            attempt.record(error is None or error.field != refused_field)
    return result, error, attempt.wait
