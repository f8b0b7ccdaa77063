"""Alert rules as pure functions (clinical-reference.md "Alert rules"; defaults tunable)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from taper.domain import timeline
from taper.domain.doses import amount, far_above_plan, plain
from taper.domain.red_flags import WHEN, labels

TIER_ORDER = {"urgent": 0, "review": 1, "info": 2}


@dataclass(frozen=True)
class Thresholds:
    """When each alert rule fires (the defaults; a clinician may tune them per patient)."""

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
    """What the rules need to know about one day's log."""

    day: date
    patient_total: int
    red_flags: tuple[str, ...]
    doses: tuple[DoseFacts, ...] = ()
    red_flags_when: str = ""  # now | past | "" (not said)
    substances: bool | None = None  # alcohol, opioids or other sedatives that day
    substances_detail: str = ""


@dataclass(frozen=True)
class AlertFinding:
    """An alert a rule found: its kind, tier and the reason shown to the care team."""

    # red_flag | high_score | rising | dose_deviation | missed_logs | plan_end | substances | note
    kind: str
    tier: str  # urgent | review | info
    reason: str
    plan_id: int | None = None  # the plan it is about: one open alert per kind *and plan*
    cause: str = ""  # the situation found; a scan finding the same one again raises nothing


def _taken(log: LogFacts) -> str:
    detail = f" ({log.substances_detail})" if log.substances_detail else ""
    return f"alcohol, opioids or other sedatives taken{detail}"


def red_flag_rule(log: LogFacts) -> AlertFinding | None:
    """Any red flag: urgent. The reason says when it happened (now, or since the last log),
    and names alcohol or sedatives taken that day with it."""
    if not log.red_flags:
        return None
    when = f" ({WHEN[log.red_flags_when]})" if log.red_flags_when in WHEN else ""
    also = f"; {_taken(log)}" if log.substances else ""
    return AlertFinding(
        "red_flag", "urgent", f"Red flag reported: {labels(log.red_flags)}{when}{also}"
    )


def substances_rule(log: LogFacts) -> AlertFinding | None:
    """Alcohol, opioids or other sedatives taken that day (FDA 2020 boxed warning): with
    severe drowsiness (the drowsy red flag) it is urgent, and ``red_flag_rule`` already says so;
    on its own, a review alert per logged day."""
    if not log.substances or "drowsy" in log.red_flags:
        return None
    return AlertFinding(
        "substances",
        "review",
        f"{_taken(log).capitalize()} on {log.day.isoformat()}",
        cause=f"log:{log.day.isoformat()}",
    )


def note_rule(day: date, hits: Sequence[tuple[str, bool]], cause: str) -> AlertFinding | None:
    """A note that seems to describe red flags (``hits``: key and whether in the past): a
    review alert whatever the patient answers when asked, so a person reads the note. Each
    note is its own alert (never merged); ``cause`` (the note's fingerprint) keeps a
    correction with the same note from raising it twice."""
    if not hits:
        return None
    named = "; ".join(
        f"{labels([key])} ({'in the past' if past else 'now or unclear when'})"
        for key, past in hits
    )
    return AlertFinding(
        "note", "review", f"Note on {day.isoformat()} may describe: {named}", cause=cause
    )


def high_score_rule(log: LogFacts, th: Thresholds) -> AlertFinding | None:
    """Patient subtotal at or above the threshold (start of the severe band). The cause is the
    day and score: a correction of that day with the same score raises nothing new once the
    clinician has seen it; another day's high score does."""
    if log.patient_total < th.high_score:
        return None
    return AlertFinding(
        "high_score",
        "review",
        f"Symptom score {log.patient_total} (threshold {th.high_score})",
        cause=f"log:{log.day.isoformat()}:{log.patient_total}",
    )


def _mean(values: Sequence[int]) -> Decimal:
    return Decimal(sum(values)) / len(values)


def rising_rule(
    logs: Sequence[LogFacts], last_reduction: date | None, th: Thresholds
) -> AlertFinding | None:
    """Mean of the latest logs at least ``rising_points`` above the mean of the logs before
    the latest dose reduction (the day the dose really went down, holds and pauses included).
    The cause is that reduction: once the clinician has seen the rise after it, the next logs
    of the same rise raise nothing new (a high score still does); a rise after a later
    reduction is a new alert."""
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
        # Per logged day, like a high score: after an acknowledgement the next day's log that
        # still shows the rise is a new alert; a correction of the same day is not.
        cause=f"log:{logs[-1].day.isoformat()}",
    )


def dose_deviation_rule(log: LogFacts) -> list[AlertFinding]:
    """Each plan whose dose taken differs from its scheduled dose: one finding per plan. The
    cause is the day and the dose taken, so a new deviation (another day, or another dose on a
    corrected log) is a new alert once the last one was acknowledged, while a correction that
    changes nothing about the dose raises nothing new.

    A dose far above the plan's (more than twice it, or above the usual maximum: the patient
    was asked "Is that right?" and said yes) is "took more than the prescribed dose", a red
    flag of the clinical reference: urgent, never merged into an open review alert."""
    return [_deviation(log, dose) for dose in log.doses if dose.taken != dose.scheduled]


