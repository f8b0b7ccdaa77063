"""Saving a patient's day: the log, its alerts and its audit row in one transaction."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from taper.domain import instrument, note_screen, timeline
from taper.domain.alert_rules import (
    AlertFinding,
    DoseFacts,
    LogFacts,
    evaluate_log,
    note_rule,
    red_flag_rule,
)
from taper.domain.doses import far_above_plan
from taper.domain.red_flags import parse_red_flags, parse_when
from taper.domain.schedule import DoseError, parse_dose
from taper.domain.text import UNSAVABLE
from taper.extensions import db
from taper.models import Alert, DailyLog, LogDose, RedFlagReport, User, VisitAssessment
from taper.services import ServiceError, alerts, audit, plans

log = logging.getLogger(__name__)
SCALE = instrument.CIWA_B
PAST_DAYS_ALLOWED = 2
NOTE_MAX = 2000
HISTORY_DAYS = 60


class LogInputError(ServiceError):
    """The log has problems; ``errors`` maps a field name to a plain message."""

    def __init__(self, errors: dict[str, str], hits: tuple = ()) -> None:
        super().__init__("Some answers need another look.")
        self.errors = errors
        # What the refused note seems to describe, screened in full (however long), so the
        # patient is asked about it at once even though nothing was saved.
        self.hits = hits


class AlreadySaved(ServiceError):
    """This exact form was saved already (double click, back button, parallel requests)."""


@dataclass(frozen=True)
class DoseQuestion:
    """One plan's dose question on the log form: the clinician's dose in force that day, as
    typed (held, paused or the last step included)."""

    plan_id: int
    medication: str
    unit: str
    dose: Decimal
    status: str  # active | held | paused | last

    @property
    def took_field(self) -> str:
        """The answer "yes" (took the dose shown) or "no"."""
        return f"took_{self.plan_id}"

    @property
    def taken_field(self) -> str:
        """The dose typed after "no"."""
        return f"dose_taken_{self.plan_id}"

    @property
    def shown_field(self) -> str:
        """The scheduled dose the form showed, so a stale form is refused, never stored."""
        return f"shown_{self.plan_id}"

    @property
    def confirm_field(self) -> str:
        """ "Yes, that is right" for a dose taken far above the plan's: the dose it was asked
        about, so a number changed after ticking is asked about again."""
        return f"confirm_taken_{self.plan_id}"


# took_<plan id>, dose_taken_<plan id>, shown_<plan id>, confirm_taken_<plan id>: the dose
# answers a form carries.
DOSE_FIELD = re.compile(r"(took|dose_taken|shown|confirm_taken)_([0-9]{1,10})")


@dataclass(frozen=True)
class Saved:
    """What the view needs after saving: the row, the alerts it raised, and what the
    note seems to describe (to ask the patient about)."""

    log: DailyLog | RedFlagReport
    alerts: list[Alert]
    hits: tuple[note_screen.Hit, ...] = ()

    @property
    def urgent(self) -> bool:
        return any(alert.tier == "urgent" for alert in self.alerts) or bool(
            getattr(self.log, "red_flags", None) or getattr(self.log, "flags", None)
        )


def allowed_days(today: date) -> list[date]:
    """Today and the days before it that may still be logged."""
    return [today - timedelta(days=n) for n in range(PAST_DAYS_ALLOWED + 1)]


def _questions(found: Iterable[timeline.InForce]) -> list[DoseQuestion]:
    return [
        DoseQuestion(
            f.plan.plan_id, f.plan.medication, f.plan.unit, f.dose.step.total, f.dose.status
        )
        for f in found
    ]


def dose_questions(patient: User, day: date) -> list[DoseQuestion]:
    """One dose question per plan in force on ``day`` (the timeline decides which)."""
    return _questions(plans.in_force(patient, day))


def _amount(value: Decimal, unit: str) -> str:
    return f"{value.normalize():f} {unit}"


def _day_name(day: date, today: date) -> str:
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    return f"{day:%A} {day.day} {day:%B}"


def _shown(text: str | None) -> Decimal | None:
    text = (text or "").strip()
    if len(text) > 24:  # a dose the form showed is short; anything else is not one
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _parse_doses(
    form: Mapping[str, str],
    questions: list[DoseQuestion],
    day: date,
    today: date,
    errors: dict[str, str],
) -> list[tuple[DoseQuestion, bool, Decimal]]:
    """The answer to each dose question: (question, took as scheduled, dose taken). "Yes"
    stores the dose scheduled on ``day``, and only if that is the dose the form showed."""
    asked = {q.plan_id for q in questions}
    answered = {
        int(found.group(2))
        for key in form
        if (found := DOSE_FIELD.fullmatch(key)) and (form.get(key) or "").strip()
    }
    name = _day_name(day, today)
    if answered - asked:
        # A plan that is not in force that day (stopped, not started, another patient's):
        # never named, never stored, never silently dropped.
        errors["doses"] = (
            f"This form asked about a medicine that is not scheduled for {name}. Check the "
            "dose questions below (they are the ones for that day), then save again."
        )
    answers = []
    for q in questions:
        shown = _shown(form.get(q.shown_field))
        if shown is None:
            errors[q.took_field] = (
                f"This form did not ask about your {q.medication}. The dose scheduled for "
                f"{name} is {_amount(q.dose, q.unit)}: please answer for it."
            )
            continue
        if shown != q.dose:
            errors[q.took_field] = (
                f"The form showed {_amount(shown, q.unit)} of {q.medication}, but the dose "
                f"scheduled for {name} is {_amount(q.dose, q.unit)}. Please answer again for "
                "that dose."
            )
            continue
        took = (form.get(q.took_field) or "").strip()
        if took == "yes":
            answers.append((q, True, q.dose))
        elif took == "no":
            try:
                taken = parse_dose(form.get(q.taken_field), required=True)
            except DoseError as error:
                errors[q.taken_field] = str(error)
            else:
                if far_above(q, taken) and not _confirmed(form.get(q.confirm_field), taken):
                    errors[q.confirm_field] = _far_above_question(q, taken, day, today)
                answers.append((q, False, taken))
        else:
            errors[q.took_field] = "Choose Yes or No."
    return answers


def _confirmed(text: str | None, taken: Decimal) -> bool:
    try:
        return parse_dose(text, required=False) == taken
    except DoseError:
        return False


def _far_above_question(q: DoseQuestion, taken: Decimal, day: date, today: date) -> str:
    """ "You wrote 75 mg. Your plan for today is 7.5 mg. Is 75 mg right?" Nothing suggested."""
    plan = "Your plan for today is"
    if day != today:
        plan = f"Your plan for {_day_name(day, today)} was"
    return (
        f"You wrote {_amount(taken, q.unit)}. {plan} {_amount(q.dose, q.unit)}. "
        f"Is {_amount(taken, q.unit)} right?"
    )


def far_above(q: DoseQuestion, taken: Decimal) -> bool:
    """A dose taken far above the plan's that day (``doses.far_above_plan``): asked about."""
    return far_above_plan(taken, q.dose, q.medication, q.unit)


