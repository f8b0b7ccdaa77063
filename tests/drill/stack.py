"""The drill's own production-shaped stack on this machine: a fresh PostgreSQL database set up
as README "Running more than one server" says (roles, migrations as the owner, roles again), a
Redis, a test SMTP server, two gunicorn app servers started with deploy/gunicorn.conf.py and
one `flask --app taper worker`, all on free ports; everything stopped and removed afterwards.

Each process runs in a session of its own, so a SIGKILL takes a gunicorn master and its
workers down together, as a crashed machine would."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from tests.tools.databases import fresh_database, is_postgres
from tests.tools.smtp import Mailbox, free_port, smtp_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PASSWORD = "drill-password-long-enough"
DEFAULT_BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
APP = "taper:create_app()"


class Process:
    """One child process in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, logs: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.started: list[subprocess.Popen] = []  # every run, so clean-up misses none

    def start(self) -> Process:
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(self.popen)
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole session at once: the master and its workers, mid-request."""
        self._signal(signal.SIGKILL)
        self.wait(10)

    def kill_all(self) -> None:
        """Clean-up: every run of this process, whatever became of the others."""
        for popen in self.started:
            self.popen = popen
            self.kill()

    def stop(self, seconds: float = 15) -> None:
        """SIGTERM (a warm shutdown: the job in hand finishes), SIGKILL if it lingers."""
        self._signal(signal.SIGTERM)
        if not self.wait(seconds):
            self.kill()

    def wait(self, seconds: float) -> bool:
        if self.popen is None:
            return True
        try:
            self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            return False
        # Whatever the session left behind (a gunicorn worker whose master died first).
        self._signal(signal.SIGKILL)
        return True

    def _signal(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def tail(self, lines: int = 30) -> str:
        try:
            text_ = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text_.splitlines()[-lines:])


def wait_until_ready(base: str, seconds: float = 60) -> None:
    """Poll /readyz (database and Redis reachable) until it answers 200."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:  # refused while starting, or a 503 (urllib's HTTPError)
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{base} not ready after {seconds} s")
        time.sleep(0.2)


