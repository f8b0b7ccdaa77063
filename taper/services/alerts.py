"""Raising, de-duplicating and triaging alerts; e-mails for urgent ones go to the outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime
from typing import NoReturn

from flask import current_app
from sqlalchemy import Integer, bindparam, case, func, select, true
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.sql import Select

from taper.domain.alert_rules import AlertFinding, Thresholds, scheduled_findings
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import (
    Alert,
    AlertSettings,
    AlertStatus,
    CareTeamLink,
    DailyLog,
    Role,
    TaperPlan,
    User,
)
from taper.models.alert import NEVER_MERGED_KIND
from taper.services import Conflict, ServiceError, audit, locks, notify, plans
from taper.services.paging import PAGE_SIZE, Page, page_of
from taper.services.savepoint import insert_once

log = logging.getLogger(__name__)
# The thresholds a clinician may change per patient, and the values the form accepts.
TUNABLE: dict[str, tuple[int, int]] = {
    "high_score": (1, CIWA_B.patient_max),
    "rising_points": (1, CIWA_B.patient_max),
    "missed_days": (1, 30),
    "plan_end_days": (0, 60),
}
KNOWN = frozenset(f.name for f in fields(Thresholds))
SCAN_CHUNK = 500  # patients per IN (...) list: well under every database's parameter limit
SCAN_KINDS = ("missed_logs", "plan_end")
SCAN_BATCH = 200  # plans (about as many patients) the scan reads, raises and commits at once


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + SCAN_CHUNK] for i in range(0, len(ids), SCAN_CHUNK)]


def _thresholds(stored: dict | None) -> Thresholds:
    """The defaults with a patient's stored changes applied (unknown or non-integer values
    stored by hand are ignored rather than breaking a page or the scan)."""
    changes = {
        k: v
        for k, v in (stored or {}).items()
        if k in KNOWN and isinstance(v, int) and not isinstance(v, bool)
    }
    return replace(Thresholds(), **changes)


# Read on every daily-log submit: built once, only the patient changes.
_THRESHOLDS = select(AlertSettings.thresholds).where(
    AlertSettings.patient_id == bindparam("patient_id")
)


def thresholds_for(patient_id: int) -> Thresholds:
    """The patient's thresholds: the defaults with the clinician's changes applied."""
    return _thresholds(db.session.scalar(_THRESHOLDS, {"patient_id": patient_id}))


def thresholds_by_patient(patient_ids: Sequence[int]) -> dict[int, Thresholds]:
    """Thresholds for many patients in one query; patients with no changes get the defaults."""
    stored: dict[int, dict] = {}
    for chunk in _chunks(patient_ids):
        stored.update(
            db.session.execute(
                select(AlertSettings.patient_id, AlertSettings.thresholds).where(
                    AlertSettings.patient_id.in_(chunk)
                )
            ).all()
        )
    return {patient_id: _thresholds(stored.get(patient_id)) for patient_id in patient_ids}


def _refuse(message: str, field: str | None = None) -> NoReturn:
    """End the use case's transaction unchanged and tell the clinician why."""
    db.session.rollback()
    raise ServiceError(message, field)


def shown(thresholds: Thresholds) -> str:
    """The thresholds as a form shows them, to tell later whether they changed meanwhile."""
    return ",".join(f"{name}={getattr(thresholds, name)}" for name in sorted(TUNABLE))


