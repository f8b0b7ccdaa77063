"""The clinician's overview of their care team, sorted by need, a page at a time, and the
page of one patient on it (``overview_page`` and ``open_patient`` audit and commit).

One statement reads a page: the database sorts, filters, searches, counts and pages the team
by its open alerts, then joins the page's patients (never the whole team) to their running
plans with their current steps, and adds each patient's last log day and recent scores and
the clinician's open alerts for the nav. So a page costs three statements whatever the team's
size: the signed-in user, this one and the audit rows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    Date,
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    extract,
    func,
    select,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

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
THOUSANDTHS = Decimal("0.001")
SCORE_DAYS = 8  # scores of the last 8 UTC days (and today) feed the trend
# Past this a page number is nonsense: it shows the last page like any page past the end.
MAX_PAGE = 1_000_000
_STATEMENTS: dict[tuple[str, bool], Select] = {}


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
    active: bool = True  # a deactivated patient can no longer log in


@dataclass
class TeamPage(Page[Row]):
    """A page of the overview, with the clinician's open alerts for the nav's badge."""

    open_alerts: int = 0


def overview_page(
    clinician: User, *, alert_filter: str = "all", search: str = "", page: int = 1
) -> TeamPage:
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
) -> TeamPage:
    """The care team sorted by need (urgent alerts, then review alerts, then missed logs, then
    by name), filtered and searched in SQL, with the details of the page's rows: one
    statement (two more only for a page past the end: the count, then the last page)."""
    if alert_filter not in FILTERS:
        alert_filter = "all"
    search = search.strip()[:100]
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    now = datetime.now(UTC)
    values = {
        "clinician_id": clinician.id,
        "pattern": f"%{escaped}%",
        "since": now.date() - timedelta(days=SCORE_DAYS),
    }
    number = min(max(page, 1), MAX_PAGE)
    statement = _statement(alert_filter, bool(search))
    found = db.session.execute(statement, {**values, "skip": (number - 1) * PAGE_SIZE}).all()
    if found[0].id is None and number > 1:  # past the last page: show the last one
        team = _team(alert_filter, bool(search)).subquery()
        number = page_of(
            db.session.scalar(select(func.count()).select_from(team), values), number
        ).number
        found = db.session.execute(statement, {**values, "skip": (number - 1) * PAGE_SIZE}).all()
    return _rows(found, number, now)


def _statement(alert_filter: str, searching: bool):
    """The page statement for a filter, with or without a search (built once per process:
    the values are bound parameters)."""
    key = (alert_filter, searching)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS.setdefault(key, _page_statement(_team(alert_filter, searching)))
    return statement


def _team(alert_filter: str, searching: bool):
    """The clinician's patients (filtered and searched) with their unresolved alerts by tier
    and whether one of them is for missed logs, in the order of need."""
    clinician_id = bindparam("clinician_id", type_=Integer)
    unresolved = (
        select(
            Alert.patient_id,
            *(
                func.sum(case((Alert.tier == tier, 1), else_=0)).label(tier)
                for tier in ("urgent", "review", "info")
            ),
            func.max(case((Alert.kind == "missed_logs", 1), else_=0)).label("missed"),
            func.sum(
                case(((Alert.tier == "urgent") & (Alert.status == AlertStatus.OPEN), 1), else_=0)
            ).label("urgent_open"),
        )
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(CareTeamLink.clinician_id == clinician_id, Alert.status != AlertStatus.RESOLVED)
        .group_by(Alert.patient_id)
        .subquery()
    )
    urgent, review, info, missed, urgent_open = (
        func.coalesce(unresolved.c[name], 0).label(name)
        for name in ("urgent", "review", "info", "missed", "urgent_open")
    )
    team = (
        select(
            User.id,
            User.name,
            User.timezone,
            User.password_hash.is_not(None).label("has_password"),
            User.active,
            urgent,
            review,
            info,
            missed,
            urgent_open,
        )
        .join(CareTeamLink, CareTeamLink.patient_id == User.id)
        .outerjoin(unresolved, unresolved.c.patient_id == User.id)
        .where(CareTeamLink.clinician_id == clinician_id)
    )
    if searching:
        team = team.where(User.name.ilike(bindparam("pattern", type_=String), escape="\\"))
    return team.where(
        {
            "urgent": urgent > 0,
            "review": review > 0,
            "open": unresolved.c.patient_id.is_not(None),
            "none": unresolved.c.patient_id.is_(None),
        }.get(alert_filter, true())
    )


def _need(columns) -> list:
    """The overview's order: urgent alerts nobody has acknowledged yet, then most urgent
    alerts, review alerts, missed logs, then by name."""
    return [
        columns.urgent_open.desc(),
        columns.urgent.desc(),
        columns.review.desc(),
        columns.missed.desc(),
        func.lower(columns.name),
        columns.id,
    ]


def _day_number(day):
    """A date as text of the number 20260303, the same whatever the database's settings."""
    number = extract("year", day) * 10000 + extract("month", day) * 100 + extract("day", day)
    return cast(cast(number, Integer), String)


