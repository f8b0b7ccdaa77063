"""The timeline: which of the clinician's steps is in force on a day, once holds and pauses
are taken into account, and which plans a patient is taking on a day.

Pure Python. Nothing here computes a dose: every step returned is one the clinician typed, and
holds and pauses only ever move *dates*, never a dose.

The rules (README "The timeline"):

- A **hold** keeps the dose in force on its first day until its last day (or, open-ended,
  until the clinician reviews it). When it ends the patient goes on to the next typed step:
  it starts the day after the hold, or on its own date if that is later, and every later step
  keeps its typed length (all move later by the same number of days).
- A **pause** freezes the plan: the dose in force stays, steps do not advance, and on resume
  every later step moves later by the days paused (the current step keeps the days it had
  left).
- A plan whose last step is not 0 never runs out: that dose stays in force until the
  clinician reviews the plan.
- A change to the hold or pause takes effect from the patient's next local day, never during
  the day: a release on day R keeps the held dose on R.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

from taper.domain.schedule import FAR_AHEAD_DAYS as MAX_DAYS_AHEAD
from taper.domain.schedule import StepInput

HOLD = "hold"
PAUSE = "pause"


class TimelineError(ValueError):
    """A hold, pause or date that cannot be applied; the message is for the clinician."""


@dataclass(frozen=True)
class Hold:
    """The dose in force on ``start`` stays in force through ``until`` (inclusive), or until
    the clinician reviews it (``until`` None). ``kind`` is "hold" or "pause". ``shift`` is how
    many days this hold has moved the steps after the held one, so its end can be changed
    later without losing where those steps were."""

    start: date
    until: date | None = None
    kind: str = HOLD
    shift: int = 0

    @classmethod
    def stored(
        cls, start: date | None, until: date | None, kind: str | None, shift: int | None
    ) -> Hold | None:
        """A hold as a plan revision stores it (no start: no hold; no kind: a hold saved
        before pauses were recorded)."""
        if start is None:
            return None
        return cls(start, until, kind or HOLD, shift or 0)

    def covers(self, day: date) -> bool:
        """True when ``day`` is one of the held days."""
        return self.start <= day and (self.until is None or day <= self.until)

    @property
    def open(self) -> bool:
        """True when the hold has no last day (it lasts until the clinician reviews it)."""
        return self.until is None


# How each status reads beside a dose ("" for a plain active step).
STATUS_WORDS = {
    "active": "",
    "held": "on hold",
    "paused": "paused",
    "last": "last step",
    "not_started": "not started",
    "stopped": "stopped",
}


@dataclass(frozen=True)
class DoseOnDate:
    """What the schedule says for one day.

    status: "not_started" (before the first step), "active", "held", "paused", "last" (the
    last step, not 0, in force until the clinician reviews the plan) or "stopped" (the last
    step is 0 and has started)."""

    status: str
    step: StepInput | None
    step_index: int | None

    @property
    def taking(self) -> bool:
        """True when the patient has a dose to take that day (a step in force, not 0 mg)."""
        return self.step is not None and self.status != "stopped" and self.step.total > 0

    @property
    def on_hold(self) -> bool:
        """True on a held or paused day (a step in force that does not advance)."""
        return self.status in ("held", "paused")


def plus_days(day: date, days: int) -> date:
    """``day`` moved by ``days``; a TimelineError instead of an overflow past year 9999."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        raise TimelineError("That moves a date too far ahead. Check the dates.") from None


