"""The clinician's overview of their care team, sorted by need, a page at a time, and the
page of one patient on it (``overview_page`` and ``open_patient`` audit and commit).

The database sorts, filters and pages the team by its open alerts (one small aggregate); the
details (dose, last log, scores) are loaded for the patients on the page only, so a page costs
about the same however large the team, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select, true

from taper.domain import timeline
from taper.domain.schedule import StepInput, local_today
from taper.domain.timeline import STATUS_WORDS, Hold, PlanSchedule
from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    CareTeamLink,
    DailyLog,
    PlanRevision,
    PlanStatus,
    TaperPlan,
    TaperStep,
    User,
)
from taper.services import audit, logs, plans
from taper.services.alerts import unresolved_for_patient
from taper.services.paging import PAGE_SIZE, Page, page_of

FILTERS = {
    "all": "All patients",
    "urgent": "Urgent alerts",
    "review": "Review alerts",
    "open": "Any open alert",
    "none": "No open alerts",
}
TREND_POINTS = 3


@dataclass(frozen=True)
class PlanEntry:
    """One running plan on a patient's row: its dose in force today (None before it starts)
    with the timeline's status, and the days since the dose in force really changed (holds
    and pauses included: a held dose has not changed)."""

    plan_id: int
    medication: str
    unit: str
    status: str  # active | held | paused | last | not_started | stopped
    dose: Decimal | None = None
    days_since_change: int | None = None
    hold_until: date | None = None  # a hold's or pause's last day (None: until reviewed)
    starts: date | None = None  # the first step's date, for a plan not started yet

    @property
    def status_text(self) -> str:
        """The status in words ("" when simply active)."""
        return STATUS_WORDS.get(self.status, self.status)


@dataclass
class Row:
    """One patient on the overview."""

    patient_id: int
    name: str
    timezone: str
    has_password: bool
    alerts: dict[str, int] = field(default_factory=dict)
    missed: bool = False
    plans: list[PlanEntry] = field(default_factory=list)  # every running plan, oldest first
    last_log: date | None = None
    latest_score: int | None = None
    trend: str = ""  # "rising" | "falling" | "steady" | ""


def overview_page(
    clinician: User, *, alert_filter: str = "all", search: str = "", page: int = 1
) -> Page[Row]:
    """``overview``, with a view of each listed patient audited (D5: the page shows their
    dose, logs and scores) and committed."""
    result = overview(clinician, alert_filter=alert_filter, search=search, page=page)
    audit.record_views(
        clinician, "overview.view", "user", [(r.patient_id, r.patient_id) for r in result.rows]
    )
    db.session.commit()
    return result


def open_patient(clinician: User, patient: User) -> dict[str, list]:
    """One patient on the clinician's care team: the view is audited and committed, then
    their plans (drafts too), visit assessments and unresolved alerts are read for the page."""
    audit.record(clinician, "patient.view", "user", patient.id, patient_id=patient.id)
    db.session.commit()
    return {
        "plans": plans.plans_for_patient(patient, include_drafts=True),
        "assessments": logs.visit_assessments(patient),
        "alerts": unresolved_for_patient(patient),
    }


def overview(
    clinician: User, *, alert_filter: str = "all", search: str = "", page: int = 1
) -> Page[Row]:
    """The care team sorted by need (urgent alerts, then review alerts, then missed logs, then
    by name), filtered and searched in SQL; details only for the page's rows."""
    open_alerts = (
        select(
            Alert.patient_id,
            *(
                func.sum(case((Alert.tier == tier, 1), else_=0)).label(tier)
                for tier in ("urgent", "review", "info")
            ),
            func.max(case((Alert.kind == "missed_logs", 1), else_=0)).label("missed"),
        )
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(CareTeamLink.clinician_id == clinician.id, Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.patient_id)
        .subquery()
    )
    urgent, review, info, missed = (
        func.coalesce(open_alerts.c[name], 0) for name in ("urgent", "review", "info", "missed")
    )
    team = (
        select(User.id)
        .join(CareTeamLink, CareTeamLink.patient_id == User.id)
        .outerjoin(open_alerts, open_alerts.c.patient_id == User.id)
        .where(CareTeamLink.clinician_id == clinician.id)
    )
    search = search.strip()[:100]
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        team = team.where(User.name.ilike(f"%{escaped}%", escape="\\"))
    team = team.where(
        {
            "urgent": urgent > 0,
            "review": review > 0,
            "open": open_alerts.c.patient_id.is_not(None),
            "none": open_alerts.c.patient_id.is_(None),
        }.get(alert_filter, true())
    )
    result = page_of(db.session.scalar(select(func.count()).select_from(team.subquery())), page)
    shown = db.session.execute(
        team.with_only_columns(
            User.id,
            User.name,
            User.timezone,
            User.password_hash.is_not(None),
            urgent,
            review,
            info,
            missed,
        )
        .order_by(urgent.desc(), review.desc(), missed.desc(), func.lower(User.name), User.id)
        .limit(PAGE_SIZE)
        .offset(result.offset)
    )
    for patient_id, name, timezone, has_password, *counts, has_missed in shown:
        alerts = {t: n for t, n in zip(("urgent", "review", "info"), counts, strict=True) if n}
        row = Row(patient_id, name, timezone, bool(has_password), alerts, bool(has_missed))
        result.rows.append(row)
    _details({r.patient_id: r for r in result.rows})
    return result


