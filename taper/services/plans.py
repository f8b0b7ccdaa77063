"""Writing and revising taper plans. Every dose stored here was typed by a clinician."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from taper.domain.schedule import (
    TIMES_OF_DAY,
    DoseError,
    Hold,
    StepInput,
    validate_steps,
)
from taper.domain.schedule import parse_dose as _parse_dose
from taper.extensions import db
from taper.models import PlanReceipt, PlanRevision, PlanStatus, TaperPlan, TaperStep, User
from taper.services import Conflict, ServiceError, audit

MAX_ROWS = 60
CONFLICT_MESSAGE = (
    "Someone else changed this plan while you were editing it. Everything you typed is kept "
    "below: compare it with the current plan, then save again."
)
ROW_FIELDS = ("start", "total", *TIMES_OF_DAY, "note")
ALLOWED_STATUS_CHANGES = {
    (PlanStatus.DRAFT, PlanStatus.ACTIVE),
    (PlanStatus.ACTIVE, PlanStatus.PAUSED),
    (PlanStatus.PAUSED, PlanStatus.ACTIVE),
    (PlanStatus.ACTIVE, PlanStatus.COMPLETED),
    (PlanStatus.PAUSED, PlanStatus.COMPLETED),
}


class PlanInputError(ServiceError):
    """The typed plan has problems; ``errors`` maps (row, field) or ("plan", field) to a message."""

    def __init__(self, errors: dict[tuple[int | str, str], str]) -> None:
        super().__init__("Please fix the problems shown beside the fields.")
        self.errors = errors


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ServiceError("Enter a real date, like 2026-03-14.") from None


def parse_rows(rows: Sequence[Mapping[str, str]]) -> list[tuple[int, StepInput]]:
    """Turn typed rows into steps; blank rows are skipped. Raises PlanInputError."""
    errors: dict[tuple[int | str, str], str] = {}
    steps: list[tuple[int, StepInput]] = []
    for index, row in enumerate(rows[:MAX_ROWS]):
        if not any((row.get(name) or "").strip() for name in ROW_FIELDS):
            continue
        start = total = None
        parts: list[tuple[str, Decimal]] = []
        if not (row.get("start") or "").strip():
            errors[(index, "start")] = "Enter the date this step starts."
        else:
            try:
                start = _parse_date(row["start"])
            except ServiceError as error:
                errors[(index, "start")] = error.message
        try:
            total = _parse_dose(row.get("total"), required=True)
        except DoseError as error:
            errors[(index, "total")] = str(error)
        for name in TIMES_OF_DAY:
            try:
                part = _parse_dose(row.get(name), required=False)
            except DoseError as error:
                errors[(index, name)] = str(error)
            else:
                if part is not None:
                    parts.append((name, part))
        note = (row.get("note") or "").strip()
        if start is not None and total is not None:
            steps.append(
                (index, StepInput(start=start, total=total, split=tuple(parts), note=note))
            )
        elif not errors:
            errors[(index, "start")] = "Fill in this step or clear it."
    if not steps and not errors:
        errors[("plan", "steps")] = "Add at least one step."
    for problem in validate_steps([step for _, step in steps]) if steps else ():
        if problem.index < 0:
            errors[("plan", problem.field)] = problem.message
        else:
            errors.setdefault((steps[problem.index][0], problem.field), problem.message)
    if errors:
        raise PlanInputError(errors=errors)
    return steps


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


def create_plan(
    actor: User, patient: User, medication: str, rows: Sequence[Mapping[str, str]], reason: str = ""
) -> TaperPlan:
    """Create a draft plan with its first revision."""
    errors: dict = {}
    try:
        medication = _check_medication(medication)
    except PlanInputError as error:
        errors.update(error.errors)
    try:
        steps = [step for _, step in parse_rows(rows)]
    except PlanInputError as error:
        errors.update(error.errors)
    if errors:
        raise PlanInputError(errors=errors)
    plan = TaperPlan(patient_id=patient.id, medication=medication, created_by_id=actor.id)
    db.session.add(plan)
    db.session.flush()
    revision = _add_revision(actor, plan, steps, (reason or "").strip())
    audit.record(
        actor,
        "plan.create",
        "taper_plan",
        plan.id,
        patient_id=patient.id,
        summary={"revision": revision.number, "steps": len(steps)},
    )
    return plan


def revise_plan(
    actor: User,
    plan: TaperPlan,
    expected_version: int | None,
    rows: Sequence[Mapping[str, str]],
    reason: str,
    medication: str | None = None,
) -> PlanRevision:
    """Save the typed steps as a new revision; earlier revisions stay as they were."""
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
    try:
        steps = [step for _, step in parse_rows(rows)]
    except PlanInputError as error:
        errors.update(error.errors)
    if errors:
        raise PlanInputError(errors=errors)
    previous = plan.current_revision
    hold = (
        Hold(previous.hold_start, previous.hold_until)
        if previous is not None and previous.hold_start
        else None
    )
    revision = _add_revision(actor, plan, steps, reason, hold)
    audit.record(
        actor,
        "plan.revise",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary={"revision": revision.number, "steps": len(steps)},
    )
    return revision


def step_inputs(revision: PlanRevision) -> list[StepInput]:
    """A revision's steps as the domain sees them (exactly the stored values)."""
    return [
        StepInput(start=s.start_date, total=s.total, split=s.split(), note=s.note)
        for s in revision.steps
    ]


