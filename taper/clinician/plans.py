"""Clinician views for writing, revising, holding and reviewing taper plans."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import SelectChoice

from taper import access
from taper.auth import fresh
from taper.clinician.plan_forms import (
    CompareForm,
    HoldForm,
    PlanForm,
    ReleaseHoldForm,
    StatusForm,
)
from taper.clinician.views import bp
from taper.domain.schedule import (
    dose_on,
    hold_end,
    local_today,
    step_facts,
)
from taper.extensions import db
from taper.models import COMMON_MEDICATIONS, PlanStatus, TaperPlan
from taper.services import Conflict, ServiceError, audit, plans
from taper.templating import dose as dose_text

BLANK_ROWS = 3
STATUS_ACTIONS = {
    PlanStatus.DRAFT: [(PlanStatus.ACTIVE, "Activate: the patient sees this plan")],
    PlanStatus.ACTIVE: [(PlanStatus.PAUSED, "Pause"), (PlanStatus.COMPLETED, "Mark completed")],
    PlanStatus.PAUSED: [(PlanStatus.ACTIVE, "Resume"), (PlanStatus.COMPLETED, "Mark completed")],
    PlanStatus.COMPLETED: [],
}
CONFLICT_STATUS = 409


def _status_choices(plan: TaperPlan) -> list[SelectChoice]:
    return [SelectChoice(s.value, label) for s, label in STATUS_ACTIONS[plan.status]]


def _rows(form: PlanForm) -> list[dict[str, str]]:
    return [{k: v or "" for k, v in row.data.items()} for row in form.steps]


def _add_blank_rows(form: PlanForm, count: int = BLANK_ROWS) -> None:
    """Empty rows for new steps: nothing is copied from the rows above."""
    for _ in range(min(count, form.steps.max_entries - len(form.steps))):
        form.steps.append_entry()


def _typed_row(step) -> dict[str, str]:
    """A stored step back in its own row, as the clinician typed it."""
    row = {"start": step.start_date.isoformat(), "note": step.note, "total": dose_text(step.total)}
    row.update({name: dose_text(value) for name, value in step.split()})
    return row


def _show_errors(form: PlanForm, errors: dict) -> list[str]:
    """Put each error beside its field; return the ones that belong to the whole plan."""
    general = []
    for (where, name), message in errors.items():
        if where == "plan":
            target = getattr(form, name, None)
            if target is not None and name != "steps":
                target.errors = [*target.errors, message]
            else:
                general.append(message)
        elif isinstance(where, int) and where < len(form.steps):
            name = "total" if name == "split" else name  # the parts must add up to the total
            sub = getattr(form.steps[where].form, name, None)
            if sub is not None:
                sub.errors = [*sub.errors, message]
            else:
                general.append(f"Step {where + 1}: {message}")
    return general


def _version(form) -> int | None:
    text = form.version.data or ""
    return int(text) if text.isascii() and text.isdigit() else None


def _editor(form: PlanForm, *, patient, plan=None, general=(), status=200, conflict=False):
    """The editor; the facts table when the rows as typed all make valid steps, and on
    "Check the steps" each problem beside its field, as saving would show them."""
    try:
        typed = [step for _, step in plans.parse_rows(_rows(form))]
    except plans.PlanInputError as error:
        typed = []
        if form.check.data:
            general = [*general, *_show_errors(form, error.errors)]
    return render_template(
        "clinician/plan_edit.html",
        form=form,
        patient=patient,
        plan=plan,
        general_errors=general,
        medications=COMMON_MEDICATIONS,
        needs_password=not fresh.is_recent(),
        conflict=conflict,
        typed=list(zip(typed, step_facts(typed), strict=True)),
    ), status


@bp.route("/patients/<int:patient_id>/plans/new", methods=["GET", "POST"])
def new_plan(patient_id: int):
    """Write a new plan (saved as a draft) for a patient on your care team."""
    patient = access.patient_or_404(current_user, patient_id)
    form = PlanForm()
    if not form.is_submitted():
        _add_blank_rows(form, 6)
        return _editor(form, patient=patient)
    if form.add_rows.data or form.check.data:
        if form.add_rows.data:
            _add_blank_rows(form)
        return _editor(form, patient=patient)
    if form.validate() and fresh.confirm(form):
        try:
            plan = plans.create_plan(
                current_user, patient, form.medication.data, _rows(form), form.reason.data or ""
            )
        except plans.PlanInputError as error:
            db.session.rollback()
            return _editor(
                form, patient=patient, general=_show_errors(form, error.errors), status=400
            )
        db.session.commit()
        flash("Plan saved as a draft. The patient sees it once you activate it.")
        return redirect(url_for("clinician.plan", plan_id=plan.id))
    return _editor(form, patient=patient, status=400)


@bp.get("/plans/<int:plan_id>", endpoint="plan")
def plan_page(plan_id: int):
    """A plan's current steps with facts for the clinician, its hold, status and actions."""
    plan = access.plan_or_404(current_user, plan_id)
    patient = plan.patient
    revision = plan.current_revision
    steps = plans.step_inputs(revision)
    hold = plans.hold_of(revision)
    today = local_today(datetime.now(UTC), patient.timezone)
    audit.record(current_user, "plan.view", "taper_plan", plan.id, patient_id=patient.id)
    db.session.commit()
    forms = [StatusForm(), HoldForm(), ReleaseHoldForm()]
    for form in forms:  # never the version a refused request posted: the plan's as it is now
        form.version.data = str(plan.version)
    status_form, hold_form, release_form = forms
    status_form.status.choices = _status_choices(plan)
    return render_template(
        "clinician/plan.html",
        plan=plan,
        patient=patient,
        revision=revision,
        facts=step_facts(steps),
        hold=hold,
        today=today,
        now=dose_on(steps, today, hold),
        hold_end=hold_end(steps, hold),
        hold_form=hold_form,
        release_form=release_form,
        status_form=status_form,
        needs_password=not fresh.is_recent(),
    )


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def edit_plan(plan_id: int):
    """Revise a plan: the saved steps become a new revision with your reason."""
    plan = access.plan_or_404(current_user, plan_id)
    if plan.status is PlanStatus.COMPLETED:
        flash("A completed plan cannot be changed. Write a new plan instead.")
        return redirect(url_for("clinician.plan", plan_id=plan.id))
    form = PlanForm()
    if not form.is_submitted():
        form.medication.data = plan.medication
        form.version.data = str(plan.version)
        for step in plan.current_revision.steps:
            form.steps.append_entry(_typed_row(step))
        _add_blank_rows(form)
        return _editor(form, patient=plan.patient, plan=plan)
    if form.add_rows.data or form.check.data:
        if form.add_rows.data:
            _add_blank_rows(form)
        return _editor(form, patient=plan.patient, plan=plan)
    if form.validate() and fresh.confirm(form):
        try:
            plans.revise_plan(
                current_user,
                plan,
                _version(form),
                _rows(form),
                form.reason.data or "",
                medication=form.medication.data,
            )
            db.session.commit()
        except plans.PlanInputError as error:
            db.session.rollback()
            return _editor(
                form,
                patient=plan.patient,
                plan=plan,
                general=_show_errors(form, error.errors),
                status=400,
            )
        except (Conflict, StaleDataError, IntegrityError):
            # IntegrityError: a save at the same instant took this revision number.
            db.session.rollback()
            # Keep everything typed; the next save is made against the plan as it is now.
            form.version.data = str(plan.version)
            return _editor(
                form,
                patient=plan.patient,
                plan=plan,
                conflict=True,
                general=[plans.CONFLICT_MESSAGE],
                status=CONFLICT_STATUS,
            )
        flash("Plan saved as a new revision.")
        return redirect(url_for("clinician.plan", plan_id=plan.id))
    return _editor(form, patient=plan.patient, plan=plan, status=400)


