"""Each typed step's days in force (for the FHIR export's boundsPeriod): the same answer as
``dose_on`` for every day, holds and pauses included."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from taper.domain.schedule import StepInput
from taper.domain.timeline import PAUSE, Hold, dose_on, place_hold, resume, step_periods

D = Decimal
WEEKLY = [
    StepInput(date(2027, 1, 1), D("4")),
    StepInput(date(2027, 1, 8), D("3")),
    StepInput(date(2027, 1, 15), D("2")),
    StepInput(date(2027, 1, 22), D("0")),
]


def _spans(periods):
    return [(p.start, p.end) for p in periods]


def test_plain_steps_run_until_the_day_before_the_next():
    assert _spans(step_periods(WEEKLY)) == [
        (date(2027, 1, 1), date(2027, 1, 7)),
        (date(2027, 1, 8), date(2027, 1, 14)),
        (date(2027, 1, 15), date(2027, 1, 21)),
        (date(2027, 1, 22), None),
    ]
    assert [p.step for p in step_periods(WEEKLY)] == WEEKLY


def test_a_dated_hold_lengthens_the_held_step_and_moves_the_later_ones():
    steps, hold = place_hold(WEEKLY, date(2027, 1, 10), date(2027, 1, 20))
    assert _spans(step_periods(steps, hold)) == [
        (date(2027, 1, 1), date(2027, 1, 7)),
        (date(2027, 1, 8), date(2027, 1, 20)),
        (date(2027, 1, 21), date(2027, 1, 27)),
        (date(2027, 1, 28), None),
    ]


def test_an_open_hold_has_no_last_day_and_later_steps_no_dates():
    steps, hold = place_hold(WEEKLY, date(2027, 1, 10), None)
    assert _spans(step_periods(steps, hold)) == [
        (date(2027, 1, 1), date(2027, 1, 7)),
        (date(2027, 1, 8), None),
        (None, None),
        (None, None),
    ]


def test_an_open_pause_before_the_first_step_dates_nothing():
    periods = step_periods(WEEKLY, Hold(date(2026, 12, 1), None, PAUSE))
    assert _spans(periods) == [(None, None)] * 4
    assert all(p.pending for p in periods)


def test_steps_after_an_open_hold_are_pending_and_the_held_one_is_not():
    steps, hold = place_hold(WEEKLY, date(2027, 1, 10), None)
    assert [p.pending for p in step_periods(steps, hold)] == [False, False, True, True]


def test_a_past_hold_carried_into_a_revision_typed_by_hand_still_holds_the_dose():
    """A revision keeps an ended hold with the clinician's own dates: steps typed inside it
    start only when it ended, as dose_on says (and one wholly inside it is never in force)."""
    hold = Hold(date(2027, 1, 5), date(2027, 1, 16))
    periods = step_periods(WEEKLY, hold)
    assert _spans(periods) == [
        (date(2027, 1, 1), date(2027, 1, 16)),
        (None, None),  # 8 Jan: its days fell inside the hold, passed over
        (date(2027, 1, 17), date(2027, 1, 21)),
        (date(2027, 1, 22), None),
    ]
    assert not periods[1].pending


def test_a_resumed_pause_moves_the_later_steps_by_the_days_paused():
    steps, pause = resume(WEEKLY, Hold(date(2027, 1, 10), None, PAUSE), date(2027, 1, 13))
    assert _spans(step_periods(steps, pause))[1:3] == [
        (date(2027, 1, 8), date(2027, 1, 17)),
        (date(2027, 1, 18), date(2027, 1, 24)),
    ]


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 20), min_size=1, max_size=6),
    hold_at=st.integers(-10, 60),
    hold_days=st.none() | st.integers(0, 30),
    how=st.sampled_from(["none", "placed", "stored hold", "stored pause"]),
)
def test_every_day_falls_in_the_period_of_the_step_dose_on_gives(gaps, hold_at, hold_days, how):
    """Holds placed by the timeline (later steps moved) and holds or pauses as a revision may
    store them (steps left at the typed dates), dated or open."""
    start = date(2027, 3, 1)
    steps, day = [], start
    for index, gap in enumerate(gaps):
        steps.append(StepInput(day, D(len(gaps) - index)))
        day += timedelta(days=gap)
    held_from = start + timedelta(days=hold_at)
    until = None if hold_days is None else held_from + timedelta(days=hold_days)
    hold = None
    if how == "placed" and 0 <= hold_at < sum(gaps):
        steps, hold = place_hold(steps, held_from, until)
    elif how.startswith("stored"):
        hold = Hold(held_from, until, PAUSE if how.endswith("pause") else "hold")
    periods = step_periods(steps, hold)
    for offset in range(-2, sum(gaps) + 40):
        on = start + timedelta(days=offset)
        found = dose_on(steps, on, hold)
        covering = [
            i
            for i, p in enumerate(periods)
            if p.start is not None and p.start <= on and (p.end is None or on <= p.end)
        ]
        assert covering == ([] if found.step_index is None else [found.step_index])
