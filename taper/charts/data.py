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