def _page_statement(team):
    """One row per running plan of each patient on the page (one with no plan for a patient
    who has none), in order; a single row of NULLs but the badge when the page is empty.
    Every row carries the filtered team's size and the clinician's open alerts."""
    shown = (
        team.add_columns(func.count().over().label("total"))
        .order_by(*_need(team.selected_columns))
        .limit(PAGE_SIZE)
        .offset(bindparam("skip", type_=Integer))
        .subquery("shown")
    )
    badge = (
        select(func.count(Alert.id))
        .join(CareTeamLink, CareTeamLink.patient_id == Alert.patient_id)
        .where(
            CareTeamLink.clinician_id == bindparam("clinician_id", type_=Integer),
            Alert.status == AlertStatus.OPEN,
        )
        .scalar_subquery()
    )
    head = select(badge.label("badge")).subquery("head")
    last_log = (
        select(func.max(DailyLog.day)).where(DailyLog.patient_id == shown.c.id).scalar_subquery()
    )
    later = aliased(DailyLog)
    latest_version = (
        select(func.max(later.version))
        .where(later.patient_id == DailyLog.patient_id, later.day == DailyLog.day)
        .scalar_subquery()
    )
    # Each day's latest version with a score, as "20260303:12".
    scores = (
        select(
            func.aggregate_strings(
                _day_number(DailyLog.day) + ":" + cast(DailyLog.patient_total, String),
                ",",
            )
        )
        .where(
            DailyLog.patient_id == shown.c.id,
            DailyLog.day >= bindparam("since", type_=Date),
            DailyLog.version == latest_version,
            DailyLog.patient_total.is_not(None),
        )
        .scalar_subquery()
    )
    # The current revision's steps, as "20260303:7.500" (the dose exactly as typed).
    steps = (
        select(
            func.aggregate_strings(
                _day_number(TaperStep.start_date) + ":" + cast(TaperStep.total, String), ","
            )
        )
        .where(TaperStep.revision_id == PlanRevision.id)
        .scalar_subquery()
    )
    return (
        select(
            head.c.badge,
            shown.c.total,
            shown.c.id,
            shown.c.name,
            shown.c.timezone,
            shown.c.has_password,
            shown.c.active,
            shown.c.urgent,
            shown.c.review,
            shown.c.info,
            shown.c.missed,
            last_log.label("last_log"),
            scores.label("scores"),
            TaperPlan.id.label("plan_id"),
            TaperPlan.medication,
            TaperPlan.unit,
            PlanRevision.id.label("revision_id"),
            steps.label("steps"),
            PlanRevision.hold_start,
            PlanRevision.hold_until,
            PlanRevision.hold_kind,
            PlanRevision.hold_shift,
        )
        .select_from(head)
        .outerjoin(shown, true())
        .outerjoin(
            TaperPlan,
            and_(
                TaperPlan.patient_id == shown.c.id,
                TaperPlan.status.in_([PlanStatus.ACTIVE, PlanStatus.PAUSED]),
            ),
        )
        .outerjoin(PlanRevision, PlanRevision.id == TaperPlan.current_revision_id)
        .order_by(*_need(shown.c), TaperPlan.created_at, TaperPlan.id)
    )


def _rows(found: list, number: int, now: datetime) -> TeamPage:
    """The page from the statement's rows: a Row per patient, a PlanEntry per running plan."""
    first = found[0]
    total = first.total or 0
    result = TeamPage([], number, max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), total)
    result.open_alerts = first.badge or 0
    row = None
    for r in found:
        if r.id is None:
            break
        if row is None or row.patient_id != r.id:
            counts = {"urgent": r.urgent, "review": r.review, "info": r.info}
            row = Row(
                r.id,
                r.name,
                r.timezone,
                bool(r.has_password),
                {tier: n for tier, n in counts.items() if n},
                bool(r.missed),
                last_log=r.last_log,
                active=bool(r.active),
            )
            series = _series(r.scores)
            if series:
                row.latest_score = series[-1]
                row.trend = _trend(series[-7:])
            result.rows.append(row)
        if r.revision_id is not None:
            hold = Hold.stored(r.hold_start, r.hold_until, r.hold_kind, r.hold_shift)
            schedule = PlanSchedule(
                r.plan_id,
                r.medication,
                r.unit,
                True,
                _steps(r.steps),
                hold,
            )
            row.plans.append(_entry(schedule, local_today(now, row.timezone)))
    return result


def _steps(packed: str | None) -> tuple[StepInput, ...]:
    """The steps of "20260310:5.000,20260303:7.500", by date, each total as stored (SQLite
    gives back "7.5": Numeric(10, 3) always has three places)."""
    steps = []
    for item in (packed or "").split(","):
        if item:
            day, total = item.split(":")
            year, month_day = divmod(int(day), 10000)
            start = date(year, *divmod(month_day, 100))
            steps.append(StepInput(start, Decimal(total).quantize(THOUSANDTHS)))
    return tuple(sorted(steps, key=lambda step: step.start))


def _series(packed: str | None) -> list[int]:
    """The scores of "20260303:12,20260302:14", oldest day first."""
    if not packed:
        return []
    days = sorted(tuple(map(int, item.split(":"))) for item in packed.split(","))
    return [total for _, total in days]


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
