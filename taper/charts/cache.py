"""Rendered charts, keyed by a hash of the data they show.

A new log, a correction or a plan change changes the data, so the key, so the image: nothing
stale is ever served, and an image may be kept anywhere. With ``REDIS_URL`` set the images
live in Redis for ``CHART_CACHE_SECONDS``, so every app server serves every chart from one
cache; without it each process keeps its own (a few tens of kB an entry).

Redis down or slow is a cache miss, never an error page: the chart is drawn (and kept in the
process while Redis rests), and one warning is logged per rest (``taper.shared.Outage``)."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError

from taper.shared import outage, redis_client

log = logging.getLogger(__name__)
KEY_PREFIX = "taper:chart:"
# After a Redis failure, charts stay in the process this long before Redis is asked again:
# a dead Redis then costs one timeout (and one warning) per interval, not one per chart.
REDIS_REST_SECONDS = 10


class ChartCache:
    """Least-recently-used bytes by key, safe across threads; in Redis when configured."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The cached bytes for ``key``, rendering them on a miss."""
        client = self._shared()
        if client is None:
            return self._local(key, render)
        try:
            image = client.get(self._redis_key(key))
        except RedisError as error:
            self._redis_failed(error)
            return self._local(key, render)
        if image is not None:
            self._count(hit=True)
            return image
        image = render()
        self._count(hit=False)
        try:
            client.set(self._redis_key(key), image, ex=current_app.config["CHART_CACHE_SECONDS"])
        except RedisError as error:
            self._redis_failed(error)
        return image

    def clear(self) -> None:
        """Forget every image kept in this process (and the hit and miss counts)."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def _local(self, key: str, render: Callable[[], bytes]) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        image = render()
        with self._lock:
            self.misses += 1
            self._items[key] = image
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return image

    def _count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    @staticmethod
    def _redis_key(key: str) -> str:
        return current_app.config.get("CHART_CACHE_PREFIX", KEY_PREFIX) + key

    @staticmethod
    def _outage():
        return outage("chart cache: Redis", REDIS_REST_SECONDS)

    def _shared(self) -> Redis | None:
        """This app's Redis, unless there is none or it failed a moment ago."""
        if not has_app_context() or not self._outage().ready():
            return None
        return redis_client()

    def _redis_failed(self, error: RedisError) -> None:
        self._outage().failed(error, "drawing charts and keeping them in this process")


charts = ChartCache()
