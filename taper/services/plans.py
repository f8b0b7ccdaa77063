"""Writing and revising taper plans. Every dose stored here was typed by a clinician.

The clinician's pages call ``save`` (one of the changes, committed) and ``plan_viewed``; the
changes themselves leave the commit to their caller (the demo seeder chains several)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from taper.domain import doses, plan_input, timeline
from taper.domain.log_input import is_submission_id
from taper.domain.schedule import TIMES_OF_DAY, StepInput, local_today
from taper.domain.timeline import HOLD, PAUSE, Hold, PlanSchedule, TimelineError
from taper.extensions import db
from taper.models import PlanRevision, PlanStatus, TaperPlan, TaperStep, User
from taper.services import Conflict, ServiceError, audit, committed, current_plans
from taper.services.savepoint import insert_once

CONFLICT_MESSAGE = (
    "This plan was changed since you opened this page: by someone else, or by your own save "
    "if you pressed twice. Everything you typed is kept below: compare it with the current "
    "plan, and save again only if it is still needed."
)
T = TypeVar("T")
ALLOWED_STATUS_CHANGES = {
    (PlanStatus.DRAFT, PlanStatus.ACTIVE),
    (PlanStatus.ACTIVE, PlanStatus.COMPLETED),
    (PlanStatus.PAUSED, PlanStatus.COMPLETED),
}


class PlanInputError(ServiceError):
    """The typed plan has problems; ``errors`` maps (row, field) or ("plan", field) to a message."""

    def __init__(self, errors: dict[tuple[int | str, str], str]) -> None:
        super().__init__("Please fix the problems shown beside the fields.")
        self.errors = errors


def _parse_rows(
    rows: Sequence[Mapping[str, str]], today: date | None, medication: str | None, unit: str
) -> list[tuple[int, StepInput]]:
    """``plan_input.parse_rows``, its problems raised as PlanInputError."""
    try:
        return plan_input.parse_rows(rows, today, medication, unit)
    except plan_input.RowsError as error:
        raise PlanInputError(error.errors) from None


def _check_medication(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 80:
        raise PlanInputError(errors={("plan", "medication"): "Enter the medication's name."})
    return name


def _add_revision(
    actor: User,
    plan: TaperPlan,
    steps: Sequence[StepInput],
    reason: str,
    hold: Hold | None = None,
) -> PlanRevision:
    revision = PlanRevision(
        plan=plan,
        number=len(plan.revisions) + 1,
        author_id=actor.id,
        reason=reason,
        hold_start=hold.start if hold else None,
        hold_until=hold.until if hold else None,
        hold_kind=hold.kind if hold else None,
        hold_shift=hold.shift if hold else 0,
    )
    for step in steps:
        parts = dict(step.split)
        revision.steps.append(
            TaperStep(
                start_date=step.start,
                total=step.total,
                note=step.note,
                **{name: parts.get(name) for name in TIMES_OF_DAY},
            )
        )
    db.session.add(revision)
    db.session.flush()
    plan.current_revision = revision
    return revision


def _summary(
    revision: PlanRevision, medication: str, steps: Sequence[StepInput], unit: str = doses.UNIT
) -> dict:
    """The audit summary of a saved revision; the steps whose dose is above the usual maximum
    are named (by number): the clinician ticked "this dose is right" for each."""
    summary: dict = {"revision": revision.number, "steps": len(steps)}
    confirmed = plan_input.above_usual(medication, steps, unit)
    if confirmed:
        summary["doses_confirmed_above_usual_max"] = confirmed
    return summary


def _check_version(plan: TaperPlan, expected_version: int | None) -> None:
    if expected_version != plan.version:
        raise Conflict(CONFLICT_MESSAGE)


def _require_reason(plan: TaperPlan, reason: str) -> str:
    reason = (reason or "").strip()
    if plan.status is not PlanStatus.DRAFT and not reason:
        raise PlanInputError(errors={("plan", "reason"): "Say why the plan is changing."})
    if len(reason) > 1000:
        raise PlanInputError(errors={("plan", "reason"): "Keep the reason under 1000 characters."})
    return reason


def _hold_conflicts(
    typed: Sequence[tuple[int, StepInput]],
    hold: Hold | None,
    today: date | None,
    before: PlanRevision | None = None,
) -> dict[tuple[int | str, str], str]:
    """A plan revised by hand while a hold is in force must keep the held dose and may not
    start a later step inside the hold: otherwise the day after the hold would jump to the
    step due by date and pass over the one typed before it. While a pause is in force on a
    dose (``before``, the revision paused), the new steps must keep a dose in force on the
    pause's first day too: else the patient would be paused on no dose at all."""
    if today is None or timeline.hold_in_force(hold, today) is None:
        return {}
    steps = [step for _, step in typed]
    held = timeline.index_on(steps, hold.start)
    if hold.kind == PAUSE:
        if held is None and before is not None and _has_dose_on(before, hold.start):
            return {
                ("plan", "steps"): (
                    f"The plan is paused on the dose in force on {hold.start:%d %b %Y}: keep "
                    "a step that starts on or before that day, or resume the plan first."
                )
            }
        return {}
    if held is None:
        return {
            ("plan", "steps"): (
                f"The dose in force on {hold.start:%d %b %Y} is on hold: keep a step that "
                "starts on or before that day, or end the hold first."
            )
        }
    if hold.until is None:
        return {}
    return {
        (row, "start"): (
            f"The plan is on hold until {hold.until:%d %b %Y}: this step must start after "
            "that day. Change or end the hold to move it earlier."
        )
        for row, step in typed[held + 1 :]
        if step.start <= hold.until
    }


