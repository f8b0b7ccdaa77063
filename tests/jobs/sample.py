"""Job functions for the tests: one that works and one that always fails (with a message that
stands for health data and must never be shown or stored)."""

from __future__ import annotations

import threading
from datetime import datetime

SECRET = "patient wrote: shaking all night"
calls: dict[str, int] = {"ok": 0, "boom": 0}
_lock = threading.Lock()


def _count(name: str) -> None:
    with _lock:
        calls[name] += 1


def ok(now: datetime) -> int:
    _count("ok")
    return 1


def boom(now: datetime) -> int:
    _count("boom")
    raise RuntimeError(SECRET)
