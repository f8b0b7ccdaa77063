"""Schedule rules: parse and check what a clinician typed, and look up the dose on a date.

Pure Python. Nothing here computes a dose: ``dose_on`` returns one of the clinician's own steps.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def _mg(value: Decimal) -> str:
    return f"{value.normalize():f} mg"


def validate_steps(steps: Sequence[StepInput]) -> list[FieldError]:
    """Every problem with the typed steps, each tied to its row and field."""
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
                        f"The parts add up to {_mg(parts)}, but the total is {_mg(step.total)}."
                    )
                    errors.append(FieldError(index, "split", message))
        if len(step.note) > NOTE_MAX:
            errors.append(FieldError(index, "note", f"Keep the note under {NOTE_MAX} characters."))
    return errors


@dataclass(frozen=True)
class Hold:
    """Keep the dose in force on ``start`` until ``until`` (inclusive), or until reviewed."""

    start: date
    until: date | None


@dataclass(frozen=True)
class DoseOnDate:
    """What the schedule says for one day: status and the clinician's step in force."""

    status: str  # "not_started" | "active" | "held" | "ended"
    step: StepInput | None
    step_index: int | None


def _index_on(steps: Sequence[StepInput], day: date) -> int | None:
    found = None
    for index, step in enumerate(steps):
        if step.start <= day:
            found = index
        else:
            break
    return found


def _held(hold: Hold | None, day: date) -> bool:
    return hold is not None and hold.start <= day and (hold.until is None or day <= hold.until)


def dose_on(steps: Sequence[StepInput], day: date, hold: Hold | None = None) -> DoseOnDate:
    """Look up the step in force on ``day``; never extrapolates past the last step's date."""
    if _held(hold, day):
        index = _index_on(steps, hold.start)  # type: ignore[union-attr]
        if index is not None:
            return DoseOnDate("held", steps[index], index)
    index = _index_on(steps, day)
    if index is None:
        return DoseOnDate("not_started", None, None)
    last = len(steps) - 1
    if index == last and day > steps[last].start:
        return DoseOnDate("ended", steps[last], last)
    return DoseOnDate("active", steps[index], index)


@dataclass(frozen=True)
class NextChange:
    """The next day the dose in force changes, and the clinician's step in force from then."""

    day: date
    step: StepInput


def next_change(
    steps: Sequence[StepInput], day: date, hold: Hold | None = None
) -> NextChange | None:
    """The first day after ``day`` whose dose in force (``dose_on``, hold included) is another
    of the clinician's steps: a step's start date, or the day after a dated hold ends (when
    the step due by date then takes over). None while an open hold lasts or after the last
    step."""
    current = dose_on(steps, day, hold).step
    candidates = {step.start for step in steps if step.start > day}
    if hold is not None and hold.until is not None and hold.until >= day:
        candidates.add(hold.until + timedelta(days=1))
    for candidate in sorted(candidates):
        found = dose_on(steps, candidate, hold)
        if found.step is not None and found.step is not current:
            return NextChange(candidate, found.step)
    return None


@dataclass(frozen=True)
class HoldEnd:
    """Where a dated hold leaves the patient: the step due by date the day after it, and the
    clinician's steps it passed over entirely (never taken: the change is bigger than any one
    step). For the clinician's information; nothing is moved."""

    step: StepInput
    skipped: list[StepInput]


def hold_end(steps: Sequence[StepInput], hold: Hold | None) -> HoldEnd | None:
    """The step after a dated hold and the steps it skips; None for no hold or an open one."""
    if hold is None or hold.until is None:
        return None
    held = dose_on(steps, hold.start).step
    after = dose_on(steps, hold.until + timedelta(days=1)).step
    if held is None or after is None:
        return None
    first = next(i for i, s in enumerate(steps) if s is held)
    last = next(i for i, s in enumerate(steps) if s is after)
    return HoldEnd(after, list(steps[first + 1 : last]))


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


def local_today(now_utc: datetime, tz_name: str) -> date:
    """The calendar date in the patient's time zone."""
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware")
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz_name!r}") from None
    return now_utc.astimezone(zone).date()


def split_dict(step: StepInput) -> dict[str, Decimal]:
    """The step's split as a dict in day order."""
    parts = dict(step.split)
    return {name: parts[name] for name in TIMES_OF_DAY if name in parts}


def last_reduction(steps: Sequence[StepInput], day: date) -> date | None:
    """Start date of the latest typed step on or before ``day`` whose dose is below the step
    before it (for the alert rules' "after a reduction" windows)."""
    found = None
    for previous, step in zip(steps, steps[1:], strict=False):
        if step.start > day:
            break
        if step.total < previous.total:
            found = step.start
    return found