def _no_dose_today(
    typed: Sequence[tuple[int, StepInput]], plan: TaperPlan, today: date | None
) -> dict[tuple[int | str, str], str]:
    """An active plan with a dose above 0 in force today, revised by hand so that no typed
    step is in force today: the patient would take nothing until the first step, an abrupt stop
    nobody typed. (A hold or pause in force has its own rule: ``_hold_conflicts``.)"""
    steps = [step for _, step in typed]
    if today is None or plan.status is not PlanStatus.ACTIVE or not steps:
        return {}
    if timeline.index_on(steps, today) is not None:
        return {}
    if plan.current_revision is None or not _taking_on(plan.current_revision, today):
        return {}
    return {
        ("plan", "steps"): (
            f"Your patient is taking a dose of this plan today: keep a step that starts on or "
            f"before {today:%d %b %Y} (a 0 mg step to stop). Otherwise they would have no dose "
            f"until {steps[0].start:%d %b %Y}."
        )
    }


def _taking_on(revision: PlanRevision, day: date) -> bool:
    """Whether the revision has a dose above 0 in force on ``day`` (a plan stopped at 0 mg
    may be restarted from a later date)."""
    found = timeline.dose_on(step_inputs(revision), day, hold_of(revision))
    return found.step is not None and found.step.total > 0


def _has_dose_on(revision: PlanRevision, day: date) -> bool:
    """Whether one of the revision's steps is in force on ``day`` (not before its first)."""
    return timeline.index_on(step_inputs(revision), day) is not None


def create_plan(
    actor: User,
    patient: User,
    medication: str,
    rows: Sequence[Mapping[str, str]],
    reason: str = "",
    today: date | None = None,
    submission_id: str | None = None,
) -> TaperPlan:
    """Create a draft plan with its first revision (``today``: the patient's local day). The
    same ``submission_id`` (the new-plan form's one-time id) again gives the plan it made."""
    if not is_submission_id(submission_id):
        submission_id = None
    elif (made := _made_by(submission_id, patient)) is not None:
        return made
    errors: dict = {}
    try:
        medication = _check_medication(medication)
    except PlanInputError as error:
        errors.update(error.errors)
    try:
        steps = [step for _, step in _parse_rows(rows, today, medication, doses.UNIT)]
    except PlanInputError as error:
        errors.update(error.errors)
    if errors:
        raise PlanInputError(errors=errors)
    plan = TaperPlan(
        patient_id=patient.id,
        medication=medication,
        created_by_id=actor.id,
        submission_id=submission_id,
    )
    if not insert_once(plan):  # the same form, sent at the same instant, made it first
        made = _made_by(submission_id, patient)
        if made is not None:
            return made
        plan.submission_id = None  # another patient's plan's id: never our own form's
        db.session.add(plan)
        db.session.flush()
    revision = _add_revision(actor, plan, steps, (reason or "").strip())
    audit.record(
        actor,
        "plan.create",
        "taper_plan",
        plan.id,
        patient_id=patient.id,
        summary=_summary(revision, medication, steps),
    )
    return plan