def confirmed_far_above(answers: Iterable[tuple[DoseQuestion, bool, Decimal]]) -> list[int]:
    """The plans whose dose taken is far above the plan's, which the patient confirmed."""
    return [q.plan_id for q, took, taken in answers if not took and far_above(q, taken)]


def form_values(form: Mapping[str, str], questions: list[DoseQuestion]) -> dict[str, str]:
    """The posted answers to show again on a form for the questions given: a dose answer is
    kept only when the form showed the same dose for that plan, so an answer given for one
    dose is never offered for another."""
    values = {
        key: value
        for key, value in form.items()
        if key not in ("csrf_token", "submission_id") and not DOSE_FIELD.fullmatch(key)
    }
    for q in questions:
        if _shown(form.get(q.shown_field)) == q.dose:
            for name in (q.took_field, q.taken_field, q.confirm_field):
                if name in form:
                    values[name] = form[name]
    return values


def _parse_day(text: str, today: date, errors: dict[str, str]) -> date | None:
    try:
        day = date.fromisoformat((text or "").strip())
    except ValueError:
        errors["day"] = "Choose the day this log is for."
        return None
    if day > today:
        errors["day"] = "You cannot log a day that has not happened yet."
    elif day < today - timedelta(days=PAST_DAYS_ALLOWED):
        errors["day"] = (
            "You can log today, yesterday or the day before. For older days, please tell "
            "your clinician."
        )
    return day


def _parse_sleep(text: str, errors: dict[str, str]) -> Decimal | None:
    text = (text or "").strip()
    if not text:
        errors["sleep_hours"] = "Enter roughly how many hours you slept, like 6 or 6.5."
        return None
    try:
        hours = Decimal(text) if text.isascii() else None
    except InvalidOperation:
        hours = None
    if hours is None or not hours.is_finite() or not 0 <= hours <= 24 or hours != round(hours, 1):
        errors["sleep_hours"] = "Enter a number of hours from 0 to 24, like 6 or 6.5."
        return None
    return hours


