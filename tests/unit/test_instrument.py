"""The CIWA-B scale as data: items, scoring and bands."""

import pytest

from taper.domain.instrument import CIWA_B, AnswerError, band_for, parse_answers, total
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