def set_thresholds(
    actor: User, patient: User, values: dict[str, int], seen: str | None = None
) -> None:
    """Store a patient's thresholds (only the tunable ones, each within its range) and
    commit; a value out of range is refused with nothing stored. ``seen`` (``shown`` of the
    thresholds the form was filled from): when they changed since, nothing is stored and
    ``Conflict`` says what they are now. The patient's row is locked first, so two saves at
    once are taken one after the other."""
    locks.lock(User, User.id == patient.id, ("active", "updated_at"))
    now = thresholds_for(patient.id)
    if seen is not None and seen != shown(now):
        db.session.rollback()
        if all(getattr(now, name) == values.get(name) for name in TUNABLE):
            return  # already what was asked: this form sent twice
        raise Conflict(
            "Someone changed these thresholds since you opened this page; they are now: "
            + ", ".join(
                f"{name.replace('_', ' ')} {getattr(now, name)}" for name in sorted(TUNABLE)
            )
            + ". Check yours and save again."
        )
    clean = {}
    for name, value in values.items():
        if name not in TUNABLE:
            continue
        low, high = TUNABLE[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            _refuse(f"Choose a whole number from {low} to {high}.", name)
        clean[name] = value
    settings = db.session.get(AlertSettings, patient.id)
    if settings is None:
        settings = AlertSettings(patient_id=patient.id)
        db.session.add(settings)
    settings.thresholds = clean
    settings.updated_by_id = actor.id
    audit.record(
        actor, "alert.thresholds", "user", patient.id, patient_id=patient.id, summary=clean
    )
    db.session.commit()


def raise_alert(
    patient: User,
    finding: AlertFinding,
    *,
    log_id: int | None = None,
    report_id: int | None = None,
    quote: str = "",
) -> Alert | None:
    """Store the finding; a review or info finding is dropped (None) while an *open* alert of
    its kind (and plan) exists, or when an alert was already raised for the same cause (a scan
    finding the same situation again). An acknowledged alert does not hide a new one. Urgent
    findings are never merged: each red flag reaches the care team as an alert and e-mails of
    its own, whatever earlier alerts are still open.

    A savepoint keeps a race with another request from undoing the caller's work: the
    partial unique indexes let only one open non-urgent alert per kind (and plan) exist."""
    if _stands_for(patient, finding):
        return None
    alert = Alert(
        patient_id=patient.id,
        kind=finding.kind,
        tier=finding.tier,
        reason=finding.reason[:255],
        log_id=log_id,
        report_id=report_id,
        plan_id=finding.plan_id,
        cause=finding.cause[:64],
        quote=quote,
    )
    if not insert_once(alert):
        return None
    if finding.tier == "urgent":
        _queue_emails(patient, alert)
    summary = {"kind": finding.kind, "tier": finding.tier}
    audit.record(None, "alert.raise", "alert", alert.id, patient_id=patient.id, summary=summary)
    return alert


def _stands_for(patient: User, finding: AlertFinding) -> bool:
    """Whether an alert of the finding's kind (and plan) already stands for it: for a review
    or info finding, an open one or one raised for the same cause; for an urgent one (a dose
    far above the plan), an urgent one for the same cause (a correction of the same day with
    the same dose), never a review alert. Red flags are never merged (``logs`` keeps a flag
    sent twice to one alert)."""
    if finding.kind == "red_flag" or (finding.tier == "urgent" and not finding.cause):
        return False
    match = Alert.status == AlertStatus.OPEN
    if finding.tier == "urgent":
        match = (Alert.tier == "urgent") & (Alert.cause == finding.cause)
    elif finding.kind == NEVER_MERGED_KIND:  # each note is quoted in an alert of its own
        match = Alert.cause == finding.cause
    elif finding.cause:
        match = match | (Alert.cause == finding.cause)
    same = select(Alert.id).where(
        Alert.patient_id == patient.id,
        Alert.kind == finding.kind,
        Alert.plan_id.is_(None) if finding.plan_id is None else Alert.plan_id == finding.plan_id,
        match,
    )
    return db.session.scalar(same.limit(1)) is not None


def _queue_emails(patient: User, alert: Alert) -> None:
    """One outbox message per active clinician on the care team: a link, no health details.
    With none (theirs deactivated, or none ever assigned) the alert would reach nobody: it is
    logged as an error, and every active admin is asked to assign a clinician now."""
    site = current_app.config["PUBLIC_URL"].rstrip("/")
    clinicians = db.session.scalars(
        select(User)
        .join(CareTeamLink, CareTeamLink.clinician_id == User.id)
        .where(CareTeamLink.patient_id == patient.id, User.active.is_(True))
    ).all()
    for clinician in clinicians:
        notify.queue(
            clinician.email,
            "Taper: an urgent alert needs your attention",
            f"Hello {clinician.name},\n\nA patient on your care team has raised an urgent "
            f"alert in Taper. Please sign in to see it:\n\n"
            f"{site}/clinician/alerts#alert-{alert.id}\n\n"
            "This message contains no health information.\n",
            alert_id=alert.id,
        )
    if clinicians:
        return
    log.error(
        "urgent alert %s of patient %s: no active clinician on the care team; e-mailing admins",
        alert.id,
        patient.id,
    )
    admins = db.session.scalars(
        select(User).where(User.role == Role.ADMIN, User.active.is_(True))
    ).all()
    for admin in admins:
        notify.queue(
            admin.email,
            "Taper: an urgent alert reached no clinician",
            f"Hello {admin.name},\n\nA patient in Taper (account number {patient.id}) raised "
            "an urgent alert, but no active clinician is on their care team, so no one has "
            f"been told. Please assign a clinician to them now:\n\n{site}/admin/accounts\n\n"
            "This message contains no health information.\n",
            alert_id=alert.id,
        )


def acknowledge(actor: User, alert: Alert, note: str) -> None:
    """The clinician has seen the alert (committed with its audit row). The alert's row is
    locked first: of two clinicians at once, the second is told it was done, and a note they
    typed is kept."""
    _lock(alert)
    if alert.status is not AlertStatus.OPEN:
        _refuse_keeping_note(actor, alert, note, "This alert has already been acknowledged.")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by_id = actor.id
    alert.acknowledged_at = datetime.now(UTC)
    alert.note = _append_note(alert.note, actor, note)
    audit.record(actor, "alert.acknowledge", "alert", alert.id, patient_id=alert.patient_id)
    db.session.commit()


def resolve(actor: User, alert: Alert, note: str) -> None:
    """Close the alert with a note (committed with its audit row); a new one of its kind may
    be raised afterwards. Locked first, like ``acknowledge``."""
    _lock(alert)
    if alert.status is AlertStatus.RESOLVED:
        _refuse_keeping_note(actor, alert, note, "This alert is already resolved.")
    if not note.strip():
        _refuse("Write a short note on how this was resolved.", "note")
    now = datetime.now(UTC)
    if alert.acknowledged_at is None:
        alert.acknowledged_by_id, alert.acknowledged_at = actor.id, now
    alert.status = AlertStatus.RESOLVED
    alert.resolved_by_id = actor.id
    alert.resolved_at = now
    alert.note = _append_note(alert.note, actor, note)
    audit.record(actor, "alert.resolve", "alert", alert.id, patient_id=alert.patient_id)
    db.session.commit()


def _lock(alert: Alert) -> None:
    locks.lock(Alert, Alert.id == alert.id, ("status",))


def _refuse_keeping_note(actor: User, alert: Alert, note: str, message: str) -> NoReturn:
    """Someone else got there first: nothing changes but the note the clinician typed, which
    is added to the alert's notes (audited) rather than lost; then tell them."""
    if not note.strip():
        _refuse(message)
    noted = _append_note(alert.note, actor, note)
    if noted.rsplit("\n", 1)[-1] in alert.note.split("\n"):  # the same note again: a double click
        _refuse(message)
    alert.note = noted
    audit.record(actor, "alert.note", "alert", alert.id, patient_id=alert.patient_id)
    db.session.commit()
    raise ServiceError(f"{message} Your note was added to it.", "note")


def _append_note(existing: str, actor: User, note: str) -> str:
    note = " ".join(note.split())[:1000]
    if not note:
        return existing
    line = f"{actor.name}: {note}"
    return f"{existing}\n{line}" if existing else line


@dataclass(frozen=True)
class ScanResult:
    """How many alerts one scan raised, by kind."""

    missed_logs: int = 0
    plan_end: int = 0
    failed_batches: int = 0  # batches rolled back (logged); the others were still scanned


def _already_raised(
    findings: Sequence[tuple[User, AlertFinding]],
) -> set[tuple[int, str, int | None, str]]:
    """Keys of the findings an alert already covers (an open alert of its kind and plan, or
    any alert of the same cause), in one query per SCAN_CHUNK patients, so a scan that finds
    nothing new costs no query per patient. ``raise_alert`` checks again as it stores."""
    causes_of: dict[int, set[str]] = {}
    for patient, finding in findings:
        causes_of.setdefault(patient.id, set()).update([finding.cause] if finding.cause else [])
    open_keys: set[tuple[int, str, int | None]] = set()
    cause_keys: set[tuple[int, str, int | None, str]] = set()
    for chunk in _chunks(sorted(causes_of)):
        causes = sorted(set().union(*(causes_of[patient_id] for patient_id in chunk)))
        rows = db.session.execute(
            select(Alert.patient_id, Alert.kind, Alert.plan_id, Alert.cause, Alert.status).where(
                Alert.patient_id.in_(chunk),
                Alert.kind.in_(SCAN_KINDS),
                (Alert.status == AlertStatus.OPEN) | Alert.cause.in_(causes),
            )
        )
        for patient_id, kind, plan_id, cause, status in rows:
            cause_keys.add((patient_id, kind, plan_id, cause))
            if status is AlertStatus.OPEN:
                open_keys.add((patient_id, kind, plan_id))
    return {
        key
        for patient, finding in findings
        for key in [(patient.id, finding.kind, finding.plan_id, finding.cause)]
        if key[:3] in open_keys or (finding.cause and key in cause_keys)
    }


def _running_batch(after: int) -> tuple[list[tuple[User, list]], int | None]:
    """The next patients (id above ``after``, in id order) with a running plan, and their
    plans as the timeline sees them; and the id to continue after (None: this was the last
    batch). Four queries (the plans, their patients, revisions and steps) whatever the batch.

    The limit counts plans (one more is read to see what follows), so a patient whose plans
    go beyond it is left to the next batch, unless they are the only one read. A deactivated
    patient, who can no longer log in, is not scanned (no missed-log alert for them)."""
    query = plans.running_plans().where(TaperPlan.patient.has(User.active.is_(True)))
    rows = list(db.session.scalars(query.where(TaperPlan.patient_id > after).limit(SCAN_BATCH + 1)))
    following: int | None = None
    if len(rows) > SCAN_BATCH:  # more to come: end this batch with a whole patient
        rows, beyond = rows[:SCAN_BATCH], rows[SCAN_BATCH].patient_id
        if rows[0].patient_id == beyond:  # one patient with more than a batch of plans
            rows = list(db.session.scalars(query.where(TaperPlan.patient_id == beyond)))
        elif rows[-1].patient_id == beyond:
            rows = [plan for plan in rows if plan.patient_id != beyond]
        following = rows[-1].patient_id
    return plans.per_patient(rows), following


def _last_log_days(patient_ids: Sequence[int]) -> dict[int, date]:
    last_days: dict[int, date] = {}
    for chunk in _chunks(patient_ids):
        last_days.update(
            db.session.execute(
                select(DailyLog.patient_id, func.max(DailyLog.day))
                .where(DailyLog.patient_id.in_(chunk))
                .group_by(DailyLog.patient_id)
            ).all()
        )
    return last_days


def _scan_batch(running: list[tuple[User, list]], now: datetime) -> dict[str, int]:
    """Raise the alerts one batch of patients needs (not committed); counts by kind."""
    patient_ids = [patient.id for patient, _ in running]
    last_days = _last_log_days(patient_ids)
    thresholds = thresholds_by_patient(patient_ids)
    findings = []
    for patient, schedules in running:
        try:
            found = scheduled_findings(
                schedules,
                last_days.get(patient.id),
                local_today(now, patient.timezone),
                thresholds[patient.id],
            )
        except (ValueError, OverflowError):
            # One patient's odd stored data must never stop the scan for the whole clinic.
            log.exception("alert scan skipped patient %s", patient.id)
            continue
        findings.extend((patient, finding) for finding in found)
    covered = _already_raised(findings)
    raised = {kind: 0 for kind in SCAN_KINDS}
    for patient, finding in findings:
        if (patient.id, finding.kind, finding.plan_id, finding.cause) in covered:
            continue
        if raise_alert(patient, finding) is not None:
            raised[finding.kind] += 1
    return raised


def _scan_committed(running: list[tuple[User, list]], now: datetime, raised: dict) -> bool:
    """Scan these patients and commit their alerts (adding the counts to ``raised``); on any
    error roll back, log it and return False."""
    ids = [patient.id for patient, _ in running]  # read before a rollback expires them
    try:
        counts = _scan_batch(running, now)
        db.session.commit()
    except Exception as error:  # noqa: BLE001  (one bad batch must not stop the others)
        db.session.rollback()
        log.error(
            "alert scan batch of patients %s to %s failed (%s)",
            ids[0],
            ids[-1],
            type(error).__name__,
        )
        return False
    for kind, count in counts.items():
        raised[kind] += count
    return True


def _scan_one_by_one(running: list[tuple[User, list]], now: datetime, raised: dict) -> bool:
    """After a failed batch, each of its patients on their own: one patient's bad data (an
    error the per-patient guard does not know) costs only their own alerts, never those of
    the ~200 others in the batch. False when any patient still failed."""
    results = [_scan_committed([entry], now, raised) for entry in running]
    return all(results)


def scan(now: datetime) -> ScanResult:
    """Raise the scheduled alerts (missed logs, plan ends) for every patient with a running
    plan. Safe to run twice, and on two workers at once: a situation already alerted (an
    open alert of its kind, or any alert of the same cause) raises nothing new.

    Patients are read in batches (SCAN_BATCH plans, in patient id order); each batch costs a
    fixed number of queries (its plans, last log days, thresholds, the alerts already raised)
    and commits its alerts. A batch that fails is rolled back, logged and scanned again one
    patient at a time, so only the patients whose own scan fails go without; the scan then
    goes on with the next batch. ``failed_batches`` counts the batches where a patient still
    failed (the job then counts as failed and runs again; what was committed is not raised
    twice)."""
    raised = {kind: 0 for kind in SCAN_KINDS}
    failed = 0
    after: int | None = 0
    while after is not None:
        running, following = _running_batch(after)
        if not running:
            break
        if not _scan_committed(running, now, raised) and not _scan_one_by_one(running, now, raised):
            failed += 1
        after = following
    return ScanResult(**raised, failed_batches=failed)


def open_alert_count(clinician: User) -> int:
    """Open alerts across a clinician's care team (for the nav): one COUNT, answered from
    the care team's primary key and ``ix_alert_patient_status`` alone."""
    return db.session.scalar(_open_count(), {"clinician_id": clinician.id}) or 0


def _open_count():
    """The COUNT behind ``open_alert_count``, for the clinician bound as ``clinician_id``."""
    return (
        select(func.count(Alert.id))
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(
            CareTeamLink.clinician_id == bindparam("clinician_id", type_=Integer),
            Alert.status == AlertStatus.OPEN,
        )
    )


TIER_RANK = {"urgent": 0, "review": 1, "info": 2}
# Past this a page number is nonsense: it shows the last page like any page past the end.
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class InboxAlert:
    """An unresolved alert as the inbox shows it, with its patient's name, who acknowledged
    it, the day of its log and the medication of its plan (None when it has none)."""

    id: int
    patient_id: int
    patient_name: str
    kind: str
    tier: str
    reason: str
    quote: str
    note: str
    status: AlertStatus
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None  # the name of whoever acknowledged it
    plan_id: int | None
    medication: str | None
    log_day: date | None


@dataclass
class InboxPage(Page[InboxAlert]):
    """A page of the inbox, with the clinician's open alerts for the nav's badge."""

    open_alerts: int = 0


def inbox(clinician: User, page: int = 1) -> InboxPage:
    """Unresolved alerts of the care team, a page at a time: urgent first, then review, then
    info; newest first. One statement (two more only for a page past the end)."""
    statement = _inbox_statement()
    number = min(max(page, 1), MAX_PAGE)
    values = {"clinician_id": clinician.id}
    found = db.session.execute(statement, {**values, "skip": (number - 1) * PAGE_SIZE}).all()
    if found[0].id is None and number > 1:  # past the last page: show the last one
        total = db.session.scalar(select(func.count()).select_from(_unresolved()), values)
        number = page_of(total or 0, number).number
        found = db.session.execute(statement, {**values, "skip": (number - 1) * PAGE_SIZE}).all()
    first = found[0]
    total = first.total or 0
    result = InboxPage([], number, max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), total)
    result.open_alerts = first.badge or 0
    result.rows = [InboxAlert(*row[2:]) for row in found if row.id is not None]
    return result


