"""The plain data a chart shows, and its text summary. No matplotlib, no Flask."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class ProgressData:
    """Everything the progress chart draws; the cache key is a hash of exactly this."""

    start: date
    end: date
    unit: str = "mg"
    steps: tuple[tuple[date, Decimal], ...] = ()  # the clinician's steps, as typed
    holds: tuple[tuple[date, date], ...] = ()  # shaded spans
    taken: tuple[tuple[date, Decimal], ...] = ()  # what the patient reported taking
    scores: tuple[tuple[date, int], ...] = ()  # CIWA-B patient subtotal (0-68)
    red_flag_days: tuple[date, ...] = ()
    score_max: int = 68
    simple: bool = False  # the patient's view: fewer marks, larger text

    def cache_key(self, fmt: str, kind: str = "progress") -> str:
        """A hash of the data and format: new data means a new image, never a stale one.
        (The dataclass repr lists every field, in order, exactly.)"""
        return hashlib.sha256(f"{kind}|{fmt}|{self!r}".encode()).hexdigest()


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


def _mg(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _day(value: date) -> str:
    return f"{value.day} {value:%B}"


def summary(data: ProgressData) -> str:
    """A sentence a screen reader can read in place of the chart."""
    parts = []
    steps = [s for s in data.steps if data.start <= s[0] <= data.end]
    all_steps = list(data.steps)
    for when, dose in steps:
        index = all_steps.index((when, dose))
        if index == 0:
            parts.append(f"Dose {_mg(dose)} {data.unit} from {_day(when)}")
            continue
        before = all_steps[index - 1][1]
        text = f"Dose {_mg(before)} {data.unit} → {_mg(dose)} {data.unit} on {_day(when)}"
        pre = [s for d, s in data.scores if when - timedelta(days=7) <= d < when]
        post = [s for d, s in data.scores if when <= d < when + timedelta(days=7)]
        if pre and post:
            text += (
                f"; symptom score {round(sum(pre) / len(pre))} → "
                f"{round(sum(post) / len(post))} in the 7 days after"
            )
        parts.append(text)
    if data.scores:
        latest_day, latest = data.scores[-1]
        parts.append(f"latest symptom score {latest} of {data.score_max} on {_day(latest_day)}")
    if data.red_flag_days:
        parts.append(f"{len(data.red_flag_days)} day(s) with a red flag")
    if data.holds:
        parts.append(f"{len(data.holds)} hold(s)")
    if not parts:
        return f"No data between {_day(data.start)} and {_day(data.end)}."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


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
            before = mean_between(item, change - timedelta(days=7), change)
            after = mean_between(item, change, change + timedelta(days=7))
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
            (mean_between(item, first, last + timedelta(days=1)), label)
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
