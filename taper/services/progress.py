"""Gathering what the charts and the visit report show, in a fixed number of queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from taper.charts.data import HeatmapData, ProgressData
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import DailyLog, PlanStatus, RedFlagReport, TaperPlan, User
from taper.services import logs, plans

RANGES = {"30": 30, "90": 90, "plan": None}


def chart_plan(patient: User) -> TaperPlan | None:
    """The plan a chart follows: the first running one, else the latest finished one."""
    shown = [p for p in plans.plans_for_patient(patient, include_drafts=False)]
    running = [p for p in shown if p.status in (PlanStatus.ACTIVE, PlanStatus.PAUSED)]
    return (running or list(reversed(shown)) or [None])[0]


def _holds(plan: TaperPlan, today: date) -> tuple[tuple[date, date], ...]:
    spans = {(r.hold_start, r.hold_until or today) for r in plan.revisions if r.hold_start}
    return tuple(sorted(spans))


def date_range(plan: TaperPlan | None, range_name: str, today: date) -> tuple[date, date]:
    """First and last day a chart shows."""
    days = RANGES.get(range_name, 30)
    if days is None and plan is not None and plan.current_revision.steps:
        steps = plan.current_revision.steps
        return steps[0].start_date, max(
            steps[-1].start_date, min(today, steps[-1].start_date + timedelta(days=30))
        )
    days = days or 90
    return today - timedelta(days=days - 1), today


def progress_data(patient: User, range_name: str, *, simple: bool) -> ProgressData:
    """The patient's schedule, doses taken, scores, red flags and holds over a range."""
    today = local_today(datetime.now(UTC), patient.timezone)
    plan = chart_plan(patient)
    start, end = date_range(plan, range_name, today)
    entries = logs.current_logs(patient, start, end)
    reports = db.session.scalars(
        select(RedFlagReport.created_at).where(
            RedFlagReport.patient_id == patient.id,
            RedFlagReport.created_at
            >= datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1),
        )
    ).all()
    report_days = {local_today(at, patient.timezone) for at in reports}
    flag_days = sorted(
        {e.day for e in entries if e.red_flags} | {d for d in report_days if start <= d <= end}
    )
    return ProgressData(
        start=start,
        end=end,
        unit=plan.unit if plan else "mg",
        steps=tuple((s.start_date, s.total) for s in plan.current_revision.steps) if plan else (),
        holds=_holds(plan, today) if plan else (),
        taken=tuple((e.day, e.dose_taken) for e in entries if e.dose_taken is not None),
        scores=tuple((e.day, e.patient_total) for e in entries if e.patient_total is not None),
        red_flag_days=tuple(flag_days),
        simple=simple,
    )


SHORT_LABELS = {
    "irritable": "Irritable",
    "fatigued": "Tired",
    "tense": "Tense",
    "concentration": "Concentration",
    "appetite": "Appetite loss",
    "numbness": "Numbness",
    "palpitations": "Heart racing",
    "head": "Head full/achy",
    "muscles": "Muscle aches",
    "anxious": "Anxious",
    "upset": "Upset",
    "sleep_not_restful": "Sleep not restful",
    "weak": "Weak",
    "sleep_too_little": "Too little sleep",
    "vision": "Vision",
    "fearful": "Fearful",
    "worry": "Worry",
}


def heatmap_data(patient: User, range_name: str) -> HeatmapData:
    """Each patient-rated item by day, with dose changes and sleep."""
    today = local_today(datetime.now(UTC), patient.timezone)
    plan = chart_plan(patient)
    start, end = date_range(plan, range_name, today)
    by_day = {e.day: e for e in logs.current_logs(patient, start, end)}
    days = tuple(start + timedelta(days=i) for i in range((end - start).days + 1))
    items = CIWA_B.patient_items
    values = tuple(
        tuple((by_day[d].answers or {}).get(item.key) if d in by_day else None for d in days)
        for item in items
    )
    changes = tuple(
        s.start_date
        for s in (plan.current_revision.steps[1:] if plan else [])
        if start <= s.start_date <= end
    )
    sleep = tuple(
        (d, e.sleep_hours) for d, e in sorted(by_day.items()) if e.sleep_hours is not None
    )
    return HeatmapData(
        days=days,
        items=tuple(SHORT_LABELS.get(i.key, i.key) for i in items),
        values=values,
        dose_changes=changes,
        sleep=sleep,
    )


def recent_logs(patient: User, count: int = 14) -> list[DailyLog]:
    """The latest ``count`` logged days (versions in force), newest first."""
    today = local_today(datetime.now(UTC), patient.timezone)
    entries = logs.current_logs(patient, today - timedelta(days=365), today)
    return list(reversed(entries))[:count]
