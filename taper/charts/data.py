"""The plain data a chart shows, and its text summary. No matplotlib, no Flask.

The scheduled line follows the timeline (``taper.domain.timeline``): a held or paused span
stays flat at the dose in force, later steps appear on the dates holds and pauses moved them
to, and nothing is drawn past the last typed step, except that a last step that is not 0 stays
in force until the clinician reviews the plan (drawn to the end of the range, marked as such).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from taper.domain.doses import plain
from taper.domain.instrument import CIWA_B
from taper.domain.timeline import PlanSchedule, in_force, shift

HOLD_WORDS = {"hold": "Held", "pause": "Paused"}


@dataclass(frozen=True)
class SchedulePoint:
    """From ``day`` the dose in force is ``dose`` (as typed), with the timeline's status that
    day: active, held, paused, last (in force until reviewed) or stopped."""

    day: date
    dose: Decimal
    status: str

    @property
    def on_hold(self) -> bool:
        """True from a day the dose is held or paused."""
        return self.status in ("held", "paused")


@dataclass(frozen=True)
class PlanSeries:
    """One plan on the chart: the dose in force over the range (holds and pauses included),
    its holds and pauses, and the doses the patient logged for it."""

    plan_id: int
    medication: str
    unit: str = "mg"
    running: bool = True
    # Each day the dose in force (or its status) changes, oldest first; the line is drawn
    # from the first point to ``line_end`` and never elsewhere.
    schedule: tuple[SchedulePoint, ...] = ()
    line_end: date | None = None
    # From this day the dose has no typed end: in force until the clinician reviews it.
    open_from: date | None = None
    # (first day, last day shown, "hold" or "pause", open-ended): holds with a day in the
    # range; the first day may be before the range (a hold that began earlier), the last
    # day shown is clipped to the range's end.
    holds: tuple[tuple[date, date, str, bool], ...] = ()
    taken: tuple[tuple[date, Decimal], ...] = ()  # what the patient logged taking

    @property
    def changes(self) -> tuple[date, ...]:
        """The days in the range the dose in force went from one typed dose to another."""
        return tuple(
            point.day
            for before, point in zip(self.schedule, self.schedule[1:], strict=False)
            if point.dose != before.dose
        )


@dataclass(frozen=True)
class ProgressData:
    """Everything the progress chart draws; the cache key is a hash of exactly this."""

    start: date
    end: date
    plans: tuple[PlanSeries, ...] = ()  # running plans (else the latest finished one)
    scores: tuple[tuple[date, int], ...] = ()  # CIWA-B patient subtotal (0 to score_max)
    red_flag_days: tuple[date, ...] = ()
    score_max: int = CIWA_B.patient_max
    simple: bool = False  # the patient's view: fewer marks, larger text

    @property
    def unit(self) -> str:
        """The dose unit when every plan shares one (they do in practice), else ""."""
        units = {plan.unit for plan in self.plans}
        return units.pop() if len(units) == 1 else ("mg" if not units else "")

    @property
    def changes(self) -> tuple[date, ...]:
        """Every day a shown plan's dose changed, oldest first."""
        return tuple(sorted({day for plan in self.plans for day in plan.changes}))

    def cache_key(self, fmt: str, kind: str = "progress") -> str:
        """A hash of the data and format: new data means a new image, never a stale one.
        (The dataclass repr lists every field, in order, exactly.)"""
        return hashlib.sha256(f"{kind}|{fmt}|{self!r}".encode()).hexdigest()


