"""The clinician overview lists every running plan of each patient with the dose in force,
its status on the real timeline and the days since that dose really started, in a fixed
number of queries however many patients and plans."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal

from taper.extensions import db
from taper.models import CareTeamLink, PlanStatus, Role, User
from taper.services import overview
from tests.charts.stored import store_log, store_plan, timeline_change
from tests.conftest import PASSWORD_HASH, login_as
from tests.helpers import patient_today


def entries(app, clinician, patient):
    """The overview's plan entries for one patient, as the service builds them."""
    with app.app_context():
        page = overview.overview(db.session.get(User, clinician.id), search=patient.name)
        (row,) = [r for r in page.rows if r.patient_id == patient.id]
        return row.plans


def row_html(client, patient) -> str:
    page = client.get("/clinician/patients").get_data(as_text=True)
    row = page[page.index(f">{patient.name}</a>") :]
    return row[: row.index("</tr>")]


def test_crossover_row_lists_both_drugs_with_their_doses_and_days(app, client, clinician, patient):
    today = patient_today(patient)
    alprazolam = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=20), "1.5"), (today - timedelta(days=6), "1")],
        medication="alprazolam",
    )
    diazepam = store_plan(
        app,
        patient,
        clinician,
        [
            (today - timedelta(days=13), "2"),
            (today - timedelta(days=4), "5"),
            (today + timedelta(days=10), "10"),
        ],
    )
    store_plan(app, patient, clinician, [(today, "9")], medication="draft", status=PlanStatus.DRAFT)
    found = entries(app, clinician, patient)
    assert [(e.plan_id, e.medication, e.dose, e.status, e.days_since_change) for e in found] == [
        (alprazolam, "alprazolam", Decimal("1"), "last", 6),
        (diazepam, "diazepam", Decimal("5"), "active", 4),
    ]
    login_as(client, clinician)
    row = row_html(client, patient)
    assert re.findall(r'<div class="plan-dose">(.*?)</div>', row) == [
        '1 mg alprazolam <span class="tag">last step</span>',
        "5 mg diazepam",
        '6 <span class="visually-hidden">(alprazolam)</span>',
        '4 <span class="visually-hidden">(diazepam)</span>',
    ]
    assert "draft" not in row


def test_each_status_on_the_timeline_is_shown(app, client, clinician, make_user):
    today = patient_today(clinician)

    def patient_with(name, steps, **fields):
        person = make_user(Role.PATIENT, name=name, clinicians=(clinician,))
        return person, store_plan(app, person, clinician, steps, **fields)

    week_ago, soon = today - timedelta(days=7), today + timedelta(days=5)
    held, held_plan = patient_with("Hal Held", [(week_ago, "4"), (soon, "2")])
    timeline_change(app, clinician, held_plan, "hold", today, today + timedelta(days=9))
    open_hold, open_plan = patient_with("Olive Open", [(week_ago, "4"), (soon, "2")])
    timeline_change(app, clinician, open_plan, "hold", today)
    paused, paused_plan = patient_with("Paula Paused", [(week_ago, "3"), (soon, "1")])
    timeline_change(app, clinician, paused_plan, "pause", today)
    last, _ = patient_with("Lee Last", [(week_ago, "3"), (today - timedelta(days=2), "1")])
    waiting, _ = patient_with("Nat Notyet", [(soon, "3")])
    stopped, _ = patient_with("Stu Stopped", [(week_ago, "1"), (today - timedelta(days=1), "0")])
    done, _ = patient_with("Cora Complete", [(week_ago, "1")], status=PlanStatus.COMPLETED)

    def only(person):
        (entry,) = entries(app, clinician, person)
        return entry.status, entry.dose, entry.days_since_change

    assert only(held) == ("held", Decimal("4"), 7)  # a held dose has not changed
    assert only(open_hold) == ("held", Decimal("4"), 7)
    assert only(paused) == ("paused", Decimal("3"), 7)
    assert only(last) == ("last", Decimal("1"), 2)
    assert only(waiting) == ("not_started", None, None)
    assert only(stopped) == ("stopped", Decimal("0"), 1)
    assert entries(app, clinician, done) == []
    login_as(client, clinician)
    until = today + timedelta(days=9)
    assert f'<span class="tag">on hold until {until.day} {until:%b %Y}</span>' in row_html(
        client, held
    )
    assert '<span class="tag">on hold until reviewed</span>' in row_html(client, open_hold)
    assert '<span class="tag">paused until reviewed</span>' in row_html(client, paused)
    assert '1 mg diazepam <span class="tag">last step</span>' in row_html(client, last)
    assert f'diazepam <span class="tag">not started (from {soon.day} {soon:%b %Y})</span>' in (
        row_html(client, waiting)
    )
    assert '0 mg diazepam <span class="tag">stopped</span>' in row_html(client, stopped)
    assert "<td>–</td>" in row_html(client, done)


