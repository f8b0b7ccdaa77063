"""Gathering what the charts and the visit report show, in a fixed number of queries.

Which plans: every running plan (active or paused), each drawn as the timeline has it (holds
and pauses included); with none running, the latest finished plan. Ranges are clamped so a
stored date near the year 9999 (or year 1) can never make a chart, page or PDF fail."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, case, func, select
from sqlalchemy.orm import selectinload

from taper.charts.data import (
    HeatmapData,
    PlanSeries,
    ProgressData,
    changes_between,
    schedule_line,
)
from taper.charts.report import ReportData, ReportPlan, SymptomTable
from taper.domain.doses import plain
from taper.domain.instrument import CIWA_B
from taper.domain.red_flags import labels as flag_labels
from taper.domain.schedule import FAR_AHEAD_DAYS, local_today
from taper.domain.timeline import (
    HOLD,
    Hold,
    PlanSchedule,
    in_force,
    next_change,
    shift,
    step_periods,
)
from taper.extensions import db
from taper.models import (
    Alert,
    AlertStatus,
    DailyLog,
    LogDose,
    PlanRevision,
    RedFlagReport,
    TaperPlan,
    User,
)
from taper.models.types import UTCDateTime
from taper.services import logs, plans

RANGES = {"30": 30, "90": 90, "plan": None}
PLAN_RANGE_MAX_DAYS = 1100  # a "whole plan" chart shows at most about three years
AFTER_PLAN_DAYS = 30  # a finished plan's chart goes on this long after its last change
REPORT_OTHER_ALERTS = 6  # the report lists every open alert, then this many others
REPORT_DAYS = 28  # the report's period: notes, missed days and symptoms, in weeks


def shown_plans(patient: User) -> list[PlanSchedule]:
    """The plans a chart or report follows: every running plan (oldest first), else the
    latest finished one, else none."""
    schedules = plans.schedules_for(patient)
    running = [s for s in schedules if s.running]
    return running or schedules[-1:]


def _last_change(schedule: PlanSchedule) -> date:
    last = schedule.steps[-1].start
    hold = schedule.hold
    if hold is not None and hold.until is not None:
        last = max(last, shift(hold.until, 1))
    if not schedule.running and schedule.ended_on is not None:
        last = min(last, shift(schedule.ended_on, -1))  # steps typed for after it never ran
    return last


def date_range(
    schedules: Sequence[PlanSchedule], range_name: str, today: date
) -> tuple[date, date]:
    """First and last day a chart shows. "plan": from the first step to the last change (and
    on to today while a dose is in force), never more than PLAN_RANGE_MAX_DAYS long nor more
    than FAR_AHEAD_DAYS ahead of today."""
    days = RANGES.get(range_name, 30)
    with_steps = [s for s in schedules if s.steps]
    if days is None and with_steps:
        first = min(s.steps[0].start for s in with_steps)
        last = max(_last_change(s) for s in with_steps)
        end = max(last, min(today, shift(last, AFTER_PLAN_DAYS)))
        if in_force([s for s in with_steps if s.running], min(last, today)):
            end = max(end, today)  # a dose still in force (last step, open hold): to today
        end = min(end, shift(today, FAR_AHEAD_DAYS))
        start = min(max(first, shift(end, -PLAN_RANGE_MAX_DAYS)), end)
        return start, end
    days = days or 90
    return shift(today, -(days - 1)), today


_HOLDS = (
    select(
        PlanRevision.plan_id,
        PlanRevision.hold_start,
        PlanRevision.hold_until,
        PlanRevision.hold_kind,
        PlanRevision.created_at,
    )
    .where(PlanRevision.plan_id.in_(bindparam("ids", expanding=True)))
    .order_by(PlanRevision.plan_id, PlanRevision.number)
)


def _revision_holds(
    schedules: Sequence[PlanSchedule], timezone: str
) -> dict[int, list[tuple[Hold, bool]]]:
    """Each plan's holds and pauses as they really were, from its revisions (one query):
    (hold, still open). A hold's latest revision gives its end; an open hold that a later
    revision dropped ended the day before that revision was saved."""
    ids = [s.plan_id for s in schedules]
    found: dict[int, list[tuple[Hold, bool]]] = {}
    if not ids:
        return found
    rows = db.session.execute(_HOLDS, {"ids": ids}).all()
    by_plan: dict[int, list] = defaultdict(list)
    for row in rows:
        by_plan[row[0]].append(row[1:])
    for plan_id, revisions in by_plan.items():
        spans: dict[tuple[date, str], date | None] = {}
        previous = None
        for hold_start, hold_until, hold_kind, created_at in revisions:
            key = (hold_start, hold_kind or HOLD) if hold_start is not None else None
            if previous is not None and previous != key and spans.get(previous) is None:
                ended = shift(local_today(created_at, timezone), -1)
                if ended < previous[0]:
                    spans.pop(previous, None)
                else:
                    spans[previous] = ended
            if key is not None:
                spans[key] = hold_until
            previous = key
        found[plan_id] = [
            (Hold(start, until, kind), until is None) for (start, kind), until in spans.items()
        ]
    return found


def _series(
    schedule: PlanSchedule,
    start: date,
    end: date,
    holds: list[tuple[Hold, bool]],
    taken: list[tuple[date, object]],
) -> PlanSeries:
    points, line_end, open_from = schedule_line(schedule, start, end)
    shaded = []
    for hold, open_ended in sorted(holds, key=lambda h: h[0].start):
        last = end if hold.until is None else min(hold.until, end)
        ended = schedule.ended_on is not None or open_ended  # a dated hold runs on otherwise
        if ended and not schedule.running and line_end is not None:
            last = min(last, line_end)
        # Only holds with a day inside the range; one that began earlier keeps its real first
        # day (the chart clips its shading, the summary says it began before the range).
        if hold.start <= end and max(hold.start, start) <= last:
            shaded.append((hold.start, last, hold.kind, open_ended))
    return PlanSeries(
        schedule=points,
        line_end=line_end,
        open_from=open_from,
        holds=tuple(shaded),
        taken=tuple(taken),
        plan_id=schedule.plan_id,
        medication=schedule.medication,
        unit=schedule.unit,
        running=schedule.running,
    )


# When the patient sent it: a report kept on the device (sent while Taper could not store it)
# says so in ``reported_at``; it was stored later, so ``created_at`` bounds the search.
_FLAGS_SINCE = select(
    func.coalesce(RedFlagReport.reported_at, RedFlagReport.created_at, type_=UTCDateTime)
).where(
    RedFlagReport.patient_id == bindparam("patient_id"),
    RedFlagReport.created_at >= bindparam("since", type_=RedFlagReport.created_at.type),
)
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)


def _red_flag_days(patient: User, start: date, end: date) -> set[date]:
    """The patient's local days from ``start`` to ``end`` on which they sent a help-page red
    flag report."""
    since = EARLIEST
    if start > date(1, 1, 2):  # a day's margin for time zones (and none before year 1)
        since = datetime(start.year, start.month, start.day, tzinfo=UTC) - timedelta(days=1)
    found = db.session.scalars(_FLAGS_SINCE, {"patient_id": patient.id, "since": since})
    days = {local_today(at, patient.timezone) for at in found}
    return {day for day in days if start <= day <= end}


@cache
def _logged_statement() -> Select:
    """What the progress chart shows of each logged day from :start to :end (the version in
    force): its score, whether it had red flags, and one row per dose answer; built once."""
    return logs.in_force_with_doses(
        DailyLog.day,
        DailyLog.patient_total,
        DailyLog.red_flags,
        LogDose.plan_id,
        LogDose.dose_taken,
    )


def progress_data(
    patient: User,
    range_name: str,
    *,
    simple: bool,
    schedules: Sequence[PlanSchedule] | None = None,
    today: date | None = None,
) -> ProgressData:
    """Each shown plan's schedule (as the timeline has it), holds, pauses and doses taken,
    with the scores and red flags, over a range."""
    today = today or local_today(datetime.now(UTC), patient.timezone)
    schedules = shown_plans(patient) if schedules is None else list(schedules)
    start, end = date_range(schedules, range_name, today)
    rows = db.session.execute(
        _logged_statement(), {"patient_id": patient.id, "start": start, "end": end}
    )
    scores: dict[date, int] = {}
    flagged = _red_flag_days(patient, start, end)
    taken: dict[int, list] = defaultdict(list)
    for day, total, flags, plan_id, dose_taken in rows:
        if total is not None:
            scores[day] = total
        if flags:
            flagged.add(day)
        if plan_id is not None:
            taken[plan_id].append((day, dose_taken))
    holds = _revision_holds(schedules, patient.timezone)
    return ProgressData(
        start=start,
        end=end,
        plans=tuple(
            _series(s, start, end, holds.get(s.plan_id, []), taken[s.plan_id]) for s in schedules
        ),
        scores=tuple(scores.items()),
        red_flag_days=tuple(sorted(flagged)),
        simple=simple,
    )


def heatmap_data(patient: User, range_name: str, today: date | None = None) -> HeatmapData:
    """Each patient-rated item by day, with every shown plan's real dose changes and sleep."""
    today = today or local_today(datetime.now(UTC), patient.timezone)
    schedules = shown_plans(patient)
    start, end = date_range(schedules, range_name, today)
    by_day = {e.day: e for e in logs.current_logs(patient, start, end)}
    days = tuple(shift(start, i) for i in range((end - start).days + 1))
    items = CIWA_B.patient_items
    values = tuple(
        tuple((by_day[d].answers or {}).get(item.key) if d in by_day else None for d in days)
        for item in items
    )
    series = [_series(s, start, end, [], []) for s in schedules]
    changes = changes_between(series, schedules)
    sleep = tuple(
        (d, e.sleep_hours) for d, e in sorted(by_day.items()) if e.sleep_hours is not None
    )
    return HeatmapData(
        days=days,
        items=tuple(item.short for item in items),
        values=values,
        dose_changes=tuple(d for d in changes if start < d <= end),
        sleep=sleep,
    )