def _details(rows: dict[int, Row]) -> None:
    """Running plans with their dose in force, last log and score trend for the rows on the
    page: two queries for the plans and their steps, however many patients and plans."""
    if not rows:
        return
    ids = list(rows)
    running = db.session.execute(
        select(
            TaperPlan.id,
            TaperPlan.patient_id,
            TaperPlan.medication,
            TaperPlan.unit,
            PlanRevision.id,
            PlanRevision.hold_start,
            PlanRevision.hold_until,
            PlanRevision.hold_kind,
            PlanRevision.hold_shift,
        )
        .join(PlanRevision, PlanRevision.id == TaperPlan.current_revision_id)
        .where(
            TaperPlan.patient_id.in_(ids),
            TaperPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.PAUSED]),
        )
        .order_by(TaperPlan.patient_id, TaperPlan.created_at, TaperPlan.id)
    ).all()
    steps: dict[int, list[StepInput]] = defaultdict(list)
    for revision_id, start, total in db.session.execute(
        select(TaperStep.revision_id, TaperStep.start_date, TaperStep.total)
        .where(TaperStep.revision_id.in_([plan[4] for plan in running]))
        .order_by(TaperStep.revision_id, TaperStep.start_date)
    ):
        steps[revision_id].append(StepInput(start, total))
    for plan_id, patient_id, medication, unit, revision_id, *hold_columns in running:
        row = rows[patient_id]
        hold_start, hold_until, hold_kind, hold_shift = hold_columns
        hold = Hold.stored(hold_start, hold_until, hold_kind, hold_shift)
        schedule = PlanSchedule(plan_id, medication, unit, True, tuple(steps[revision_id]), hold)
        row.plans.append(_entry(schedule, local_today(datetime.now(UTC), row.timezone)))
    # One index seek per patient on (patient_id, day, ...), where GROUP BY reads every log.
    last_day = (
        select(func.max(DailyLog.day))
        .where(DailyLog.patient_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    last_days = dict(db.session.execute(select(User.id, last_day).where(User.id.in_(ids))).all())
    since = datetime.now(UTC).date() - timedelta(days=8)
    scores: dict[int, dict[date, tuple[int, int | None]]] = defaultdict(dict)
    for patient_id, day, version, total in db.session.execute(
        select(DailyLog.patient_id, DailyLog.day, DailyLog.version, DailyLog.patient_total).where(
            DailyLog.patient_id.in_(ids), DailyLog.day >= since
        )
    ):
        kept = scores[patient_id].get(day)
        if kept is None or version > kept[0]:
            scores[patient_id][day] = (version, total)
    for patient_id, row in rows.items():
        row.last_log = last_days.get(patient_id)
        series = [t for _, (_, t) in sorted(scores[patient_id].items()) if t is not None]
        if series:
            row.latest_score = series[-1]
            row.trend = _trend(series[-7:])


def _entry(schedule: PlanSchedule, today: date) -> PlanEntry:
    """A running plan's dose in force today, its status and the days since it changed."""
    found = schedule.on(today)
    entry = PlanEntry(schedule.plan_id, schedule.medication, schedule.unit, found.status)
    if found.step is None:
        return replace(entry, starts=schedule.steps[0].start if schedule.steps else None)
    # Holds and pauses only ever move later steps: a held dose has not changed.
    changed = timeline.dose_since(schedule.steps, found.step_index)
    hold = schedule.hold
    return replace(
        entry,
        dose=found.step.total,
        days_since_change=max((today - changed).days, 0),
        hold_until=hold.until if hold is not None and found.on_hold else None,
    )


def _trend(last_week: list[int]) -> str:
    if len(last_week) < 2:
        return ""
    half = max(len(last_week) // 2, 1)
    before = sum(last_week[:half]) / half
    after = sum(last_week[half:]) / len(last_week[half:])
    if after - before >= TREND_POINTS:
        return "rising"
    if before - after >= TREND_POINTS:
        return "falling"
    return "steady"