def _parse_note(text: str, errors: dict[str, str]) -> str:
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters (it has {len(text)})."
    elif UNSAVABLE.search(text):
        errors["note"] = "The note contains characters that cannot be saved. Please retype it."
    return text


SUBSTANCES_DETAIL_MAX = 200


def parse_substances(form: Mapping[str, str], errors: dict[str, str]) -> tuple[bool | None, str]:
    """Alcohol, opioids or other sedatives that day: yes or no (asked every day; None when not
    answered), and what, if the patient says; problems go into ``errors``."""
    answer = (form.get("substances") or "").strip()
    detail = (form.get("substances_detail") or "").replace("\r\n", " ").strip()
    if answer not in ("yes", "no"):
        errors["substances"] = "Choose Yes or No."
    if len(detail) > SUBSTANCES_DETAIL_MAX:
        errors["substances_detail"] = f"Keep this under {SUBSTANCES_DETAIL_MAX} characters."
    elif UNSAVABLE.search(detail):
        errors["substances_detail"] = "This contains characters that cannot be saved."
    if answer != "yes":
        detail = ""
    return (answer == "yes") if answer in ("yes", "no") else None, detail


@dataclass(frozen=True)
class Screened:
    """What a patient's free text seems to describe; ``failed`` when the screen broke."""

    text: str
    hits: tuple[note_screen.Hit, ...] = ()
    failed: bool = False


def screen_note(*texts: str | None) -> Screened:
    """Screen a patient's free text (the note, and what else they say they took) with the
    clinic's extra phrases. A screen that fails never stops anything from being saved: it is
    logged, and the care team is asked to read the note (``_note_alert``)."""
    text = "\n".join(t.strip() for t in texts if t and t.strip())
    if not text:
        return Screened(text)
    try:
        extra = current_app.config.get("RED_FLAG_PHRASES_FILE") or None
        return Screened(text, note_screen.screen(text, extra))
    except Exception:  # noqa: BLE001  (the log is saved whatever the screen does)
        log.exception("note screen failed")
        return Screened(text, failed=True)


def _note_alert(
    patient: User, day: date, screened: Screened, cause: str, *, always: bool = False, **link
) -> Alert | None:
    """The review alert quoting what the patient wrote when the screen matched something,
    whatever the patient answers when asked; when the screen failed (a person must read it);
    and, with ``always``, any message sent from "I need help now"."""
    finding = note_rule(day, [(hit.key, hit.past) for hit in screened.hits], cause)
    if finding is None and screened.failed:
        reason = "A note could not be checked for red flags: please read it"
        finding = AlertFinding("note", "review", reason, cause=cause)
    if finding is None and always:
        finding = AlertFinding("note", "review", 'Message sent from "I need help now"', cause=cause)
    if finding is None or not screened.text:
        return None
    return alerts.raise_alert(patient, finding, quote=screened.text, **link)


# A fallback only: saves of one patient's logs wait for each other (_one_save_at_a_time), so
# the first try takes the next version; a retry covers a writer that did not take the lock.
VERSION_TRIES = 5


def _one_save_at_a_time(patient: User) -> None:
    """Serialise the saves of one patient's logs until the transaction ends, so each reads the
    day's last version after the one before it committed (F10: ten parallel different logs
    are ten versions). PostgreSQL: a row lock on the patient's user row, FOR NO KEY UPDATE so
    rows that merely reference the patient (audit, alerts) are not blocked and cannot
    deadlock with it. SQLite has one writer at a time: after a clash the retry below holds
    the write lock, so it reads the last version."""
    db.session.execute(select(User.id).where(User.id == patient.id).with_for_update(key_share=True))


def is_submission_id(text: str | None) -> bool:
    """The one-time id a log or help form carries (uuid4 hex), which makes a resend harmless."""
    return bool(re.fullmatch(r"[0-9a-f]{32}", text or ""))