def recent_logs(patient: User, count: int = 14, today: date | None = None) -> list[DailyLog]:
    """The latest ``count`` logged days (versions in force), newest first."""
    today = today or local_today(datetime.now(UTC), patient.timezone)
    entries = logs.current_logs(patient, shift(today, -365), today)
    return list(reversed(entries))[:count]


# --- the visit report --------------------------------------------------------------------------


def report_alerts(patient: User, others: int = REPORT_OTHER_ALERTS) -> list[Alert]:
    """The alerts a visit report lists: every one not resolved yet (open or acknowledged),
    urgent first, then review, then info, open before acknowledged within a tier; then the
    most recent resolved ones, ``others`` at most. Newest first within each group."""
    unresolved = Alert.status != AlertStatus.RESOLVED
    order = case(
        (unresolved & (Alert.tier == "urgent"), 0),
        (unresolved & (Alert.tier == "review"), 1),
        (unresolved, 2),
        else_=3,
    )
    opened_first = case((Alert.status == AlertStatus.OPEN, 0), else_=1)
    query = (
        select(Alert)
        .where(Alert.patient_id == patient.id)
        .options(selectinload(Alert.acknowledged_by), selectinload(Alert.plan))
        .order_by(order, opened_first, Alert.created_at.desc(), Alert.id.desc())
    )
    unresolved_alerts = list(db.session.scalars(query.where(unresolved)))
    resolved = query.where(Alert.status == AlertStatus.RESOLVED).limit(others)
    return unresolved_alerts + list(db.session.scalars(resolved))


