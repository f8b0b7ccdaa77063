"""The typed plan's parser in taper/domain/plan_input.py, without an app or a database."""

from datetime import date
from decimal import Decimal

import pytest

from taper.domain import plan_input


def row(start="", total="", **more) -> dict[str, str]:
    return {"start": start, "total": total, **more}


def test_blank_rows_are_skipped_and_doses_kept_exactly_as_typed():
    steps = plan_input.parse_rows([row("2026-03-02", "7.50"), row(), row("2026-03-16", "5")])
    assert [(index, step.start, step.total) for index, step in steps] == [
        (0, date(2026, 3, 2), Decimal("7.50")),
        (2, date(2026, 3, 16), Decimal("5")),
    ]


def test_each_problem_is_tied_to_its_row_and_field():
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.parse_rows([row("2026-02-30", "7.5"), row("2026-03-16", "abc")])
    assert refused.value.errors[(0, "start")] == "Enter a real date, like 2026-03-14."
    assert (1, "total") in refused.value.errors


def test_no_steps_and_too_many_steps_are_refused_for_the_whole_plan():
    with pytest.raises(plan_input.RowsError) as empty:
        plan_input.parse_rows([row(), row()])
    assert empty.value.errors == {("plan", "steps"): "Add at least one step."}
    many = [row(f"2026-01-{day:02d}", "1") for day in range(1, 32)] * 2
    with pytest.raises(plan_input.RowsError) as long:
        plan_input.parse_rows(many[: plan_input.MAX_ROWS + 1])
    assert "at most 60 steps" in long.value.errors[("plan", "steps")]


def test_a_dose_above_the_usual_maximum_needs_its_own_tick():
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.parse_rows([row("2026-03-02", "500")], medication="diazepam")
    assert (0, "confirm_dose") in refused.value.errors
    ticked = [row("2026-03-02", "500", confirm_dose="500")]
    assert plan_input.parse_rows(ticked, medication="diazepam")[0][1].total == Decimal("500")
    assert plan_input.above_usual("diazepam", [s for _, s in plan_input.parse_rows(ticked)]) == [1]
    assert list(plan_input.dose_notices("diazepam", ticked)) == [0]