def _made_by(submission_id: str | None, patient: User) -> TaperPlan | None:
    """The plan a new-plan form with this one-time id already made for this patient."""
    return db.session.scalar(
        select(TaperPlan).where(
            TaperPlan.submission_id == submission_id, TaperPlan.patient_id == patient.id
        )
    )


def revise_plan(
    actor: User,
    plan: TaperPlan,
    expected_version: int | None,
    rows: Sequence[Mapping[str, str]],
    reason: str,
    medication: str | None = None,
    today: date | None = None,
) -> PlanRevision:
    """Save the typed steps as a new revision; earlier revisions stay as they were. A hold or
    pause in force stays in force (the held dose is kept whatever the dates say)."""
    _check_version(plan, expected_version)
    errors: dict = {}
    try:
        reason = _require_reason(plan, reason)
    except PlanInputError as error:
        errors.update(error.errors)
    if medication is not None and plan.status is PlanStatus.DRAFT:
        try:
            plan.medication = _check_medication(medication)
        except PlanInputError as error:
            errors.update(error.errors)
    hold = hold_of(plan.current_revision)
    try:
        typed = _parse_rows(rows, today, plan.medication, plan.unit or doses.UNIT)
        errors.update(_no_dose_today(typed, plan, today))
        errors.update(_hold_conflicts(typed, hold, today, plan.current_revision))
    except PlanInputError as error:
        errors.update(error.errors)
    if errors:
        raise PlanInputError(errors=errors)
    # The typed dates are the clinician's own: a later change of the hold moves from them.
    hold = replace(hold, shift=0) if hold is not None else None
    steps = [step for _, step in typed]
    revision = _add_revision(actor, plan, steps, reason, hold)
    audit.record(
        actor,
        "plan.revise",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary=_summary(revision, plan.medication, steps, plan.unit or doses.UNIT),
    )
    return revision


def step_inputs(revision: PlanRevision) -> list[StepInput]:
    """A revision's steps as the domain sees them (exactly the stored values)."""
    return [
        StepInput(start=s.start_date, total=s.total, split=s.split(), note=s.note)
        for s in revision.steps
    ]


def hold_of(revision: PlanRevision | None) -> Hold | None:
    """The revision's hold or pause, if any."""
    if revision is None:
        return None
    return Hold.stored(
        revision.hold_start, revision.hold_until, revision.hold_kind, revision.hold_shift
    )


def schedule_of(plan: TaperPlan) -> PlanSchedule:
    """A plan as the timeline sees it (current revision's steps and hold)."""
    revision = plan.current_revision
    return PlanSchedule(
        plan_id=plan.id,
        medication=plan.medication,
        unit=plan.unit,
        running=plan.status in (PlanStatus.ACTIVE, PlanStatus.PAUSED),
        steps=tuple(step_inputs(revision)) if revision is not None else (),
        hold=hold_of(revision),
        ended_on=plan.completed_on,
    )


def schedules_for(patient: User) -> list[PlanSchedule]:
    """Every non-draft plan of a patient as the timeline sees it, oldest first (one
    statement; steps from the cache of saved revisions)."""
    return current_plans.schedules(patient)


def in_force(patient: User, day: date) -> list[timeline.InForce]:
    """The plans the patient is taking on ``day`` (``timeline.in_force`` decides)."""
    return timeline.in_force(schedules_for(patient), day)


@dataclass(frozen=True)
class TimelineChange:
    """What a hold, release, pause or resume would do: the steps before and after (only
    dates move, never earlier than the clinician typed them) and the hold or pause on record
    afterwards."""

    action: str  # hold | release | pause | resume
    before: list[StepInput]
    after: list[StepInput]
    hold: Hold | None
    today: date

    @property
    def rows(self) -> list[tuple[StepInput, StepInput]]:
        """(before, after) for every step, in order."""
        return list(zip(self.before, self.after, strict=True))

    @property
    def following(self) -> StepInput | None:
        """For a dated hold or a release: the step the patient goes on to afterwards, at its
        new date (None when there is none or its date is not set yet)."""
        if self.action not in ("hold", "release") or self.hold is None or self.hold.open:
            return None
        return timeline.step_after_hold(self.after, self.hold)

    @property
    def moved(self) -> list[tuple[StepInput, StepInput]]:
        """(before, after) for each step whose date moves."""
        return [(b, a) for b, a in zip(self.before, self.after, strict=True) if b.start != a.start]


