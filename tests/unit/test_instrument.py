"""The CIWA-B scale as data: items, scoring and bands."""

import pytest

from taper.domain.instrument import (
    CIWA_B,
    AnswerError,
    band_for,
    day_words,
    night_words,
    parse_answers,
    patient_band,
    total,
)
from taper.domain.red_flags import RED_FLAGS, parse_red_flags


def test_scale_shape():
    assert len(CIWA_B.items) == 20
    assert len(CIWA_B.patient_items) == 17
    assert [i.key for i in CIWA_B.observer_items] == ["restless", "tremor", "sweating"]
    assert (CIWA_B.patient_max, CIWA_B.total_max) == (68, 80)
    assert CIWA_B.anchors[0] == "Not at all"
    assert CIWA_B.anchors[4] == "Very much so"
    assert [i.number for i in CIWA_B.items] == list(range(1, 21))


@pytest.mark.parametrize("item", CIWA_B.items, ids=lambda i: i.key)
def test_every_item_scores_its_own_points(item):
    raw = {i.key: "0" for i in CIWA_B.items}
    raw[item.key] = "4"
    answers = parse_answers(CIWA_B, raw, rater_set="all")
    assert total(answers) == 4
    assert answers[item.key] == 4


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "none"),
        (1, "mild"),
        (20, "mild"),
        (21, "moderate"),
        (40, "moderate"),
        (41, "severe"),
        (60, "severe"),
        (61, "very severe"),
        (80, "very severe"),
    ],
)
def test_band_boundaries(value, label):
    assert band_for(CIWA_B, value).label == label


@pytest.mark.parametrize("value", [-1, 81])
def test_totals_outside_the_scale_are_refused(value):
    with pytest.raises(ValueError, match="outside"):
        band_for(CIWA_B, value)


@pytest.mark.parametrize(
    "bad", ["-1", "5", "NaN", "inf", "1e309", "ten", "2.5", "", None, True, " ", "٣", "04x"]
)
def test_bad_answers_are_refused_per_item_and_others_kept(bad):
    raw = {i.key: "2" for i in CIWA_B.patient_items}
    raw["tense"] = bad
    raw["worry"] = "9"
    with pytest.raises(AnswerError) as caught:
        parse_answers(CIWA_B, raw)
    assert set(caught.value.errors) == {"tense", "worry"}
    assert (
        "Choose an answer from 0 (Not at all) to 4 (Very much so)." in caught.value.errors["tense"]
    )


def test_patient_set_needs_exactly_the_17_items_and_ignores_others():
    raw = {i.key: "1" for i in CIWA_B.patient_items}
    raw["role"] = "admin"
    answers = parse_answers(CIWA_B, raw)
    assert len(answers) == 17
    assert total(answers) == 17
    del raw["weak"]
    with pytest.raises(AnswerError):
        parse_answers(CIWA_B, raw)


def test_red_flags_parse_known_keys_once_in_list_order():
    # clinical-reference.md: the seven of ASAM Table 3 and the FDA warning, then overdose,
    # fainting and trouble breathing.
    assert [flag.key for flag in RED_FLAGS] == [
        "seizure",
        "confusion",
        "hallucinations",
        "suicidal",
        "chest_pain",
        "agitation",
        "drowsy",
        "overdose",
        "fainting",
        "breathing",
    ]
    assert parse_red_flags(["drowsy", "seizure", "x", "seizure", ""]) == ("seizure", "drowsy")
    assert parse_red_flags([]) == ()


# --- questions worded for the day logged ---------------------------------------------------

ITEMS = {item.key: item for item in CIWA_B.items}


def test_every_patient_item_has_a_frame_and_the_observed_ones_none():
    frames = {item.key: item.frame for item in CIWA_B.patient_items}
    assert {k for k, f in frames.items() if f == "night"} == {
        "sleep_not_restful",
        "sleep_too_little",
    }
    assert all(f == "day" for k, f in frames.items() if not k.startswith("sleep"))
    assert {item.frame for item in CIWA_B.observer_items} == {"visit"}
    for item in CIWA_B.patient_items:
        if item.frame == "day":
            assert item.past, item.key  # a past-tense wording for a day gone by


@pytest.mark.parametrize(
    ("key", "offset", "wording"),
    [
        ("irritable", 0, "How irritable have you felt since yesterday?"),
        ("irritable", 1, "How irritable did you feel yesterday?"),
        ("irritable", 2, "How irritable did you feel on Sunday 8 March?"),
        (
            "vision",
            0,
            "How much trouble have you had with your eyes (light hurts, blurred vision) "
            "since yesterday?",
        ),
        ("concentration", 1, "How hard was it to concentrate yesterday?"),
        ("sleep_not_restful", 0, "How unrestful was your sleep last night?"),
        ("sleep_not_restful", 1, "How unrestful was your sleep the night before?"),
        (
            "sleep_too_little",
            2,
            "How much less than you needed did you sleep the night before Sunday 8 March?",
        ),
        ("tremor", 1, "Tremor, arms out and fingers spread (observed)"),
    ],
)
def test_questions_say_their_time_frame(key, offset, wording):
    assert ITEMS[key].worded(offset, "Sunday 8 March") == wording


def test_a_past_day_without_a_name_is_still_worded_plainly():
    assert ITEMS["tense"].worded(2) == "How tense did you feel on the day before yesterday?"
    assert (
        ITEMS["sleep_not_restful"].worded(2).endswith("the night before the day before yesterday?")
    )


def test_question_stays_timeless_for_the_visit_form():
    # templates/clinician/assessment.html shows item.question at a visit.
    assert ITEMS["irritable"].question == "How irritable have you felt?"
    assert all(item.question.endswith("?") for item in CIWA_B.patient_items)
    assert ITEMS["restless"].question == "Restlessness and agitation (observed)"


def test_day_and_night_words():
    assert [day_words(n, "Sunday 8 March") for n in (0, 1, 2)] == [
        "today",
        "yesterday",
        "on Sunday 8 March",
    ]
    assert [night_words(n, "Sunday 8 March") for n in (0, 1, 2)] == [
        "last night",
        "the night before",
        "the night before Sunday 8 March",
    ]


@pytest.mark.parametrize(
    ("value", "label"),
    [(0, "none"), (1, "mild"), (20, "mild"), (21, "moderate"), (68, "very severe")],
)
def test_patient_subtotal_bands(value, label):
    assert patient_band(CIWA_B, value).label == label


@pytest.mark.parametrize("value", [-1, 69])
def test_patient_subtotals_outside_the_range_are_refused(value):
    with pytest.raises(ValueError, match="outside 0-68"):
        patient_band(CIWA_B, value)