def _plan_action(plan_id: int, form_class, action):
    """Shared shape of hold, release and status changes: check, act, commit, report."""
    plan = access.plan_or_404(current_user, plan_id)
    form = form_class()
    if hasattr(form, "status"):
        form.status.choices = _status_choices(plan)
    if form.validate_on_submit() and fresh.confirm(form):
        try:
            message = action(plan, form)
            db.session.commit()
        except (Conflict, StaleDataError, IntegrityError):
            db.session.rollback()
            flash(plans.CONFLICT_MESSAGE)
            return plan_page(plan_id), CONFLICT_STATUS
        except ServiceError as error:
            db.session.rollback()
            messages = getattr(error, "errors", {}).values() or [error.message]
            for text in messages:
                flash(text)
            return redirect(url_for("clinician.plan", plan_id=plan_id))
        flash(message)
        return redirect(url_for("clinician.plan", plan_id=plan_id))
    for name, errors in form.errors.items():
        for text in errors:
            flash(f"{getattr(form, name).label.text}: {text}")
    return redirect(url_for("clinician.plan", plan_id=plan_id))


@bp.post("/plans/<int:plan_id>/hold")
def hold(plan_id: int):
    """Hold the dose in force today until a date, or until reviewed."""

    def act(plan: TaperPlan, form: HoldForm) -> str:
        today = local_today(datetime.now(UTC), plan.patient.timezone)
        plans.hold_step(
            current_user, plan, _version(form), today, form.until.data, form.reason.data or ""
        )
        return "The current dose is on hold."

    return _plan_action(plan_id, HoldForm, act)


@bp.post("/plans/<int:plan_id>/release-hold")
def release_hold(plan_id: int):
    """End a hold."""

    def act(plan: TaperPlan, form: ReleaseHoldForm) -> str:
        plans.release_hold(current_user, plan, _version(form), form.reason.data or "")
        return "The hold has ended; the plan follows its steps again."

    return _plan_action(plan_id, ReleaseHoldForm, act)


@bp.post("/plans/<int:plan_id>/status")
def plan_status(plan_id: int):
    """Activate, pause, resume or complete a plan."""

    def act(plan: TaperPlan, form: StatusForm) -> str:
        plans.change_status(current_user, plan, _version(form), PlanStatus(form.status.data))
        return f"The plan is now {plan.status.value}."

    return _plan_action(plan_id, StatusForm, act)


@bp.get("/plans/<int:plan_id>/revisions")
def revisions(plan_id: int):
    """Every revision of a plan; two of them side by side."""
    plan = access.plan_or_404(current_user, plan_id)
    by_number = {r.number: r for r in plan.revisions}
    compare = CompareForm(request.args)
    latest = max(by_number)
    a = by_number.get(compare.a.data or max(latest - 1, 1))
    b = by_number.get(compare.b.data or latest)
    audit.record(current_user, "plan.revisions", "taper_plan", plan.id, patient_id=plan.patient_id)
    db.session.commit()
    return render_template(
        "clinician/plan_revisions.html",
        plan=plan,
        patient=plan.patient,
        revisions=list(reversed(plan.revisions)),
        a=a,
        b=b,
    )
