"""Patient pages: today's dose, the daily log, "I need help now"."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask import (
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from taper.domain.instrument import CIWA_B
from taper.domain.log_input import (
    SUBSTANCES_DETAIL_MAX,
    added_flags_submission,
    allowed_days,
    chosen_day,
    day_name,
    day_offset,
    dose_question,
    form_values,
    is_submission_id,
    kept_answers,
    parse_day,
    parse_substances,
    problems,
    sleep_question,
    substances_question,
)
from taper.domain.red_flags import RED_FLAGS, flags_of, parse_red_flags
from taper.domain.schedule import local_today
from taper.patient import bp
from taper.services import logs, patient_day
from taper.urgent import urgent_page

SCALE_ANSWERS = frozenset(str(score) for score in range(len(CIWA_B.anchors)))


def _today() -> date:
    """Today in the signed-in patient's time zone."""
    return local_today(datetime.now(UTC), current_user.timezone)


@bp.get("/today")
def today():
    """Today's dose exactly as the clinician entered it, what comes next, and the whole plan."""
    patient = current_user._get_current_object()
    day = _today()
    page = patient_day.today_page(patient, day)
    return render_template("patient/today.html", day=day, **page)


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
    """The log form for ``day`` (from ``chosen_day(..., today)``) with that day's dose
    questions, each worded for that day ("since yesterday", "the night before")."""
    offset, on = day_offset(day, today), day_name(day, today)
    errors, values = errors or {}, values or {}
    return render_template(
        "patient/log.html",
        scale=CIWA_B,
        red_flags=RED_FLAGS,
        day=day,
        days=allowed_days(today),
        today=today,
        questions=questions,
        values=values,
        flags=set(flags),
        errors=errors,
        problems=problems(errors, questions, offset, on),
        # The symptom questions are a cached fragment: only their own answers and errors.
        # Only a valid answer can show as checked, and only those may key the cache: anything
        # else a patient posts would be kept for the life of the process.
        scale_answers=tuple(
            answer if answer in SCALE_ANSWERS else None
            for answer in (values.get(item.key) for item in CIWA_B.patient_items)
        ),
        scale_errors=tuple(errors.get(item.key) for item in CIWA_B.patient_items),
        offset=offset,
        on=on,
        dose_question=dose_question,
        sleep_question=sleep_question(offset, on),
        substances_question=substances_question(offset, on),
        flags_sent=flags_sent,
        asked=_asked(asked),
        submission_id=uuid.uuid4().hex,
    ), status


def _posted_form(patient, today: date):
    """The posted log form's day, that day's dose questions, and the answers to show again."""
    form = request.form
    day = chosen_day(form.get("day", ""), today)
    questions = logs.dose_questions(patient, day)
    return day, questions, form_values(form, questions)


@bp.route("/log", methods=["GET", "POST"], endpoint="daily_log")
def daily_log():
    """Log a day: symptoms, dose taken, sleep, a note; red flags go to urgent care at once."""
    patient = current_user._get_current_object()
    today = _today()
    if request.method == "GET":
        day = chosen_day(request.args.get("day", ""), today)
        start = logs.log_form(patient, day)
        return _log_form(day, today, start.questions, values=start.values, flags=start.flags)
    form = request.form
    flags = form.getlist("red_flags")
    submission = form.get("submission_id", "")
    if form.get("resume") or form.get("send_flags") or request.args.get("send_flags"):
        return _flags_first(patient, today, flags, submission)
    try:
        saved = logs.submit_log(patient, form, flags, today)
    except logs.LogInputError as error:
        return _log_refused(patient, today, flags, submission, error)
    except logs.AlreadySaved:
        return _saved_before(patient, today, submission)
    return _log_saved(patient, saved)


def _log_refused(patient, today: date, flags: list[str], submission: str, error):
    """A log with answers to fix: its red flags are sent at once all the same (they never
    wait for the rest of the form, clinical-reference.md); else the form again, with why."""
    if parse_red_flags(flags):
        resume = kept_answers(request.form)
        return _send_red_flags(
            patient, flags, submission, source="log", log_unsaved=True, resume=resume
        )
    day, questions, values = _posted_form(patient, today)
    errors, asked = error.errors, error.hits
    return _log_form(
        day, today, questions, 400, values=values, flags=flags, errors=errors, asked=asked
    )


def _saved_before(patient, today: date, submission: str):
    """The same log form sent again (a double tap, or Back and send): red flags it adds are
    sent as a report; else what the first send showed, since the browser shows only this
    answer. Its urgent-care page if it carried red flags; the question about what its note
    seems to describe, if any; else the saved day with a plain "already saved"."""
    sent = logs.flags_already_sent(submission)
    form = request.form
    more = [key for key in parse_red_flags(form.getlist("red_flags")) if key not in sent]
    if more:
        # Back to the sent form, a red flag ticked, Save again: the log stays as first
        # saved, but the new flags are a report of their own, never dropped as a resend.
        added = added_flags_submission(submission, more)
        return _send_red_flags(patient, more, added, source="log")
    if sent:
        return urgent_page(sent, patient=patient)
    asked = _to_ask(logs.screen_note(form.get("note"), form.get("substances_detail")).hits, ())
    if asked:
        return _ask_about_note(asked, "Your log is saved, note and all.")
    flash("This log was already saved. Nothing was saved twice.")
    day = chosen_day(form.get("day", ""), today)
    return redirect(url_for("patient.log_saved", day=day.isoformat()))


