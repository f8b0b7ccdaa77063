"""Configuration classes; every value can come from an environment variable.

Nothing here raises at import time: ``ProductionConfig.validate`` is called by
``create_app`` so a missing secret stops the app at start-up instead.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
INSTANCE = ROOT / "instance"
# The public default of earlier versions: refused everywhere (development now has its own key).
DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105  (a refused value, not a secret)
SECRET_KEY_FILE = INSTANCE / "secret_key"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def instance_secret_key(path: Path | None = None) -> str:
    """This instance's own random SECRET_KEY, kept in ``instance/secret_key`` (mode 0600).

    Made on first use; later calls read it back. Written to a private temporary file and then
    linked into place, so two processes starting at once agree on one key and nobody ever
    reads a half-written file. ``make run`` calls this before the server starts.
    """
    path = path or SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            temporary.unlink()
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key: delete it to make a new one")
    return key


class _FromEnvironment:
    """A setting read from the environment when the app loads its settings
    (``app.config.from_object``), not when config.py is imported: a key set after import
    counts, and importing config.py never creates the instance key file. ``otherwise`` gives
    the value when the variable is unset or empty."""

    def __init__(self, name: str, otherwise=lambda: None) -> None:
        self.name, self.otherwise = name, otherwise

    def __get__(self, _instance: object, _owner: type):
        return os.environ.get(self.name) or self.otherwise()


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = _FromEnvironment("SECRET_KEY")  # production refuses to start without one
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'taper.db'}")
    # hide_parameters: a logged database error never carries a form's values (a patient's note).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Sessions (SECURITY.md A5-A8)
    SESSION_COOKIE_NAME = "taper_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
    IDLE_TIMEOUT = timedelta(minutes=_env_int("IDLE_TIMEOUT_MINUTES", 30))
    ABSOLUTE_TIMEOUT = timedelta(hours=_env_int("ABSOLUTE_TIMEOUT_HOURS", 12))
    PERMANENT_SESSION_LIFETIME = ABSOLUTE_TIMEOUT
    # The cookie is sent again when the session changes (its idle clock moves every 30 s,
    # taper.web), not on every response: re-signing it each time is a tenth of a page's cost.
    SESSION_REFRESH_EACH_REQUEST = False
    REAUTH_WINDOW = timedelta(minutes=_env_int("REAUTH_WINDOW_MINUTES", 10))
    # Remember-me is not offered; these make the cookie safe should it ever be set.
    REMEMBER_COOKIE_DURATION = timedelta(hours=1)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE

    MAX_CONTENT_LENGTH = 1024 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the session's own limits bound the token's life
    SET_PASSWORD_LINK_HOURS = _env_int("SET_PASSWORD_LINK_HOURS", 72)

    # Two-step login secrets at rest (SECURITY.md D7). Fernet keys, comma-separated: the first
    # encrypts, every one decrypts; after `flask twostep rotate-keys` the others can go.
    # Required in production; elsewhere, when empty, a key is derived from SECRET_KEY.
    TWO_STEP_KEYS = _FromEnvironment("TWO_STEP_KEYS", lambda: "")
    TWO_STEP_KEY_FROM_SECRET_KEY = True  # never in production
    # Argon2id cost for recovery codes: OWASP's minimum (19 MiB, 2 passes). Each code holds
    # 100 random bits, so this is plenty, and turning two-step on (10 hashes) stays quick.
    RECOVERY_CODE_HASH = {"time_cost": 2, "memory_cost": 19456, "parallelism": 1}

    # Password throttling (SECURITY.md A4, taper/auth/throttle.py); failed attempts only, at
    # login, /confirm-password, the inline confirmation and the password-change form. Counts
    # live in RATELIMIT_STORAGE_URI: Redis when there are several app servers.
    RATELIMIT_ENABLED = True  # explicit: the limiter object is shared by every app in a process
    # Empty: REDIS_URL when that is set, else memory:// (one process).
    RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "")
    RATELIMIT_SWALLOW_ERRORS = False
    RATELIMIT_HEADERS_ENABLED = True
    # Per account: this many failures in a row are free, then each attempt waits 1, 2, 4 ...
    # seconds after the last failure, up to the cap; the right password after the wait works.
    LOGIN_DELAY_FREE_FAILURES = _env_int("LOGIN_DELAY_FREE_FAILURES", 3)
    LOGIN_DELAY_MAX_SECONDS = _env_int("LOGIN_DELAY_MAX_SECONDS", 60)
    # A count of failures is forgotten this long after it started (a right password resets it).
    LOGIN_FAILURE_MEMORY_HOURS = _env_int("LOGIN_FAILURE_MEMORY_HOURS", 24)
    # A device that signed in to an account is remembered this long (a signed cookie): it is
    # not held up by the waits other devices cause that account.
    TRUSTED_DEVICE_DAYS = _env_int("TRUSTED_DEVICE_DAYS", 90)
    # One address guessing one account (the pair), and a high ceiling for one address across
    # all accounts (a whole clinic may sit behind one address).
    LOGIN_LIMIT_PER_IP_ACCOUNT = _env("LOGIN_LIMIT_PER_IP_ACCOUNT", "20 per hour")
    LOGIN_LIMIT_PER_IP = _env("LOGIN_LIMIT_PER_IP", "300 per hour")
    # Wrong two-step codes per pending login (the password was already right).
    LOGIN_LIMIT_PER_ACCOUNT = _env("LOGIN_LIMIT_PER_ACCOUNT", "5 per 15 minutes")
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
    PROXY_COUNT = _env_int("PROXY_COUNT", 0)

    DEFAULT_TIMEZONE = _env("DEFAULT_TIMEZONE", "America/New_York")
    # Keep rendered charts, keyed by a hash of their data (off only to benchmark): in Redis
    # when REDIS_URL is set (shared by every app server, kept CHART_CACHE_SECONDS), else in
    # each process's memory.
    CHART_CACHE = _env_bool("CHART_CACHE", True)
    CHART_CACHE_SECONDS = _env_int("CHART_CACHE_SECONDS", 7 * 86400)
    CHART_CACHE_PREFIX = _env("CHART_CACHE_PREFIX", "taper:chart:")

    # Several app servers (README "Running more than one server"): one Redis holds the job
    # queue, the login throttling counts and the chart cache. Empty: everything stays in one
    # process (`make run`): jobs run on a timer inside the app (JOBS_EMBEDDED), throttling
    # counts and charts are kept in memory.
    REDIS_URL = _env("REDIS_URL", "")
    # Without Redis, run the scheduled jobs (outbox, alert scan, reminders) on a timer in the
    # app's own process. Off only where a separate `flask worker` runs them.
    JOBS_EMBEDDED = _env_bool("JOBS_EMBEDDED", True)
    JOB_QUEUE = _env("JOB_QUEUE", "taper")
    # A failed job is tried again after each of these waits (seconds), then kept as a dead
    # letter for an admin (/admin/jobs).
    JOB_RETRY_SECONDS = _env("JOB_RETRY_SECONDS", "30,120,600")
    # How often each scheduled job runs.
    OUTBOX_EVERY_SECONDS = _env_int("OUTBOX_EVERY_SECONDS", 30)
    ALERT_SCAN_EVERY_SECONDS = _env_int("ALERT_SCAN_EVERY_SECONDS", 300)
    REMINDERS_EVERY_SECONDS = _env_int("REMINDERS_EVERY_SECONDS", 60)

    # /metrics (Prometheus) for a signed-in admin, or a scraper sending
    # "Authorization: Bearer <METRICS_TOKEN>" (empty: admins only).
    METRICS_TOKEN = _FromEnvironment("METRICS_TOKEN", lambda: "")
    # Logs: "json" (one object a line, with the request id) or "text".
    LOG_FORMAT = _env("LOG_FORMAT", "json")
    LOG_LEVEL = _env("LOG_LEVEL", "INFO")

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
    # The clinic's contact line printed on the visit report (e.g. "Riverside Clinic, 020 7946
    # 0000, taper@riverside.example"); empty: no contact line.
    CLINIC_CONTACT = _env("CLINIC_CONTACT", "")
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
    """Local development: SQLite in instance/, dev server, a random key of its own."""

    SECRET_KEY = _FromEnvironment("SECRET_KEY", instance_secret_key)
    LOG_FORMAT = _env("LOG_FORMAT", "text")  # a terminal is read by a person


class TestingConfig(Config):
    """The test suite: PostgreSQL when TEST_DATABASE_URL is set, else in-memory SQLite."""

    TESTING = True
    SECRET_KEY = "testing-secret"  # noqa: S105  (tests only)
    TWO_STEP_KEYS = ""  # the key derived from SECRET_KEY, whatever the environment holds
    RECOVERY_CODE_HASH = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}  # fast tests
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    WTF_CSRF_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    REDIS_URL = ""  # a test that wants Redis sets it (tests/redis_tools.py)
    JOBS_EMBEDDED = False  # tests run jobs themselves
    LOG_FORMAT = "text"


class ProductionConfig(Config):
    """Real deployments: PostgreSQL, secure cookies, HSTS, trusted hosts."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "Strict"
    HSTS = True
    TWO_STEP_KEY_FROM_SECRET_KEY = False
    TRUSTED_HOSTS = [h.strip() for h in _env("TRUSTED_HOSTS", "").split(",") if h.strip()] or None

    @classmethod
    def validate(cls) -> None:
        """Production refuses to start without a real secret, database, two-step keys and
        its own address."""
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"ProductionConfig needs {', '.join(missing)} in the environment")
        if os.environ["SECRET_KEY"] in {DEV_SECRET_KEY, "changeme", "secret"}:
            raise RuntimeError("ProductionConfig refuses a default SECRET_KEY")
        if len(os.environ["SECRET_KEY"]) < 32:
            raise RuntimeError("SECRET_KEY must be at least 32 characters")
        _check_two_step_keys(os.environ.get("TWO_STEP_KEYS", ""))
        if not os.environ.get("PUBLIC_URL"):
            # E-mailed links point at it, and the FHIR export's ids are made from it: a default
            # shared by every install would give two clinics' patients the same ids.
            raise RuntimeError(
                "ProductionConfig needs PUBLIC_URL in the environment: the app's own https "
                "address (e-mail links and the FHIR export's ids are made from it)"
            )


def _check_two_step_keys(value: str) -> None:
    """Production encrypts two-step secrets with its own keys, never one derived from
    SECRET_KEY: refuse to start without them or with one that is not a Fernet key."""
    from cryptography.fernet import Fernet

    keys = [key.strip() for key in value.split(",") if key.strip()]
    if not keys:
        raise RuntimeError(
            "ProductionConfig needs TWO_STEP_KEYS in the environment: one or more Fernet keys, "
            "comma-separated, the first encrypts (make one with `flask --app taper twostep "
            "new-key`)"
        )
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise RuntimeError(
                f"TWO_STEP_KEYS: key {number} is not a Fernet key (32 url-safe base64 bytes)"
            ) from None


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
