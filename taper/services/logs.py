"""Saving a patient's day: the log, its alerts and its audit row in one transaction; red-flag
reports and messages for the care team; reading logs back."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache, cached_property

from flask import current_app
from sqlalchemy import Select, Subquery, bindparam, func, select

from taper.domain import instrument, log_input, note_screen, timeline
from taper.domain.alert_rules import (
    AlertFinding,
    DoseFacts,
    LogFacts,
    evaluate_log,
    note_rule,
    red_flag_rule,
)
from taper.domain.doses import plain
from taper.domain.log_input import DoseQuestion
from taper.domain.red_flags import parse_red_flags, parse_when
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Alert, DailyLog, LogDose, RedFlagReport, User, VisitAssessment
from taper.services import ServiceError, alerts, audit, committed, notify, plans
from taper.services.savepoint import insert_once

log = logging.getLogger(__name__)
SCALE = instrument.CIWA_B
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
class Saved:
    """What the view needs after saving: the row, the alerts it raised, and what the
    note seems to describe (to ask the patient about)."""

    log: DailyLog | RedFlagReport
    alerts: list[Alert]
    hits: tuple[note_screen.Hit, ...] = ()

    @cached_property
    def urgent(self) -> bool:
        """Red flags were sent, or a red-flag alert raised (worked out once, after the commit).
        A dose far above the plan is urgent for the care team, but the patient, who has just
        said the number is right, is not sent to urgent care for it."""
        return any(a.tier == "urgent" and a.kind == "red_flag" for a in self.alerts) or bool(
            getattr(self.log, "red_flags", None) or getattr(self.log, "flags", None)
        )


@dataclass(frozen=True)
class LogForm:
    """The log form for one day: its dose questions, and the answers and red flags of the
    day's last saved version (empty when the day is not logged yet)."""

    questions: list[DoseQuestion]
    values: dict[str, str]
    flags: list[str]


def dose_questions(patient: User, day: date) -> list[DoseQuestion]:
    """One dose question per plan in force on ``day`` (the timeline decides which)."""
    return log_input.questions(plans.in_force(patient, day))


def log_form(patient: User, day: date) -> LogForm:
    """The log form for ``day``: a correction starts from what was last said that day, a
    view of that log (audited, SECURITY.md D5, and committed)."""
    questions = dose_questions(patient, day)
    previous = last_said(patient, day)
    if previous is None:
        return LogForm(questions, {}, [])
    audit.record_views(patient, "log.view", "daily_log", [(previous.log_id, patient.id)])
    db.session.commit()
    return LogForm(questions, _answers_of(previous, questions), previous.red_flags)


def _answers_of(entry: LastSaid, questions: list[DoseQuestion]) -> dict[str, str]:
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
            values[question.taken_field] = plain(answer.dose_taken)
            if log_input.far_above(question, answer.dose_taken):
                # Saved only once the patient said it was right: a correction keeps that.
                values[question.confirm_field] = values[question.taken_field]
    return values


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


# The daily log's save runs these on every submit: built once, only the parameters change.
_LOCK_PATIENT = (
    select(User.id).where(User.id == bindparam("patient_id")).with_for_update(key_share=True)
)
_BY_SUBMISSION = select(DailyLog.id).where(DailyLog.submission_id == bindparam("submission"))
_LAST_VERSION = select(func.max(DailyLog.version)).where(
    DailyLog.patient_id == bindparam("patient_id"), DailyLog.day == bindparam("day")
)


def _one_save_at_a_time(patient: User) -> None:
    """Serialise the saves of one patient's logs until the transaction ends, so each reads the
    day's last version after the one before it committed (F10: ten parallel different logs
    are ten versions). PostgreSQL: a row lock on the patient's user row, FOR NO KEY UPDATE so
    rows that merely reference the patient (audit, alerts) are not blocked and cannot
    deadlock with it. SQLite has one writer at a time: after a clash the retry below holds
    the write lock, so it reads the last version."""
    db.session.execute(_LOCK_PATIENT, {"patient_id": patient.id})


