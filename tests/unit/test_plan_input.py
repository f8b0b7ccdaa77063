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


# Date help: fill_start_dates moves dates only


def _row(start="", total="", note="", **parts):
    return {"start": start, "total": total, "note": note, **parts}


def test_fill_start_dates_dates_the_typed_steps_from_the_first():
    rows = [
        _row("2027-01-04", "20", "Start", morning="10", bedtime="10"),
        _row("", "15"),
        _row(),
        _row("2031-05-05", "", "A note, no dose yet"),
    ]
    out = plan_input.fill_start_dates(rows, "14")
    assert [row["start"] for row in out] == ["2027-01-04", "2027-01-18", "", "2027-02-01"]
    for before, after in zip(rows, out, strict=True):  # every other field exactly as typed
        assert {k: v for k, v in after.items() if k != "start"} == {
            k: v for k, v in before.items() if k != "start"
        }
    assert rows[1]["start"] == ""  # the rows given are not changed


def test_fill_start_dates_with_nothing_typed_below_dates_every_row_below():
    rows = [_row(""), _row("2027-03-01", "")] + [_row() for _ in range(3)]
    out = plan_input.fill_start_dates(rows, " 7 ")
    assert [row["start"] for row in out] == [
        "",
        "2027-03-01",
        "2027-03-08",
        "2027-03-15",
        "2027-03-22",
    ]
    assert all(row["total"] == "" for row in out)


@pytest.mark.parametrize("days", ["", "0", "366", "-7", "7.5", "seven", "٧", "1e3"])
def test_fill_start_dates_refuses_a_length_it_cannot_use(days):
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.fill_start_dates([_row("2027-01-04", "10"), _row("", "5")], days)
    assert refused.value.errors == {
        ("plan", "step_days"): "Enter how many days each step lasts, 1 to 365."
    }


@pytest.mark.parametrize("start", ["", "04/01/2027", "2027-02-30"])
def test_fill_start_dates_needs_the_first_typed_steps_date(start):
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.fill_start_dates([_row(), _row(start, "10"), _row("", "5")], "7")
    assert list(refused.value.errors) == [(1, "start")]


def test_fill_start_dates_of_nothing_typed_or_too_far_is_refused():
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.fill_start_dates([_row(), _row()], "7")
    assert list(refused.value.errors) == [("plan", "steps")]
    with pytest.raises(plan_input.RowsError) as refused:
        plan_input.fill_start_dates([_row("9999-12-01", "10"), _row("", "5")], "60")
    assert list(refused.value.errors) == [(1, "start")]
