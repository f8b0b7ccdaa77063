"""Export benchmark: seed one patient's whole record (N days) in a fresh database, then time
the FHIR Bundle (streamed in pieces, bytes counted) and the CSV of their logs, best of 3, as
ratios to a bare baseline measured in the same run (a SELECT of the same daily_log rows into
tuples plus json.dumps of them), with the peak Python memory (tracemalloc) while each runs.

    python bench/export.py --db sqlite|postgresql [--days 365,1825] [--repeat 3]

The record: a clinician, a diazepam plan with three revisions (slower reductions, then a
three-week hold), an alprazolam plan taken alongside it for the first fifth of the time (a
crossover) and a draft plan; a daily log on most days (17 CIWA-B answers, one dose answer per
plan in force, sleep, substances, a note on about one day in four, a few days corrected as a
version 2, rare red flags), a visit assessment every two weeks, and alerts (urgent resolved
and open, reviews acknowledged and open). Everything is deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from taper.domain import timeline  # noqa: E402
from taper.domain.instrument import CIWA_B  # noqa: E402
from taper.domain.schedule import StepInput  # noqa: E402
from taper.extensions import db  # noqa: E402
from taper.models import (  # noqa: E402
    Alert,
    AlertStatus,
    CareTeamLink,
    DailyLog,
    LogDose,
    PlanRevision,
    PlanStatus,
    Role,
    TaperPlan,
    TaperStep,
    User,
    VisitAssessment,
)

PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH = 2000
ITEMS = [item.key for item in CIWA_B.patient_items]
OBSERVED = [item.key for item in CIWA_B.observer_items]
TARGET_SECONDS = 2.0  # issue 17: 1,825 days exported in under 2 s
TARGET_DAYS = 1825

# Notes as patients write them: mostly plain, some long, some with quotes, accents and emoji
# (each costs the JSON and CSV writers a little more), a few about a red flag.
NOTES = (
    "Slept badly, a bit shaky this morning but otherwise fine.",
    "Slept about five hours and woke up twice. Felt anxious in the afternoon but went for a "
    "walk and it helped. Appetite is better today.",
    "Headache most of the day, took paracetamol. Mood okay.",
    "Dormí mal y tuve mucha ansiedad por la tarde, pero hoy estoy mejor.",
    "Good day! Went to work, ate well, the tapering feels manageable this week 🙂",
    'Muscle aches and sweating at night. Irritable with the kids; my partner said I was "on '
    'edge" all evening.',
    "Hoy bien, sin novedades. Caminé media hora.",
    "Ringing in my ears again and the light feels too bright, otherwise ok.",
    "Cut day. Nervous about it but the first evening was calmer than last time.",
    "Heart racing for ten minutes after lunch, then it settled. No chest pain.",
)
AGITATION = "Red flag reported: Severe agitation"
MAIN_DOSES = ("20", "18", "16", "14", "12", "10", "9", "8", "7", "6", "5", "4", "3", "2.5", "2")
MAIN_DOSES += ("1.5", "1", "0.5", "0")
CROSSOVER_DOSES = ("1.5", "1", "0.5", "0.25", "0")
DRAFT_DOSES = ("30", "25", "20", "15")


@dataclass(frozen=True)
class Revision:
    """One saved revision of a plan: in force for the logs from ``saved`` on."""

    saved: date
    reason: str
    steps: tuple[StepInput, ...]
    hold: timeline.Hold | None = None


@dataclass(frozen=True)
class Seeded:
    """What ``seed_record`` wrote for one patient."""

    patient_id: int
    days: int
    logs: int  # daily_log rows (every version)
    corrected_days: int  # days with a version 2
    doses: int  # log_dose rows
    crossover_logs: int  # logs with two dose answers
    visits: int
    alerts: dict[str, int]  # status -> count
    plans: int
    seconds: float = 0.0


@dataclass(frozen=True)
class Timing:
    """One export of one record: the best time, what it produced and its memory peak."""

    name: str
    days: int
    rows: int
    seconds: float
    size: int  # bytes produced
    peak: int  # peak Python memory while it ran (tracemalloc), bytes
    largest_piece: int  # the largest single piece yielded (the whole output if not streamed)
    error: str = ""  # why the export failed (then nothing else is measured)


def _at(day: date, hour: int = 20) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _steps(start: date, doses: Iterable[str], every: int) -> list[StepInput]:
    return [StepInput(start + timedelta(days=every * i), Decimal(d)) for i, d in enumerate(doses)]


def main_plan_revisions(start: date, days: int) -> list[Revision]:
    """Diazepam from 20 mg to 0: a first schedule, a slower one from a third of the way (the
    steps already started kept), then a three-week hold from half-way (later steps move)."""
    first = _steps(start, MAIN_DOSES, max(7, days // 24))
    slower_from = start + timedelta(days=days // 3)
    kept = [step for step in first if step.start <= slower_from]
    rest = MAIN_DOSES[len(kept) :]
    every = max(7, (days - days // 3 - 30) // (len(rest) + 1))
    second = kept + _steps(slower_from + timedelta(days=every), rest, every)
    hold_day = start + timedelta(days=days // 2)
    third, hold = timeline.place_hold(second, hold_day, hold_day + timedelta(days=20))
    return [
        Revision(start, "", tuple(first)),
        Revision(
            slower_from, "Slower reductions: withdrawal symptoms after each cut", tuple(second)
        ),
        Revision(hold_day, "Hold for three weeks: exams", tuple(third), hold),
    ]


def _add_plan(
    patient: User, author: User, medication: str, status: PlanStatus, revisions: list[Revision]
) -> TaperPlan:
    """A plan, its revisions (created on the day each was saved) and their steps."""
    plan = TaperPlan(
        patient_id=patient.id,
        medication=medication,
        unit="mg",
        status=status,
        created_by_id=author.id,
        created_at=_at(revisions[0].saved, 10),
    )
    db.session.add(plan)
    db.session.flush()
    for number, revision in enumerate(revisions, start=1):
        hold = revision.hold
        row = PlanRevision(
            plan_id=plan.id,
            number=number,
            author_id=author.id,
            created_at=_at(revision.saved, 10),
            reason=revision.reason,
            hold_start=hold.start if hold else None,
            hold_until=hold.until if hold else None,
            hold_kind=hold.kind if hold else None,
            hold_shift=hold.shift if hold else 0,
        )
        db.session.add(row)
        db.session.flush()
        db.session.execute(
            insert(TaperStep),
            [
                dict(revision_id=row.id, start_date=s.start, total=s.total, note="")
                for s in revision.steps
            ],
        )
        plan.current_revision_id = row.id
    db.session.flush()
    return plan


def _schedules(plans: list[tuple[TaperPlan, list[Revision]]], day: date):
    """Each plan as the log form saw it on ``day``: its latest revision saved by then."""
    found = []
    for plan, revisions in plans:
        current = [r for r in revisions if r.saved <= day]
        if current:
            r = current[-1]
            found.append(
                timeline.PlanSchedule(plan.id, plan.medication, "mg", True, r.steps, r.hold)
            )
    return found


def _answers(rng: random.Random, total: int) -> dict[str, int]:
    """17 answers adding up to about ``total``, spread as symptoms are (no item above 4)."""
    answers = dict.fromkeys(ITEMS, 0)
    for _ in range(total):
        key = rng.choice(ITEMS)
        if answers[key] < 4:
            answers[key] += 1
    return answers


def _daily_rows(
    rng: random.Random, patient: User, days: int, start: date, plans
) -> tuple[list[dict], dict[str, list[dict]]]:
    """The daily_log rows (every version) and each version's dose answers by submission id.
    Symptoms rise after each real reduction and settle; a red flag on a third of the way and on
    the last day (and rarely otherwise); day 2 and about 3 % of days corrected."""
    logs: list[dict] = []
    doses: dict[str, list[dict]] = {}
    baseline = 10
    before = None
    cut_day = None
    for offset in range(days):
        day = start + timedelta(days=offset)
        taking = timeline.in_force(_schedules(plans, day), day)
        dose_total = sum(f.dose.step.total for f in taking)
        if before is not None and dose_total < before:
            cut_day = day
        before = dose_total
        last = offset == days - 1
        if rng.random() < 0.06 and offset not in (2, days // 3) and not last:
            continue  # a missed day
        since = (day - cut_day).days if cut_day else 30
        total = max(0, baseline + max(0, 20 - 3 * since) + rng.randint(-4, 4))
        flags = ["agitation"] if offset == days // 3 or last or rng.random() < 0.003 else []
        note = rng.choice(NOTES) if rng.random() < 0.25 else ""
        substances = rng.random() < 0.04
        answers = _answers(rng, total)
        versions = 2 if offset == 2 or rng.random() < 0.03 else 1
        for version in range(1, versions + 1):
            submission = uuid.UUID(int=rng.getrandbits(128)).hex
            if version == 2:  # the patient corrected an answer and added to the note
                answers = dict(answers, sleep_not_restful=min(4, answers["sleep_not_restful"] + 1))
                note = (note + " " if note else "") + "Corrected: I forgot how badly I slept."
            logs.append(
                dict(
                    patient_id=patient.id,
                    day=day,
                    version=version,
                    submission_id=submission,
                    scale=CIWA_B.code,
                    answers=answers,
                    patient_total=sum(answers.values()),
                    red_flags=flags,
                    red_flags_when="now" if flags else "",
                    substances=substances,
                    substances_detail="two glasses of wine" if substances else "",
                    sleep_hours=Decimal(rng.choice(["4.5", "5", "5.5", "6", "6.5", "7", "8"])),
                    note=note,
                    created_at=_at(day) + timedelta(hours=version - 1),
                )
            )
            doses[submission] = [_dose_answer(rng, found) for found in taking]
    return logs, doses


def _dose_answer(rng: random.Random, found: timeline.InForce) -> dict:
    """One plan's dose answer: as scheduled on about 97 % of days, else half a mg more."""
    scheduled = found.dose.step.total
    as_scheduled = rng.random() > 0.03
    return dict(
        plan_id=found.plan.plan_id,
        medication=found.plan.medication,
        unit=found.plan.unit,
        dose_scheduled=scheduled,
        took_as_scheduled=as_scheduled,
        dose_taken=scheduled if as_scheduled else scheduled + Decimal("0.5"),
    )