def _unresolved():
    """The unresolved alerts of the care team of the clinician bound as ``clinician_id``."""
    return (
        select(Alert.id)
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(
            CareTeamLink.clinician_id == bindparam("clinician_id", type_=Integer),
            Alert.status != AlertStatus.RESOLVED,
        )
        .subquery()
    )


_INBOX: list[Select] = []


def _inbox_statement() -> Select:
    """The inbox page for the clinician bound as ``clinician_id``, skipping ``skip`` alerts:
    a row per alert (with the badge's count and the total), or one row of NULLs but the
    badge when the page is empty. Built once per process."""
    if not _INBOX:
        rank = case(TIER_RANK, value=Alert.tier, else_=3).label("rank")
        shown = (
            select(Alert, rank, func.count().over().label("total"))
            .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
            .where(
                CareTeamLink.clinician_id == bindparam("clinician_id", type_=Integer),
                Alert.status != AlertStatus.RESOLVED,
            )
            .order_by(rank, Alert.created_at.desc(), Alert.id.desc())
            .limit(PAGE_SIZE)
            .offset(bindparam("skip", type_=Integer))
            .subquery("shown")
        )
        head = select(_open_count().scalar_subquery().label("badge")).subquery("head")
        patient, acknowledger = aliased(User), aliased(User)
        _INBOX.append(
            select(
                head.c.badge,
                shown.c.total,
                shown.c.id,
                shown.c.patient_id,
                patient.name,
                shown.c.kind,
                shown.c.tier,
                shown.c.reason,
                shown.c.quote,
                shown.c.note,
                shown.c.status,
                shown.c.created_at,
                shown.c.acknowledged_at,
                acknowledger.name,
                shown.c.plan_id,
                TaperPlan.medication,
                DailyLog.day,
            )
            .select_from(head)
            .outerjoin(shown, true())
            .outerjoin(patient, patient.id == shown.c.patient_id)
            .outerjoin(acknowledger, acknowledger.id == shown.c.acknowledged_by_id)
            .outerjoin(TaperPlan, TaperPlan.id == shown.c.plan_id)
            .outerjoin(DailyLog, DailyLog.id == shown.c.log_id)
            .order_by(shown.c.rank, shown.c.created_at.desc(), shown.c.id.desc())
        )
    return _INBOX[0]


def unresolved_for_patient(patient: User) -> list[Alert]:
    """One patient's unresolved alerts, for their page: urgent first, then newest first."""
    rank = case(TIER_RANK, value=Alert.tier, else_=3)
    return list(
        db.session.scalars(
            select(Alert)
            .where(Alert.patient_id == patient.id, Alert.status != AlertStatus.RESOLVED)
            .options(selectinload(Alert.acknowledged_by), selectinload(Alert.plan))
            .order_by(rank, Alert.created_at.desc(), Alert.id.desc())
        )
    )


def inbox_page(clinician: User, page: int = 1) -> InboxPage:
    """The inbox page the clinician opens, each alert shown recorded in the audit trail."""
    result = inbox(clinician, page)
    audit.record_views(
        clinician, "alert.view", "alert", [(alert.id, alert.patient_id) for alert in result.rows]
    )
    db.session.commit()
    return result
