"""Configuration classes; every value can come from an environment variable.

Nothing here raises at import time: ``ProductionConfig.validate`` is called by
``create_app`` so a missing secret stops the app at start-up instead.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105  (refused by ProductionConfig)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'taper.db'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Sessions (SECURITY.md A5-A8)
    SESSION_COOKIE_NAME = "taper_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    IDLE_TIMEOUT = timedelta(minutes=_env_int("IDLE_TIMEOUT_MINUTES", 30))
    ABSOLUTE_TIMEOUT = timedelta(hours=_env_int("ABSOLUTE_TIMEOUT_HOURS", 12))
    PERMANENT_SESSION_LIFETIME = ABSOLUTE_TIMEOUT
    REAUTH_WINDOW = timedelta(minutes=_env_int("REAUTH_WINDOW_MINUTES", 10))
    # Remember-me is not offered; these make the cookie safe should it ever be set.
    REMEMBER_COOKIE_DURATION = timedelta(hours=1)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    MAX_CONTENT_LENGTH = 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the session's own limits bound the token's life
    SET_PASSWORD_LINK_HOURS = _env_int("SET_PASSWORD_LINK_HOURS", 72)

    # Login throttling (SECURITY.md A4); failed attempts only.
    RATELIMIT_ENABLED = True  # explicit: the limiter object is shared by every app in a process
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_SWALLOW_ERRORS = False
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_LIMIT_PER_IP = _env("LOGIN_LIMIT_PER_IP", "30 per 15 minutes")
    LOGIN_LIMIT_PER_ACCOUNT = _env("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes")
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)

    DEFAULT_TIMEZONE = _env("DEFAULT_TIMEZONE", "America/New_York")
    # Keep rendered charts in memory, keyed by a hash of their data (off only to benchmark).
    CHART_CACHE = _env_bool("CHART_CACHE", True)

    # Urgent-care screen (clinical-reference.md): each line is the clinic's to set. In the
    # texts, {emergency}, {crisis} and {poison} stand for the numbers below, so a clinic that
    # changes a number never shows the old one.
    URGENT_EMERGENCY_NUMBER = _env("URGENT_EMERGENCY_NUMBER", "911")
    URGENT_EMERGENCY_TEXT = _env(
        "URGENT_EMERGENCY_TEXT",
        "Call {emergency} now or go to the nearest emergency department.",
    )
    URGENT_CRISIS_NUMBER = _env("URGENT_CRISIS_NUMBER", "988")
    # Offer the crisis line by text as well as by call (off where the line takes no texts).
    URGENT_CRISIS_SMS = _env_bool("URGENT_CRISIS_SMS", True)
    URGENT_CRISIS_TEXT = _env(
        "URGENT_CRISIS_TEXT",
        "If you are thinking about suicide or self-harm, call or text {crisis}.",
    )
    # Poison control: shown only where configured (e.g. 1-800-222-1222 in the US).
    URGENT_POISON_NUMBER = _env("URGENT_POISON_NUMBER", "")
    URGENT_POISON_TEXT = _env(
        "URGENT_POISON_TEXT",
        "If you took too much of a medicine, or it was mixed with alcohol or other drugs, "
        "poison control can help: {poison}.",
    )
    URGENT_DOSE_TEXT = _env("URGENT_DOSE_TEXT", "Do not stop or change your dose on your own.")
    URGENT_COMPANION_TEXT = _env(
        "URGENT_COMPANION_TEXT",
        "If the person is very drowsy, hard to wake or breathing slowly, whoever is with them "
        "should call {emergency} now.",
    )
    # A red flag that could not be stored (session expired, stale form, Taper's database
    # down) is kept, signed, on the patient's device this long and sent at the next chance.
    PENDING_REPORT_HOURS = _env_int("PENDING_REPORT_HOURS", 24)
    # A clinic's own extra phrases for the note screen (JSON, format in the README).
    RED_FLAG_PHRASES_FILE = _env("RED_FLAG_PHRASES_FILE", "")

    # E-mail for urgent alerts, sent by `flask notify send` from the outbox.
    SMTP_HOST = _env("SMTP_HOST", "127.0.0.1")
    SMTP_PORT = _env_int("SMTP_PORT", 25)
    SMTP_USERNAME = _env("SMTP_USERNAME", "")
    SMTP_PASSWORD = _env("SMTP_PASSWORD", "")
    SMTP_STARTTLS = _env_bool("SMTP_STARTTLS", False)
    SMTP_TIMEOUT = _env_int("SMTP_TIMEOUT", 10)
    MAIL_SENDER = _env("MAIL_SENDER", "taper@localhost")
    # Absolute address of the app, for links in e-mails (e.g. https://taper.example.org).
    PUBLIC_URL = _env("PUBLIC_URL", "http://127.0.0.1:5000")
    HSTS = False
    TRUSTED_HOSTS: list[str] | None = None

    @classmethod
    def validate(cls) -> None:
        """Refuse settings that are unsafe for this environment."""


class DevelopmentConfig(Config):
    """Local development: SQLite in instance/, dev server."""


class TestingConfig(Config):
    """The test suite: PostgreSQL when TEST_DATABASE_URL is set, else in-memory SQLite."""

    TESTING = True
    SECRET_KEY = "testing-secret"  # noqa: S105  (tests only)
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"


class ProductionConfig(Config):
    """Real deployments: PostgreSQL, secure cookies, HSTS, trusted hosts."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "Strict"
    HSTS = True
    TRUSTED_HOSTS = [h.strip() for h in _env("TRUSTED_HOSTS", "").split(",") if h.strip()] or None

    @classmethod
    def validate(cls) -> None:
        """Production refuses to start without a real secret and database."""
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"ProductionConfig needs {', '.join(missing)} in the environment")
        if os.environ["SECRET_KEY"] in {DEV_SECRET_KEY, "changeme", "secret"}:
            raise RuntimeError("ProductionConfig refuses a default SECRET_KEY")
        if len(os.environ["SECRET_KEY"]) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