def _insert_logs(logs: list[dict], doses: dict[str, list[dict]]) -> dict[str, int]:
    """Bulk-insert the logs, then their dose answers; returns log ids by submission id."""
    ids: dict[str, int] = {}
    for begin in range(0, len(logs), BATCH):
        made = db.session.execute(
            insert(DailyLog).returning(DailyLog.id, DailyLog.submission_id),
            logs[begin : begin + BATCH],
        )
        ids.update((submission, log_id) for log_id, submission in made)
    answers = [dict(a, log_id=ids[s]) for s, found in doses.items() for a in found]
    for begin in range(0, len(answers), BATCH):
        db.session.execute(insert(LogDose), answers[begin : begin + BATCH])
    return ids


def _visit_rows(rng: random.Random, patient: User, clinician: User, start: date, days: int):
    """A full CIWA-B (20 items) every two weeks."""
    rows = []
    for offset in range(0, days, 14):
        day = start + timedelta(days=offset)
        answers = _answers(rng, rng.randint(4, 20)) | {k: rng.randint(0, 2) for k in OBSERVED}
        rows.append(
            dict(
                patient_id=patient.id,
                clinician_id=clinician.id,
                day=day,
                answers=answers,
                total=sum(answers.values()),
                note=rng.choice(("", "Tremor on outstretched hands.", "Calm, well slept.")),
                created_at=_at(day, 11),
            )
        )
    return rows


