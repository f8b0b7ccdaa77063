"""The rules with one home in taper/domain: red-flag labels, the scale's maximum and bands,
the short item labels, the hold in force, the step after a hold and how a dose is shown."""

from datetime import date
from decimal import Decimal

import pytest

from taper.charts import render
from taper.domain.doses import amount, plain
from taper.domain.instrument import CIWA_B, SHORT_LABELS, band_for
from taper.domain.red_flags import LABELS, RED_FLAGS, flags_of, labels, parse_red_flags
from taper.domain.schedule import StepInput
from taper.domain.timeline import (
    HOLD,
    PAUSE,
    Hold,
    PlanSchedule,
    after_hold_on,
    dose_on,
    dose_since,
    hold_in_force,
)

D = Decimal
WEEKLY = [
    StepInput(date(2027, 1, 1), D("4")),
    StepInput(date(2027, 1, 8), D("3")),
    StepInput(date(2027, 1, 15), D("2")),
]


def _covered(bands) -> list[int]:
    return [value for band in bands for value in range(band.low, band.high + 1)]


def test_full_scale_bands_cover_every_total_once_without_gaps():
    assert _covered(CIWA_B.bands) == list(range(CIWA_B.total_max + 1))


def test_patient_bands_cover_the_subtotal_once_and_end_at_its_maximum():
    assert CIWA_B.patient_max == 68
    assert _covered(CIWA_B.patient_bands) == list(range(CIWA_B.patient_max + 1))
    assert [(b.low, b.high, b.label) for b in CIWA_B.patient_bands] == [
        (0, 0, "none"),
        (1, 20, "mild"),
        (21, 40, "moderate"),
        (41, 60, "severe"),
        (61, 68, "very severe"),
    ]


@pytest.mark.parametrize("value", range(CIWA_B.patient_max + 1))
def test_a_subtotal_has_the_same_band_label_as_the_full_scale_gives_it(value):
    (band,) = [b for b in CIWA_B.patient_bands if b.covers(value)]
    assert band.label == band_for(CIWA_B, value).label


def test_chart_shades_the_patient_bands_above_none_up_to_the_maximum():
    assert render.SCORE_MAX == CIWA_B.patient_max
    assert [(b.low, b.high) for b in render.BANDS] == [(1, 20), (21, 40), (41, 60), (61, 68)]


def test_every_item_has_a_short_label():
    assert [item.short for item in CIWA_B.items] == [SHORT_LABELS[i.key] for i in CIWA_B.items]
    assert set(SHORT_LABELS) == {item.key for item in CIWA_B.items}
    assert all(item.short for item in CIWA_B.items)
    assert CIWA_B.patient_items[1].short == "Tired"


def test_labels_has_every_red_flag_and_cannot_be_changed():
    assert list(LABELS) == [flag.key for flag in RED_FLAGS]
    assert all(LABELS[flag.key] == flag.label for flag in RED_FLAGS)
    with pytest.raises(TypeError):
        LABELS["seizure"] = "changed"  # type: ignore[index]
    assert labels(["confusion", "unknown"]) == "Confusion, unknown"


def test_flags_of_keeps_known_flags_once_in_list_order():
    found = flags_of(["overdose", "nope", "seizure", "overdose"])
    assert [flag.key for flag in found] == ["seizure", "overdose"]
    assert parse_red_flags(["overdose", "nope", "seizure"]) == ("seizure", "overdose")
    assert flags_of([]) == []


@pytest.mark.parametrize(
    ("hold", "kind", "expected"),
    [
        (None, None, False),
        (Hold(date(2027, 1, 3)), None, True),  # open: in force
        (Hold(date(2027, 1, 3), date(2027, 1, 10)), None, True),  # ends today
        (Hold(date(2027, 1, 3), date(2027, 1, 9)), None, False),  # ended yesterday
        (Hold(date(2027, 1, 3), None, PAUSE), None, True),
        (Hold(date(2027, 1, 3), None, PAUSE), HOLD, False),  # a pause is not a hold
        (Hold(date(2027, 1, 3), date(2027, 1, 20), HOLD), HOLD, True),
    ],
)
def test_hold_in_force_is_open_or_ends_today_or_later(hold, kind, expected):
    assert hold_in_force(hold, date(2027, 1, 10), kind) == (hold if expected else None)


def test_the_step_after_a_hold_only_while_the_hold_covers_the_day():
    hold = Hold(date(2027, 1, 3), date(2027, 1, 10))
    assert after_hold_on(WEEKLY, hold, date(2027, 1, 5)) == WEEKLY[1]
    assert after_hold_on(WEEKLY, hold, date(2027, 1, 11)) is None
    assert after_hold_on(WEEKLY, None, date(2027, 1, 5)) is None
    early_pause = Hold(date(2026, 12, 20), None, PAUSE)  # before the first step
    assert after_hold_on(WEEKLY, early_pause, date(2026, 12, 25)) == WEEKLY[0]
    assert dose_on(WEEKLY, date(2026, 12, 25), early_pause).on_hold is False
    schedule = PlanSchedule(1, "diazepam", "mg", True, tuple(WEEKLY), hold)
    assert schedule.after_hold(date(2027, 1, 5)) == WEEKLY[1]
    assert schedule.on(date(2027, 1, 5)).on_hold
    assert not schedule.on(date(2027, 1, 12)).on_hold


def test_dose_since_walks_back_over_steps_of_the_same_dose():
    steps = [
        StepInput(date(2027, 1, 1), D("4")),
        StepInput(date(2027, 1, 8), D("3")),
        StepInput(date(2027, 1, 15), D("3"), split=(("morning", D("2")), ("bedtime", D("1")))),
        StepInput(date(2027, 1, 22), D("2")),
    ]
    assert dose_since(steps, 0) == date(2027, 1, 1)
    assert dose_since(steps, 2) == date(2027, 1, 8)
    assert dose_since(steps, 3) == date(2027, 1, 22)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("7.500", "7.5"), ("10.000", "10"), ("0.250", "0.25"), ("100", "100"), ("0", "0")],
)
def test_a_dose_is_shown_as_typed_without_padding_zeros(value, shown):
    assert plain(D(value)) == shown
    assert amount(D(value)) == f"{shown} mg"
