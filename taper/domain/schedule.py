"""Schedule rules: parse and check what a clinician typed, and facts about the typed steps.

Pure Python. Nothing here computes a dose. Which step is in force on a day (holds, pauses,
plan ends) is decided in ``taper.domain.timeline``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from taper.domain.doses import amount

TIMES_OF_DAY: tuple[str, ...] = ("morning", "midday", "evening", "bedtime")
DOSE_PLACES = 3
DOSE_MAX = Decimal("9999999.999")
NOTE_MAX = 2000
_DOSE_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$")


class DoseError(ValueError):
    """A typed dose that cannot be stored; the message is for the clinician."""


def parse_dose(text: str | None, *, required: bool = True) -> Decimal | None:
    """Parse a typed dose exactly ('7.50' stays Decimal('7.50')), or raise DoseError."""
    cleaned = (text or "").strip()
    if not cleaned:
        if required:
            raise DoseError("Enter the dose in mg, like 7.5.")
        return None
    if cleaned.startswith("-"):
        raise DoseError("A dose cannot be negative.")
    if not _DOSE_PATTERN.match(cleaned):
        raise DoseError("Enter a number, like 7.5 (digits and one decimal point only).")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise DoseError("Enter a number, like 7.5.") from None
    if -value.as_tuple().exponent > DOSE_PLACES:  # type: ignore[operator]
        raise DoseError(f"Use at most {DOSE_PLACES} decimal places.")
    if value > DOSE_MAX:
        raise DoseError("That dose is too large.")
    return value


@dataclass(frozen=True)
class StepInput:
    """One step as the clinician typed it."""

    start: date
    total: Decimal
    split: tuple[tuple[str, Decimal], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class FieldError:
    """A problem with one field of one step (index -1: the whole plan)."""

    index: int
    field: str
    message: str


FAR_AHEAD_DAYS = 730  # a step date further ahead than this (from today) is refused as a typo
EARLIEST = date(2000, 1, 1)  # a step date before this is refused as a typo


def validate_steps(steps: Sequence[StepInput], today: date | None = None) -> list[FieldError]:
    """Every problem with the typed steps, each tied to its row and field. With ``today``, a
    step more than FAR_AHEAD_DAYS ahead is refused (most likely a mistyped year)."""
    if not steps:
        return [FieldError(-1, "steps", "Add at least one step.")]
    errors: list[FieldError] = []
    last = len(steps) - 1
    for index, step in enumerate(steps):
        if index > 0:
            previous = steps[index - 1].start
            if step.start == previous or step.start in {s.start for s in steps[:index]}:
                errors.append(
                    FieldError(index, "start", "Another step already starts on this date.")
                )
            elif step.start < previous:
                errors.append(
                    FieldError(index, "start", "Dates must be in order, each after the one above.")
                )
        if step.start < EARLIEST:
            errors.append(FieldError(index, "start", "This date is before 2000. Check the year."))
        elif today is not None and (step.start - today).days > FAR_AHEAD_DAYS:
            errors.append(
                FieldError(
                    index,
                    "start",
                    f"This date is more than {FAR_AHEAD_DAYS // 365} years ahead. Check the year.",
                )
            )
        if step.total < 0:
            errors.append(FieldError(index, "total", "A dose cannot be negative."))
        elif step.total == 0 and index != last:
            errors.append(FieldError(index, "total", "Only the last step can be 0 (stopped)."))
        if step.split:
            names = [name for name, _ in step.split]
            if any(name not in TIMES_OF_DAY for name in names) or len(set(names)) != len(names):
                errors.append(FieldError(index, "split", "Use each time of day at most once."))
            elif any(part < 0 for _, part in step.split):
                errors.append(FieldError(index, "split", "A dose cannot be negative."))
            else:
                parts = sum((part for _, part in step.split), Decimal(0))
                if parts != step.total:
                    message = (
                        f"The parts add up to {amount(parts)}, "
                        f"but the total is {amount(step.total)}."
                    )
                    errors.append(FieldError(index, "split", message))
        if len(step.note) > NOTE_MAX:
            errors.append(FieldError(index, "note", f"Keep the note under {NOTE_MAX} characters."))
    return errors


@dataclass(frozen=True)
class StepFacts:
    """Facts about a typed step, for the clinician's information only; never a dose."""

    change_mg: Decimal | None
    change_pct: Decimal | None
    length_days: int | None


def step_facts(steps: Sequence[StepInput]) -> list[StepFacts]:
    """Change from the previous step (mg and %) and each step's length in days."""
    facts = []
    for index, step in enumerate(steps):
        previous = steps[index - 1] if index else None
        change = step.total - previous.total if previous else None
        pct = (
            (change / previous.total * 100).quantize(Decimal("0.1"))
            if previous and previous.total
            else None
        )
        following = steps[index + 1] if index + 1 < len(steps) else None
        length = (following.start - step.start).days if following else None
        facts.append(StepFacts(change, pct, length))
    return facts


# Names in the zone database that are not places: "localtime" is whatever zone each server is
# set to (two servers could disagree), "Factory" means "not set", "posixrules" is a template.
NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def zone_names() -> frozenset[str]:
    """The IANA time zones a person can live in."""
    return frozenset(available_timezones()) - NOT_PLACES


def local_today(now_utc: datetime, tz_name: str) -> date:
    """The calendar date in the patient's time zone."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
        raise ValueError(f"unknown time zone {tz_name!r}") from None
    return now_utc.astimezone(zone).date()
