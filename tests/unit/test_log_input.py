"""Reading the log and help forms, without an app (taper/domain/log_input.py)."""

from datetime import date
from decimal import Decimal

import pytest

from taper.domain.log_input import (
    PAST_DAYS_ALLOWED,
    DoseQuestion,
    allowed_days,
    chosen_day,
    day_offset,
    dose_question,
    form_values,
    is_submission_id,
    kept_answers,
    parse_day,
    parse_doses,
    parse_note,
    parse_sleep,
    parse_substances,
    problems,
    sleep_question,
    substances_question,
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
        ("7.", True),
        (".5", True),
        ("1_2", False),  # Decimal alone reads 12
        ("0e5", False),
        ("0E-1000", False),
        ("1e1", False),
        ("+6", False),
        ("Infinity", False),
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


# --- wording and the error summary -----------------------------------------------------------


def test_day_offset_counts_days_back_from_today():
    assert [day_offset(d, TODAY) for d in allowed_days(TODAY)] == [0, 1, 2]


def test_sleep_and_dose_questions_follow_the_day():
    assert sleep_question(0) == "How many hours did you sleep last night?"
    assert sleep_question(1) == "How many hours did you sleep the night before?"
    assert sleep_question(2, "Sunday 8 March") == (
        "How many hours did you sleep the night before Sunday 8 March?"
    )
    assert dose_question(Q, 1) == "Did you take your diazepam as scheduled yesterday: 7.5 mg?"
    assert substances_question(2, "Sunday 8 March").endswith("painkillers), on Sunday 8 March?")


def test_problems_link_each_error_to_its_question_in_form_order():
    errors = {
        "sleep_hours": "Enter roughly how many hours you slept.",
        "worry": "Choose an answer.",
        "irritable": "Choose an answer.",
        Q.took_field: "Choose Yes or No.",
        "form": "This form is out of date.",
        "red_flags": "Tick what is happening first.",
        "substances": "Choose Yes or No.",
    }
    found = problems(errors, [Q], 1)
    assert [(p.href, p.question) for p in found] == [
        ("", "This form"),
        ("#flag-seizure", "Something serious happening?"),
        ("#irritable-0", "Question 1: How irritable did you feel yesterday?"),
        (
            "#worry-0",
            "Question 17: How much did you worry that something bad would happen yesterday?",
        ),
        ("#took_7-yes", "Did you take your diazepam as scheduled yesterday: 7.5 mg?"),
        ("#substances-yes", substances_question(1)),
        ("#sleep_hours", "How many hours did you sleep the night before?"),
    ]
    assert found[-1].message == "Enter roughly how many hours you slept."


def test_problems_never_leave_an_error_out():
    errors = {"something_new": "A new check.", Q.taken_field: "Enter a dose.", "note": "Too long."}
    found = problems(errors, [Q], 0)
    assert [p.href for p in found] == ["#dose_taken_7", "#note", ""]
    assert found[-1].message == "A new check."
    assert problems({}, [Q], 0) == []
