"""The timeline, without an app: holds and pauses move dates (never doses), a plan never runs
out into silence, and which plans are in force on a day."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taper.domain.schedule import StepInput
from taper.domain.timeline import (
    HOLD,
    PAUSE,
    Hold,
    NextChange,
    PlanSchedule,
    TimelineError,
    check_not_too_far,
    dose_on,
    in_force,
    index_on,
    last_reduction,
    latest_reduction,
    next_change,
    place_hold,
    reductions,
    resume,
    set_hold_end,
    step_after_hold,
)

D = Decimal
DAY = timedelta(days=1)
# The example: 4 -> 3 -> 2 -> 1 -> 0 mg, a week apart.
WEEKLY = [
    StepInput(date(2027, 1, 1), D("4")),
    StepInput(date(2027, 1, 8), D("3")),
    StepInput(date(2027, 1, 15), D("2")),
    StepInput(date(2027, 1, 22), D("1")),
    StepInput(date(2027, 1, 29), D("0")),
]


def _d(month: int, day: int) -> date:
    return date(2027, month, day)


@pytest.mark.parametrize(
    ("day", "status", "dose"),
    [
        (_d(1, 1) - DAY, "not_started", None),
        (_d(1, 1), "active", "4"),
        (_d(1, 14), "active", "3"),
        (_d(1, 29), "stopped", "0"),
        (_d(6, 1), "stopped", "0"),
    ],
)
def test_dose_on_looks_up_the_step_in_force(day, status, dose):
    found = dose_on(WEEKLY, day)
    assert found.status == status
    assert (found.step.total if found.step else None) == (D(dose) if dose else None)


def test_two_week_hold_at_4mg_resumes_at_3mg_never_2mg():
    """The issue's example: the day after the hold the patient goes on to 3 mg (the next typed
    step), not to the 2 mg step that was due by date."""
    steps, hold = place_hold(WEEKLY, _d(1, 1), _d(1, 14))
    assert hold == Hold(_d(1, 1), _d(1, 14), HOLD, 7)
    assert [s.total for s in steps] == [s.total for s in WEEKLY]
    assert [s.start for s in steps] == [_d(1, 1), _d(1, 15), _d(1, 22), _d(1, 29), _d(2, 5)]
    assert dose_on(steps, _d(1, 14), hold).status == "held"
    assert dose_on(steps, _d(1, 14), hold).step.total == D("4")
    assert dose_on(steps, _d(1, 15), hold).step.total == D("3")
    assert next_change(steps, _d(1, 10), hold) == NextChange(_d(1, 15), steps[1])


def test_every_later_step_keeps_its_typed_length():
    uneven = [
        StepInput(_d(1, 1), D("10")),
        StepInput(_d(1, 11), D("8")),
        StepInput(_d(1, 25), D("6")),
        StepInput(_d(2, 25), D("5")),
    ]
    steps, _ = place_hold(uneven, _d(1, 5), _d(1, 20))
    lengths = [(b.start - a.start).days for a, b in zip(steps[1:], steps[2:], strict=False)]
    typed = [(b.start - a.start).days for a, b in zip(uneven[1:], uneven[2:], strict=False)]
    assert lengths == typed
    assert steps[1].start == _d(1, 21)


def test_a_hold_ending_before_the_next_step_moves_nothing():
    steps, hold = place_hold(WEEKLY, _d(1, 2), _d(1, 5))
    assert steps == WEEKLY
    assert hold.shift == 0


def test_open_hold_keeps_the_dose_until_reviewed_and_says_what_comes_next():
    steps, hold = place_hold(WEEKLY, _d(1, 10), None)
    assert steps == WEEKLY  # nothing moves until the clinician ends it
    found = dose_on(steps, _d(3, 1), hold)
    assert (found.status, found.step.total) == ("held", D("3"))
    assert next_change(steps, _d(3, 1), hold) is None
    assert step_after_hold(steps, hold).total == D("2")


def test_releasing_an_open_hold_goes_on_to_the_next_step_tomorrow():
    steps, hold = place_hold(WEEKLY, _d(1, 10), None)
    released, ended = set_hold_end(steps, hold, _d(2, 1))  # released on 1 Feb
    assert dose_on(released, _d(2, 1), ended).step.total == D("3")  # not mid-day
    assert dose_on(released, _d(2, 2), ended).step.total == D("2")
    assert [s.start for s in released[2:]] == [_d(2, 2), _d(2, 9), _d(2, 16)]


def test_releasing_a_dated_hold_early_never_shortens_a_typed_step():
    steps, hold = place_hold(WEEKLY, _d(1, 2), _d(1, 30))
    assert steps[1].start == _d(1, 31)
    early, ended = set_hold_end(steps, hold, _d(1, 4))  # ended on 4 Jan
    assert early == WEEKLY  # back where the clinician typed them, not earlier
    assert ended.shift == 0
    later, ended = set_hold_end(steps, hold, _d(1, 20))
    assert later[1].start == _d(1, 21)


def test_extending_a_hold_moves_from_where_the_steps_were_typed():
    steps, hold = place_hold(WEEKLY, _d(1, 3), _d(1, 10))
    longer, ended = set_hold_end(steps, hold, _d(1, 24))
    assert longer[1].start == _d(1, 25)
    assert ended.shift == (_d(1, 25) - _d(1, 8)).days
    assert [(b.start - a.start).days for a, b in zip(longer, longer[1:], strict=False)][1:] == [
        7,
        7,
        7,
    ]


def test_a_hold_before_the_plan_starts_is_refused():
    with pytest.raises(TimelineError, match="not started"):
        place_hold(WEEKLY, _d(1, 1) - DAY, None)


def test_pause_freezes_and_resume_moves_later_steps_by_the_days_paused():
    pause = Hold(_d(1, 10), None, PAUSE, 0)
    found = dose_on(WEEKLY, _d(2, 20), pause)
    assert (found.status, found.step.total) == ("paused", D("3"))
    assert next_change(WEEKLY, _d(2, 20), pause) is None
    steps, record = resume(WEEKLY, pause, _d(1, 20))
    assert record == Hold(_d(1, 10), _d(1, 19), PAUSE, 10)
    # 3 mg had 5 days left on 10 Jan (10-14): it has them from 20 Jan.
    assert dose_on(steps, _d(1, 24), record).step.total == D("3")
    assert dose_on(steps, _d(1, 25), record).step.total == D("2")
    assert steps[2].start == WEEKLY[2].start + timedelta(days=10)


def test_resume_on_the_day_of_the_pause_moves_nothing():
    steps, record = resume(WEEKLY, Hold(_d(1, 10), None, PAUSE, 0), _d(1, 10))
    assert (steps, record) == (WEEKLY, None)


def test_last_step_not_zero_stays_in_force_until_reviewed():
    steps = [StepInput(_d(1, 1), D("4")), StepInput(_d(1, 8), D("2"))]
    found = dose_on(steps, _d(5, 1))
    assert (found.status, found.step.total, found.taking) == ("last", D("2"), True)
    assert next_change(steps, _d(5, 1)) is None


def test_stopped_plan_is_not_in_force():
    assert dose_on(WEEKLY, _d(2, 1)).taking is False


def _plan(plan_id, steps, *, running=True, hold=None):
    return PlanSchedule(plan_id, f"drug{plan_id}", "mg", running, tuple(steps), hold)


def test_a_completed_plan_is_in_force_only_before_the_day_it_was_completed():
    steps = [StepInput(_d(1, 1), D("4")), StepInput(_d(1, 8), D("2"))]
    done = PlanSchedule(1, "drug1", "mg", False, tuple(steps), None, ended_on=_d(1, 10))
    assert [bool(in_force([done], day)) for day in (_d(1, 9), _d(1, 10), _d(2, 1))] == [
        True,
        False,
        False,
    ]
    before_0013 = PlanSchedule(1, "drug1", "mg", False, tuple(steps), None)  # no day known
    assert in_force([before_0013], _d(1, 9)) == []


def test_in_force_is_every_running_plan_with_a_dose_that_day():
    alprazolam = _plan(1, [StepInput(_d(1, 1), D("2")), StepInput(_d(1, 15), D("0"))])
    diazepam = _plan(2, [StepInput(_d(1, 8), D("10"))])
    draft = _plan(3, [StepInput(_d(1, 1), D("5"))], running=False)
    assert [f.plan.plan_id for f in in_force([alprazolam, diazepam, draft], _d(1, 1))] == [1]
    assert [f.plan.plan_id for f in in_force([alprazolam, diazepam, draft], _d(1, 9))] == [1, 2]
    assert [f.plan.plan_id for f in in_force([alprazolam, diazepam, draft], _d(1, 20))] == [2]


def test_last_reduction_counts_the_day_the_dose_really_changed():
    steps, hold = place_hold(WEEKLY, _d(1, 1), _d(1, 14))
    assert last_reduction(steps, hold, _d(1, 14)) is None
    assert last_reduction(steps, hold, _d(1, 16)) == _d(1, 15)  # not 8 Jan, the typed date
    open_steps, open_hold = place_hold(WEEKLY, _d(1, 10), None)
    # While an open hold lasts, the stale later dates are no reduction at all.
    assert reductions(open_steps, open_hold, _d(2, 20)) == [_d(1, 8)]


def test_latest_reduction_is_the_latest_over_running_plans():
    one = _plan(1, [StepInput(_d(1, 1), D("2")), StepInput(_d(1, 10), D("1"))])
    two = _plan(2, [StepInput(_d(1, 1), D("10")), StepInput(_d(1, 20), D("8"))])
    stopped = _plan(3, [StepInput(_d(1, 1), D("5")), StepInput(_d(1, 25), D("4"))], running=False)
    assert latest_reduction([one, two, stopped], _d(1, 30)) == _d(1, 20)


def test_far_dates_are_refused_and_never_overflow():
    check_not_too_far(_d(1, 1) + timedelta(days=730), _d(1, 1))
    with pytest.raises(TimelineError, match="years ahead"):
        check_not_too_far(date(9999, 12, 31), _d(1, 1))
    end = [StepInput(_d(1, 1), D("4")), StepInput(date(9999, 12, 31), D("2"))]
    hold = Hold(_d(1, 1), date(9999, 12, 31))
    assert next_change(end, _d(1, 5), hold) is None  # no 'day after' 9999-12-31
    assert dose_on(end, date(9999, 12, 31), hold).status == "held"
    with pytest.raises(TimelineError):
        place_hold(end, _d(1, 2), date(9999, 12, 31))


# --- Property: for any typed plan and any sequence of holds and pauses, every dose shown is a
# typed step's, a day's dose never changes during that day, consecutive days never skip a
# typed step, and the plan as it ends up tells the same story as the days lived.

steps_strategy = st.lists(
    st.tuples(st.integers(1, 21), st.integers(1, 400)), min_size=1, max_size=6
).flatmap(
    lambda rows: st.booleans().map(
        lambda stop: [
            StepInput(
                date(2027, 1, 1) + timedelta(days=sum(length for length, _ in rows[:i])),
                D(0) if stop and i == len(rows) - 1 and i > 0 else D(dose) / 4,
            )
            for i, (_, dose) in enumerate(rows)
        ]
    )
)
OPS = st.one_of(
    st.tuples(st.just("hold"), st.one_of(st.none(), st.integers(0, 40))),
    st.tuples(st.just("release"), st.none()),
    st.tuples(st.just("pause"), st.none()),
    st.tuples(st.just("resume"), st.none()),
    st.tuples(st.just("wait"), st.none()),
)


def _held(hold, today):
    if hold is None or hold.kind != HOLD or (hold.until is not None and hold.until < today):
        return None
    return hold


def _apply(op, arg, steps, hold, paused, today):
    """What the plans service allows on a day, with the domain's functions."""
    held = _held(hold, today)
    if op == "hold" and not paused and index_on(steps, today) is not None:
        until = None if arg is None else today + timedelta(days=arg)
        moved = set_hold_end(steps, held, until) if held else place_hold(steps, today, until)
        return (*moved, False)
    if op == "release" and held is not None:
        return (*set_hold_end(steps, held, max(today, held.start)), False)
    if op == "pause" and not paused and held is None:
        return steps, Hold(today, None, PAUSE, 0), True
    if op == "resume" and paused:
        return (*resume(steps, hold, today), False)
    return steps, hold, paused