def _alert_rows(
    patient: User,
    clinician: User,
    logs: list[dict],
    ids: dict[str, int],
    deviated: dict[str, tuple[int, str]],
) -> list[dict]:
    """Urgent red-flag alerts (resolved, the last one open), a high-score review for the first
    log over 30 each month (resolved), a dose-deviation review on the first deviating log each
    month (acknowledged, about that plan) and an open rising-symptoms review."""
    rows = []

    def alert(kind, tier, reason, log, status, plan=None) -> None:
        when = log["created_at"] + timedelta(minutes=5)
        done = when + timedelta(hours=2)
        rows.append(
            dict(
                patient_id=patient.id,
                kind=kind,
                tier=tier,
                reason=reason,
                log_id=ids[log["submission_id"]],
                plan_id=plan,
                cause=log["day"].isoformat(),
                status=status,
                created_at=when,
                acknowledged_by_id=clinician.id if status != AlertStatus.OPEN else None,
                acknowledged_at=done if status != AlertStatus.OPEN else None,
                resolved_by_id=clinician.id if status == AlertStatus.RESOLVED else None,
                resolved_at=done if status == AlertStatus.RESOLVED else None,
                note="Phoned the patient; settled." if status != AlertStatus.OPEN else "",
            )
        )

    flagged = [log for log in logs if log["red_flags"] and log["version"] == 1]
    for log in flagged:
        status = AlertStatus.OPEN if log is flagged[-1] else AlertStatus.RESOLVED
        alert("red_flag", "urgent", AGITATION, log, status)
    months: set[tuple[str, tuple[int, int]]] = set()
    for log in logs:
        month = (log["day"].year, log["day"].month)
        if log["patient_total"] > 30 and ("high", month) not in months:
            months.add(("high", month))
            reason = f"Symptom score {log['patient_total']} (threshold 30)"
            alert("high_score", "review", reason, log, AlertStatus.RESOLVED)
        if log["submission_id"] in deviated and ("dose", month) not in months:
            months.add(("dose", month))
            plan_id, medication = deviated[log["submission_id"]]
            reason = f"Dose taken differs from the {medication} plan"
            alert("dose_deviation", "review", reason, log, AlertStatus.ACKNOWLEDGED, plan_id)
    alert("rising", "review", "Symptoms rising over the last week", logs[-1], AlertStatus.OPEN)
    return rows