def _checked(action) -> TimelineChange:
    try:
        return action()
    except TimelineError as error:
        raise PlanInputError(errors={("plan", "until"): str(error)}) from None


def plan_timeline_change(
    plan: TaperPlan, action: str, today: date, until: date | None = None
) -> TimelineChange:
    """What ``action`` (hold, release, pause, resume) would do to the plan on the patient's
    local day ``today``; raises ServiceError when it cannot be done. Saves nothing."""
    revision = plan.current_revision
    if revision is None:
        raise ServiceError("This plan has no steps yet.")
    steps = step_inputs(revision)
    held = timeline.hold_in_force(hold_of(revision), today, HOLD)
    if action == "hold":
        if plan.status is not PlanStatus.ACTIVE:
            raise ServiceError("Only an active plan can be held.", "until")
        if until is not None:
            if until < today:
                raise PlanInputError(errors={("plan", "until"): "Choose today or a later date."})
            _checked(lambda: timeline.check_not_too_far(until, today, "The hold's end"))
        if not timeline.dose_on(steps, today, held).taking:
            raise ServiceError(
                "There is no dose to hold today (the plan has not started, or has stopped).",
                "until",
            )
        if held is not None:  # a new end for the hold in force
            after, hold = _checked(lambda: timeline.set_hold_end(steps, held, until))
        else:
            after, hold = _checked(lambda: timeline.place_hold(steps, today, until))
    elif action == "release":
        if held is None:
            raise ServiceError("This plan is not on hold.")
        # The held dose stays in force today: the release takes effect tomorrow.
        end = max(today, held.start)
        after, hold = _checked(lambda: timeline.set_hold_end(steps, held, end))
    elif action == "pause":
        if plan.status is not PlanStatus.ACTIVE:
            raise ServiceError("Only an active plan can be paused.")
        if held is not None:
            raise ServiceError(
                "This plan is on hold, which already keeps the dose in force. End the hold "
                "first if you want to pause the plan instead."
            )
        after, hold = steps, Hold(today, None, PAUSE, 0)
    elif action == "resume":
        pause = hold_of(revision)
        if plan.status is not PlanStatus.PAUSED:
            raise ServiceError("Only a paused plan can be resumed.")
        if pause is None or pause.kind != PAUSE or pause.until is not None:
            after, hold = steps, hold_of(revision)  # paused before pauses were dated
        else:
            after, hold = _checked(lambda: timeline.resume(steps, pause, today))
    else:
        raise ServiceError("Unknown change.")
    return TimelineChange(action, steps, list(after), hold, today)


def apply_timeline_change(
    actor: User,
    plan: TaperPlan,
    expected_version: int | None,
    action: str,
    today: date,
    reason: str,
    until: date | None = None,
) -> TimelineChange:
    """Hold, release, pause or resume: a new revision whose later steps move by the days held
    or paused (doses exactly as typed), with the clinician's reason; audited."""
    _check_version(plan, expected_version)
    change = plan_timeline_change(plan, action, today, until)
    reason = _require_reason(plan, reason)
    revision = _add_revision(actor, plan, change.after, reason, change.hold)
    if action == "pause":
        plan.status = PlanStatus.PAUSED
    elif action == "resume":
        plan.status = PlanStatus.ACTIVE
    summary = {"revision": revision.number, "moved_steps": len(change.moved)}
    if change.hold is not None:
        summary["hold_until"] = change.hold.until.isoformat() if change.hold.until else None
    audit.record(
        actor,
        f"plan.{action}",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary=summary,
    )
    return change


def change_status(
    actor: User,
    plan: TaperPlan,
    expected_version: int | None,
    new_status: PlanStatus,
    today: date | None = None,
) -> None:
    """Activate or complete a plan (pause and resume move dates: ``apply_timeline_change``).
    A completed plan keeps the patient's ``today`` (theirs now when not given) as the day it
    ended: the days before it stay the plan's own."""
    _check_version(plan, expected_version)
    if (plan.status, new_status) not in ALLOWED_STATUS_CHANGES:
        raise ServiceError(f"A {plan.status.value} plan cannot become {new_status.value}.")
    before = plan.status
    plan.status = new_status
    if before is PlanStatus.DRAFT and new_status is PlanStatus.ACTIVE:
        plan.activated_revision = plan.current_revision.number
    if new_status is PlanStatus.COMPLETED:
        plan.completed_on = today or local_today(datetime.now(UTC), plan.patient.timezone)
    audit.record(
        actor,
        "plan.status",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary={"from": before.value, "to": new_status.value},
    )


