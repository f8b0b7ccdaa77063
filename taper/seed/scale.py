"""Realistic data at scale for benchmarks (``flask seed-scale``), written with bulk inserts.

Each patient gets a plan with several steps (one in five with a hold, which moves the later
steps as the timeline does), a year of daily logs with the dose answer the log form would
store for the plan in force, symptoms that rise after each real reduction and settle, missed
days, corrections, the odd red flag, and alerts. Everything is deterministic for a given seed."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from taper.domain import timeline
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import StepInput
from taper.extensions import db
from taper.models import (
    Alert,
    CareTeamLink,
    DailyLog,
    LogDose,
    PlanRevision,
    PlanStatus,
    Role,
    TaperPlan,
    TaperStep,
    User,
)
from taper.services.passwords import hash_password

BATCH = 5000
ITEMS = [item.key for item in CIWA_B.patient_items]
MEDICATIONS = [
    ("diazepam", Decimal("20"), Decimal("2.5")),
    ("clonazepam", Decimal("2"), Decimal("0.25")),
    ("lorazepam", Decimal("3"), Decimal("0.5")),
    ("alprazolam", Decimal("2"), Decimal("0.25")),
]


AGITATION = "Red flag reported: Severe agitation"
SEIZURE = "Red flag reported: A seizure or fit"
HIGH_SCORE = "Symptom score 44 (threshold 41)"


def _alert(patient_id: int, kind: str, tier: str, reason: str, status: str, now) -> dict:
    """One alert row for the bulk insert."""
    return dict(
        patient_id=patient_id,
        kind=kind,
        tier=tier,
        reason=reason,
        status=status,
        created_at=now,
        note="",
    )


def _flush(table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(table), rows[start : start + BATCH])
    rows.clear()


def _flush_logs(logs: list[dict], doses: dict[str, dict]) -> None:
    """Insert the logs, then each log's dose answer (keyed by the log's submission id)."""
    answers = []
    for start in range(0, len(logs), BATCH):
        made = db.session.execute(
            insert(DailyLog).returning(DailyLog.id, DailyLog.submission_id),
            logs[start : start + BATCH],
        )
        for log_id, submission in made:
            if submission in doses:
                answers.append(dict(doses[submission], log_id=log_id))
    _flush(LogDose, answers)
    logs.clear()
    doses.clear()


def seed_scale(clinicians: int, patients: int, days: int, password: str, seed: int = 7) -> dict:
    """Add ``clinicians`` and ``patients`` (spread over them) with ``days`` of history."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311
    tag = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    today = now.date()
    account = dict(
        password_hash=hash_password(password),
        timezone="UTC",
        active=True,
        session_version=1,
        created_at=now,
        updated_at=now,
    )
    people = [(f"clinician{i}", f"Dr Scale {i}", Role.CLINICIAN) for i in range(clinicians)]
    people += [(f"patient{i}", f"Scale Patient {i:05d}", Role.PATIENT) for i in range(patients)]
    users = [
        dict(account, email=f"{who}-{tag}@scale.example.org", name=name, role=role)
        for who, name, role in people
    ]
    db.session.execute(insert(User), users)
    ids = dict(
        db.session.execute(
            select(User.email, User.id).where(User.email.like(f"%-{tag}@scale.example.org"))
        ).all()
    )
    clinician_ids = [ids[u["email"]] for u in users[:clinicians]]
    patient_ids = [ids[u["email"]] for u in users[clinicians:]]
    _flush(
        CareTeamLink,
        [
            dict(clinician_id=clinician_ids[i % clinicians], patient_id=p, created_at=now)
            for i, p in enumerate(patient_ids)
        ],
    )

    logs: list[dict] = []
    doses: dict[str, dict] = {}
    alerts: list[dict] = []
    counts = {"logs": 0, "alerts": 0}
    for index, patient_id in enumerate(patient_ids):
        author = clinician_ids[index % clinicians]
        medication, first_dose, cut = MEDICATIONS[index % len(MEDICATIONS)]
        start = today - timedelta(days=days - 1)
        every = rng.choice([14, 14, 21, 28])
        typed = []
        dose = first_dose
        while dose > 0 and len(typed) < 30:
            typed.append(dose)
            dose -= cut
        steps = [StepInput(start + timedelta(days=every * i), d) for i, d in enumerate(typed)]
        steps.append(StepInput(steps[-1].start + timedelta(days=every), Decimal("0")))
        hold = None
        if index % 5 == 0:  # a week's hold: the later steps move a week on
            hold_start = start + timedelta(days=rng.randint(30, max(31, days - 30)))
            steps, hold = timeline.place_hold(steps, hold_start, hold_start + timedelta(days=7))
        plan = TaperPlan(
            patient_id=patient_id,
            medication=medication,
            created_by_id=author,
            status=PlanStatus.ACTIVE,
        )
        db.session.add(plan)
        db.session.flush()
        revision = PlanRevision(
            plan_id=plan.id,
            number=1,
            author_id=author,
            reason="",
            hold_start=hold.start if hold else None,
            hold_until=hold.until if hold else None,
            hold_kind=hold.kind if hold else None,
            hold_shift=hold.shift if hold else 0,
        )
        db.session.add(revision)
        db.session.flush()
        plan.current_revision_id = revision.id
        _flush(
            TaperStep,
            [
                dict(revision_id=revision.id, start_date=s.start, total=s.total, note="")
                for s in steps
            ],
        )
        schedule = timeline.PlanSchedule(plan.id, medication, "mg", True, tuple(steps), hold)
        baseline = rng.randint(6, 16)
        before = None  # the dose in force the day before
        cut_day = None  # the day the dose last really went down (holds included)
        for offset in range(days):
            day = start + timedelta(days=offset)
            in_force = timeline.in_force([schedule], day)
            scheduled = in_force[0].dose.step.total if in_force else None
            step = schedule.on(day).step
            if before is not None and step is not None and step.total < before:
                cut_day = day
            before = step.total if step is not None else None
            if rng.random() < 0.07:
                continue  # a missed day
            since_cut = (day - cut_day).days if cut_day else 30
            bump = max(0, 14 - 2 * since_cut) if cut_day else 0
            total = max(0, min(CIWA_B.patient_max, baseline + bump + rng.randint(-3, 3)))
            answers = dict.fromkeys(ITEMS, 0)
            for _ in range(total):
                key = rng.choice(ITEMS)
                if answers[key] < 4:
                    answers[key] += 1
            total = sum(answers.values())
            taken = scheduled if rng.random() > 0.03 or scheduled is None else scheduled + cut
            flags = ["agitation"] if rng.random() < 0.002 else []
            versions = 2 if rng.random() < 0.02 else 1
            for version in range(1, versions + 1):
                submission = uuid.uuid4().hex
                logs.append(
                    dict(
                        patient_id=patient_id,
                        day=day,
                        version=version,
                        submission_id=submission,
                        scale="ciwa-b",
                        answers=answers,
                        patient_total=total,
                        red_flags=flags,
                        sleep_hours=Decimal(rng.choice(["5", "5.5", "6", "6.5", "7", "7.5", "8"])),
                        note="",
                        created_at=now,
                    )
                )
                if scheduled is not None:
                    doses[submission] = dict(
                        plan_id=plan.id,
                        medication=medication,
                        unit="mg",
                        dose_scheduled=scheduled,
                        took_as_scheduled=taken == scheduled,
                        dose_taken=taken,
                    )
            if flags:
                alerts.append(_alert(patient_id, "red_flag", "urgent", AGITATION, "resolved", now))
        if index % 7 == 0:
            alerts.append(_alert(patient_id, "high_score", "review", HIGH_SCORE, "open", now))
        if index % 50 == 0:
            alerts.append(_alert(patient_id, "red_flag", "urgent", SEIZURE, "open", now))
        if len(logs) >= BATCH:
            counts["logs"] += len(logs)
            _flush_logs(logs, doses)
    counts["logs"] += len(logs)
    _flush_logs(logs, doses)
    counts["alerts"] = len(alerts)
    _flush(Alert, alerts)
    return {
        "clinicians": clinicians,
        "patients": patients,
        **counts,
        "first_clinician": users[0]["email"] if clinicians else None,
        "first_patient": users[clinicians]["email"] if patients else None,
    }
