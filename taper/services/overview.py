"""The clinician's overview of their care team, sorted by need, a page at a time.

Sorting needs only two cheap aggregates over the whole care team (open alerts by tier and
kind); the details (dose, last log, scores) are loaded for the patients on the page only, so a
page costs the same however large the team, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from taper.domain.schedule import Hold, StepInput, dose_on, local_today
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

FILTERS = {
    "all": "All patients",
    "urgent": "Urgent alerts",
    "review": "Review alerts",
    "open": "Any open alert",
    "none": "No open alerts",
}
PAGE_SIZE = 50
TREND_POINTS = 3


@dataclass
class Row:
    """One patient on the overview."""

    patient_id: int
    name: str
    timezone: str
    has_password: bool
    alerts: dict[str, int] = field(default_factory=dict)
    missed: bool = False
    medication: str | None = None
    dose: Decimal | None = None
    unit: str = "mg"
    status: str = "no plan"
    days_since_change: int | None = None
    last_log: date | None = None
    latest_score: int | None = None
    trend: str = ""  # "rising" | "falling" | "steady" | ""

    @property
    def need(self) -> tuple:
        """Sort key: urgent alerts, then review, then missed logs, then the rest by name."""
        return (
            -self.alerts.get("urgent", 0),
            -self.alerts.get("review", 0),
            not self.missed,
            self.name.lower(),
            self.patient_id,
        )


@dataclass
class Page:
    rows: list[Row]
    number: int
    pages: int
    total: int


def overview(
    clinician: User, *, alert_filter: str = "all", search: str = "", page: int = 1
) -> Page:
    """The care team sorted by need, filtered, searched, one page of details."""
    query = (
        select(User.id, User.name, User.timezone, User.password_hash.is_not(None))
        .join(CareTeamLink, CareTeamLink.patient_id == User.id)
        .where(CareTeamLink.clinician_id == clinician.id)
    )
    search = search.strip()[:100]
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(User.name.ilike(f"%{escaped}%", escape="\\"))
    rows = {
        pid: Row(pid, name, tz, bool(has_pw)) for pid, name, tz, has_pw in db.session.execute(query)
    }
    for patient_id, tier, kind, count in db.session.execute(
        select(Alert.patient_id, Alert.tier, Alert.kind, func.count(Alert.id))
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(CareTeamLink.clinician_id == clinician.id, Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.patient_id, Alert.tier, Alert.kind)
    ):
        row = rows.get(patient_id)
        if row is not None:
            row.alerts[tier] = row.alerts.get(tier, 0) + count
            row.missed = row.missed or kind == "missed_logs"
    chosen = sorted((r for r in rows.values() if _matches(r, alert_filter)), key=lambda r: r.need)
    pages = max((len(chosen) + PAGE_SIZE - 1) // PAGE_SIZE, 1)
    number = min(max(page, 1), pages)
    shown = chosen[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    _details({r.patient_id: r for r in shown})
    return Page(shown, number, pages, len(chosen))


def _details(rows: dict[int, Row]) -> None:
    """Plan, dose in force, last log and score trend for the rows on the page."""
    if not rows:
        return
    ids = list(rows)
    plans = db.session.execute(
        select(
            TaperPlan.patient_id,
            TaperPlan.medication,
            TaperPlan.unit,
            TaperPlan.status,
            PlanRevision.id,
            PlanRevision.hold_start,
            PlanRevision.hold_until,
        )
        .join(PlanRevision, PlanRevision.id == TaperPlan.current_revision_id)
        .where(
            TaperPlan.patient_id.in_(ids),
            TaperPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.PAUSED]),
        )
        .order_by(TaperPlan.created_at, TaperPlan.id)
    ).all()
    first_plan = {}
    for plan in plans:
        first_plan.setdefault(plan[0], plan)  # a crossover's second plan is on its own page
    steps: dict[int, list[StepInput]] = defaultdict(list)
    for revision_id, start, total in db.session.execute(
        select(TaperStep.revision_id, TaperStep.start_date, TaperStep.total)
        .where(TaperStep.revision_id.in_([p[4] for p in first_plan.values()]))
        .order_by(TaperStep.revision_id, TaperStep.start_date)
    ):
        steps[revision_id].append(StepInput(start, total))
    for patient_id, (
        _,
        medication,
        unit,
        status,
        revision_id,
        hold_start,
        hold_until,
    ) in first_plan.items():
        row = rows[patient_id]
        today = local_today(datetime.now(UTC), row.timezone)
        hold = Hold(hold_start, hold_until) if hold_start else None
        found = dose_on(steps[revision_id], today, hold)
        row.medication, row.unit, row.status = medication, unit, status.value
        if found.step is not None and found.status != "ended":
            row.dose = found.step.total
            row.days_since_change = (today - found.step.start).days
        if found.status != "active":
            row.status = {"held": "on hold", "ended": "ended", "not_started": "not started"}[
                found.status
            ]
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


def _matches(row: Row, alert_filter: str) -> bool:
    open_count = sum(row.alerts.values())
    return {
        "urgent": row.alerts.get("urgent", 0) > 0,
        "review": row.alerts.get("review", 0) > 0,
        "open": open_count > 0,
        "none": open_count == 0,
    }.get(alert_filter, True)