def seed_record(days: int, *, seed: int = 17, today: date | None = None) -> Seeded:
    """One patient with a clinician and ``days`` of history ending ``today``, written with
    bulk inserts in the current session (not committed)."""
    if days < 28:
        raise ValueError("seed at least 28 days (the plans' revisions need room)")
    rng = random.Random(seed)
    today = today or datetime.now(UTC).date()
    start = today - timedelta(days=days - 1)
    tag = uuid.uuid4().hex[:8]
    clinician = User(
        email=f"clinician-{tag}@bench.example.org", name="Dr Bench", role=Role.CLINICIAN
    )
    patient = User(
        email=f"patient-{tag}@bench.example.org",
        name=f"Bench Patient {days}",
        role=Role.PATIENT,
        timezone="Europe/Dublin",
    )
    db.session.add_all([clinician, patient])
    db.session.flush()
    db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=patient.id))
    main = main_plan_revisions(start, days)
    crossover = [Revision(start, "", tuple(_steps(start, CROSSOVER_DOSES, max(7, days // 20))))]
    draft_start = today + timedelta(days=14)
    draft = [Revision(today, "Proposed switch", tuple(_steps(draft_start, DRAFT_DOSES, 14)))]
    main_plan = _add_plan(patient, clinician, "diazepam", PlanStatus.ACTIVE, main)
    cross_plan = _add_plan(patient, clinician, "alprazolam", PlanStatus.COMPLETED, crossover)
    _add_plan(patient, clinician, "oxazepam", PlanStatus.DRAFT, draft)
    logs, doses = _daily_rows(
        rng, patient, days, start, [(main_plan, main), (cross_plan, crossover)]
    )
    ids = _insert_logs(logs, doses)
    visits = _visit_rows(rng, patient, clinician, start, days)
    db.session.execute(insert(VisitAssessment), visits)
    deviated = {
        submission: (answer["plan_id"], answer["medication"])
        for submission, answers in doses.items()
        for answer in answers
        if not answer["took_as_scheduled"]
    }
    alerts = _alert_rows(patient, clinician, logs, ids, deviated)
    db.session.execute(insert(Alert), alerts)
    db.session.flush()
    return Seeded(
        patient_id=patient.id,
        days=days,
        logs=len(logs),
        corrected_days=sum(1 for log in logs if log["version"] == 2),
        doses=sum(len(found) for found in doses.values()),
        crossover_logs=sum(1 for found in doses.values() if len(found) == 2),
        visits=len(visits),
        alerts=dict(Counter(str(a["status"]) for a in alerts)),
        plans=3,
    )


# --- the exports, and the baseline ----------------------------------------------------------


def _baseline(patient: User) -> Iterable[bytes]:
    """The bare baseline: the same daily_log rows as tuples, dumped as JSON."""
    table = DailyLog.__table__
    rows = db.session.execute(
        select(table).where(table.c.patient_id == patient.id).order_by(table.c.day, table.c.version)
    ).all()
    yield json.dumps([tuple(row) for row in rows], default=str).encode()


def _fhir(patient: User) -> Iterable[bytes]:
    from taper.services.fhir_export import bundle_chunks

    return bundle_chunks(patient, include_drafts=True)


def _csv(patient: User) -> Iterable[bytes]:
    from taper.services.export import logs_csv

    yield logs_csv(patient).encode()


CASES: tuple[tuple[str, Callable[[User], Iterable[bytes]]], ...] = (
    ("baseline: SELECT daily_log + json.dumps", _baseline),
    ("FHIR Bundle, streamed (bundle_chunks)", _fhir),
    ("CSV of the logs (logs_csv)", _csv),
)


def _consume(export: Callable[[User], Iterable[bytes]], patient_id: int) -> tuple[int, int, float]:
    """Run one export on a fresh session (nothing cached from an earlier run), keeping no
    piece: (bytes, largest piece, seconds)."""
    db.session.remove()
    patient = db.session.get(User, patient_id)
    size = largest = 0
    try:
        started = time.perf_counter()
        for piece in export(patient):
            size += len(piece)
            largest = max(largest, len(piece))
        return size, largest, time.perf_counter() - started
    finally:
        db.session.remove()  # whatever an export wrote (an audit row) is not kept


def _peak(export: Callable[[User], Iterable[bytes]], patient_id: int) -> int:
    """The peak Python memory (tracemalloc) while the export runs, from a fresh session."""
    db.session.remove()
    patient = db.session.get(User, patient_id)
    tracemalloc.start()
    try:
        for _piece in export(patient):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        db.session.remove()


def measure(seeded: Seeded, repeat: int = 3) -> list[Timing]:
    """Each case, best of ``repeat`` (the cases take turns, so they share the machine's
    state), then once more under tracemalloc for its memory peak. A case that raises is
    reported as failed (with the error), and the others still run."""
    best = {name: float("inf") for name, _ in CASES}
    sizes: dict[str, tuple[int, int]] = {}
    errors: dict[str, str] = {}
    for _ in range(repeat):
        for name, export in CASES:
            if name in errors:
                continue
            try:
                size, largest, seconds = _consume(export, seeded.patient_id)
            except Exception as error:  # noqa: BLE001  (reported in the table, run goes on)
                errors[name] = f"{type(error).__name__}: {error}"
                continue
            best[name] = min(best[name], seconds)
            sizes[name] = (size, largest)
    return [
        Timing(
            name=name,
            days=seeded.days,
            rows=seeded.logs,
            seconds=best[name],
            size=sizes[name][0],
            peak=_peak(export, seeded.patient_id),
            largest_piece=sizes[name][1],
        )
        if name not in errors
        else Timing(name, seeded.days, seeded.logs, 0.0, 0, 0, 0, error=errors[name])
        for name, export in CASES
    ]


def bundle_contents(patient_id: int) -> Counter:
    """Resources in the patient's Bundle by type (read once, untimed, to show what was
    exported: a Bundle of one Patient is fast for the wrong reason); empty if it fails."""
    from taper.services.fhir_export import bundle

    db.session.remove()
    try:
        found = bundle(db.session.get(User, patient_id), include_drafts=True)
    except Exception:  # noqa: BLE001  (the timed run reports the error)
        return Counter()
    finally:
        db.session.remove()
    return Counter(entry["resource"]["resourceType"] for entry in found.get("entry", []))


# --- the report -----------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f}"


def table(
    kind: str, seeded: list[Seeded], timings: list[Timing], contents: dict, repeat: int = 3
) -> str:
    """The markdown report: one row per export and record size, ratios to that size's
    baseline, memory peak next to what was produced."""
    lines = [
        f"## {kind}: one patient's export, best of {repeat} "
        f"(measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f} at the end)",
        "",
        "Baseline: a bare SELECT of the same daily_log rows into tuples plus json.dumps of "
        "them, in the same run. Peak: Python memory while it ran (tracemalloc, a separate "
        "run), beside the size it produced.",
        "",
        "| export | days | log rows | seconds | MB | × baseline | peak MB | peak ÷ size "
        "| largest piece MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    bases = {t.days: t.seconds for t in timings if t.name.startswith("baseline")}
    for t in timings:
        if t.error:
            error = t.error.replace("|", "/").replace("\n", " ")[:200]
            lines.append(f"| {t.name} | {t.days:,} | {t.rows:,} | failed: {error} ||||||")
            continue
        lines.append(
            f"| {t.name} | {t.days:,} | {t.rows:,} | {t.seconds:.3f} | {_mb(t.size)} | "
            f"{t.seconds / bases[t.days]:.1f} | {_mb(t.peak)} | {t.peak / max(t.size, 1):.2f} | "
            f"{_mb(t.largest_piece)} |"
        )
    lines.append("")
    for s in seeded:
        kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(contents[s.days].items())) or "none"
        lines.append(
            f"- {s.days:,} days: seeded in {s.seconds:.1f} s ({s.logs:,} log rows, "
            f"{s.corrected_days} corrected days, {s.doses:,} dose answers of which "
            f"{s.crossover_logs} logs with two, {s.visits} visits, "
            f"{sum(s.alerts.values())} alerts, {s.plans} plans). Bundle: {kinds}."
        )
    fhir = [t for t in timings if t.name.startswith("FHIR") and t.days == TARGET_DAYS]
    if fhir:
        took = "it failed" if fhir[0].error else f"{fhir[0].seconds:.2f} s"
        met = "met" if not fhir[0].error and fhir[0].seconds < TARGET_SECONDS else "NOT met"
        lines.append(
            f"- Target (issue 17): the FHIR Bundle of {TARGET_DAYS:,} days in under "
            f"{TARGET_SECONDS:g} s: {took}, {met}."
        )
    return "\n".join(lines) + "\n"


def run(kind: str, days_list: tuple[int, ...], repeat: int = 3) -> tuple[str, bool]:
    """Seed each record in a fresh database (dropped afterwards), measure, and report:
    (the markdown table, whether every export ran)."""
    from taper import create_app
    from tests.tools.databases import fresh_database

    with fresh_database(PG_BASE if kind == "postgresql" else None) as url:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.create_all()
            seeded = []
            for days in days_list:
                started = time.perf_counter()
                record = seed_record(days, seed=days)
                db.session.commit()
                seeded.append(replace(record, seconds=time.perf_counter() - started))
            if kind == "postgresql":
                db.session.execute(text("ANALYZE"))  # as autovacuum would after a bulk load
                db.session.commit()
            timings = [t for s in seeded for t in measure(s, repeat)]
            contents = {s.days: bundle_contents(s.patient_id) for s in seeded}
            db.session.remove()
            db.engine.dispose()
    ok = not any(t.error for t in timings)
    return table(kind, seeded, timings, contents, repeat), ok


def parse_days(value: str) -> tuple[int, ...]:
    """``365,1825`` -> (365, 1825); each at least 28 and at most 3,650 days."""
    try:
        days = tuple(int(part) for part in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {value!r}") from None
    if not days or any(not 28 <= d <= 3650 for d in days):
        raise argparse.ArgumentTypeError("each number of days must be from 28 to 3650")
    return days


def positive(value: str) -> int:
    """A whole number of at least 1 (the runs to take the best of)."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of at least 1: {value!r}")
    return int(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--days", type=parse_days, default=(365, TARGET_DAYS))
    parser.add_argument("--repeat", type=positive, default=3)
    args = parser.parse_args(argv)
    report, ok = run(args.db, args.days, args.repeat)
    (ROOT / "bench" / "results" / f"export-{args.db}.md").write_text(report)
    print(report)
    if not ok:
        sys.exit("an export failed: see its row above")


if __name__ == "__main__":
    main()