def shift(day: date, days: int) -> date:
    """``day`` moved by ``days``, clamped to the calendar (never an OverflowError): for what is
    shown (chart ranges, summaries), where a stored date near the year 9999 must still draw."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _day_after(day: date) -> date | None:
    return None if day == date.max else day + timedelta(days=1)


def hold_in_force(hold: Hold | None, today: date, kind: str | None = None) -> Hold | None:
    """The hold or pause still in force on ``today`` or later (open, or ending today or
    later), only of ``kind`` ("hold" or "pause") when given; None otherwise."""
    if hold is None or (kind is not None and hold.kind != kind):
        return None
    if hold.until is not None and hold.until < today:
        return None
    return hold


def index_on(steps: Sequence[StepInput], day: date) -> int | None:
    """Index of the step whose dates cover ``day`` (no hold), or None before the first."""
    found = None
    for index, step in enumerate(steps):
        if step.start <= day:
            found = index
        else:
            break
    return found


def dose_on(steps: Sequence[StepInput], day: date, hold: Hold | None = None) -> DoseOnDate:
    """The clinician's step in force on ``day``; never extrapolates a dose."""
    if hold is not None and hold.covers(day):
        index = index_on(steps, hold.start)
        if index is None:  # paused before the first step: nothing starts while paused
            return DoseOnDate("not_started", None, None)
        return DoseOnDate("paused" if hold.kind == PAUSE else "held", steps[index], index)
    index = index_on(steps, day)
    if index is None:
        return DoseOnDate("not_started", None, None)
    if index == len(steps) - 1:
        return DoseOnDate("stopped" if steps[index].total == 0 else "last", steps[index], index)
    return DoseOnDate("active", steps[index], index)


@dataclass(frozen=True)
class NextChange:
    """The next day the dose in force changes, and the clinician's step from then."""

    day: date
    step: StepInput


def next_change(
    steps: Sequence[StepInput], day: date, hold: Hold | None = None
) -> NextChange | None:
    """The first day after ``day`` on which another of the clinician's steps is in force;
    None while an open hold or pause lasts, and on the last step."""
    current = dose_on(steps, day, hold).step_index
    candidates = {step.start for step in steps if step.start > day}
    if hold is not None and hold.until is not None and hold.until >= day:
        after = _day_after(hold.until)
        if after is not None:
            candidates.add(after)
    for candidate in sorted(candidates):
        found = dose_on(steps, candidate, hold)
        if found.step is not None and found.step_index != current:
            return NextChange(candidate, found.step)
    return None


def step_after_hold(steps: Sequence[StepInput], hold: Hold | None) -> StepInput | None:
    """The typed step the patient goes on to when a hold or pause ends (its date may not be
    known yet: an open hold's is set when the clinician ends it)."""
    if hold is None:
        return None
    index = index_on(steps, hold.start)
    following = 0 if index is None else index + 1
    return steps[following] if following < len(steps) else None


def after_hold_on(steps: Sequence[StepInput], hold: Hold | None, day: date) -> StepInput | None:
    """The typed step the patient goes on to when the hold or pause covering ``day`` ends
    (also one placed before the first step); None when no hold or pause covers ``day``."""
    if hold is None or not hold.covers(day):
        return None
    return step_after_hold(steps, hold)


def dose_since(steps: Sequence[StepInput], index: int) -> date:
    """The day the dose of step ``index`` came into force: its step's date, or that of the
    first of the steps just before it with the same dose (a new split of the day is not a
    change). Holds and pauses only move later steps, so a held dose's date stands."""
    while index > 0 and steps[index - 1].total == steps[index].total:
        index -= 1
    return steps[index].start


def move_after(steps: Sequence[StepInput], index: int | None, days: int) -> list[StepInput]:
    """Every step after ``index`` (all of them for None) moved ``days`` later; doses as typed."""
    first = 0 if index is None else index + 1
    return [
        step if position < first or days == 0 else replace(step, start=plus_days(step.start, days))
        for position, step in enumerate(steps)
    ]


def set_hold_end(
    steps: Sequence[StepInput], hold: Hold, end: date | None
) -> tuple[list[StepInput], Hold]:
    """The steps and hold once the hold's last day is ``end`` (None: until reviewed).

    The next typed step starts the day after ``end``, or on its own date (before this hold
    moved it) if that is later; later steps keep their lengths. Ending a hold earlier than
    planned moves those steps back, never before where they were before the hold."""
    if end is not None and end < hold.start:
        raise TimelineError("A hold cannot end before it starts.")
    index = index_on(steps, hold.start)
    base = move_after(steps, index, -hold.shift)
    following = 0 if index is None else index + 1
    shift = 0
    if end is not None and following < len(base):
        shift = max(0, (plus_days(end, 1) - base[following].start).days)
    return move_after(base, index, shift), Hold(hold.start, end, HOLD, shift)


