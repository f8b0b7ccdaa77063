"""Alert rules as pure functions (clinical-reference.md "Alert rules"; defaults tunable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from taper.domain.red_flags import RED_FLAGS

TIER_ORDER = {"urgent": 0, "review": 1, "info": 2}


@dataclass(frozen=True)
class Thresholds:
    high_score: int = 41
    rising_points: int = 10
    rising_recent: int = 3
    rising_baseline: int = 7
    missed_days: int = 2
    missed_days_after_reduction: int = 1
    reduction_window_days: int = 3
    plan_end_days: int = 7  # review alert this many days before a plan's last (not 0) step


@dataclass(frozen=True)
class DoseFacts:
    """One plan's dose question on a log: what was scheduled and what was taken."""

    plan_id: int
    medication: str
    unit: str
    taken: Decimal
    scheduled: Decimal


@dataclass(frozen=True)
class LogFacts:
    day: date
    patient_total: int
    red_flags: tuple[str, ...]
    doses: tuple[DoseFacts, ...] = ()


@dataclass(frozen=True)
class AlertFinding:
    kind: str  # red_flag | high_score | rising | dose_deviation | missed_logs | plan_end
    tier: str  # urgent | review | info
    reason: str
    plan_id: int | None = None  # the plan it is about: one open alert per kind *and plan*
    cause: str = ""  # the situation found; a scan finding the same one again raises nothing


def red_flag_rule(log: LogFacts) -> AlertFinding | None:
    """Any red flag: urgent."""
    if not log.red_flags:
        return None
    labels = {flag.key: flag.label for flag in RED_FLAGS}
    named = ", ".join(labels.get(key, key) for key in log.red_flags)
    return AlertFinding("red_flag", "urgent", f"Red flag reported: {named}")


def high_score_rule(log: LogFacts, th: Thresholds) -> AlertFinding | None:
    """Patient subtotal at or above the threshold (start of the severe band)."""
    if log.patient_total < th.high_score:
        return None
    return AlertFinding(
        "high_score", "review", f"Symptom score {log.patient_total} (threshold {th.high_score})"
    )


def _mean(values: Sequence[int]) -> Decimal:
    return Decimal(sum(values)) / len(values)


def rising_rule(
    logs: Sequence[LogFacts], last_reduction: date | None, th: Thresholds
) -> AlertFinding | None:
    """Mean of the latest logs at least ``rising_points`` above the mean of the logs before
    the latest dose reduction."""
    if last_reduction is None:
        return None
    before = [log.patient_total for log in logs if log.day < last_reduction][-th.rising_baseline :]
    recent = [log.patient_total for log in logs][-th.rising_recent :]
    if len(before) < th.rising_baseline or len(recent) < th.rising_recent:
        return None
    if any(log.day < last_reduction for log in logs[-th.rising_recent :]):
        return None
    baseline, now = _mean(before), _mean(recent)
    if now - baseline < th.rising_points:
        return None
    return AlertFinding(
        "rising",
        "review",
        f"Symptom score rising: {now:.1f} on average lately, {baseline:.1f} before the "
        f"reduction on {last_reduction.isoformat()}",
    )


def dose_deviation_rule(log: LogFacts) -> list[AlertFinding]:
    """Each plan whose dose taken differs from its scheduled dose: one finding per plan."""
    return [
        AlertFinding(
            "dose_deviation",
            "review",
            f"{dose.medication.capitalize()}: took {dose.taken.normalize():f} {dose.unit}; "
            f"scheduled {dose.scheduled.normalize():f} {dose.unit}",
            plan_id=dose.plan_id,
        )
        for dose in log.doses
        if dose.taken != dose.scheduled
    ]


def missed_logs_rule(
    last_log_day: date | None,
    today: date,
    plan_start: date | None,
    last_reduction: date | None,
    th: Thresholds,
) -> AlertFinding | None:
    """No log for ``missed_days`` days (fewer just after a reduction); never before the plan."""
    if plan_start is None or today <= plan_start:
        return None
    recently_reduced = last_reduction is not None and timedelta(
        0
    ) <= today - last_reduction <= timedelta(days=th.reduction_window_days)
    allowed = th.missed_days_after_reduction if recently_reduced else th.missed_days
    since = last_log_day if last_log_day is not None else plan_start - timedelta(days=1)
    missed = (today - since).days - 1  # whole days with no log before today
    if missed < allowed:
        return None
    return AlertFinding(
        "missed_logs",
        "info",
        f"No log for {missed} day(s)",
        cause=f"since:{since.isoformat()}",
    )


def plan_end_rule(
    plan_id: int,
    medication: str,
    unit: str,
    last_step: tuple[date, Decimal] | None,
    today: date,
    th: Thresholds,
) -> AlertFinding | None:
    """The plan's last step is not 0 and starts within ``plan_end_days`` (or has started):
    nothing is written after it, so the care team reviews the plan before it runs out."""
    if last_step is None:
        return None
    start, total = last_step
    if total == 0 or (start - today).days > th.plan_end_days:
        return None
    when = "started" if start <= today else "starts"
    return AlertFinding(
        "plan_end",
        "review",
        f"{medication.capitalize()}: the last step written ({total.normalize():f} {unit}) "
        f"{when} on {start.isoformat()} and nothing follows it. Review the plan.",
        plan_id=plan_id,
        cause=f"last:{start.isoformat()}:{total.normalize():f}",
    )


def evaluate_log(
    log: LogFacts, history: Sequence[LogFacts], last_reduction: date | None, th: Thresholds
) -> list[AlertFinding]:
    """The per-log rules for a newly saved log; ``history`` is earlier logs, oldest first."""
    ordered = sorted([*(h for h in history if h.day != log.day), log], key=lambda h: h.day)
    findings = [
        red_flag_rule(log),
        high_score_rule(log, th),
        rising_rule(ordered, last_reduction, th),
        *dose_deviation_rule(log),
    ]
    return [f for f in findings if f is not None]