def save_log(
    patient: User, form: Mapping[str, str], red_flags: Iterable[str], today: date
) -> Saved:
    """Check and store one day's log with its alerts; raise LogInputError or AlreadySaved."""
    errors: dict[str, str] = {}
    day = _parse_day(form.get("day", ""), today, errors)
    try:
        answers = instrument.parse_answers(SCALE, form, rater_set="patient")
    except instrument.AnswerError as error:
        answers = None
        errors.update(error.errors)
    flags = parse_red_flags(red_flags)
    schedules = plans.schedules_for(patient)
    doses = (
        _parse_doses(form, _questions(timeline.in_force(schedules, day)), day, today, errors)
        if day is not None and "day" not in errors
        else []
    )
    substances, substances_detail = parse_substances(form, errors)
    sleep = _parse_sleep(form.get("sleep_hours", ""), errors)
    note = _parse_note(form.get("note", ""), errors)
    submission = (form.get("submission_id") or "").strip()
    if not is_submission_id(submission):
        errors["form"] = "This form is out of date. Please open the daily log again."
    else:
        _one_save_at_a_time(patient)
        if db.session.scalar(select(DailyLog.id).where(DailyLog.submission_id == submission)):
            # Checked before the answers: a resent form is "already saved" even if its dose
            # questions have gone out of date since.
            raise AlreadySaved("This log was already saved.")
    # Everything the patient wrote, in full (even a note too long to save), before any row.
    screened = screen_note(form.get("note"), form.get("substances_detail"))
    if errors:
        raise LogInputError(errors, screened.hits)

    fields = dict(
        patient_id=patient.id,
        day=day,
        submission_id=submission,
        scale=SCALE.code,
        answers=answers,
        patient_total=instrument.total(answers),
        red_flags=list(flags),
        red_flags_when=parse_when(form.get("red_flags_when")) if flags else "",
        substances=substances,
        substances_detail=substances_detail,
        sleep_hours=sleep,
        note=note,
    )
    for _ in range(VERSION_TRIES):
        version = (
            db.session.scalar(
                select(func.max(DailyLog.version)).where(
                    DailyLog.patient_id == patient.id, DailyLog.day == day
                )
            )
            or 0
        ) + 1
        entry = DailyLog(
            version=version,
            doses=[
                LogDose(
                    plan_id=q.plan_id,
                    medication=q.medication,
                    unit=q.unit,
                    dose_scheduled=q.dose,
                    took_as_scheduled=took,
                    dose_taken=taken,
                )
                for q, took, taken in doses
            ],
            **fields,
        )
        try:
            with db.session.begin_nested():
                db.session.add(entry)
                db.session.flush()
            break
        except IntegrityError:
            # The same form again (a double submit) is one log; another form for the same
            # day saved at this instant took the version number: take the next one.
            if db.session.scalar(select(DailyLog.id).where(DailyLog.submission_id == submission)):
                raise AlreadySaved("This log was already saved.") from None
    else:  # nothing was lost to a double submit: say so with a 500, never "already saved"
        raise RuntimeError("no free version number for the day's log")
    sent = _flags_sent(submission) if flags else frozenset()
    raised = _raise_alerts(patient, entry, schedules, sent)
    fingerprint = hashlib.sha256(screened.text.encode()).hexdigest()[:16]
    # A correction with the same words raises nothing new; new words do.
    quoted = _note_alert(patient, day, screened, f"note:{day}:{fingerprint}", log_id=entry.id)
    if quoted is not None:
        raised.append(quoted)
    summary = {"day": day.isoformat(), "version": version}
    confirmed = confirmed_far_above(doses)
    if confirmed:  # the patient said "yes, that is right" to a dose far above the plan's
        summary["dose_confirmed_far_above_plan"] = confirmed
    audit.record(
        patient,
        "log.save" if version == 1 else "log.correct",
        "daily_log",
        entry.id,
        patient_id=patient.id,
        summary=summary,
    )
    return Saved(entry, raised, screened.hits)


def _facts(entry: DailyLog) -> LogFacts:
    return LogFacts(
        day=entry.day,
        patient_total=entry.patient_total or 0,
        red_flags=tuple(entry.red_flags or ()),
        red_flags_when=entry.red_flags_when,
        substances=entry.substances,
        substances_detail=entry.substances_detail,
        doses=tuple(
            DoseFacts(d.plan_id, d.medication, d.unit, d.dose_taken, d.dose_scheduled)
            for d in entry.doses
        ),
    )


def _flags_sent(submission: str) -> frozenset[str]:
    """The red flags already sent alone under a log form's submission id (its "Send this
    now", or a report kept on the device and sent since)."""
    sent = db.session.scalars(
        select(RedFlagReport.flags).where(RedFlagReport.submission_id == submission)
    ).all()
    return frozenset(key for flags in sent for key in flags or ())


def _raise_alerts(
    patient: User,
    entry: DailyLog,
    schedules: list[timeline.PlanSchedule],
    already_sent: frozenset[str] = frozenset(),
) -> list[Alert]:
    history = [
        _facts(e)
        for e in current_logs(patient, entry.day - timedelta(days=HISTORY_DAYS), entry.day)
        if e.id != entry.id
    ]
    # The day a dose really went down, holds and pauses included, over every running plan.
    reduction = timeline.latest_reduction(schedules, entry.day)
    facts = _facts(entry)
    if already_sent:  # sent on their own already: one urgent alert per flag, not two
        facts = replace(facts, red_flags=tuple(k for k in facts.red_flags if k not in already_sent))
    findings = evaluate_log(facts, history, reduction, alerts.thresholds_for(patient.id))
    raised = [alerts.raise_alert(patient, f, log_id=entry.id) for f in findings]
    return [alert for alert in raised if alert is not None]