def _key(step):
    return (step.total, step.split, step.note)


@settings(max_examples=300, deadline=None)
@given(typed=steps_strategy, ops=st.lists(st.tuples(st.integers(0, 9), OPS), max_size=12))
def test_any_holds_and_pauses_never_skip_or_invent_a_step(typed, ops):
    typed_keys = [_key(s) for s in typed]
    steps, hold, paused = list(typed), None, False
    schedule = {}
    day = date(2027, 1, 1) - timedelta(days=3)
    for gap, (op, arg) in ops:
        schedule.setdefault(day + timedelta(days=gap), []).append((op, arg))
    shown = []
    for _ in range(260):
        morning = dose_on(steps, day, hold)
        for op, arg in schedule.get(day, []):
            steps, hold, paused = _apply(op, arg, steps, hold, paused, day)
            # Never a dose invented, never a step dropped or reordered: doses exactly as typed.
            assert [_key(s) for s in steps] == typed_keys
            evening = dose_on(steps, day, hold)
            assert evening.step_index == morning.step_index, "dose changed during the day"
        shown.append(morning.step_index)
        day += timedelta(days=1)
    # The final plan tells the same story as the days lived (charts and history rely on it).
    first = date(2027, 1, 1) - timedelta(days=3)
    replay = [dose_on(steps, first + timedelta(days=n), hold).step_index for n in range(260)]
    assert replay == shown
    started = [i for i in shown if i is not None]
    assert started == sorted(started)
    for before, after in zip(shown, shown[1:], strict=False):
        if after is not None:
            assert after - (before if before is not None else -1) in (0, 1), shown
