"""Schedule rules, without an app: parsing typed doses, checking steps, dose on a date
(the timeline's holds and pauses: tests/unit/test_timeline.py)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from taper.domain.schedule import (
    DoseError,
    StepInput,
    local_today,
    parse_dose,
    step_facts,
    validate_steps,
)
from taper.domain.timeline import Hold, NextChange, dose_on, last_reduction, next_change

D = Decimal
STEPS = [
    StepInput(date(2026, 3, 1), D("10")),
    StepInput(date(2026, 3, 15), D("7.5")),
    StepInput(date(2026, 3, 29), D("5")),
    StepInput(date(2026, 4, 12), D("0")),
]


@pytest.mark.parametrize("text", ["7.5", " 10 ", "0", "0.125", "7.50", ".5", "9999999.999"])
def test_parse_dose_keeps_what_was_typed(text):
    assert parse_dose(text) == D(text.strip())
    assert str(parse_dose(text)) == str(D(text.strip()))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ten",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "1e309",
        "1e2",
        "-1",
        "0.0001",
        "1,5",
        "10000000",
        "7.5mg",
        "٣",
        "0x10",
        "+5",
        " ",
    ],
)
def test_parse_dose_refuses_what_cannot_be_a_typed_dose(text):
    with pytest.raises(DoseError):
        parse_dose(text)


def test_parse_dose_optional_blank_is_none():
    assert parse_dose("  ", required=False) is None
    assert parse_dose(None, required=False) is None


def test_valid_plans_have_no_errors():
    split = StepInput(date(2026, 5, 1), D("10"), (("morning", D("2.5")), ("bedtime", D("7.5"))))
    assert validate_steps(STEPS) == []
    assert validate_steps([StepInput(date(2026, 2, 1), D("12"), ()), split]) == []


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ([], [(-1, "steps")]),
        ([STEPS[0], StepInput(date(2026, 3, 1), D("5"))], [(1, "start")]),
        ([STEPS[1], STEPS[0]], [(1, "start")]),
        ([StepInput(date(2026, 3, 1), D("0")), STEPS[1]], [(0, "total")]),
        ([StepInput(date(2026, 3, 1), D("-1"))], [(0, "total")]),
        ([StepInput(date(2026, 3, 1), D("10"), (("morning", D("5")),))], [(0, "split")]),
        ([StepInput(date(2026, 3, 1), D("10"), (("noon", D("10")),))], [(0, "split")]),
        (
            [StepInput(date(2026, 3, 1), D("10"), (("morning", D("5")), ("morning", D("5"))))],
            [(0, "split")],
        ),
        ([StepInput(date(2026, 3, 1), D("1"), note="x" * 2001)], [(0, "note")]),
        ([STEPS[1], STEPS[0], StepInput(date(2026, 2, 1), D("0"))], [(1, "start"), (2, "start")]),
    ],
)
def test_validate_steps_names_row_and_field(steps, expected):
    assert [(e.index, e.field) for e in validate_steps(steps)] == expected


def test_split_error_names_both_numbers():
    (error,) = validate_steps(
        [StepInput(date(2026, 3, 1), D("10"), (("morning", D("5")), ("bedtime", D("2.5"))))]
    )
    assert error.message == "The parts add up to 7.5 mg, but the total is 10 mg."


def test_split_equal_in_value_but_not_in_digits_is_fine():
    assert (
        validate_steps(
            [StepInput(date(2026, 3, 1), D("10.0"), (("morning", D("5.00")), ("evening", D("5"))))]
        )
        == []
    )


@pytest.mark.parametrize(
    ("day", "status", "dose"),
    [
        (date(2026, 2, 28), "not_started", None),
        (date(2026, 3, 1), "active", "10"),
        (date(2026, 3, 14), "active", "10"),
        (date(2026, 3, 15), "active", "7.5"),
        (date(2026, 4, 12), "stopped", "0"),
        (date(2026, 4, 13), "stopped", "0"),
        (date(2027, 1, 1), "stopped", "0"),
    ],
)
def test_dose_on_looks_up_the_step_in_force(day, status, dose):
    found = dose_on(STEPS, day)
    assert found.status == status
    assert (found.step.total if found.step else None) == (D(dose) if dose else None)


def test_dose_on_returns_the_clinicians_own_step_object():
    """No dose is ever computed: the result is one of the input steps (timeline.dose_on)."""
    for offset in range(0, 60):
        day = date.fromordinal(date(2026, 2, 25).toordinal() + offset)
        found = dose_on(STEPS, day)
        assert found.step is None or any(found.step is step for step in STEPS)


@pytest.mark.parametrize(
    "hold",
    [None, Hold(date(2026, 3, 10), date(2026, 3, 20)), Hold(date(2026, 3, 20), None)],
)
def test_next_change_always_agrees_with_dose_on(hold):
    """Whatever the day, the dose shown from the next change's day is that day's dose."""
    for offset in range(80):
        day = date.fromordinal(date(2026, 2, 20).toordinal() + offset)
        found = next_change(STEPS, day, hold)
        if found is None:
            continue
        assert dose_on(STEPS, found.day, hold).step is found.step
        for between in range(day.toordinal() + 1, found.day.toordinal()):
            same = dose_on(STEPS, date.fromordinal(between), hold).step
            assert same is dose_on(STEPS, day, hold).step


def test_next_change_is_the_next_typed_step():
    assert next_change(STEPS, date(2026, 2, 1)) == NextChange(STEPS[0].start, STEPS[0])
    assert next_change(STEPS, date(2026, 3, 14)) == NextChange(STEPS[1].start, STEPS[1])
    assert next_change(STEPS, date(2026, 4, 12)) is None


def test_step_facts_are_information_about_typed_steps():
    facts = step_facts(STEPS)
    assert facts[0].change_mg is None
    assert (facts[1].change_mg, facts[1].change_pct, facts[1].length_days) == (
        D("-2.5"),
        D("-25.0"),
        14,
    )
    assert facts[3].length_days is None
    rising = step_facts([StepInput(date(2026, 1, 1), D("0")), StepInput(date(2026, 1, 2), D("1"))])
    assert rising[1].change_pct is None


def test_last_reduction_is_the_latest_lower_step_on_or_before_the_day():
    assert last_reduction(STEPS, None, date(2026, 3, 10)) is None
    assert last_reduction(STEPS, None, date(2026, 3, 20)) == date(2026, 3, 15)
    assert last_reduction(STEPS, None, date(2026, 4, 1)) == date(2026, 3, 29)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        (datetime(2026, 3, 8, 6, 59, tzinfo=UTC), "America/New_York", date(2026, 3, 8)),
        (datetime(2026, 3, 8, 4, 59, tzinfo=UTC), "America/New_York", date(2026, 3, 7)),
        (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 11, 1)),
        (datetime(2026, 11, 2, 4, 30, tzinfo=UTC), "America/New_York", date(2026, 11, 1)),
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/London", date(2026, 3, 29)),
        (datetime(2026, 3, 7, 11, 30, tzinfo=UTC), "Pacific/Auckland", date(2026, 3, 8)),
        (datetime(2026, 3, 8, 7, 59, tzinfo=UTC), "America/Los_Angeles", date(2026, 3, 7)),
    ],
)
def test_local_today_follows_the_patients_clock(now, zone, expected):
    assert local_today(now, zone) == expected


def test_local_today_refuses_naive_times_and_unknown_zones():
    with pytest.raises(ValueError, match="aware"):
        local_today(datetime(2026, 1, 1), "UTC")  # noqa: DTZ001
    with pytest.raises(ValueError, match="unknown"):
        local_today(datetime(2026, 1, 1, tzinfo=UTC), "Mars/Olympus")