def schedule_line(
    plan: PlanSchedule, start: date, end: date
) -> tuple[tuple[SchedulePoint, ...], date | None, date | None]:
    """The plan's dose in force from ``start`` to ``end`` as change points, the last day the
    line is drawn to, and the day from which the dose stays until reviewed (or None).

    Asks the timeline (``dose_on`` with the current hold) on each day something can change:
    the range's first and last day, each step's date, a hold's first day and the day after
    it. Every dose is a typed step's; none is computed or smoothed. A plan completed on a
    known day is drawn to the day before it (its last day in force), never past it: not the
    steps typed for later, and not short of it either."""
    if not plan.running and plan.ended_on is not None and plan.ended_on <= end:
        end = plan.ended_on - timedelta(days=1)
    if not plan.steps or end < start:
        return (), None, None
    hold = plan.hold
    days = {start, end} | {step.start for step in plan.steps if start < step.start < end}
    if hold is not None:
        if start < hold.start < end:
            days.add(hold.start)
        if hold.until is not None and start <= hold.until < end:
            days.add(hold.until + timedelta(days=1))  # < end, so it cannot overflow
    points: list[SchedulePoint] = []
    for day in sorted(days):
        found = plan.on(day)
        if found.step is None:
            continue
        if points and (points[-1].dose, points[-1].status) == (found.step.total, found.status):
            continue
        points.append(SchedulePoint(day, found.step.total, found.status))
        if found.status == "stopped":
            break
    if not points:
        return (), None, None
    last = points[-1]
    open_ended = last.status == "last" or (last.on_hold and hold is not None and hold.until is None)
    if last.status == "stopped":  # stopped at 0 mg: nothing is drawn past it
        return tuple(points), last.day, None
    if not plan.running and plan.ended_on is not None:  # to the day before its completion
        return tuple(points), end, None
    if open_ended and not plan.running:
        # A finished plan whose completion day is not known: nothing past its last change.
        return tuple(points), last.day, None
    return tuple(points), end, (last.day if open_ended else None)


def changes_between(plans: Sequence[PlanSeries], schedules: Sequence[PlanSchedule]) -> list[date]:
    """Dose-change days for the heatmap: each plan's changes, and the day a plan starts while
    another is already taken (a crossover's second drug)."""
    found = {day for series in plans for day in series.changes}
    by_id = {schedule.plan_id: schedule for schedule in schedules}
    for series in plans:
        if not series.schedule:
            continue
        first = series.schedule[0].day
        schedule = by_id.get(series.plan_id)
        if schedule is None or not schedule.steps or schedule.steps[0].start != first:
            continue  # started before the range
        if first == date.min:
            continue
        before = first - timedelta(days=1)
        if any(f.plan.plan_id != series.plan_id for f in in_force(schedules, before)):
            found.add(first)
    return sorted(found)


@dataclass(frozen=True)
class HeatmapData:
    """The patient-rated items (rows) by day (columns), 0-4; None where not logged."""

    days: tuple[date, ...]
    items: tuple[str, ...]  # short labels, in scale order
    values: tuple[tuple[int | None, ...], ...]  # values[item][day]
    dose_changes: tuple[date, ...] = ()
    sleep: tuple[tuple[date, Decimal], ...] = field(default=())

    def cache_key(self, fmt: str, kind: str = "heatmap") -> str:
        """A hash of the data and format."""
        return hashlib.sha256(f"{kind}|{fmt}|{self!r}".encode()).hexdigest()


def _day(value: date) -> str:
    return f"{value.day} {value:%B}"


def medication_name(series: PlanSeries) -> str:
    """The medication as a label: capitalised, as typed otherwise."""
    name = series.medication
    return name[:1].upper() + name[1:]


def _scores_around(data: ProgressData, when: date) -> str:
    pre = [s for d, s in data.scores if shift(when, -7) <= d < when]
    post = [s for d, s in data.scores if when <= d < shift(when, 7)]
    if not (pre and post):
        return ""
    return (
        f"; symptom score {round(sum(pre) / len(pre))} → "
        f"{round(sum(post) / len(post))} in the 7 days after"
    )


