"""The job functions that wrap a service: each commits its own work and raises when part of
it failed, so the failure is counted and the job runs again (it is safe to)."""

from __future__ import annotations

from datetime import datetime

from taper.services import alerts, notify


class JobFailed(Exception):
    """A job that did part of its work: what failed is logged, the rest is committed."""


def send_outbox(now: datetime) -> int:
    """E-mails due in the outbox (each commits on its own); a message that fails waits for
    its backoff, which is the outbox's own retry, not the job's."""
    sent, _failed = notify.send_pending(now)
    return sent


def scan_alerts(now: datetime) -> int:
    """Missed-log and plan-end alerts, batch by batch; a failed batch fails the job after
    the others are done (a rerun raises nothing twice)."""
    result = alerts.scan(now)
    if result.failed_batches:
        raise JobFailed(f"{result.failed_batches} batch(es) of the alert scan failed")
    return result.missed_logs + result.plan_end
