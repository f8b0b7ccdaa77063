"""A small in-process cache of rendered charts, keyed by a hash of the data they show.

A new log, a correction or a plan change changes the data, so the key, so the image: nothing
stale is ever served. Each app server process keeps its own; entries are a few tens of kB."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable


class ChartCache:
    """Least-recently-used bytes by key, safe across threads."""

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_render(self, key: str, render: Callable[[], bytes]) -> bytes:
        """The cached bytes for ``key``, rendering them on a miss."""
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

    def clear(self) -> None:
        """Forget every image (and the hit and miss counts)."""
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


charts = ChartCache()