def plan_summary(series: PlanSeries, data: ProgressData) -> str:
    """What one plan's line shows, in sentences: each dose and change as scheduled (holds
    and pauses included), and a dose in force until the clinician reviews it."""
    unit = series.unit
    sentences = []
    for index, point in enumerate(series.schedule):
        dose = f"{plain(point.dose)} {unit}"
        if index == 0:
            # In force already on the range's first day: it may have begun before it.
            since = f"from {_day(point.day)}"
            if point.day == data.start:
                since = f"on {_day(point.day)}, the first day shown"
            if point.on_hold:
                word = "Held" if point.status == "held" else "Paused"
                sentences.append(f"{word} at {dose} {since}")
            elif point.status == "stopped":
                sentences.append(f"Stopped (0 {unit}) {since}")
            else:
                sentences.append(f"Dose {dose} {since}")
            continue
        before = series.schedule[index - 1]
        if point.dose == before.dose:
            continue  # a hold or pause beginning: listed with the holds below
        text = f"Dose {plain(before.dose)} {unit} → {dose} on {_day(point.day)}"
        if point.status == "stopped":
            text += " (stopped)"
        sentences.append(text + _scores_around(data, point.day))
    for first, last, kind, open_ended in series.holds:
        if last < data.start or first > data.end:
            continue  # only holds inside the range shown
        word = HOLD_WORDS.get(kind, "Held")
        since = f"{_day(first)}" + (" (before this range)" if first < data.start else "")
        if open_ended:
            sentences.append(f"{word} from {since} until the clinician reviews it")
        else:
            sentences.append(f"{word} from {since} to {_day(last)}")
    if series.open_from is not None and series.schedule:
        final = series.schedule[-1]
        if final.status == "last":
            sentences.append(
                f"{plain(final.dose)} {unit} is the last step and stays in force until the "
                "clinician reviews the plan"
            )
    if not sentences:
        return ""
    return f"{medication_name(series)}: " + ". ".join(sentences) + "."


def summary(data: ProgressData) -> str:
    """Sentences a screen reader can read in place of the chart: each plan by name, then the
    symptom scores and red flags."""
    parts = [text for series in data.plans if (text := plan_summary(series, data))]
    tail = []
    if data.scores:
        latest_day, latest = data.scores[-1]
        tail.append(f"latest symptom score {latest} of {data.score_max} on {_day(latest_day)}")
    if data.red_flag_days:
        tail.append(f"{len(data.red_flag_days)} day(s) with a red flag")
    if tail:
        text = "; ".join(tail)
        parts.append(text[0].upper() + text[1:] + ".")
    if not parts:
        return f"No data between {_day(data.start)} and {_day(data.end)}."
    return " ".join(parts)


def _mean(values: list[int]) -> float | None:
    return sum(values) / len(values) if values else None


def heatmap_summary(data: HeatmapData, rise: float = 1.0) -> str:
    """What the heatmap shows, in words: the items whose mean rose by ``rise`` points or more
    in the 7 days from each dose change, against the 7 days before it."""
    if not data.days:
        return "No days in this range."
    first, last = data.days[0], data.days[-1]
    logged = [any(row[i] is not None for row in data.values) for i in range(len(data.days))]
    if not any(logged):
        return f"No logs between {_day(first)} and {_day(last)}."
    parts = []

    def mean_between(item: int, start: date, end: date) -> float | None:
        row = data.values[item]
        return _mean(
            [v for d, v in zip(data.days, row, strict=True) if start <= d < end and v is not None]
        )

    for change in data.dose_changes:
        rises = []
        for item, label in enumerate(data.items):
            before = mean_between(item, shift(change, -7), change)
            after = mean_between(item, change, shift(change, 7))
            if before is not None and after is not None and after - before >= rise:
                rises.append((after - before, f"{label} {before:.1f} → {after:.1f}"))
        rises.sort(key=lambda r: -r[0])
        if rises:
            parts.append(
                f"in the 7 days from the dose change on {_day(change)}, "
                + ", ".join(text for _, text in rises[:4])
                + (f" and {len(rises) - 4} more rose" if len(rises) > 4 else " rose")
            )
        else:
            parts.append(f"no symptom rose by {rise:g} point or more after {_day(change)}")
    if not data.dose_changes:
        means = [
            (mean_between(item, first, shift(last, 1)), label)
            for item, label in enumerate(data.items)
        ]
        worst = sorted(((m, label) for m, label in means if m), reverse=True)[:3]
        parts.append(
            "no dose change in this range"
            + (
                "; highest on average: " + ", ".join(f"{label} {m:.1f}" for m, label in worst)
                if worst
                else ""
            )
        )
    hours = [float(h) for _, h in data.sleep]
    if hours:
        parts.append(f"sleep {sum(hours) / len(hours):.1f} hours a night on average")
    text = (
        f"Symptoms 0 to 4 by day, {_day(first)} to {_day(last)}, {sum(logged)} days logged: "
        + "; ".join(parts)
    )
    return text + "."