def _deviation(log: LogFacts, dose: DoseFacts) -> AlertFinding:
    far = far_above_plan(dose.taken, dose.scheduled, dose.medication, dose.unit)
    reason = (
        f"{dose.medication.capitalize()}: took {amount(dose.taken, dose.unit)}; "
        f"scheduled {amount(dose.scheduled, dose.unit)}"
    )
    return AlertFinding(
        "dose_deviation",
        "urgent" if far else "review",
        reason + (" (far more than the plan: the patient confirmed it)" if far else ""),
        plan_id=dose.plan_id,
        cause=f"log:{log.day.isoformat()}:{plain(dose.taken)}",
    )


def missed_logs_rule(
    last_log_day: date | None,
    today: date,
    plan_start: date | None,
    last_reduction: date | None,
    th: Thresholds,
) -> AlertFinding | None:
    """No log for ``missed_days`` days (``missed_days_after_reduction`` in the
    ``reduction_window_days`` after the dose really went down); never before the plan starts.

    The cause is the last day logged (the day before the plan started when nothing was
    logged since it started), and the gap's whole weeks from its second week on: the same gap
    raises one alert however often the scan runs, and again each week it goes on once the
    clinician has acknowledged or resolved the last one (a patient silent for weeks after the
    first call is never taken as fine); a new gap after a new log raises again."""
    if plan_start is None or today <= plan_start:
        return None
    recently_reduced = last_reduction is not None and timedelta(
        0
    ) <= today - last_reduction <= timedelta(days=th.reduction_window_days)
    allowed = th.missed_days_after_reduction if recently_reduced else th.missed_days
    # The day before the plan began (year 1 has no day before it), or the last day logged
    # since then: a log from before this plan (an earlier plan, completed) counts nothing,
    # and its cause must not stand for this plan's gap.
    since = plan_start - timedelta(days=1) if plan_start > date.min else plan_start
    if last_log_day is not None and last_log_day > since:
        since = last_log_day
    missed = (today - since).days - 1  # whole days with no log before today
    if missed < allowed:
        return None
    weeks = missed // 7
    return AlertFinding(
        "missed_logs",
        "info",
        f"No log for {missed} day(s)",
        cause=f"since:{since.isoformat()}" + (f"+{weeks}w" if weeks else ""),
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
    nothing is written after it, so its dose stays in force until the care team reviews the
    plan, and they are told ahead. The cause is the last step's date and dose: the same last
    step raises one alert, even once acknowledged or resolved; a revised last step (another
    date or dose, e.g. moved by a hold) raises again."""
    if last_step is None:
        return None
    start, total = last_step
    if total == 0 or (start - today).days > th.plan_end_days:
        return None
    when = "started" if start <= today else "starts"
    return AlertFinding(
        "plan_end",
        "review",
        f"{medication.capitalize()}: the last step written ({amount(total, unit)}) "
        f"{when} on {start.isoformat()} and nothing follows it; it stays in force until the "
        "plan is reviewed.",
        plan_id=plan_id,
        cause=f"last:{start.isoformat()}:{plain(total)}",
    )


def scheduled_findings(
    plans: Sequence[timeline.PlanSchedule],
    last_log_day: date | None,
    today: date,
    th: Thresholds,
) -> list[AlertFinding]:
    """What the scheduled scan finds for one patient's plans on the patient's ``today``.

    - Missed logs: once any running plan has started; the tightening after a reduction counts
      from the day the dose really went down (a step moved by a hold or pause counts from its
      moved date: ``timeline.latest_reduction``).
    - Plan end: for each running plan whose last step is not 0 (``timeline.last_step_review``),
      a review alert ``plan_end_days`` before that step starts. Not while an open-ended hold or
      pause is in force on that plan: the last step's date is not known until the clinician
      ends it (which writes a revision with the moved dates, and the next scan sees them), and
      the clinician who placed it is already reviewing the plan. A dated hold or pause has
      already moved the last step, so its moved date counts.
    """
    running = [plan for plan in plans if plan.running]
    findings = [
        missed_logs_rule(
            last_log_day,
            today,
            min((plan.steps[0].start for plan in running if plan.steps), default=None),
            timeline.latest_reduction(running, today),
            th,
        )
    ]
    for plan in running:
        last = timeline.last_step_review(plan)
        if last is None or (plan.hold is not None and plan.hold.open):
            continue
        findings.append(
            plan_end_rule(
                plan.plan_id, plan.medication, plan.unit, (last.start, last.total), today, th
            )
        )
    return [finding for finding in findings if finding is not None]


def evaluate_log(
    log: LogFacts, history: Sequence[LogFacts], last_reduction: date | None, th: Thresholds
) -> list[AlertFinding]:
    """The per-log rules for a newly saved log; ``history`` is earlier logs, oldest first."""
    ordered = sorted([*(h for h in history if h.day != log.day), log], key=lambda h: h.day)
    findings = [
        red_flag_rule(log),
        substances_rule(log),
        high_score_rule(log, th),
        rising_rule(ordered, last_reduction, th),
        *dose_deviation_rule(log),
    ]
    return [f for f in findings if f is not None]
