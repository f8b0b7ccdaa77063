"""Reading the log and help forms, without an app (taper/domain/log_input.py)."""

from datetime import date
from decimal import Decimal

import pytest

from taper.domain.log_input import (
    PAST_DAYS_ALLOWED,
    DoseQuestion,
    allowed_days,
    chosen_day,
    form_values,
    is_submission_id,
    kept_answers,
    parse_day,
    parse_doses,
    parse_note,
    parse_sleep,
    parse_substances,
)

TODAY = date(2026, 3, 10)
Q = DoseQuestion(7, "diazepam", "mg", Decimal("7.5"), "active")


def test_allowed_days_are_today_and_the_days_before():
    assert allowed_days(TODAY) == [date(2026, 3, 10), date(2026, 3, 9), date(2026, 3, 8)]
    assert len(allowed_days(TODAY)) == PAST_DAYS_ALLOWED + 1


@pytest.mark.parametrize(
    ("text", "day"),
    [("2026-03-09", date(2026, 3, 9)), ("2026-03-01", TODAY), ("2026-03-11", TODAY), ("x", TODAY)],
)
def test_chosen_day_falls_back_to_today(text, day):
    assert chosen_day(text, TODAY) == day


def test_parse_day_refuses_future_and_old_days():
    for text, message in [("2026-03-11", "not happened"), ("2026-03-01", "For older days")]:
        errors: dict[str, str] = {}
        parse_day(text, TODAY, errors)
        assert message in errors["day"]
    errors = {}
    assert parse_day(" 2026-03-08 ", TODAY, errors) == date(2026, 3, 8)
    assert errors == {}


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("6.5", True),
        ("0", True),
        ("24", True),
        ("6.25", False),
        ("25", False),
        ("nan", False),
        ("", False),
        ("٦", False),
    ],
)
def test_parse_sleep_takes_hours_in_tenths(text, ok):
    errors: dict[str, str] = {}
    hours = parse_sleep(text, errors)
    assert (hours is not None) is ok
    assert ("sleep_hours" in errors) is not ok


def test_parse_note_trims_and_refuses_what_cannot_be_saved():
    errors: dict[str, str] = {}
    assert parse_note(" a\r\nb ", errors) == "a\nb"
    assert errors == {}
    parse_note("bad\x00", errors)
    assert "cannot be saved" in errors["note"]


def test_parse_substances_keeps_detail_only_after_yes():
    errors: dict[str, str] = {}
    assert parse_substances({"substances": "no", "substances_detail": "wine"}, errors) == (
        False,
        "",
    )
    assert parse_substances({"substances": "yes", "substances_detail": "wine"}, errors) == (
        True,
        "wine",
    )
    assert errors == {}
    assert parse_substances({}, errors) == (None, "")
    assert "substances" in errors


def test_parse_doses_answers_only_the_dose_the_form_showed():
    form = {"shown_7": "7.5", "took_7": "yes"}
    errors: dict[str, str] = {}
    assert parse_doses(form, [Q], TODAY, TODAY, errors) == [(Q, True, Decimal("7.5"))]
    assert errors == {}
    errors = {}
    assert parse_doses({"shown_7": "10", "took_7": "yes"}, [Q], TODAY, TODAY, errors) == []
    assert "scheduled for today is 7.5 mg" in errors["took_7"]
    errors = {}
    parse_doses({"shown_7": "7.5", "took_7": "yes", "took_8": "yes"}, [Q], TODAY, TODAY, errors)
    assert "not scheduled for today" in errors["doses"]


def test_a_dose_far_above_the_plan_is_asked_about_until_confirmed():
    form = {"shown_7": "7.5", "took_7": "no", "dose_taken_7": "75"}
    errors: dict[str, str] = {}
    assert parse_doses(form, [Q], TODAY, TODAY, errors) == [(Q, False, Decimal("75"))]
    assert errors["confirm_taken_7"] == (
        "You wrote 75 mg. Your plan for today is 7.5 mg. Is 75 mg right?"
    )
    errors = {}
    parse_doses({**form, "confirm_taken_7": "75"}, [Q], TODAY, TODAY, errors)
    assert errors == {}


def test_form_values_keep_a_dose_answer_only_for_the_same_dose():
    form = {"note": "hi", "submission_id": "x", "shown_7": "7.5", "took_7": "no"}
    assert form_values(form, [Q]) == {"note": "hi", "took_7": "no"}
    assert form_values({**form, "shown_7": "10"}, [Q]) == {"note": "hi"}


def test_kept_answers_carry_only_the_log_form_fields():
    form = {"note": "hi", "took_7": "yes", "csrf_token": "t", "send_flags": "1", "other": "x"}
    assert kept_answers(form) == {"note": "hi", "took_7": "yes"}


def test_submission_ids_are_uuid4_hex():
    assert is_submission_id("a" * 32)
    assert not is_submission_id("A" * 32)
    assert not is_submission_id(None)
