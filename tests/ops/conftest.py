"""Fixtures for the production shape: a Redis of the test's own that can be stopped, key
prefixes of the test's own on the shared Redis, and logging put back after a JSON-log test."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from flask import Flask

from taper.charts import cache
from taper.extensions import limiter

SHARED_REDIS = "redis://127.0.0.1:6379/0"
# Nothing listens on port 1: every connection is refused at once.
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def shared_uri(database_url: str, tmp_path) -> str:
    """A database several apps (app servers) of one test share: the test PostgreSQL
    database, or a SQLite file (each app would get its own in-memory SQLite database)."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'servers.db'}"
    return database_url


@pytest.fixture
def server(app_factory, shared_uri) -> Callable[..., Flask]:
    """Make another app server on the test's shared database: ``server(**settings)``."""
    return lambda **settings: app_factory(SQLALCHEMY_DATABASE_URI=shared_uri, **settings)


@pytest.fixture
def app(server, request) -> Flask:
    """The first app server (``@pytest.mark.app_config(...)`` for its settings); the users
    and plans of the shared fixtures are made through it."""
    marker = request.node.get_closest_marker("app_config")
    return server(**(marker.kwargs if marker else {}))


@pytest.fixture(autouse=True)
def _fresh_shared_state():
    """The chart cache and the limiter object live as long as the process: start each test
    with no image kept, and leave no storage marked dead behind."""
    cache.charts.clear()
    yield
    cache.charts.clear()
    limiter._storage_dead = False  # Flask-Limiter's own flag, global to the process


@pytest.fixture
def prefix() -> Iterator[str]:
    """Keys of this test's own on the shared Redis, deleted afterwards."""
    mine = f"taper-test-{uuid.uuid4().hex}"
    yield mine
    server = redis.Redis.from_url(SHARED_REDIS)
    for key in server.scan_iter(f"*{mine}*"):
        server.delete(key)


def redis_settings(url: str, prefix: str) -> dict[str, str]:
    """An app whose shared state (throttling counts, charts) goes to the Redis at ``url``."""
    return {
        "REDIS_URL": url,
        "RATELIMIT_STORAGE_URI": "",  # so create_app takes REDIS_URL, as in production
        "RATELIMIT_KEY_PREFIX": prefix,
        "CHART_CACHE_PREFIX": f"{prefix}:chart:",
    }


@dataclass
class OwnRedis:
    """A redis-server of the test's own, on a free port, with nothing kept on disk."""

    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Kill it (as a crash would) and wait until it is gone."""
        self.process.kill()
        self.process.wait(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    """Start a redis-server for this test; it is killed afterwards if the test did not."""
    port = _free_port()
    command = [shutil.which("redis-server") or "redis-server", "--port", str(port)]
    command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    server = OwnRedis(process, port)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield server
    if process.poll() is None:
        server.stop()


@pytest.fixture
def json_logs() -> Iterator[None]:
    """Put the root logger back as it was after a test whose app logs JSON."""
    level, handlers = logging.root.level, list(logging.root.handlers)
    yield
    for handler in list(logging.root.handlers):
        if handler not in handlers:
            logging.root.removeHandler(handler)
    logging.root.setLevel(level)
