"""Demo data for ``flask seed-demo``: an admin, a clinician and three patients with months of
history (plans with revisions and a hold, a crossover from lorazepam to diazepam, daily logs
with a dose answer per plan in force, alerts). Safe to run twice."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from taper.domain import timeline
from taper.domain.alert_rules import LogFacts, red_flag_rule
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import (
    DailyLog,
    LogDose,
    PlanStatus,
    RedFlagReport,
    Role,
    User,
    find_user_by_email,
)
from taper.services import accounts, alerts, plans

# Printed by seed-demo for local use; production never runs seed-demo with real patients.
DEMO_PASSWORD = "taper-demo-password"  # noqa: S105  # nosec B105
CLINICIAN_EMAIL = "clinician@example.org"
DEMO_USERS = [
    {"email": "admin@example.org", "name": "Alex Admin", "role": Role.ADMIN},
    {"email": CLINICIAN_EMAIL, "name": "Dr Casey Morgan", "role": Role.CLINICIAN},
    {"email": "pat@example.org", "name": "Pat Rivera", "role": Role.PATIENT},
    {"email": "sam@example.org", "name": "Sam Okafor", "role": Role.PATIENT},
    {"email": "jo@example.org", "name": "Jo Lindqvist", "role": Role.PATIENT},
]
# Numbers from Ofcom's drama range (never a real line), so the "Call" link shows in the demo.
DEMO_PHONES = {"pat@example.org": "07700 900123", "sam@example.org": "07700 900456"}
# Each patient's plans: (medication, days since the first step, step doses, days per step).
# Jo is on a crossover: lorazepam goes down while diazepam goes up, two plans side by side.
PLANS = {
    "pat@example.org": [("diazepam", 98, ["20", "17.5", "15", "12.5", "10", "8", "6", "4"], 14)],
    "sam@example.org": [("clonazepam", 63, ["2", "1.75", "1.5", "1.25", "1", "0.75"], 14)],
    "jo@example.org": [
        ("lorazepam", 45, ["3", "2.5", "2", "1.5", "1", "0.5", "0"], 14),
        ("diazepam", 45, ["5", "10", "15", "20", "25", "30"], 14),
    ],
}
SILENT_DAYS = {"jo@example.org": 4}  # days with no log at the end (a missed-logs alert)


def seed_demo() -> bool:
    """Create the demo accounts, care team and history if missing; True when anything new."""
    created = False
    for spec in DEMO_USERS:
        if find_user_by_email(spec["email"]) is None:
            user = accounts.create_user(None, password=DEMO_PASSWORD, **spec)
            user.phone = DEMO_PHONES.get(spec["email"])
            created = True
    clinician = find_user_by_email(CLINICIAN_EMAIL)
    for spec in DEMO_USERS:
        if spec["role"] is Role.PATIENT:
            patient = find_user_by_email(spec["email"])
            accounts.add_to_care_team(None, clinician, patient)
            if not plans.plans_for_patient(patient, include_drafts=True):
                _history(
                    clinician, patient, PLANS[spec["email"]], SILENT_DAYS.get(spec["email"], 0)
                )
                created = True
    return created


def _history(
    clinician: User,
    patient: User,
    specs: list[tuple[str, int, list[str], int]],
    silent_days: int,
) -> None:
    # Repeatable demo data, nothing to do with security.
    rng = random.Random(patient.email)  # noqa: S311  # nosec B311
    today = local_today(datetime.now(UTC), patient.timezone)
    for medication, days_ago, doses, step_days in specs:
        first = today - timedelta(days=days_ago)
        rows = [
            {
                "start": (first + timedelta(days=step_days * i)).isoformat(),
                "total": dose,
                "note": "Take it with breakfast." if i == 0 else "",
            }
            for i, dose in enumerate(doses)
        ]
        plan = plans.create_plan(clinician, patient, medication, rows)
        plans.change_status(clinician, plan, plan.version, PlanStatus.ACTIVE)
        db.session.flush()
        if patient.email == "pat@example.org":  # a week's hold after a hard week
            plans.apply_timeline_change(
                clinician,
                plan,
                plan.version,
                "hold",
                today - timedelta(days=40),
                "Poor sleep after the cut to 10 mg",
                until=today - timedelta(days=33),
            )
            db.session.flush()
    # The logs follow the timeline as the patient lived it: the plans in force each day,
    # holds included, and symptoms that rise after each real reduction and settle.
    schedules = plans.schedules_for(patient)
    days_ago = max(spec[1] for spec in specs)
    baseline = rng.randint(8, 14)
    for offset in range(days_ago, silent_days - 1, -1):
        day = today - timedelta(days=offset)
        if rng.random() < 0.06 or offset < silent_days:
            continue  # a missed day
        reduced = timeline.latest_reduction(schedules, day)
        since_cut = (day - reduced).days if reduced else 30
        score = baseline + max(0, 12 - 2 * since_cut) + rng.randint(-3, 3)
        per_item = _spread(max(0, min(score, CIWA_B.patient_max)), rng)
        answers = []
        for found in timeline.in_force(schedules, day):
            scheduled = found.dose.step.total
            taken = scheduled + Decimal("0.5") if rng.random() < 0.04 else scheduled
            answers.append(
                LogDose(
                    plan_id=found.plan.plan_id,
                    medication=found.plan.medication,
                    unit=found.plan.unit,
                    dose_scheduled=scheduled,
                    took_as_scheduled=taken == scheduled,
                    dose_taken=taken,
                )
            )
        db.session.add(
            DailyLog(
                patient_id=patient.id,
                day=day,
                version=1,
                submission_id=uuid.uuid4().hex,
                answers=per_item,
                patient_total=sum(per_item.values()),
                red_flags=[],
                doses=answers,
                sleep_hours=Decimal(str(rng.choice([5, 5.5, 6, 6.5, 7, 7.5, 8]))),
                note=rng.choice(["", "", "", "Felt foggy in the afternoon.", "Better day."]),
            )
        )
    if patient.email == "sam@example.org":  # an urgent report from yesterday
        report = RedFlagReport(
            patient_id=patient.id, flags=["chest_pain"], submission_id=uuid.uuid4().hex
        )
        db.session.add(report)
        db.session.flush()
        finding = red_flag_rule(LogFacts(today, 0, ("chest_pain",)))
        alerts.raise_alert(patient, finding, report_id=report.id)
    db.session.flush()


def _spread(total: int, rng: random.Random) -> dict[str, int]:
    """Share a symptom total over the 17 patient items, 0-4 each."""
    answers = {item.key: 0 for item in CIWA_B.patient_items}
    keys = list(answers)
    while total > 0:
        key = rng.choice(keys)
        if answers[key] < 4:
            answers[key] += 1
            total -= 1
    return answers