def test_days_since_change_follow_a_hold_that_moved_the_next_step(app, clinician, patient):
    """Steps 4 → 3 → 2 mg; 3 mg was held from 10 to 5 days ago, so 2 mg (typed for 6 days
    ago) really started 4 days ago: 4 days since the change, not 6."""
    today = patient_today(patient)
    plan_id = store_plan(
        app,
        patient,
        clinician,
        [
            (today - timedelta(days=20), "4"),
            (today - timedelta(days=13), "3"),
            (today - timedelta(days=6), "2"),
            (today + timedelta(days=1), "1"),
        ],
    )
    timeline_change(
        app, clinician, plan_id, "hold", today - timedelta(days=10), today - timedelta(days=5)
    )
    (entry,) = entries(app, clinician, patient)
    assert (entry.dose, entry.status, entry.days_since_change) == (Decimal("2"), "active", 4)


def seed_crossovers(app, clinician, count: int, plans_each: int) -> None:
    """``count`` patients, each with ``plans_each`` running plans (the second one held, the
    third paused) and a log answering every dose question."""
    today = patient_today(clinician)
    with app.app_context():
        people = [
            User(
                email=f"cross{uuid.uuid4().hex[:10]}@example.org",
                name=f"Cross Patient {uuid.uuid4().hex[:6]}",
                role=Role.PATIENT,
                password_hash=PASSWORD_HASH,
                timezone=clinician.timezone,
            )
            for _ in range(count)
        ]
        db.session.add_all(people)
        db.session.flush()
        db.session.add_all(CareTeamLink(clinician_id=clinician.id, patient_id=p.id) for p in people)
        db.session.commit()
        for person in people:
            db.session.expunge(person)
    for person in people:
        made = []
        for index in range(plans_each):
            hold = None
            if index == 1:
                hold = (today - timedelta(days=2), today + timedelta(days=3), "hold")
            elif index == 2:
                hold = (today - timedelta(days=1), None, "pause")
            made.append(
                store_plan(
                    app,
                    person,
                    clinician,
                    [(today - timedelta(days=9), "4"), (today + timedelta(days=9), "2")],
                    medication=f"drug{index}",
                    status=PlanStatus.PAUSED if index == 2 else PlanStatus.ACTIVE,
                    hold=hold,
                )
            )
        store_log(app, person, today, [(p, "drug", "4", "4") for p in made])


def test_overview_queries_stay_fixed_as_patients_and_plans_are_added(
    app, client, clinician, count_queries
):
    login_as(client, clinician)
    seed_crossovers(app, clinician, 3, 2)
    client.get("/clinician/patients")
    with count_queries() as small:
        page = client.get("/clinician/patients").get_data(as_text=True)
    assert page.count('<span class="tag">on hold until') == 3
    seed_crossovers(app, clinician, 12, 3)
    with count_queries() as large:
        page = client.get("/clinician/patients").get_data(as_text=True)
    assert page.count('<span class="tag">on hold until') == 15
    assert page.count('<span class="tag">paused until reviewed</span>') == 12
    assert page.count("4 mg drug0") == 15
    assert len(small) == len(large) <= 12
