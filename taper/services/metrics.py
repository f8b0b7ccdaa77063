"""The numbers /metrics shows a Prometheus scraper (or an admin), in its text format.

Request latency comes from ``taper.observability``'s histogram: this process's, or, with
``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn), every worker's, read from that directory.
Everything else is read from the database and the job queue at scrape time, so every app
server reports the same true values: alerts are never deleted, so a count by tier is a
counter across all servers. One scrape is two database queries, whatever the data."""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from taper.domain.alert_rules import TIER_ORDER
from taper.extensions import db
from taper.models import Alert, OutboxMessage, Role, User

log = logging.getLogger(__name__)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def may_read(user: User, authorization: str) -> bool:
    """A signed-in admin, or a scraper sending ``Authorization: Bearer <METRICS_TOKEN>``
    (compared in constant time; with no token configured, admins only)."""
    if user.is_authenticated and user.role is Role.ADMIN:
        return True
    token = current_app.config["METRICS_TOKEN"]
    scheme, _, given = authorization.partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@dataclass
class Snapshot:
    """What the database and the job queue say now."""

    alerts_by_tier: dict[str, int] = field(default_factory=dict)
    outbox_unsent: int = 0
    oldest_unsent_seconds: float = 0.0
    job_failures: int = 0
    dead_letters: int = 0


class SnapshotCollector(Collector):
    """A snapshot, as Prometheus metric families."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        s = self.snapshot
        alerts = CounterMetricFamily(
            "taper_alerts_raised", "Alerts raised since the start, by tier.", labels=["tier"]
        )
        for tier, number in sorted(s.alerts_by_tier.items()):
            alerts.add_metric([tier], number)
        yield alerts
        yield GaugeMetricFamily(
            "taper_outbox_unsent", "E-mails in the outbox not sent yet.", value=s.outbox_unsent
        )
        yield GaugeMetricFamily(
            "taper_outbox_oldest_unsent_age_seconds",
            "Age of the oldest e-mail not sent yet (0 when none waits).",
            value=s.oldest_unsent_seconds,
        )
        yield CounterMetricFamily(
            "taper_job_failures", "Background job runs that failed.", value=s.job_failures
        )
        yield GaugeMetricFamily(
            "taper_job_dead_letters",
            "Jobs that failed every retry, waiting for an admin (/admin/jobs).",
            value=s.dead_letters,
        )


def snapshot(now: datetime | None = None) -> Snapshot:
    """Alerts by tier and the outbox's depth and age (two queries), and the job counts."""
    now = now or datetime.now(UTC)
    counted = dict.fromkeys(TIER_ORDER, 0)
    counted.update(db.session.execute(select(Alert.tier, func.count()).group_by(Alert.tier)).all())
    unsent, oldest = db.session.execute(
        select(func.count(OutboxMessage.id), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.sent_at.is_(None)
        )
    ).one()
    return Snapshot(
        alerts_by_tier=counted,
        outbox_unsent=unsent,
        oldest_unsent_seconds=max(0.0, (now - oldest).total_seconds()) if oldest else 0.0,
        job_failures=_job_number("failures_total"),
        dead_letters=_job_number("dead_letter_count"),
    )


def _job_number(name: str) -> int:
    """``taper.jobs.<name>()``; 0 (and a log line) when it is missing or fails, so a queue
    that is down never takes the rest of the metrics with it."""
    try:
        from taper import jobs

        return int(getattr(jobs, name)())
    except Exception as error:  # noqa: BLE001  (a metric, never the page)
        log.warning("metrics: jobs.%s unavailable (%s)", name, type(error).__name__)
        return 0


def _request_registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render() -> bytes:
    """Every metric, in Prometheus's text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot()))
    return generate_latest(_request_registry()) + generate_latest(registry)