def place_hold(
    steps: Sequence[StepInput], today: date, until: date | None
) -> tuple[list[StepInput], Hold]:
    """Hold the dose in force ``today`` through ``until`` (None: until reviewed)."""
    if index_on(steps, today) is None:
        raise TimelineError(
            "The plan has not started yet, so there is no dose to hold. To start later, "
            "revise the first step's date."
        )
    return set_hold_end(steps, Hold(today, None, HOLD, 0), until)


def resume(
    steps: Sequence[StepInput], pause: Hold, today: date
) -> tuple[list[StepInput], Hold | None]:
    """Resume a paused plan on ``today``: the schedule goes on from where it was on the day
    the pause began, so every later step moves later by the days paused. The dose today is
    the one in force while paused. The pause stays on record (None if it lasted no day)."""
    days = max(0, (today - pause.start).days)
    moved = move_after(steps, index_on(steps, pause.start), days)
    if days == 0:
        return moved, None
    return moved, Hold(pause.start, today - timedelta(days=1), PAUSE, days)


def reductions(steps: Sequence[StepInput], hold: Hold | None, day: date) -> list[date]:
    """The days on or before ``day`` on which the dose in force really went down (holds and
    pauses included), oldest first."""
    candidates = {step.start for step in steps if step.start <= day}
    if hold is not None and hold.until is not None:
        after = _day_after(hold.until)
        if after is not None and after <= day:
            candidates.add(after)
    found = []
    for candidate in sorted(candidates):
        if candidate == date.min:
            continue
        before = dose_on(steps, candidate - timedelta(days=1), hold).step
        now = dose_on(steps, candidate, hold).step
        if before is not None and now is not None and now.total < before.total:
            found.append(candidate)
    return found


def last_reduction(steps: Sequence[StepInput], hold: Hold | None, day: date) -> date | None:
    """The latest day on or before ``day`` on which the dose in force went down."""
    found = reductions(steps, hold, day)
    return found[-1] if found else None


@dataclass(frozen=True)
class PlanSchedule:
    """One plan as the timeline sees it: its current steps and hold, and whether it runs
    (active or paused; drafts are never in force, and a completed plan only on the days
    before ``ended_on``, the day it was completed, when that is known)."""

    plan_id: int
    medication: str
    unit: str
    running: bool
    steps: tuple[StepInput, ...]
    hold: Hold | None = None
    ended_on: date | None = None

    def runs_on(self, day: date) -> bool:
        """Whether the plan was running on ``day``: it runs now, or ended after that day."""
        return self.running or (self.ended_on is not None and day < self.ended_on)

    def on(self, day: date) -> DoseOnDate:
        """The plan's step in force on ``day`` (``dose_on`` with its hold)."""
        return dose_on(self.steps, day, self.hold)

    def after_hold(self, day: date) -> StepInput | None:
        """The step after the hold or pause covering ``day`` (``after_hold_on``)."""
        return after_hold_on(self.steps, self.hold, day)


@dataclass(frozen=True)
class InForce:
    """A plan the patient is taking on a day, and its step in force."""

    plan: PlanSchedule
    dose: DoseOnDate


def in_force(plans: Sequence[PlanSchedule], day: date) -> list[InForce]:
    """The plans the patient is taking on ``day``, in the order given: every plan running
    that day (``PlanSchedule.runs_on``) with a dose in force (started, not yet stopped at
    0 mg). This is the one place that decides it: the daily log's questions, deviation
    alerts, the overview, charts and reports all follow it."""
    found = []
    for plan in plans:
        if not plan.runs_on(day):
            continue
        dose = plan.on(day)
        if dose.taking:
            found.append(InForce(plan, dose))
    return found