def in_force_text(schedule: PlanSchedule, today: date) -> str:
    """The dose in force today with its status, in a clinician's words (none for a plan
    that is not running: a completed plan's steps are never in force, whatever their dates)."""
    if not schedule.running:
        return "No dose in force: the plan is not running."
    found = schedule.on(today)
    unit = schedule.unit
    if found.step is None:
        first = schedule.steps[0] if schedule.steps else None
        if first is None:
            return "No steps."
        hold = schedule.hold
        if hold is not None and hold.open and hold.covers(today):
            return (
                f"Not started: paused before its first step ({plain(first.total)} {unit} a "
                "day), which has no date until the clinician ends the pause."
            )
        return f"Not started: first step {plain(first.total)} {unit} from {first.start}."
    dose = f"{plain(found.step.total)} {unit} a day"
    hold = schedule.hold
    if found.status == "held":
        until = f"until {hold.until}" if hold.until else "until reviewed"
        return f"Today: {dose}, on hold since {hold.start} {until}."
    if found.status == "paused":
        return f"Today: {dose}, paused since {hold.start} (steps do not advance)."
    if found.status == "last":
        return f"Today: {dose}, the last step: in force until the clinician reviews the plan."
    if found.status == "stopped":
        return f"Stopped (0 {unit}) since {found.step.start}."
    text = f"Today: {dose} since {found.step.start}"
    change = next_change(schedule.steps, today, hold)
    if change is not None:
        text += f"; next {plain(change.step.total)} {unit} from {change.day}"
    return text + "."


