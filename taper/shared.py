"""Redis, when ``REDIS_URL`` is set: the one place state shared by several app servers lives
(the job queue, login throttling counts, the chart cache). Empty: None, and each caller keeps
its state in its own process.

Web requests use a client with short timeouts: a Redis that is down costs a page a fraction of
a second (and a logged warning), never the page. The worker's queue connection blocks while it
waits for jobs, so it makes its own (``taper.jobs``)."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis

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