def latest_reduction(plans: Sequence[PlanSchedule], day: date) -> date | None:
    """The latest day on or before ``day`` that any running plan's dose really went down."""
    days = [
        found
        for plan in plans
        if plan.running
        for found in [last_reduction(plan.steps, plan.hold, day)]
        if found is not None
    ]
    return max(days, default=None)


def last_step_review(plan: PlanSchedule) -> StepInput | None:
    """The last typed step when it is not 0: it stays in force until the clinician reviews the
    plan, and the care team is told ahead. None when the plan ends at 0 mg or has no steps."""
    if not plan.steps or plan.steps[-1].total == 0:
        return None
    return plan.steps[-1]


def check_not_too_far(day: date, today: date, what: str = "This date") -> None:
    """Refuse a date more than MAX_DAYS_AHEAD days after ``today`` (most likely a typo, and
    it would break date arithmetic near the year 9999)."""
    if day > plus_days(today, MAX_DAYS_AHEAD):
        raise TimelineError(
            f"{what} is more than {MAX_DAYS_AHEAD // 365} years ahead. Check the year."
        )


@dataclass(frozen=True)
class StepPeriod:
    """The days a typed step is in force once holds and pauses are applied: ``start`` to
    ``end`` inclusive (``end`` None: until the clinician reviews the plan or ends the hold;
    for a last step of 0 mg, stopped from ``start`` on). ``start`` None: the step is never in
    force, either because it comes after an open hold or pause (``pending``: its date is set
    when the hold ends), or because its days all fell inside a hold, or (``ended``) because
    the plan was completed before it."""

    step: StepInput
    start: date | None
    end: date | None
    pending: bool = False
    ended: bool = False


def step_periods(
    steps: Sequence[StepInput], hold: Hold | None = None, ended_on: date | None = None
) -> list[StepPeriod]:
    """Each typed step with the days it is in force, in order: exactly the days on which
    ``dose_on`` gives that step, whatever the hold (dated or open, placed by the timeline or
    carried into a revision typed by hand). ``ended_on``, the day a completed plan ended:
    nothing is in force from that day on."""
    periods = _periods(steps, hold)
    return periods if ended_on is None else [_before(period, ended_on) for period in periods]


def _before(period: StepPeriod, ended_on: date) -> StepPeriod:
    """A step period cut at the day its plan was completed (a stop at 0 mg stays a stop)."""
    stop_that_day = period.step.total == 0 and period.start == ended_on
    if period.start is None or (period.start >= ended_on and not stop_that_day):
        return StepPeriod(period.step, None, None, ended=period.start is not None or period.pending)
    if period.step.total != 0 and (period.end is None or period.end >= ended_on):
        return StepPeriod(period.step, period.start, ended_on - timedelta(days=1))
    return period


def _periods(steps: Sequence[StepInput], hold: Hold | None) -> list[StepPeriod]:
    days = {step.start for step in steps}
    if hold is not None:
        days.add(hold.start)
        if hold.until is not None and _day_after(hold.until) is not None:
            days.add(_day_after(hold.until))
    # dose_on changes only on these days, so each is in force until the day before the next.
    ordered = sorted(days)
    spans: dict[int, list[date | None]] = {}
    for position, day in enumerate(ordered):
        index = dose_on(steps, day, hold).step_index
        if index is None:
            continue
        last = ordered[position + 1] - timedelta(days=1) if position + 1 < len(ordered) else None
        spans.setdefault(index, [day, last])[1] = last
    held = index_on(steps, hold.start) if hold is not None and hold.open else None
    return [
        StepPeriod(step, *spans[index])
        if index in spans
        else StepPeriod(
            step,
            None,
            None,
            pending=hold is not None and hold.open and (held is None or index > held),
        )
        for index, step in enumerate(steps)
    ]