def hold_of(revision: PlanRevision | None) -> Hold | None:
    """The revision's hold, if any."""
    if revision is None or revision.hold_start is None:
        return None
    return Hold(start=revision.hold_start, until=revision.hold_until)


def hold_step(
    actor: User,
    plan: TaperPlan,
    expected_version: int | None,
    today: date,
    until: date | None,
    reason: str,
) -> PlanRevision:
    """Keep the dose in force today until a date the clinician typed, or until reviewed."""
    _check_version(plan, expected_version)
    if plan.status is not PlanStatus.ACTIVE or plan.current_revision is None:
        raise ServiceError("Only an active plan can be held.", "until")
    reason = _require_reason(plan, reason)
    if until is not None and until < today:
        raise PlanInputError(errors={("plan", "until"): "Choose today or a later date."})
    steps = step_inputs(plan.current_revision)
    revision = _add_revision(actor, plan, steps, reason, Hold(start=today, until=until))
    audit.record(
        actor,
        "plan.hold",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary={"revision": revision.number, "until": until.isoformat() if until else None},
    )
    return revision


def release_hold(
    actor: User, plan: TaperPlan, expected_version: int | None, reason: str
) -> PlanRevision:
    """End a hold: the schedule follows its steps again."""
    _check_version(plan, expected_version)
    if hold_of(plan.current_revision) is None:
        raise ServiceError("This plan is not on hold.")
    reason = _require_reason(plan, reason)
    revision = _add_revision(actor, plan, step_inputs(plan.current_revision), reason)
    audit.record(
        actor,
        "plan.release_hold",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary={"revision": revision.number},
    )
    return revision


def change_status(
    actor: User, plan: TaperPlan, expected_version: int | None, new_status: PlanStatus
) -> None:
    """Activate, pause, resume or complete a plan."""
    _check_version(plan, expected_version)
    if (plan.status, new_status) not in ALLOWED_STATUS_CHANGES:
        raise ServiceError(f"A {plan.status.value} plan cannot become {new_status.value}.")
    before = plan.status
    plan.status = new_status
    audit.record(
        actor,
        "plan.status",
        "taper_plan",
        plan.id,
        patient_id=plan.patient_id,
        summary={"from": before.value, "to": new_status.value},
    )


def plans_for_patient(patient: User, *, include_drafts: bool) -> list[TaperPlan]:
    """A patient's plans with their current revision and steps loaded in one go."""
    query = (
        select(TaperPlan)
        .where(TaperPlan.patient_id == patient.id)
        .options(
            selectinload(TaperPlan.current_revision).selectinload(PlanRevision.steps),
            selectinload(TaperPlan.current_revision).selectinload(PlanRevision.author),
        )
        .order_by(TaperPlan.created_at, TaperPlan.id)
    )
    if not include_drafts:
        query = query.where(TaperPlan.status != PlanStatus.DRAFT)
    return list(db.session.scalars(query))


def unseen_revisions(patient: User, plans: Sequence[TaperPlan]) -> set[int]:
    """Ids of the plans whose current revision the patient has not seen yet; marks them seen.

    Kept apart from the plan row so a patient's visit never collides with a clinician's edit."""
    if not plans:
        return set()
    receipts = {
        r.plan_id: r
        for r in db.session.scalars(
            select(PlanReceipt).where(PlanReceipt.plan_id.in_([p.id for p in plans]))
        )
    }
    unseen = set()
    for plan in plans:
        receipt = receipts.get(plan.id)
        if receipt is None:
            db.session.add(
                PlanReceipt(
                    plan_id=plan.id, patient_id=patient.id, revision_id=plan.current_revision_id
                )
            )
            unseen.add(plan.id)
        elif receipt.revision_id != plan.current_revision_id:
            receipt.revision_id = plan.current_revision_id
            unseen.add(plan.id)
    return unseen


def first_active_plan_per_patient() -> list[tuple[User, TaperPlan]]:
    """Each patient with an active plan, and their earliest active plan (steps loaded)."""
    rows = db.session.scalars(
        select(TaperPlan)
        .where(TaperPlan.status == PlanStatus.ACTIVE)
        .options(
            selectinload(TaperPlan.patient),
            selectinload(TaperPlan.current_revision).selectinload(PlanRevision.steps),
        )
        .order_by(TaperPlan.patient_id, TaperPlan.created_at, TaperPlan.id)
    )
    seen: dict[int, tuple[User, TaperPlan]] = {}
    for plan in rows:
        seen.setdefault(plan.patient_id, (plan.patient, plan))
    return list(seen.values())
