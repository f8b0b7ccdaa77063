"""Patient pages: today's dose, the daily log, "I need help now", history."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import RED_FLAGS, parse_red_flags
from taper.domain.schedule import local_today
from taper.domain.timeline import next_change, step_after_hold
from taper.extensions import db
from taper.models import PlanStatus
from taper.patient import bp
from taper.services import alerts, audit, logs, notify, plans
from taper.urgent import urgent_page

log = logging.getLogger(__name__)


def _today() -> date:
    return local_today(datetime.now(UTC), current_user.timezone)


@bp.get("/today")
def today():
    """Today's dose exactly as the clinician entered it, what comes next, and the whole plan."""
    patient = current_user._get_current_object()
    day = _today()
    shown = [
        p
        for p in plans.plans_for_patient(patient, include_drafts=False)
        if p.status is not PlanStatus.COMPLETED
    ]
    unseen = plans.unseen_revisions(patient, shown)
    cards = []
    for plan in shown:
        schedule = plans.schedule_of(plan)
        now = schedule.on(day)
        cards.append(
            {
                "plan": plan,
                "revision": plan.current_revision,
                "now": now,
                "next": next_change(schedule.steps, day, schedule.hold),
                # A hold or pause in force (even before the first step): what comes after it.
                "after_hold": step_after_hold(schedule.steps, schedule.hold)
                if schedule.hold is not None and schedule.hold.covers(day)
                else None,
                "hold": schedule.hold,
                "changed": plan.id in unseen,
            }
        )
        audit.record(patient, "plan.view", "taper_plan", plan.id, patient_id=patient.id)
    logged = logs.versions_of_day(patient, day)
    urgent = alerts.recent_urgent(patient, day - timedelta(days=7))
    db.session.commit()
    return render_template(
        "patient/today.html", cards=cards, day=day, logged=bool(logged), urgent=urgent
    )


def _chosen_day(text: str, today: date) -> date:
    """The day the log form asks about: the day chosen if it may be logged, else today."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return today
    return day if day in logs.allowed_days(today) else today


def _log_form(
    day: date,
    today: date,
    questions,
    status: int = 200,
    *,
    values=None,
    flags=(),
    errors=None,
    flags_sent: bool = False,
    asked=(),
):
    """The log form for ``day`` (from ``_chosen_day(..., today)``) with that day's dose
    questions."""
    return render_template(
        "patient/log.html",
        scale=CIWA_B,
        red_flags=RED_FLAGS,
        day=day,
        days=logs.allowed_days(today),
        today=today,
        questions=questions,
        values=values or {},
        flags=set(flags),
        errors=errors or {},
        flags_sent=flags_sent,
        asked=_asked(asked),
        submission_id=uuid.uuid4().hex,
    ), status


@bp.route("/log", methods=["GET", "POST"], endpoint="daily_log")
def daily_log():
    """Log a day: symptoms, dose taken, sleep, a note; red flags go to urgent care at once."""
    patient = current_user._get_current_object()
    today = _today()
    if request.method == "GET":
        day = _chosen_day(request.args.get("day", ""), today)
        questions = logs.dose_questions(patient, day)
        previous = logs.versions_of_day(patient, day)
        if not previous:
            return _log_form(day, today, questions)
        return _log_form(
            day,
            today,
            questions,
            values=_answers_of(previous[0], questions),
            flags=previous[0].red_flags,
        )
    form = request.form
    flags = form.getlist("red_flags")
    submission = form.get("submission_id", "")
    if form.get("resume") or form.get("send_flags") or request.args.get("send_flags"):
        return _flags_first(patient, today, flags, submission)
    try:
        saved = logs.save_log(patient, form, flags, today)
        db.session.commit()
    except logs.LogInputError as error:
        db.session.rollback()
        if parse_red_flags(flags):
            # Red flags never wait for the rest of the form (clinical-reference.md).
            return _send_red_flags(
                patient, flags, submission, source="log", log_unsaved=True, resume=_kept(form)
            )
        day = _chosen_day(form.get("day", ""), today)
        questions = logs.dose_questions(patient, day)
        values = logs.form_values(form, questions)
        return _log_form(
            day,
            today,
            questions,
            400,
            values=values,
            flags=flags,
            errors=error.errors,
            asked=error.hits,
        )
    except logs.AlreadySaved:
        db.session.rollback()
        sent = logs.flags_already_sent(submission)
        if sent:
            return urgent_page(sent, patient=patient)
        flash("This log was already saved. Nothing was saved twice.")
        return redirect(url_for("patient.history"))
    if saved.urgent:
        _notify_now(saved)
        return urgent_page(saved.log.red_flags, patient=patient, when=saved.log.red_flags_when)
    asked = _to_ask(saved.hits, saved.log.red_flags)
    if asked:
        return _ask_about_note(asked, "Your log is saved, note and all.")
    flash("Saved. Thank you for logging your day.")
    return redirect(url_for("patient.today"))


# The log form's own fields, carried through the urgent-care page and back (nothing else).
_LOG_FIELDS = frozenset(
    {item.key for item in CIWA_B.patient_items}
    | {"day", "sleep_hours", "note", "substances", "substances_detail", "submission_id"}
)


def _kept(form) -> dict[str, str]:
    """A log form's answers to carry through the urgent-care page and back, unsaved."""
    return {
        key: value
        for key, value in form.items()
        if key in _LOG_FIELDS or logs.DOSE_FIELD.fullmatch(key)
    }


