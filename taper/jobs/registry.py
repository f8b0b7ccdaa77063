"""The periodic jobs: each a plain function ``(now) -> something countable`` that commits its
own work and is safe to run twice (or on two workers at once), and how often it runs."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask


@dataclass(frozen=True)
class PeriodicJob:
    """A job's function (by dotted name, imported when first run, so a module written later
    or one that is slow to import costs nothing until then) and its interval setting."""

    name: str
    function: str  # "package.module:function"
    every_setting: str

    def resolve(self) -> Callable[[datetime], object]:
        module, _, attribute = self.function.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def every(self, app: Flask) -> float:
        """Seconds between runs (a setting of 0 or less would spin: a tenth at least)."""
        return max(float(app.config[self.every_setting]), 0.1)


JOBS: dict[str, PeriodicJob] = {
    job.name: job
    for job in (
        PeriodicJob("outbox", "taper.jobs.tasks:send_outbox", "OUTBOX_EVERY_SECONDS"),
        PeriodicJob("alert_scan", "taper.jobs.tasks:scan_alerts", "ALERT_SCAN_EVERY_SECONDS"),
        PeriodicJob("reminders", "taper.services.reminders:send_due", "REMINDERS_EVERY_SECONDS"),
    )
}


def find(name: str) -> PeriodicJob:
    """The job of this name (KeyError for any other: names come from our own queue only)."""
    return JOBS[name]