def flags_already_sent(submission: str) -> list[str]:
    """The red flags stored under a submission id (a daily log's or a help report's), so a
    repeated submit shows the urgent-care page again rather than a plain "already saved"."""
    logged = db.session.scalar(
        select(DailyLog.red_flags).where(DailyLog.submission_id == submission)
    )
    reported = db.session.scalar(
        select(RedFlagReport.flags).where(RedFlagReport.submission_id == submission)
    )
    return list(logged or reported or [])


def report_red_flags(
    patient: User,
    keys: Iterable[str],
    submission: str,
    today: date,
    *,
    when: str = "",
    source: str = "help",
    note: str = "",
    reported_at: datetime | None = None,
) -> Saved:
    """Store red flags sent without the rest of the log and raise the urgent alert; a note
    written on "I need help now" is screened and quoted to the care team in a review alert.
    ``source``: help (I need help now), log (the log's "Send this now"), note (the patient
    said yes to a screened note), kept (kept on the device while Taper could not store it;
    ``reported_at`` is when the patient sent it)."""
    flags = parse_red_flags(keys)
    errors: dict[str, str] = {}
    screened = screen_note(note)  # in full, even when too long to save
    note = _parse_note(note, errors)
    if errors:
        raise LogInputError(errors, screened.hits)
    if not flags and not note:
        raise LogInputError({"red_flags": "Tick what is happening, or call for help now."})
    if not is_submission_id(submission):
        raise LogInputError({"form": "This form is out of date. Please open it again."})
    if db.session.scalar(select(RedFlagReport.id).where(RedFlagReport.submission_id == submission)):
        raise AlreadySaved("This report was already sent.")
    when = parse_when(when)
    report = RedFlagReport(
        patient_id=patient.id,
        flags=list(flags),
        submission_id=submission,
        when=when,
        source=source,
        note=note,
        reported_at=reported_at,
    )
    try:
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()
    except IntegrityError:
        raise AlreadySaved("This report was already sent.") from None
    finding = red_flag_rule(
        LogFacts(day=today, patient_total=0, red_flags=flags, red_flags_when=when)
    )
    if finding is not None and reported_at is not None:
        finding = replace(
            finding,
            reason=f"{finding.reason}; sent from the patient's device at "
            f"{reported_at:%Y-%m-%d %H:%M} UTC, stored late",
        )
    raised = [alerts.raise_alert(patient, finding, report_id=report.id)] if finding else []
    # Each message is quoted in an alert of its own, even one sent twice.
    raised.append(
        _note_alert(
            patient, today, screened, f"report:{report.id}", always=True, report_id=report.id
        )
    )
    audit.record(
        patient,
        "red_flag.report",
        "red_flag_report",
        report.id,
        patient_id=patient.id,
        summary={"flags": list(flags), "source": source},
    )
    return Saved(report, [alert for alert in raised if alert is not None], screened.hits)


def current_logs(patient: User, start: date, end: date) -> list[DailyLog]:
    """The version in force of each logged day from ``start`` to ``end``, oldest first."""
    latest = (
        select(DailyLog.day, func.max(DailyLog.version).label("version"))
        .where(DailyLog.patient_id == patient.id, DailyLog.day >= start, DailyLog.day <= end)
        .group_by(DailyLog.day)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(DailyLog)
            .join(latest, (DailyLog.day == latest.c.day) & (DailyLog.version == latest.c.version))
            .where(DailyLog.patient_id == patient.id)
            .order_by(DailyLog.day)
        )
    )


def versions_of_day(patient: User, day: date) -> list[DailyLog]:
    """Every saved version of one day's log, newest first."""
    return list(
        db.session.scalars(
            select(DailyLog)
            .where(DailyLog.patient_id == patient.id, DailyLog.day == day)
            .order_by(DailyLog.version.desc())
        )
    )


def visit_assessments(patient: User, limit: int = 10) -> list[VisitAssessment]:
    """The patient's visit assessments, newest first."""
    return list(
        db.session.scalars(
            select(VisitAssessment)
            .where(VisitAssessment.patient_id == patient.id)
            .order_by(VisitAssessment.created_at.desc(), VisitAssessment.id.desc())
            .limit(limit)
        )
    )