def _step_line(step, unit: str, pending: bool = False) -> str:
    """A step exactly as typed: its date (as holds and pauses moved it), total, split, note.
    A step after an open hold or pause has no date yet: its typed one has not come into
    force and may be past, so it is not printed."""
    when = "When the clinician ends the hold or pause (no date yet)" if pending else None
    text = f"{when or 'From ' + step.start.isoformat()}: {plain(step.total)} {unit} a day"
    if step.split:
        text += " (" + ", ".join(f"{n} {plain(v)}" for n, v in step.split) + ")"
    return text + (f". Note: {step.note}" if step.note else "")


def hold_text(schedule: PlanSchedule, today: date) -> str:
    """The plan's hold or pause in words (current, or ended and when), else ""."""
    hold = schedule.hold
    if hold is None:
        return ""
    if hold.kind == "pause":
        if hold.until is not None and hold.until < today:
            return f"Was paused from {hold.start} to {hold.until}; later steps moved later."
        return f"Paused since {hold.start}: the dose stays and no step starts until resumed."
    if hold.until is not None and hold.until < today:
        return f"Was held from {hold.start} to {hold.until}; later steps moved later."
    until = f"until {hold.until}" if hold.until else "until the clinician reviews it"
    return f"On hold since {hold.start} {until}: the dose stays, later steps move later."


def report_period(schedules: Sequence[PlanSchedule], today: date) -> tuple[date, date]:
    """The REPORT_DAYS to today, from the first step when the plan started since."""
    start = shift(today, -(REPORT_DAYS - 1))
    firsts = [s.steps[0].start for s in schedules if s.steps]
    if firsts:
        start = max(start, min(min(firsts), today))
    return start, today


def symptom_table(entries: Sequence[DailyLog], start: date, end: date) -> SymptomTable:
    """Each patient-rated item's mean over each 7 days of the period (the last 7 ending on
    ``end``; oldest first) and its latest answer."""
    periods: list[tuple[date, date]] = []
    last = end
    while last >= start:
        first = max(shift(last, -6), start)
        periods.insert(0, (first, last))
        last = shift(first, -1)
    answered = [e for e in entries if e.answers]
    rows = []
    for item in CIWA_B.patient_items:
        means = []
        for first, last in periods:
            values = [
                e.answers[item.key]
                for e in answered
                if first <= e.day <= last and e.answers.get(item.key) is not None
            ]
            means.append(sum(values) / len(values) if values else None)
        latest = next(
            (e.answers.get(item.key) for e in reversed(answered) if item.key in e.answers), None
        )
        rows.append((item.short, tuple(means), latest))

    def words(first: date, last: date) -> str:
        if first == last:
            return f"{first.day} {first:%b}"
        if first.month == last.month:
            return f"{first.day}–{last.day} {last:%b}"
        return f"{first.day} {first:%b}–{last.day} {last:%b}"

    return SymptomTable(
        periods=tuple(words(f, t) for f, t in periods),
        rows=tuple(rows),
        latest_day=answered[-1].day if answered else None,
    )


