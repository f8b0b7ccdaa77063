"""Clinician views for writing, revising, holding and reviewing taper plans."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from taper import access
from taper.auth import fresh
from taper.clinician import bp
from taper.clinician.forms import (
    MAX_FORM_ROWS,
    CompareForm,
    HoldForm,
    PlanForm,
    ReleaseHoldForm,
    StatusForm,
)
from taper.domain import plan_input
from taper.domain.schedule import local_today, step_facts
from taper.domain.timeline import HOLD, hold_in_force, next_change, step_after_hold
from taper.models import COMMON_MEDICATIONS, PlanStatus, TaperPlan
from taper.services import Conflict, ServiceError, plans
from taper.templating import dose as dose_text

BLANK_ROWS = 3  # below a revised plan's steps, and for each "Add more steps" without JS
NEW_PLAN_ROWS = 10  # a new plan's editor: enough rows for most plans, typed in one go
STATUS_ACTIONS = {
    PlanStatus.DRAFT: [(PlanStatus.ACTIVE, "Activate: the patient sees this plan")],
    PlanStatus.ACTIVE: [
        (PlanStatus.PAUSED, "Pause: the dose in force stays, steps stop moving on"),
        (PlanStatus.COMPLETED, "Mark completed"),
    ],
    PlanStatus.PAUSED: [
        (PlanStatus.ACTIVE, "Resume: later steps move by the days paused"),
        (PlanStatus.COMPLETED, "Mark completed"),
    ],
    PlanStatus.COMPLETED: [],
}
# Status changes that move the timeline: shown as new dates first, then confirmed.
TIMELINE_STATUS = {
    (PlanStatus.ACTIVE, PlanStatus.PAUSED): "pause",
    (PlanStatus.PAUSED, PlanStatus.ACTIVE): "resume",
}
CONFLICT_STATUS = 409


def _status_choices(plan: TaperPlan) -> list[SelectChoice]:
    return [SelectChoice(s.value, label) for s, label in STATUS_ACTIONS[plan.status]]


def _rows(form: PlanForm) -> list[dict[str, str]]:
    return [{k: v or "" for k, v in row.data.items()} for row in form.steps]


def _add_blank_rows(form: PlanForm, count: int = BLANK_ROWS) -> None:
    """Empty rows for new steps: nothing is copied from the rows above."""
    for _ in range(min(count, plan_input.MAX_ROWS - len(form.steps))):
        form.steps.append_entry()


def _typed_row(step) -> dict[str, str]:
    """A stored step back in its own row, as the clinician typed it."""
    row = {"start": step.start_date.isoformat(), "note": step.note, "total": dose_text(step.total)}
    row.update({name: dose_text(value) for name, value in step.split()})
    return row


def _show_errors(form: PlanForm, errors: dict) -> list[str]:
    """Put each error beside its field; return the ones that belong to the whole plan (those
    about the steps are also shown beside the steps: ``_steps_errors``)."""
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
    # The list's errors were worked out when the form was validated: count the rows' now, so
    # the summary at the top says a step needs another look.
    rows = [row.errors for row in form.steps]
    form.steps.errors = rows if any(rows) else []
    return general


STEPS = ("plan", "steps")


def _steps_errors(errors: dict) -> list[str]:
    """The problems with the steps as a whole (too many, none), shown beside the steps."""
    return [message for (where, name), message in errors.items() if (where, name) == STEPS]


def _too_many_rows(form: PlanForm) -> dict:
    """A post with more rows than the form takes would be cut short: refuse it instead.
    Rows are counted as WTForms reads them: any index of digits (``str.isdigit``, so
    ``steps-2000000000-`` and other scripts' digits too) after ``steps-``."""
    indices = (key.split("-", 2)[1] for key in request.form if key.startswith("steps-"))
    posted = {int(index) for index in indices if index.isdigit()}
    if len(posted) <= MAX_FORM_ROWS:
        return {}
    return {
        STEPS: f"A plan can have at most {plan_input.MAX_ROWS} steps; this form has {len(posted)} "
        "rows. Nothing was saved."
    }


def _refusal(form: PlanForm, errors: dict) -> dict:
    """The editor's arguments for refused input: each problem beside its field."""
    return {"general": _show_errors(form, errors), "steps_errors": _steps_errors(errors)}


def _version(form) -> int | None:
    text = form.version.data or ""
    return int(text) if text.isascii() and text.isdigit() else None


def _patient_today(patient) -> date:
    return local_today(datetime.now(UTC), patient.timezone)


def _hold_in_force(plan):
    """The plan's hold or pause still in force for the patient, for the editor's notice."""
    if plan is None:
        return None
    return hold_in_force(plans.hold_of(plan.current_revision), _patient_today(plan.patient))


def _editor(
    form: PlanForm,
    *,
    patient,
    plan=None,
    general=(),
    status=200,
    conflict=False,
    steps_errors=(),
    first_view=False,
):
    """The editor; the facts table when the rows as typed all make valid steps, and on
    "Check the steps" each problem beside its field, as saving would show them. Its
    ``first_view`` (the GET) is audited as a view of the plans it shows (SECURITY.md D5);
    a form sent back with refusals writes nothing, as every refusal."""
    medication, unit = _medication_unit(form, plan)
    rows = _rows(form)
    today = _patient_today(patient)
    try:  # the facts table: the steps as typed, whether or not a dose still needs its tick
        typed = [step for _, step in plan_input.parse_rows(rows, today)]
    except plan_input.RowsError:
        typed = []
    if form.check.data:
        _form_problems(form)  # its refusals are left beside their fields
        if problems := _check_problems(form, patient, plan):
            general = [*general, *_show_errors(form, problems)]
            steps_errors = _steps_errors(problems)
    crossover = _crossover(patient, plan)
    if first_view:
        plans.plans_viewed(current_user, [p for p in (plan, *crossover) if p is not None])
    return render_template(
        "clinician/plan_edit.html",
        form=form,
        patient=patient,
        plan=plan,
        general_errors=general,
        medications=COMMON_MEDICATIONS,
        needs_password=not fresh.is_recent(),
        conflict=conflict,
        steps_errors=steps_errors,
        dose_notices=plan_input.dose_notices(medication, rows, unit),
        typed=list(zip(typed, step_facts(typed), strict=True)),
        hold=_hold_in_force(plan),
        crossover=crossover,
        check_url=_check_url(patient, plan),
        first_new_row=len(form.steps) + 1,
        max_rows=plan_input.MAX_ROWS,
    ), status


def _medication_unit(form: PlanForm, plan: TaperPlan | None) -> tuple[str | None, str]:
    """The medication the typed doses are checked against (a draft's as typed) and its unit."""
    medication = plan.medication if plan and plan.status is not PlanStatus.DRAFT else None
    return medication or form.medication.data, plan.unit if plan else "mg"


def _form_problems(form: PlanForm) -> dict:
    """The form's own refusals (text that cannot be saved, a note too long), as saving would
    show them; each is also left on its field for the page."""
    if form.validate():
        return {}
    problems: dict = {}
    for index, entry in enumerate(form.steps):
        for name, messages in entry.form.errors.items():
            problems[(index, name)] = " ".join(messages)
    for name, messages in form.errors.items():
        if name not in ("steps", "csrf_token") and messages:
            problems[("plan", name)] = " ".join(messages)
    return problems


def _check_problems(form: PlanForm, patient, plan: TaperPlan | None) -> dict:
    """ "Check the steps": the problems of the rows as saving would find them, saving
    nothing. The one check behind both the page and the JSON answer (``_check_answer``)."""
    medication, unit = _medication_unit(form, plan)
    try:
        plan_input.parse_rows(_rows(form), _patient_today(patient), medication, unit)
    except plan_input.RowsError as error:
        return error.errors
    return {}


def _crossover(patient, plan: TaperPlan | None) -> list[TaperPlan]:
    """The patient's other running plans, while this one is not running yet: activating it
    makes a crossover, which the page says before it happens."""
    if plan is not None and plan.status is not PlanStatus.DRAFT:
        return []
    return plans.running_besides(patient, plan)


def _check_url(patient, plan: TaperPlan | None) -> str:
    if plan is None:
        return url_for("clinician.check_new_plan", patient_id=patient.id)
    return url_for("clinician.check_plan", plan_id=plan.id)


def _fill_dates(form: PlanForm) -> dict:
    """Date help: the later steps' start dates from the first one (doses are never touched);
    the problems, if any, to show beside the fields."""
    try:
        rows = plan_input.fill_start_dates(_rows(form), form.step_days.data)
    except plan_input.RowsError as error:
        return error.errors
    for entry, row in zip(form.steps, rows, strict=True):
        entry.form.start.data = row["start"]
    return {}


def _unless_saving(form: PlanForm, patient, plan=None):
    """The editor again, saving nothing, for a post with too many rows, "Add more steps",
    "Check the steps", "Fill the start dates", a field refused or the password missing; None
    for a post to save."""
    if too_many := _too_many_rows(form):
        return _editor(form, patient=patient, plan=plan, status=400, **_refusal(form, too_many))
    if form.fill_dates.data and (problems := _fill_dates(form)):
        return _editor(form, patient=patient, plan=plan, status=400, **_refusal(form, problems))
    if form.add_rows.data or form.check.data or form.fill_dates.data:
        if form.add_rows.data:
            _add_blank_rows(form)
        return _editor(form, patient=patient, plan=plan)
    if not (form.validate() and fresh.confirm(form)):
        return _editor(form, patient=patient, plan=plan, status=400)
    return None


@bp.route("/patients/<int:patient_id>/plans/new", methods=["GET", "POST"])
def new_plan(patient_id: int):
    """Write a new plan (saved as a draft) for a patient on your care team."""
    patient = access.patient_or_404(current_user, patient_id)
    form = PlanForm()
    del form.reason  # a first plan changes nothing: no reason asked (revisions ask one)
    if not form.is_submitted():
        form.submission_id.data = uuid.uuid4().hex
        _add_blank_rows(form, NEW_PLAN_ROWS)
        return _editor(form, patient=patient, first_view=True)
    if (answer := _unless_saving(form, patient)) is not None:
        return answer
    try:
        plan = plans.save(
            plans.create_plan,
            current_user,
            patient,
            form.medication.data,
            _rows(form),
            today=_patient_today(patient),
            submission_id=form.submission_id.data,
        )
    except plans.PlanInputError as error:
        return _editor(form, patient=patient, status=400, **_refusal(form, error.errors))
    flash("Plan saved as a draft. The patient sees it once you activate it.")
    return redirect(url_for("clinician.plan", plan_id=plan.id))


def _standing(schedule, today: date) -> dict:
    """Where a plan stands on the patient's day: the dose in force, the next change, and the
    step that follows a hold or pause in force."""
    now = schedule.on(today)
    # The same rule as the service that takes a new hold and as the patient's Today: a dated
    # hold whose last day has passed (in the patient's time zone) is over.
    current = hold_in_force(schedule.hold, today)
    return {
        "facts": step_facts(list(schedule.steps)),
        "hold": current,
        "ended_hold": schedule.hold if current is None else None,
        "held": hold_in_force(schedule.hold, today, HOLD) is not None,
        "today": today,
        "now": now,
        "next": next_change(schedule.steps, today, schedule.hold),
        "after_hold": step_after_hold(schedule.steps, schedule.hold) if now.on_hold else None,
    }


def _action_forms(plan: TaperPlan) -> dict:
    """The plan page's status, hold and release forms, each with ids of its own, carrying the
    plan's version as it is now (never the version a refused request posted)."""
    forms = {"status": StatusForm(), "hold": HoldForm(), "release": ReleaseHoldForm()}
    for prefix, form in forms.items():
        form.version.data = str(plan.version)
        form.confirm.data = ""
        _unique_ids(form, prefix)
    forms["status"].status.choices = _status_choices(plan)
    return {f"{prefix}_form": form for prefix, form in forms.items()}


@bp.get("/plans/<int:plan_id>", endpoint="plan")
def plan_page(plan_id: int):
    """A plan's current steps with facts for the clinician, its hold, status and actions."""
    plan = access.plan_or_404(current_user, plan_id)
    patient = plan.patient
    schedule = plans.schedule_of(plan)
    standing = _standing(schedule, _patient_today(patient))
    plans.plan_viewed(current_user, plan)
    return render_template(
        "clinician/plan.html",
        plan=plan,
        patient=patient,
        revision=plan.current_revision,
        needs_password=not fresh.is_recent(),
        crossover=_crossover(patient, plan),
        **_action_forms(plan),
        **standing,
    )


def _unique_ids(form, prefix: str) -> None:
    """Three forms share one page: give each field an id of its own (same names posted)."""
    for item in form:
        item.id = f"{prefix}-{item.name}"
        item.label.field_id = item.id


def _plan_editor(form: PlanForm, plan: TaperPlan, **kwargs):
    """The editor of an existing plan."""
    return _editor(form, patient=plan.patient, plan=plan, **kwargs)


def _first_view(form: PlanForm, plan: TaperPlan):
    """The editor's first view: the plan's current steps as typed, and empty rows below."""
    form.medication.data = plan.medication
    form.version.data = str(plan.version)
    for step in plan.current_revision.steps:
        form.steps.append_entry(_typed_row(step))
    _add_blank_rows(form)
    return _plan_editor(form, plan, first_view=True)


def _conflict_editor(form: PlanForm, plan: TaperPlan):
    """Someone else saved first: keep everything typed; the next save is made against the
    plan as it is now."""
    form.version.data = str(plan.version)
    general = [plans.CONFLICT_MESSAGE]
    return _plan_editor(form, plan, conflict=True, general=general, status=CONFLICT_STATUS)


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
def edit_plan(plan_id: int):
    """Revise a plan: the saved steps become a new revision with your reason."""
    plan = access.plan_or_404(current_user, plan_id)
    if plan.status is PlanStatus.COMPLETED:
        flash("A completed plan cannot be changed. Write a new plan instead.")
        return redirect(url_for("clinician.plan", plan_id=plan.id))
    form = PlanForm()
    if not form.is_submitted():
        return _first_view(form, plan)
    if (answer := _unless_saving(form, plan.patient, plan)) is not None:
        return answer
    try:
        plans.save(
            plans.revise_plan,
            current_user,
            plan,
            _version(form),
            _rows(form),
            form.reason.data or "",
            medication=form.medication.data,
            today=_patient_today(plan.patient),
        )
    except plans.PlanInputError as error:
        return _plan_editor(form, plan, status=400, **_refusal(form, error.errors))
    except Conflict:
        return _conflict_editor(form, plan)
    flash("Plan saved as a new revision.")
    return redirect(url_for("clinician.plan", plan_id=plan.id))


def _check_answer(form: PlanForm, patient, plan: TaperPlan | None = None):
    """The problems "Check the steps" finds, as JSON for the editor's script: each message
    keyed by the id of the field it belongs beside; saves nothing."""
    problems = _too_many_rows(form)
    if not problems:  # the form's refusals first, as the page shows them beside the fields
        problems = {**_form_problems(form)}
        for key, message in _check_problems(form, patient, plan).items():
            problems[key] = f"{problems[key]} {message}" if key in problems else message
    fields: dict[str, str] = {}
    confirm: dict[str, dict[str, str]] = {}
    general: list[str] = []

    def beside(field_id: str, message: str) -> None:  # two problems of one field: both
        fields[field_id] = f"{fields[field_id]} {message}" if field_id in fields else message

    for (where, name), message in problems.items():
        if where == "plan":
            target = getattr(form, name, None)
            if target is not None and name != "steps":
                beside(target.id, message)
            else:
                general.append(message)
        elif name == "confirm_dose":  # the page's "this dose is right" box, with its total
            row = form.steps[where].form if where < len(form.steps) else None
            total = row.total.data if row is not None else ""
            confirm[f"steps-{where}-confirm_dose"] = {"message": message, "total": total or ""}
        else:
            name = "total" if name == "split" else name  # the parts must add up to the total
            beside(f"steps-{where}-{name}", message)
    steps = plan_input.typed_count(_rows(form))
    return jsonify(ok=not problems, steps=steps, fields=fields, confirm=confirm, general=general)


@bp.post("/patients/<int:patient_id>/plans/new/check")
def check_new_plan(patient_id: int):
    """ "Check the steps" of a new plan in place: the problems per field as JSON."""
    patient = access.patient_or_404(current_user, patient_id)
    return _check_answer(PlanForm(), patient)


@bp.post("/plans/<int:plan_id>/edit/check")
def check_plan(plan_id: int):
    """ "Check the steps" of a plan being revised in place: the problems per field as JSON."""
    plan = access.plan_or_404(current_user, plan_id)
    return _check_answer(PlanForm(), plan.patient, plan)


def _refused(plan_id: int, error: ServiceError):
    """Back to the plan page, saying why the change was refused."""
    messages = getattr(error, "errors", {}).values() or [error.message]
    for text in messages:
        flash(text)
    return redirect(url_for("clinician.plan", plan_id=plan_id))


def _form_refused(plan_id: int, form):
    """Back to the plan page, with each problem of the posted form."""
    for name, errors in form.errors.items():
        for text in errors:
            flash(f"{getattr(form, name).label.text}: {text}")
    return redirect(url_for("clinician.plan", plan_id=plan_id))


def _timeline_action(plan, form, action: str, until=None, *, endpoint: str):
    """Hold, release, pause or resume. The first post shows the clinician the dates as they
    will be (saves nothing); the confirmed post saves them as a new revision, provided it is
    still the patient's same day and nobody changed the plan in between."""
    today = _patient_today(plan.patient)
    try:
        change = plans.plan_timeline_change(plan, action, today, until)
    except ServiceError as error:
        return _refused(plan.id, error)
    stale_day = form.confirm.data == "1" and form.day.data != today.isoformat()
    if form.confirm.data != "1" and form.password.data:
        fresh.confirm(form)  # typed on the plan page: no need to type it again below
    if form.confirm.data == "1" and not stale_day and fresh.confirm(form):
        return _save_timeline_change(plan, form, change, until, endpoint)
    if stale_day:
        form.day.errors = [
            "A new day has begun for the patient since you looked, so the dates below were "
            "worked out again. Check them, then confirm."
        ]
    form.day.data = today.isoformat()
    form.confirm.data = "1"
    status = 400 if form.password.errors or stale_day else 200
    return _preview(plan, form, change, endpoint, status=status)


def _save_timeline_change(plan, form, change, until, endpoint: str):
    """Save a confirmed hold, release, pause or resume as a new revision."""
    try:
        plans.save(
            plans.apply_timeline_change,
            current_user,
            plan,
            _version(form),
            change.action,
            change.today,
            form.reason.data or "",
            until,
        )
    except Conflict:
        return _conflict_page(plan.id)
    except plans.PlanInputError as error:
        form.reason.errors = list(error.errors.values())
        return _preview(plan, form, change, endpoint, status=400)
    except ServiceError as error:
        return _refused(plan.id, error)
    flash(CONFIRMED[change.action])
    return redirect(url_for("clinician.plan", plan_id=plan.id))


def _conflict_page(plan_id: int):
    """Someone else changed the plan first: its page as it is now, with a 409."""
    flash(plans.CONFLICT_MESSAGE)
    return plan_page(plan_id), CONFLICT_STATUS


CONFIRMED = {
    "hold": "The dose in force is on hold. The later steps have their new dates.",
    "release": "The hold ends today; the plan goes on to its next step on that step's date.",
    "pause": "The plan is paused: the dose in force stays until you resume it.",
    "resume": "The plan is running again; the later steps have moved by the days paused.",
}


def _preview(plan, form, change, endpoint: str, status: int = 200):
    """The new dates a hold, release, pause or resume gives, to confirm."""
    return render_template(
        "clinician/plan_timeline.html",
        plan=plan,
        patient=plan.patient,
        form=form,
        change=change,
        endpoint=endpoint,
        needs_password=not fresh.is_recent(),
        now_before=plans.schedule_of(plan).on(change.today),
    ), status


def _hold_post(plan: TaperPlan, form, action: str, endpoint: str):
    """A post of the hold or release form: refused fields, else on to ``_timeline_action``."""
    if not form.validate_on_submit():
        return _form_refused(plan.id, form)
    until = form.until.data if isinstance(form, HoldForm) else None
    return _timeline_action(plan, form, action, until, endpoint=endpoint)


@bp.post("/plans/<int:plan_id>/hold")
def hold(plan_id: int):
    """Hold the dose in force today until a date, or until reviewed (new dates shown first)."""
    plan = access.plan_or_404(current_user, plan_id)
    return _hold_post(plan, HoldForm(), "hold", "clinician.hold")


@bp.post("/plans/<int:plan_id>/release-hold")
def release_hold(plan_id: int):
    """End a hold: the held dose stays today, the next step follows from tomorrow."""
    plan = access.plan_or_404(current_user, plan_id)
    return _hold_post(plan, ReleaseHoldForm(), "release", "clinician.release_hold")


@bp.post("/plans/<int:plan_id>/status")
def plan_status(plan_id: int):
    """Activate or complete a plan; pause and resume show the new dates first."""
    plan = access.plan_or_404(current_user, plan_id)
    form = StatusForm()
    form.status.choices = _status_choices(plan)
    if not form.validate_on_submit():
        return _form_refused(plan_id, form)
    new_status = PlanStatus(form.status.data)
    action = TIMELINE_STATUS.get((plan.status, new_status))
    if action is not None:
        return _timeline_action(plan, form, action, endpoint="clinician.plan_status")
    if not fresh.confirm(form):
        return _form_refused(plan_id, form)
    try:
        today = _patient_today(plan.patient)
        plans.save(plans.change_status, current_user, plan, _version(form), new_status, today)
    except Conflict:
        return _conflict_page(plan_id)
    except ServiceError as error:
        return _refused(plan_id, error)
    flash(f"The plan is now {plan.status.value}.")
    return redirect(url_for("clinician.plan", plan_id=plan_id))


@bp.get("/plans/<int:plan_id>/revisions")
def revisions(plan_id: int):
    """Every revision of a plan; two of them side by side."""
    plan = access.plan_or_404(current_user, plan_id)
    by_number = {r.number: r for r in plan.revisions}
    compare = CompareForm(request.args)
    latest = max(by_number)
    a = by_number.get(compare.a.data or max(latest - 1, 1))
    b = by_number.get(compare.b.data or latest)
    plans.plan_viewed(current_user, plan, "plan.revisions")
    return render_template(
        "clinician/plan_revisions.html",
        plan=plan,
        patient=plan.patient,
        revisions=list(reversed(plan.revisions)),
        a=a,
        b=b,
        moved=_moved_steps(a, b),
    )


def _moved_steps(a, b) -> list[tuple]:
    """Steps of the same dose at the same place in both revisions whose date differs: what a
    hold, release, pause or resume moved (or a hand edit of dates)."""
    if a is None or b is None or len(a.steps) != len(b.steps):
        return []
    return [
        (x, y)
        for x, y in zip(a.steps, b.steps, strict=True)
        if x.total == y.total and x.start_date != y.start_date
    ]
