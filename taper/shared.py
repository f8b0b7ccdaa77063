"""Redis, when ``REDIS_URL`` is set: the one place state shared by several app servers lives
(the job queue, login throttling counts, the chart cache). Empty: None, and each caller keeps
its state in its own process.

Web requests use a client with short timeouts: a Redis that is down costs a page a fraction of
a second (and a logged warning), never the page. The worker's queue connection blocks while it
waits for jobs, so it makes its own (``taper.jobs``)."""

from __future__ import annotations

import logging
import time

from flask import Flask, current_app
from redis import Redis

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 0.5


def redis_client(app: Flask | None = None) -> Redis | None:
    """This app's Redis client (one per app, made on first use), or None without REDIS_URL."""
    app = app or current_app
    url = app.config["REDIS_URL"]
    if not url:
        return None
    client = app.extensions.get("taper_redis")
    if client is None:
        client = Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            health_check_interval=30,
        )
        app.extensions["taper_redis"] = client
    return client


class Outage:
    """One use of the shared store that just failed: its callers manage on their own for
    ``rest`` seconds before asking it again, so a dead Redis costs one timeout and one logged
    warning per interval, not one per request."""

    def __init__(self, what: str, rest: float) -> None:
        self.what, self.rest, self.until = what, rest, 0.0

    def ready(self) -> bool:
        """Whether to ask the shared store (nothing failed in the last ``rest`` seconds)."""
        return time.monotonic() >= self.until

    def failed(self, error: Exception, instead: str) -> None:
        """It failed: rest, and log what this process does ``instead`` meanwhile."""
        self.until = time.monotonic() + self.rest
        log.warning(
            "%s unreachable (%s): %s for %ss", self.what, type(error).__name__, instead, self.rest
        )


def outage(what: str, rest: float) -> Outage:
    """This app's Outage record for one use of Redis (per app, so apps in one process, as in
    the tests, never share one)."""
    return current_app.extensions.setdefault(f"taper_outage:{what}", Outage(what, rest))