def report_data(patient: User, today: date | None = None, contact: str = "") -> ReportData:
    """Everything the visit report shows: each shown plan with its dose in force today, any
    hold, and its steps as typed (to come first), the revisions, the chart, missed days, the
    symptoms item by item, the notes, the last 14 logs (one dose per plan), the alerts (open
    urgent ones first) and the clinic's ``contact`` line."""
    today = today or local_today(datetime.now(UTC), patient.timezone)
    schedules = shown_plans(patient)
    data = progress_data(
        patient, "plan" if schedules else "90", simple=False, schedules=schedules, today=today
    )
    records = {
        p.id: p
        for p in db.session.scalars(
            select(TaperPlan)
            .where(TaperPlan.id.in_([s.plan_id for s in schedules]))
            .options(selectinload(TaperPlan.revisions).selectinload(PlanRevision.author))
        )
    }
    shown = []
    revisions = []
    several = len(schedules) > 1
    for schedule in schedules:
        record = records[schedule.plan_id]
        name = schedule.medication[:1].upper() + schedule.medication[1:]
        found = schedule.on(today)
        steps = list(schedule.steps)
        now = next((i for i, step in enumerate(steps) if step is found.step), None)
        if not schedule.running:  # completed: no step is to come
            now = len(steps)
        elif now is None:  # not started yet (or paused before it did): every step is to come
            now = 0
        pending = [period.pending for period in step_periods(steps, schedule.hold)]
        shown.append(
            ReportPlan(
                title=f"{name} ({schedule.unit}), {record.status.value}",
                in_force=in_force_text(schedule, today),
                steps=tuple(
                    _step_line(step, schedule.unit, pending[now + i])
                    for i, step in enumerate(steps[now:])
                ),
                earlier=tuple(_step_line(step, schedule.unit) for step in steps[:now]),
                hold=hold_text(schedule, today),
            )
        )
        for r in record.revisions:
            hold = ""
            if r.hold_start:
                word = "pause" if r.hold_kind == "pause" else "hold"
                hold = f" ({word} from {r.hold_start.isoformat()}"
                hold += f" to {r.hold_until.isoformat()})" if r.hold_until else ", open)"
            prefix = f"{name} " if several else ""
            revisions.append(
                (
                    r.created_at,
                    f"{prefix}{r.number}. {local_today(r.created_at, patient.timezone):%Y-%m-%d} "
                    f"{r.author.name}: "
                    f"{r.reason or 'first version'}{hold}",
                )
            )
    revisions.sort(key=lambda item: item[0], reverse=True)
    rows = tuple(
        (
            e.day.isoformat(),
            str(e.patient_total) if e.patient_total is not None else "-",
            flag_labels(e.red_flags) or "-",
            "; ".join(
                (f"{d.medication} " if len(e.doses) > 1 else "")
                + f"{plain(d.dose_taken)} / {plain(d.dose_scheduled)}"
                for d in e.doses
            )
            or "-",
            f"{e.sleep_hours} h" if e.sleep_hours is not None else "-",
        )
        for e in recent_logs(patient, today=today)
    )
    alert_lines = tuple(
        f"{local_today(a.created_at, patient.timezone):%Y-%m-%d} {a.tier} "
        f"{a.kind.replace('_', ' ')}"
        + (f" ({a.plan.medication})" if a.plan is not None else "")
        + f": {a.reason} [{a.status.value}]"
        for a in report_alerts(patient)
    )
    start, end = report_period(schedules, today)
    entries = logs.current_logs(patient, start, end)
    logged = {e.day for e in entries}
    days = (shift(start, i) for i in range((end - start).days + 1))
    return ReportData(
        patient=patient.name,
        generated=today,
        plans=tuple(shown),
        revisions=tuple(text for _, text in revisions),
        logs=rows,
        alerts=alert_lines,
        progress=data,
        period=(start, end),
        # Today is not missed before it is over (as the missed-log alert counts).
        missed=tuple(d for d in days if d not in logged and d < today),
        today_open=start <= today <= end and today not in logged,
        notes=tuple((e.day, e.note) for e in reversed(entries) if (e.note or "").strip()),
        symptoms=symptom_table(entries, start, end),
        contact=contact.strip(),
    )