def _flags_first(patient, today: date, flags: list[str], submission: str):
    """The log's "Send this now" (its red flags alone, the rest kept as typed) and the way
    back to the log from the urgent-care page (``resume``: the answers, nothing saved)."""
    form = request.form
    day = _chosen_day(form.get("day", ""), today)
    questions = logs.dose_questions(patient, day)
    values = logs.form_values(form, questions)
    values.pop("send_flags", None)
    values.pop("resume", None)
    if form.get("resume"):
        return _log_form(day, today, questions, values=values, flags_sent=True)
    if not parse_red_flags(flags):
        errors = {"red_flags": "Tick what is happening first, or call for help now."}
        return _log_form(day, today, questions, 400, values=values, errors=errors)
    # "Send this now", or "Yes" to what a refused note seems to describe (?send_flags=1).
    source = "note" if request.args.get("send_flags") else "log"
    return _send_red_flags(patient, flags, submission, source=source, resume=_kept(form))


def _asked(hits) -> dict:
    """The red flags a note seems to describe, for the "Is that right?" question: the flags
    in the list's order, and which the note placed in the past."""
    found = {hit.key: hit for hit in hits}
    return {
        "flags": [flag for flag in RED_FLAGS if flag.key in found],
        "past": {key for key, hit in found.items() if hit.past},
    }


def _to_ask(hits, ticked) -> list:
    """What a note seems to describe that the patient has not ticked, one per flag."""
    return [hit for hit in hits if hit.key not in set(ticked)]


def _ask_about_note(hits, done: str):
    """ "It sounds like you may have had a seizure. Is that right?" with the matching red-flag
    buttons (a yes is a red flag sent from "I need help now")."""
    return render_template(
        "patient/check_note.html", asked=_asked(hits), done=done, submission_id=uuid.uuid4().hex
    )


def _answers_of(entry, questions) -> dict[str, str]:
    """A saved log's answers as form values, so a correction starts from what was said. A
    dose answer is refilled only while its question is the same (same plan, same dose)."""
    values = {key: str(value) for key, value in (entry.answers or {}).items()}
    values["sleep_hours"] = "" if entry.sleep_hours is None else str(entry.sleep_hours)
    values["note"] = entry.note
    values["red_flags_when"] = entry.red_flags_when
    if entry.substances is not None:
        values["substances"] = "yes" if entry.substances else "no"
        values["substances_detail"] = entry.substances_detail
    asked = {q.plan_id: q for q in questions}
    for answer in entry.doses:
        question = asked.get(answer.plan_id)
        if question is None or question.dose != answer.dose_scheduled:
            continue
        values[question.took_field] = "yes" if answer.took_as_scheduled else "no"
        if not answer.took_as_scheduled:
            values[question.taken_field] = f"{answer.dose_taken.normalize():f}"
            if logs.far_above(question, answer.dose_taken):
                # Saved only once the patient said it was right: a correction keeps that.
                values[question.confirm_field] = values[question.taken_field]
    return values