def _store_version(
    patient: User, fields: dict, doses: list[tuple[DoseQuestion, bool, Decimal]]
) -> DailyLog:
    """Insert the log as its day's next version; raise AlreadySaved for a double submit."""
    day, submission = fields["day"], fields["submission_id"]
    for _ in range(VERSION_TRIES):
        version = (
            db.session.scalar(_LAST_VERSION, {"patient_id": patient.id, "day": day}) or 0
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
        if insert_once(entry):
            return entry
        # The same form again (a double submit) is one log; another form for the same day
        # saved at this instant took the version number: take the next one.
        if db.session.scalar(_BY_SUBMISSION, {"submission": submission}):
            raise AlreadySaved("This log was already saved.")
    # Nothing was lost to a double submit: say so with a 500, never "already saved".
    raise RuntimeError("no free version number for the day's log")


def save_log(
    patient: User, form: Mapping[str, str], red_flags: Iterable[str], today: date
) -> Saved:
    """Check and store one day's log with its alerts; raise LogInputError or AlreadySaved."""
    errors: dict[str, str] = {}
    day = log_input.parse_day(form.get("day", ""), today, errors)
    try:
        answers = instrument.parse_answers(SCALE, form, rater_set="patient")
    except instrument.AnswerError as error:
        answers = None
        errors.update(error.errors)
    flags = parse_red_flags(red_flags)
    schedules = plans.schedules_for(patient)
    doses = (
        log_input.parse_doses(
            form, log_input.questions(timeline.in_force(schedules, day)), day, today, errors
        )
        if day is not None and "day" not in errors
        else []
    )
    substances, substances_detail = log_input.parse_substances(form, errors)
    sleep = log_input.parse_sleep(form.get("sleep_hours", ""), errors)
    note = log_input.parse_note(form.get("note", ""), errors)
    submission = (form.get("submission_id") or "").strip()
    if not log_input.is_submission_id(submission):
        errors["form"] = "This form is out of date. Please open the daily log again."
    else:
        _one_save_at_a_time(patient)
        if db.session.scalar(_BY_SUBMISSION, {"submission": submission}):
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
    entry = _store_version(patient, fields, doses)
    version = entry.version
    sent = frozenset()
    if flags:
        sent = _flags_sent(submission)
        if version > 1:
            sent |= _flags_said_before(patient, entry)
    raised = _raise_alerts(patient, entry, schedules, sent)
    fingerprint = hashlib.sha256(screened.text.encode()).hexdigest()[:16]
    # A correction with the same words raises nothing new; new words do.
    quoted = _note_alert(patient, day, screened, f"note:{day}:{fingerprint}", log_id=entry.id)
    if quoted is not None:
        raised.append(quoted)
    summary = {"day": day.isoformat(), "version": version}
    confirmed = log_input.confirmed_far_above(doses)
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
    """A saved log as the alert rules read it."""
    return LogFacts(
        entry.day,
        entry.patient_total or 0,
        tuple(entry.red_flags or ()),
        red_flags_when=entry.red_flags_when,
        substances=entry.substances,
        substances_detail=entry.substances_detail,
        doses=tuple(
            DoseFacts(d.plan_id, d.medication, d.unit, d.dose_taken, d.dose_scheduled)
            for d in entry.doses
        ),
    )


def in_force_with_doses(*columns) -> Select:
    """``columns`` of the version in force of each day :patient_id logged from :start to :end,
    one row per dose answer (or one row for a log with none), oldest day first: the statement
    to build once, with bind parameters, for a page that reads a range of logs."""
    patient_id = bindparam("patient_id")
    latest = latest_versions(patient_id, bindparam("start"), bindparam("end"))
    return (
        select(*columns)
        .join(latest, (DailyLog.day == latest.c.day) & (DailyLog.version == latest.c.version))
        .outerjoin(LogDose, LogDose.log_id == DailyLog.id)
        .where(DailyLog.patient_id == patient_id)
        .order_by(DailyLog.day, LogDose.plan_id)
    )


@cache
def _history_statement() -> Select:
    """The alert rules' history: each day in force from :start to :end but the log :saved;
    built once."""
    return in_force_with_doses(
        DailyLog.id,
        DailyLog.day,
        DailyLog.patient_total,
        DailyLog.red_flags,
        DailyLog.red_flags_when,
        DailyLog.substances,
        DailyLog.substances_detail,
        LogDose.plan_id,
        LogDose.medication,
        LogDose.unit,
        LogDose.dose_taken,
        LogDose.dose_scheduled,
    ).where(DailyLog.id != bindparam("saved"))


def _history(patient: User, start: date, saved: DailyLog) -> list[LogFacts]:
    """The patient's logs from ``start`` to the saved log's day as the alert rules read them
    (``_facts`` of each version in force), but the saved log itself: one statement."""
    logged: dict[int, tuple] = {}
    doses: dict[int, list[DoseFacts]] = {}
    rows = db.session.execute(
        _history_statement(),
        {"patient_id": patient.id, "start": start, "end": saved.day, "saved": saved.id},
    )
    for log_id, day, total, flags, when, substances, detail, plan_id, *dose in rows:
        if log_id not in logged:
            logged[log_id] = (day, total or 0, tuple(flags or ()), when, substances, detail)
            doses[log_id] = []
        if plan_id is not None:
            doses[log_id].append(DoseFacts(plan_id, *dose))
    return [
        LogFacts(day, total, flags, tuple(doses[log_id]), when, substances, detail)
        for log_id, (day, total, flags, when, substances, detail) in logged.items()
    ]


def _flags_sent(submission: str) -> frozenset[str]:
    """The red flags already sent alone under a log form's submission id (its "Send this
    now", or a report kept on the device and sent since)."""
    sent = db.session.scalars(
        select(RedFlagReport.flags).where(RedFlagReport.submission_id == submission)
    ).all()
    return frozenset(key for flags in sent for key in flags or ())


def _flags_said_before(patient: User, entry: DailyLog) -> frozenset[str]:
    """The red flags the day's version before ``entry`` already said as having happened since
    the last log: a correction comes back with them ticked, and saving it again is not a new
    event to alert on. A flag said to be happening now is always alerted (a second seizure the
    same evening reads exactly like the morning's), and so is one whose time changed."""
    before = db.session.execute(
        select(DailyLog.red_flags, DailyLog.red_flags_when).where(
            DailyLog.patient_id == patient.id,
            DailyLog.day == entry.day,
            DailyLog.version == entry.version - 1,
        )
    ).first()
    if before is None or entry.red_flags_when != "past" or before.red_flags_when != "past":
        return frozenset()
    return frozenset(before.red_flags or ())


def _raise_alerts(
    patient: User,
    entry: DailyLog,
    schedules: list[timeline.PlanSchedule],
    already_sent: frozenset[str] = frozenset(),
) -> list[Alert]:
    """The alerts a saved log raises, judged against the patient's last weeks of logs."""
    history = _history(patient, entry.day - timedelta(days=HISTORY_DAYS), entry)
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
    note = log_input.parse_note(note, errors)
    if errors:
        raise LogInputError(errors, screened.hits)
    if not flags and not note:
        raise LogInputError({"red_flags": "Tick what is happening, or call for help now."})
    if not log_input.is_submission_id(submission):
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
    if not insert_once(report):
        raise AlreadySaved("This report was already sent.")
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


def submit_log(
    patient: User, form: Mapping[str, str], red_flags: Iterable[str], today: date
) -> Saved:
    """The daily log sent: store it with its alerts and audit row in one commit (nothing on
    LogInputError or AlreadySaved), then, with red flags or an urgent alert, e-mail the
    care team at once."""
    saved = committed(save_log, patient, form, red_flags, today)
    # Every urgent alert (a red flag, or a dose far above the plan) is e-mailed at once.
    notify.send_urgent_now(saved.alerts)
    return saved


def send_report(
    patient: User, keys: Iterable[str], submission: str, today: date, **options
) -> Saved:
    """Red flags (or a message) sent on their own: store the report, its alerts and audit row
    in one commit (``report_red_flags``, whose keyword ``options`` it takes; nothing on
    LogInputError or AlreadySaved), then, with red flags, e-mail the care team at once."""
    flags = parse_red_flags(keys)
    saved = committed(report_red_flags, patient, flags, submission, today, **options)
    if flags:
        notify.send_urgent_now(saved.alerts)
    return saved


def latest_versions(patient_id, start, end) -> Subquery:
    """The subquery of the highest version of each day the patient logged from ``start`` to
    ``end`` (values, or bind parameters for a statement built once)."""
    return (
        select(DailyLog.day, func.max(DailyLog.version).label("version"))
        .where(DailyLog.patient_id == patient_id, DailyLog.day >= start, DailyLog.day <= end)
        .group_by(DailyLog.day)
        .subquery()
    )


def in_force_query(patient: User, start: date = date.min, end: date = date.max) -> Select:
    """The query for the version in force of each logged day from ``start`` to ``end``,
    oldest first (every day by default)."""
    latest = latest_versions(patient.id, start, end)
    return (
        select(DailyLog)
        .join(latest, (DailyLog.day == latest.c.day) & (DailyLog.version == latest.c.version))
        .where(DailyLog.patient_id == patient.id)
        .order_by(DailyLog.day)
    )


def current_logs(patient: User, start: date, end: date) -> list[DailyLog]:
    """The version in force of each logged day from ``start`` to ``end``, oldest first."""
    return list(db.session.scalars(in_force_query(patient, start, end)))


@dataclass(frozen=True)
class _SaidDose:
    plan_id: int
    dose_scheduled: Decimal
    took_as_scheduled: bool
    dose_taken: Decimal


@dataclass(frozen=True)
class LastSaid:
    """What the version in force of a day's log said, as a correction form starts from it."""

    log_id: int
    answers: dict[str, int] | None
    sleep_hours: Decimal | None
    note: str
    red_flags: list[str]
    red_flags_when: str
    substances: bool | None
    substances_detail: str
    doses: tuple[_SaidDose, ...]


@cache
def _last_said_statement() -> Select:
    """The version in force of :patient_id's log of :day, a row per dose answer; built once."""
    latest = (
        select(DailyLog.id)
        .where(DailyLog.patient_id == bindparam("patient_id"), DailyLog.day == bindparam("day"))
        .order_by(DailyLog.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(
            DailyLog.id,
            DailyLog.answers,
            DailyLog.sleep_hours,
            DailyLog.note,
            DailyLog.red_flags,
            DailyLog.red_flags_when,
            DailyLog.substances,
            DailyLog.substances_detail,
            LogDose.plan_id,
            LogDose.dose_scheduled,
            LogDose.took_as_scheduled,
            LogDose.dose_taken,
        )
        .outerjoin(LogDose, LogDose.log_id == DailyLog.id)
        .where(DailyLog.id == latest)
        .order_by(LogDose.plan_id)
    )


def last_said(patient: User, day: date) -> LastSaid | None:
    """What the version in force of one day's log said, or None: one statement."""
    rows = db.session.execute(_last_said_statement(), {"patient_id": patient.id, "day": day}).all()
    if not rows:
        return None
    doses = tuple(_SaidDose(*row[8:]) for row in rows if row[8] is not None)
    log_id, answers, sleep, note, flags, when, substances, detail = rows[0][:8]
    flags = list(flags or ())
    return LastSaid(log_id, answers, sleep, note, flags, when, substances, detail, doses)


def versions_of_day(patient: User, day: date) -> list[DailyLog]:
    """Every saved version of one day's log, newest first."""
    return list(
        db.session.scalars(
            select(DailyLog)
            .where(DailyLog.patient_id == patient.id, DailyLog.day == day)
            .order_by(DailyLog.version.desc())
        )
    )


@dataclass(frozen=True)
class SentFlags:
    """Red flags the patient sent without a daily log (``RedFlagReport``), on their local
    day: when they sent them (a report kept on the device: when it was finally sent)."""

    day: date
    sent_at: datetime
    report: RedFlagReport


def flags_sent(patient: User, start: date, end: date) -> list[SentFlags]:
    """The red flags the patient sent on their own from ``start`` to ``end`` (their days),
    newest first."""
    before = timeline.shift(start, -1)  # a day's margin for time zones (clamped near the year 1)
    since = datetime(before.year, before.month, before.day, tzinfo=UTC)
    reports = db.session.scalars(
        select(RedFlagReport).where(
            RedFlagReport.patient_id == patient.id, RedFlagReport.created_at >= since
        )
    )
    found = []
    for report in reports:
        sent_at = report.reported_at or report.created_at
        day = local_today(sent_at, patient.timezone)
        if start <= day <= end:
            found.append(SentFlags(day, sent_at, report))
    return sorted(found, key=lambda sent: (sent.sent_at, sent.report.id), reverse=True)


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