def flask(env: dict, *args: str, extra: dict | None = None) -> str:
    """`flask --app taper ...` as the README runs it; its output, or the error with it."""
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "taper", *args],
        env={**env, **(extra or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@dataclass
class Stack:
    """What the drill runs against, and the handles to break it."""

    env: dict
    admin_url: str  # the superuser, for the drill's own checks
    servers: list[Process]
    bases: list[str]
    worker: Process
    redis: Process
    mailbox: Mailbox
    logs: Path
    clinician: str = ""
    patients: list[str] = field(default_factory=list)
    engine: Engine | None = None
    seeded_alert_id: int = 0
    events: list[str] = field(default_factory=list)

    def query(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    def start_server(self, index: int) -> None:
        self.servers[index].start()

    def restart_worker(self) -> None:
        """SIGTERM (what systemd's restart sends), then the same command again."""
        self.worker.stop()
        self.worker.start()
        self.events.append("worker restarted (SIGTERM, then started again)")

    def failure_report(self) -> str:
        parts = [f"--- {p.name} ---\n{p.tail()}" for p in [*self.servers, self.worker, self.redis]]
        return "\n".join(parts)


def _environment(database_url: str, redis_port: int, smtp_port: int, bases: list[str]) -> dict:
    """Production settings, as far as a plain-http drill on 127.0.0.1 allows."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAPER_", "FLASK_", "TEST_", "PYTEST_", "SMTP_", "REDIS_"))
    }
    env.update(
        TAPER_CONFIG="production",
        SECRET_KEY=secrets.token_urlsafe(48),
        TWO_STEP_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        JOBS_EMBEDDED="0",
        TRUSTED_HOSTS="127.0.0.1",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TIMEOUT="5",
        MAIL_SENDER="taper@drill.example.org",
        PUBLIC_URL=bases[0],
        # The drill's fast job intervals (production: the defaults).
        OUTBOX_EVERY_SECONDS="1",
        ALERT_SCAN_EVERY_SECONDS="5",
        REMINDERS_EVERY_SECONDS="5",
        JOB_RETRY_SECONDS="1,2,4",
        LOG_FORMAT="json",
        LOG_LEVEL="WARNING",
        GUNICORN_LOG_LEVEL="warning",
        WEB_CONCURRENCY="2",
        PYTHONUNBUFFERED="1",
    )
    return env


def _prepare_database(env: dict, superuser_url: str) -> str:
    """README steps 1 and 3: the roles, the migrations as the owner, the roles again.
    Returns the app role's URL."""
    name = make_url(superuser_url).database
    password = secrets.token_urlsafe(16)
    roles = dict(
        TAPER_DB_OWNER=f"{name}_owner",
        TAPER_DB_APP_ROLE=f"{name}_app",
        TAPER_DB_OWNER_PASSWORD=password,
        TAPER_DB_APP_PASSWORD=password,
        DATABASE_URL=superuser_url,
    )
    flask(env, "db", "roles", extra=roles)
    owner_url = _as(superuser_url, roles["TAPER_DB_OWNER"], password)
    flask(env, "db", "upgrade", extra={"DATABASE_URL": owner_url})
    flask(env, "db", "roles", extra=roles)
    return _as(superuser_url, roles["TAPER_DB_APP_ROLE"], password)


def _as(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


def _drop_roles(base_url: str, database: str) -> None:
    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for role in (f"{database}_owner", f"{database}_app"):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    finally:
        engine.dispose()


def _seed(stack: Stack, patients: int) -> None:
    """One clinician with ``patients`` patients on their care team, each with a running plan
    (`flask seed-scale`, one bulk step; a day of history each)."""
    out = flask(
        stack.env,
        "seed-scale",
        "--clinicians",
        "1",
        "--patients",
        str(patients),
        "--days",
        "1",
        extra={"TAPER_PASSWORD": PASSWORD},
    )
    found = re.search(r"'first_clinician': '([^']+)'", out)
    stack.clinician = found.group(1)
    stack.patients = [
        row.email
        for row in stack.query("SELECT email FROM \"user\" WHERE email LIKE 'patient%' ORDER BY id")
    ]
    stack.seeded_alert_id = stack.query("SELECT coalesce(max(id), 0) AS m FROM alert")[0].m


@contextmanager
def drill_stack(patients: int = 10) -> Iterator[Stack]:
    """Build the whole stack; tear every piece down afterwards, whatever happened."""
    # Always PostgreSQL, as in production: TEST_DATABASE_URL's server when it names one.
    base_url = os.environ.get("TEST_DATABASE_URL", "")
    base_url = base_url if is_postgres(base_url) else DEFAULT_BASE_URL
    logs = Path(tempfile.mkdtemp(prefix="taper-drill-"))
    database = ""
    stack: Stack | None = None
    try:
        with ExitStack() as cleanup:
            superuser_url = cleanup.enter_context(fresh_database(base_url))
            database = make_url(superuser_url).database
            smtp_port, redis_port = free_port(), free_port()
            mailbox = cleanup.enter_context(smtp_server(smtp_port))
            ports = [free_port(), free_port()]
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            env = _environment("", redis_port, smtp_port, bases)
            redis = Process(
                "redis",
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                ],
                env,
                logs,
            ).start()
            cleanup.callback(redis.kill_all)
            started = time.monotonic()
            env["DATABASE_URL"] = _prepare_database(env, superuser_url)
            prepared = time.monotonic() - started
            servers = []
            for index, port in enumerate(ports):
                server_env = dict(
                    env,
                    TAPER_BIND=f"127.0.0.1:{port}",
                    PROMETHEUS_MULTIPROC_DIR=str(logs / f"metrics-{index}"),
                )
                os.makedirs(server_env["PROMETHEUS_MULTIPROC_DIR"])
                argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy/gunicorn.conf.py"), APP]
                servers.append(Process(f"web{index}", argv, server_env, logs).start())
                cleanup.callback(servers[-1].kill_all)
            worker = Process("worker", [str(BIN / "flask"), "--app", "taper", "worker"], env, logs)
            stack = Stack(env, superuser_url, servers, bases, worker, redis, mailbox, logs)
            stack.engine = create_engine(superuser_url)
            cleanup.callback(stack.engine.dispose)
            _seed(stack, patients)
            worker.start()
            cleanup.callback(worker.kill_all)
            for base in bases:
                wait_until_ready(base)
            stack.events.append(
                f"database: roles, migrations, roles {prepared:.1f} s; seeded and both "
                f"servers ready {time.monotonic() - started - prepared:.1f} s later"
            )
            yield stack
    finally:
        if database:
            _drop_roles(base_url, database)
        if os.environ.get("DRILL_KEEP_LOGS"):
            print(f"drill logs kept in {logs}")
        else:
            shutil.rmtree(logs, ignore_errors=True)