def _log_saved(patient, saved: logs.Saved):
    """After a log is saved: urgent care for red flags, a question about what the note seems
    to describe, or back to Today."""
    if saved.urgent:
        return urgent_page(saved.log.red_flags, patient=patient, when=saved.log.red_flags_when)
    asked = _to_ask(saved.hits, saved.log.red_flags)
    if asked:
        return _ask_about_note(asked, "Your log is saved, note and all.")
    return redirect(url_for("patient.log_saved", day=saved.log.day.isoformat()))


@bp.get("/log/saved", endpoint="log_saved")
def log_saved():
    """What a day's log saved (score, dose answers, sleep) and the next dose change; a day
    with no log goes to the log form."""
    patient = current_user._get_current_object()
    today = _today()
    try:
        day = date.fromisoformat(request.args.get("day", ""))
    except ValueError:
        return redirect(url_for("patient.daily_log"))
    page = patient_day.saved_day(patient, day, today)
    if page is None:
        wanted = day.isoformat() if day in allowed_days(today) else None
        return redirect(url_for("patient.daily_log", day=wanted))
    return render_template(
        "patient/saved.html",
        page=page,
        day=day,
        today=today,
        can_change=day in allowed_days(today),
    )


def _flags_first(patient, today: date, flags: list[str], submission: str):
    """The log's "Send this now" (its red flags alone, the rest kept as typed) and the way
    back to the log from the urgent-care page (``resume``: the answers, nothing saved)."""
    form = request.form
    day, questions, values = _posted_form(patient, today)
    values.pop("send_flags", None)
    values.pop("resume", None)
    # A day that may no longer be logged (the form was filled before midnight) is said, as a
    # save would say it: the form now asks about today, and must not pass for the old day.
    moved: dict[str, str] = {}
    parse_day(form.get("day", ""), today, moved)
    if form.get("resume"):
        return _log_form(day, today, questions, values=values, flags_sent=True, errors=moved)
    if not parse_red_flags(flags):
        errors = {"red_flags": "Tick what is happening first, or call for help now.", **moved}
        return _log_form(day, today, questions, 400, values=values, errors=errors)
    # "Send this now", or "Yes" to what a refused note seems to describe (?send_flags=1).
    source = "note" if request.args.get("send_flags") else "log"
    return _send_red_flags(patient, flags, submission, source=source, resume=kept_answers(form))


def _asked(hits) -> dict:
    """The red flags a note seems to describe, for the "Is that right?" question: the flags
    in the list's order, and which the note placed in the past."""
    found = {hit.key: hit for hit in hits}
    return {
        "flags": flags_of(found),
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


def _send_red_flags(patient, flags: list[str], submission: str, *, source: str, note="", **shown):
    """Store red flags as a report, alert the care team and show urgent care. A stale or
    missing submission id never stops a red flag: it gets a fresh one. ``shown``: the
    urgent-care page's ``log_unsaved``, ``resume`` and ``note_unsent``."""
    form = request.form
    chosen = parse_red_flags(flags)
    when = form.get("red_flags_when") or (form.get(f"when_{chosen[0]}", "") if chosen else "")
    if not is_submission_id(submission):
        submission = uuid.uuid4().hex
    try:
        saved = logs.send_report(
            patient, flags, submission, _today(), when=when, source=source, note=note
        )
    except logs.AlreadySaved:
        sent = logs.flags_already_sent(submission)
        more = [key for key in chosen if key not in sent]
        if more:
            # The same page sent again with another flag (Back, then another "Yes"): the new
            # flags are a report of their own, never dropped as a double submit.
            added = added_flags_submission(submission, more)
            return _send_red_flags(patient, more, added, source=source, **shown)
        resume = shown.get("resume")
        return urgent_page(sent or flags, patient=patient, when=when, resume=resume, **_to_tell())
    return urgent_page(saved.log.flags, patient=patient, when=saved.log.when, **shown, **_to_tell())


def _to_tell() -> dict:
    """What else the form says was taken today, for "what to tell them" only."""
    substances, detail = parse_substances(request.form, {})
    return {"substances": substances, "substances_detail": detail[:SUBSTANCES_DETAIL_MAX]}


def _help_form(status: int = 200, errors=None, note: str = "", asked=()):
    """The "I need help now" page, with what a refused message seems to describe."""
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
    submission = form.get("submission_id", "")
    if parse_red_flags(flags):
        # A flag pressed is sent even if the message beside it cannot be saved.
        source = "note" if form.get("source") == "note" else "help"
        try:
            return _send_red_flags(patient, flags, submission, source=source, note=note)
        except logs.LogInputError:
            return _send_red_flags(patient, flags, submission, source=source, note_unsent=True)
    if not note.strip():
        return _help_form(400, {"red_flags": "Press what is happening, or call for help now."})
    return _send_message(patient, submission, note)


def _send_message(patient, submission: str, note: str):
    """A message with no red flag pressed: to the care team, screened for red flags."""
    try:
        saved = logs.send_report(patient, (), submission, _today(), source="help", note=note)
    except logs.LogInputError as error:
        return _help_form(400, error.errors, note, error.hits)
    except logs.AlreadySaved:
        flash("Your message was already sent to your care team.")
        return redirect(url_for("patient.today"))
    if saved.hits:
        return _ask_about_note(saved.hits, "Your message was sent to your care team.")
    flash("Your message was sent to your care team. They will read it. If it gets worse, call.")
    return redirect(url_for("patient.today"))