def _patient_plans(patient: User, include_drafts: bool, revisions) -> list[TaperPlan]:
    """A patient's plans, oldest first, with ``revisions`` (a relationship to revisions) and
    their steps and authors loaded in one go."""
    query = (
        select(TaperPlan)
        .where(TaperPlan.patient_id == patient.id)
        .options(
            selectinload(revisions).selectinload(PlanRevision.steps),
            selectinload(revisions).selectinload(PlanRevision.author),
        )
        .order_by(TaperPlan.created_at, TaperPlan.id)
    )
    if not include_drafts:
        query = query.where(TaperPlan.status != PlanStatus.DRAFT)
    return list(db.session.scalars(query))


def plans_for_patient(patient: User, *, include_drafts: bool) -> list[TaperPlan]:
    """A patient's plans with their current revision and steps loaded in one go."""
    return _patient_plans(patient, include_drafts, TaperPlan.current_revision)


def with_revisions(patient: User, *, include_drafts: bool) -> list[TaperPlan]:
    """A patient's plans, oldest first, with every revision, its steps and its author loaded
    in one go (the exports)."""
    return _patient_plans(patient, include_drafts, TaperPlan.revisions)


def running_besides(patient: User, plan: TaperPlan | None = None) -> list[TaperPlan]:
    """The patient's running (active or paused) plans other than ``plan``, oldest first:
    activating another one makes a crossover."""
    query = (
        select(TaperPlan)
        .where(
            TaperPlan.patient_id == patient.id,
            TaperPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.PAUSED]),
        )
        .order_by(TaperPlan.created_at, TaperPlan.id)
    )
    if plan is not None:
        query = query.where(TaperPlan.id != plan.id)
    return list(db.session.scalars(query))


def running_plans() -> Select:
    """Running (active or paused) plans with their patient, current revision and steps, in
    patient order and each patient's oldest first; callers add a where and a limit (the alert
    scan reads them in batches). Four queries whatever the number of plans."""
    return (
        select(TaperPlan)
        .where(TaperPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.PAUSED]))
        .options(
            selectinload(TaperPlan.patient),
            selectinload(TaperPlan.current_revision).selectinload(PlanRevision.steps),
        )
        .order_by(TaperPlan.patient_id, TaperPlan.created_at, TaperPlan.id)
    )


def per_patient(rows: Iterable[TaperPlan]) -> list[tuple[User, list[PlanSchedule]]]:
    """Plans read in patient order, grouped: each patient and their plans as the timeline
    sees them."""
    found: dict[int, tuple[User, list[PlanSchedule]]] = {}
    for plan in rows:
        found.setdefault(plan.patient_id, (plan.patient, []))[1].append(schedule_of(plan))
    return list(found.values())


# --- use cases the clinician's pages call: each commits once --------------------------------


def save(change: Callable[..., T], *args, **kwargs) -> T:
    """Run one plan change (``create_plan``, ``revise_plan``, ``apply_timeline_change``,
    ``change_status``) with these arguments and commit it. A refusal rolls everything back
    and is raised; a save by someone else in between (or at the same instant: the database's
    own check) is a Conflict."""
    try:
        return committed(change, *args, **kwargs)
    except (StaleDataError, IntegrityError):
        # IntegrityError: a save at the same instant took this revision number.
        db.session.rollback()
        raise Conflict(CONFLICT_MESSAGE) from None


def plan_viewed(viewer: User, plan: TaperPlan, action: str = "plan.view") -> None:
    """Audit that a clinician read a plan's page (``plan.view``, ``plan.revisions``); commit."""
    audit.record(viewer, action, "taper_plan", plan.id, patient_id=plan.patient_id)
    db.session.commit()


def plans_viewed(viewer: User, shown: Sequence[TaperPlan]) -> None:
    """Audit that a page showed these plans (the editor: the plan, and the patient's other
    running plans it names); commit. Nothing shown, nothing written."""
    if shown:
        objects = [(plan.id, plan.patient_id) for plan in shown]
        audit.record_views(viewer, "plan.view", "taper_plan", objects)
        db.session.commit()
