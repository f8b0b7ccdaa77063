"""A plan as the clinician typed it: rows of text in, steps out, each problem tied to its row
and field. Pure Python (no Flask, no database); nothing here computes a dose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from taper.domain import doses
from taper.domain.schedule import TIMES_OF_DAY, DoseError, StepInput, parse_dose, validate_steps

MAX_ROWS = 60
ROW_FIELDS = ("start", "total", *TIMES_OF_DAY, "note")
Errors = dict[tuple[int | str, str], str]


class RowsError(ValueError):
    """The typed plan has problems; ``errors`` maps (row, field) or ("plan", field) to a message."""

    def __init__(self, errors: Errors) -> None:
        super().__init__("Please fix the problems shown beside the fields.")
        self.errors = errors


def parse_date(text: str) -> date:
    """A typed ISO date; ValueError with a message for the clinician otherwise."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("Enter a real date, like 2026-03-14.") from None


def _confirmed(row: Mapping[str, str], total: Decimal) -> bool:
    """The row's "this dose is right" box was ticked for this very total (the box carries the
    total it was shown beside, so a total changed after ticking is asked about again)."""
    try:
        return parse_dose(row.get("confirm_dose"), required=False) == total
    except DoseError:
        return False


def dose_notices(
    medication: str | None, rows: Sequence[Mapping[str, str]], unit: str = doses.UNIT
) -> dict[int, doses.DoseCheck]:
    """Rows whose typed total is above the usual maximum for the medication (or refused as
    nonsense), by row index, for the editor to ask about beside the step."""
    notices = {}
    for index, row in enumerate(rows):
        try:
            total = parse_dose(row.get("total"), required=False)
        except DoseError:
            continue
        check = doses.check_daily_dose(medication, total, unit) if total is not None else None
        if check is not None:
            notices[index] = check
    return notices


def above_usual(medication: str, steps: Sequence[StepInput], unit: str = doses.UNIT) -> list[int]:
    """The step numbers (from 1) whose dose is above the usual maximum: confirmed, if saved."""
    return [
        number
        for number, step in enumerate(steps, start=1)
        if doses.check_daily_dose(medication, step.total, unit) is not None
    ]


def _filled(row: Mapping[str, str]) -> bool:
    return any((row.get(name) or "").strip() for name in ROW_FIELDS)


def typed_count(rows: Sequence[Mapping[str, str]]) -> int:
    """How many rows have anything typed in them (the empty ones are not steps)."""
    return sum(1 for row in rows if _filled(row))


def _parse_total(
    index: int, row: Mapping[str, str], medication: str | None, unit: str, errors: Errors
) -> Decimal | None:
    """The row's total; a total above the medication's usual maximum needs the row's tick."""
    try:
        total = parse_dose(row.get("total"), required=True)
    except DoseError as error:
        errors[(index, "total")] = str(error)
        return None
    check = doses.check_daily_dose(medication, total, unit)
    if check is not None and check.refused:
        errors[(index, "total")] = check.message
    elif check is not None and not _confirmed(row, total):
        errors[(index, "confirm_dose")] = check.message
    return total


def _parse_row(
    index: int, row: Mapping[str, str], medication: str | None, unit: str, errors: Errors
) -> StepInput | None:
    """One filled row as a step (None when its date or total is refused)."""
    start = None
    if not (row.get("start") or "").strip():
        errors[(index, "start")] = "Enter the date this step starts."
    else:
        try:
            start = parse_date(row["start"])
        except ValueError as error:
            errors[(index, "start")] = str(error)
    total = _parse_total(index, row, medication, unit, errors)
    parts: list[tuple[str, Decimal]] = []
    for name in TIMES_OF_DAY:
        try:
            part = parse_dose(row.get(name), required=False)
        except DoseError as error:
            errors[(index, name)] = str(error)
        else:
            if part is not None:
                parts.append((name, part))
    if start is None or total is None:
        return None
    note = (row.get("note") or "").strip()
    return StepInput(start=start, total=total, split=tuple(parts), note=note)


def parse_rows(
    rows: Sequence[Mapping[str, str]],
    today: date | None = None,
    medication: str | None = None,
    unit: str = doses.UNIT,
) -> list[tuple[int, StepInput]]:
    """Turn typed rows into steps; blank rows are skipped. Raises RowsError. With ``today``
    (the patient's), a step date too far ahead is refused. With ``medication``, a total above
    its usual maximum needs the row's confirmation, and nonsense is refused."""
    errors: Errors = {}
    steps: list[tuple[int, StepInput]] = []
    filled = sum(1 for row in rows if _filled(row))
    if filled > MAX_ROWS:  # refused, never cut: every typed row is parsed and kept
        errors[("plan", "steps")] = (
            f"A plan can have at most {MAX_ROWS} steps; this one has {filled}. Nothing was "
            f"saved: remove {filled - MAX_ROWS} {'step' if filled - MAX_ROWS == 1 else 'steps'}, "
            "then save again."
        )
    for index, row in enumerate(rows):
        if not _filled(row):
            continue
        step = _parse_row(index, row, medication, unit, errors)
        if step is not None:
            steps.append((index, step))
        elif not errors:
            errors[(index, "start")] = "Fill in this step or clear it."
    if not steps and not errors:
        errors[("plan", "steps")] = "Add at least one step."
    for problem in validate_steps([step for _, step in steps], today) if steps else ():
        if problem.index < 0:
            errors[("plan", problem.field)] = problem.message
        else:
            errors.setdefault((steps[problem.index][0], problem.field), problem.message)
    if errors:
        raise RowsError(errors)
    return steps


MAX_STEP_DAYS = 365


def fill_start_dates(rows: Sequence[Mapping[str, str]], step_days: str) -> list[dict[str, str]]:
    """Date help: each step after the first typed one starts ``step_days`` days after the one
    before it: the later rows with anything typed, or, when none has yet, every later row.
    Only start dates change: every dose, split and note stays exactly as typed (or blank).
    The first typed row must have its start date. Raises RowsError (("plan", "step_days"),
    ("plan", "steps") or (row, "start"))."""
    text = (step_days or "").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_STEP_DAYS:
        raise RowsError(
            {("plan", "step_days"): f"Enter how many days each step lasts, 1 to {MAX_STEP_DAYS}."}
        )
    days = int(text)
    filled = [index for index, row in enumerate(rows) if _filled(row)]
    if not filled:
        raise RowsError({("plan", "steps"): "Type the first step's start date first."})
    first = filled[0]
    try:
        start = parse_date(rows[first].get("start") or "")
    except ValueError:
        raise RowsError(
            {(first, "start"): "Type this step's start date: the later ones follow from it."}
        ) from None
    # Doses typed first: only those rows get a date (empty rows stay empty). Nothing typed
    # below the first step yet: every row below it gets a date, to type its dose beside.
    typed = filled[1:] or range(first + 1, len(rows))
    later = {index: number for number, index in enumerate(typed, start=1)}
    out = []
    for index, row in enumerate(rows):
        row = dict(row)
        if index in later:
            try:
                row["start"] = date.fromordinal(start.toordinal() + later[index] * days).isoformat()
            except (ValueError, OverflowError):
                raise RowsError({(index, "start"): "That date is too far ahead."}) from None
        out.append(row)
    return out