def _notify_now(saved: logs.Saved) -> None:
    """Try to e-mail the care team straight away; the outbox and cron retry if this fails."""
    for alert in saved.alerts:
        if alert.tier != "urgent":
            continue
        try:
            notify.send_pending(alert_id=alert.id, immediate=True)
        except Exception:  # noqa: BLE001  (the patient must see the urgent page whatever happens)
            db.session.rollback()
            log.exception("immediate notification failed for alert %s", alert.id)


def _send_red_flags(
    patient,
    flags: list[str],
    submission: str,
    *,
    source: str,
    note: str = "",
    log_unsaved: bool = False,
    resume: dict[str, str] | None = None,
    note_unsent: bool = False,
):
    """Store red flags as a report, alert the care team and show urgent care. A stale or
    missing submission id never stops a red flag: it gets a fresh one."""
    form = request.form
    chosen = parse_red_flags(flags)
    when = form.get("red_flags_when") or (form.get(f"when_{chosen[0]}", "") if chosen else "")
    substances, detail = logs.parse_substances(form, {})  # for "what to tell them" only
    also = dict(substances=substances, substances_detail=detail[: logs.SUBSTANCES_DETAIL_MAX])
    if not logs.is_submission_id(submission):
        submission = uuid.uuid4().hex
    try:
        saved = logs.report_red_flags(
            patient, flags, submission, _today(), when=when, source=source, note=note
        )
        db.session.commit()
    except logs.AlreadySaved:
        db.session.rollback()
        sent = logs.flags_already_sent(submission)
        more = [key for key in chosen if key not in sent]
        if more:
            # The same page sent again with another flag (Back, then another "Yes"): the new
            # flags are a report of their own, never dropped as a double submit.
            return _send_red_flags(
                patient,
                more,
                uuid.uuid4().hex,
                source=source,
                log_unsaved=log_unsaved,
                resume=resume,
                note_unsent=note_unsent,
            )
        return urgent_page(sent or flags, patient=patient, when=when, resume=resume, **also)
    _notify_now(saved)
    return urgent_page(
        saved.log.flags,
        patient=patient,
        when=saved.log.when,
        log_unsaved=log_unsaved,
        resume=resume,
        note_unsent=note_unsent,
        **also,
    )


def _help_form(status: int = 200, errors=None, note: str = "", asked=()):
    return render_template(
        "patient/help.html",
        red_flags=RED_FLAGS,
        errors=errors or {},
        note=note,
        asked=_asked(asked),
        submission_id=uuid.uuid4().hex,
    ), status


@bp.route("/help", methods=["GET", "POST"])
def help_now():
    """ "I need help now": the red-flag list; pressing one shows urgent care at once. A
    message in the patient's own words goes to the care team, screened for red flags."""
    patient = current_user._get_current_object()
    if request.method == "GET":
        return _help_form()
    form = request.form
    flags = form.getlist("red_flags")
    note = form.get("note", "")
    source = "note" if form.get("source") == "note" else "help"
    if parse_red_flags(flags):
        # A flag pressed is sent even if the message beside it cannot be saved.
        try:
            return _send_red_flags(
                patient, flags, form.get("submission_id", ""), source=source, note=note
            )
        except logs.LogInputError:
            db.session.rollback()
            return _send_red_flags(
                patient, flags, form.get("submission_id", ""), source=source, note_unsent=True
            )
    if not note.strip():
        return _help_form(400, {"red_flags": "Press what is happening, or call for help now."})
    try:
        saved = logs.report_red_flags(
            patient, (), form.get("submission_id", ""), _today(), source="help", note=note
        )
        db.session.commit()
    except logs.LogInputError as error:
        db.session.rollback()
        return _help_form(400, error.errors, note, error.hits)
    except logs.AlreadySaved:
        db.session.rollback()
        flash("Your message was already sent to your care team.")
        return redirect(url_for("patient.today"))
    if saved.hits:
        return _ask_about_note(saved.hits, "Your message was sent to your care team.")
    flash("Your message was sent to your care team. They will read it. If it gets worse, call.")
    return redirect(url_for("patient.today"))
