"""A clinician writes, activates, holds and revises a plan; the patient sees the right dose."""

import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from sqlalchemy import select

from taper.extensions import db
from taper.models import PlanReceipt, PlanRevision, PlanStatus, Role, TaperPlan
from tests.conftest import login_as
from tests.helpers import patient_today, plan_form, six_steps, version_of
from tests.plans.timeline_posts import confirmed

START = date(2026, 3, 2)


def test_six_step_plan_hold_and_revision_end_to_end(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(START))

    page = client.get(f"/clinician/plans/{plan_id}").get_data(as_text=True)
    assert "−2.5 mg (−12.5 %)" in page  # 20 -> 17.5, for information only
    assert "14 days" in page

    # Hold today's dose until a date the clinician types: first the new dates, then confirm.
    with time_machine.travel(datetime(2026, 3, 20, 15, tzinfo=UTC), tick=False):
        login_as(client, clinician)
        hold = {
            "until": "2026-04-10",
            "reason": "Symptoms up after the last cut",
            "version": version_of(app, plan_id),
        }
        preview = client.post(f"/clinician/plans/{plan_id}/hold", data=hold)
        assert preview.status_code == 200
        text = re.sub(r"\s+", " ", preview.text)
        # 15 mg was due on 30 March; it now follows the hold, on 11 April.
        assert "15 mg will start on 11 Apr 2026</strong> instead of 30 Mar 2026" in text
        assert "The 3 later steps move 12 days later too" in text
        assert version_of(app, plan_id) == hold["version"]  # nothing saved yet
        response = confirmed(client, f"/clinician/plans/{plan_id}/hold", patient, **hold)
        assert response.headers["Location"] == f"/clinician/plans/{plan_id}"

    # Revise: the clinician types the remaining steps again with new dates.
    login_as(client, clinician)
    steps = six_steps(START)
    steps[2] = (date(2026, 4, 11), "15", {}, "")
    steps[3] = (date(2026, 4, 25), "12.5", {"morning": "5", "bedtime": "7.5"}, "Split it")
    steps[4] = (date(2026, 5, 9), "10", {}, "")
    steps[5] = (date(2026, 5, 23), "0", {}, "Stopped")
    response = client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(steps, reason="Slower after hold", version=version_of(app, plan_id)),
    )
    assert response.headers["Location"] == f"/clinician/plans/{plan_id}"

    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        assert plan.status is PlanStatus.ACTIVE
        assert [r.number for r in plan.revisions] == [1, 2, 3]
        assert plan.current_revision.hold_start == date(2026, 3, 20)
        first = db.session.get(PlanRevision, plan.revisions[0].id)
        assert [s.total for s in first.steps] == [
            Decimal(x) for x in ["20", "17.5", "15", "12.5", "10", "7.5"]
        ]
        held = db.session.get(PlanRevision, plan.revisions[1].id)
        assert [s.start_date for s in held.steps][2:] == [
            date(2026, 4, 11),
            date(2026, 4, 25),
            date(2026, 5, 9),
            date(2026, 5, 23),
        ]

    expected = {
        date(2026, 3, 1): "starts on",
        date(2026, 3, 2): "20 mg",
        date(2026, 3, 16): "17.5 mg",
        date(2026, 3, 31): "17.5 mg",  # held
        date(2026, 4, 10): "until Friday 10 April 2026",  # the last held day
        date(2026, 4, 11): "15 mg",  # the next typed step, never 12.5 mg
        date(2026, 4, 25): "12.5 mg",
        date(2026, 5, 23): "You have stopped diazepam.",  # the last step is 0 mg
    }
    for day, text in expected.items():
        with time_machine.travel(
            datetime(day.year, day.month, day.day, 17, tzinfo=UTC), tick=False
        ):
            login_as(client, patient)
            page = client.get("/today").get_data(as_text=True)
        assert text in page, (day, page)


def test_patient_sees_notice_after_a_change_once(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(patient_today(patient) - timedelta(days=3)))
    client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(
            six_steps(patient_today(patient) - timedelta(days=3))[:5],
            reason="Shorter plan",
            version=version_of(app, plan_id),
        ),
    )
    login_as(client, patient)
    first = client.get("/today").get_data(as_text=True)
    assert "Changed by Dr Ada Quinn" in first
    assert "reason: Shorter plan" in first
    assert "Changed by" not in client.get("/today").get_data(as_text=True)


def test_a_plan_ending_on_a_dose_sends_the_patient_to_their_clinician(
    client, clinician, patient, write_plan
):
    """Nothing is extrapolated past the last typed step: when it is not 0 mg, that dose stays
    in force until the clinician reviews the plan, and the patient is told so."""
    login_as(client, clinician)
    write_plan(patient, [(date(2026, 3, 2), "10", {}, ""), (date(2026, 3, 16), "5", {}, "")])
    with time_machine.travel(datetime(2026, 3, 20, 17, tzinfo=UTC), tick=False):
        login_as(client, patient)
        page = re.sub(r"\s+", " ", client.get("/today").text)
    assert "<strong>5 mg</strong> in total" in page
    assert "Keep taking this dose until your clinician reviews your plan." in page
    assert "Ask your clinician what to take" not in page
    assert "no later step" not in page
    assert "stopped" not in page


def test_two_first_visits_at_once_both_see_today_and_leave_one_receipt(shared_app, monkeypatch):
    """Two tabs (or a double tap) open Today at once after a change: both read the plan as not
    seen, both mark it seen; neither fails on the other's receipt."""
    from taper.services import accounts, current_plans

    app = shared_app
    with app.app_context():
        clinician, patient = (
            accounts.create_user(None, email=f"{key}@seen.example.org", name=name, role=role)
            for key, name, role in (("c", "Dr Seen", Role.CLINICIAN), ("p", "P", Role.PATIENT))
        )
        accounts.add_to_care_team(None, clinician, patient)
        db.session.commit()
        people = [db.session.get(type(patient), u.id) for u in (clinician, patient)]
        for user in people:
            db.session.expunge(user)
    clinician, patient = people
    writer = app.test_client()
    login_as(writer, clinician)
    steps = six_steps(patient_today(patient) - timedelta(days=3))
    created = writer.post(f"/clinician/patients/{patient.id}/plans/new", data=plan_form(steps))
    plan_id = int(created.headers["Location"].rsplit("/", 1)[1])
    activated = writer.post(
        f"/clinician/plans/{plan_id}/status",
        data={"status": "active", "version": str(version_of(app, plan_id))},
    )
    assert activated.status_code == 302

    barrier = threading.Barrier(2, timeout=10)
    read = current_plans.current_plans

    def read_then_wait(*args, **kwargs):
        found = read(*args, **kwargs)
        barrier.wait()  # both visits have read "not seen" before either writes
        return found

    monkeypatch.setattr(current_plans, "current_plans", read_then_wait)
    pages = []

    def visit():
        browser = app.test_client()
        login_as(browser, patient)
        response = browser.get("/today")
        pages.append((response.status_code, "New plan from Dr Seen" in response.text))

    threads = [threading.Thread(target=visit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert pages == [(200, True), (200, True)]
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        receipts = db.session.scalars(select(PlanReceipt)).all()
        assert [(r.plan_id, r.revision_id) for r in receipts] == [
            (plan_id, plan.current_revision_id)
        ]
    browser = app.test_client()
    login_as(browser, patient)
    assert "New plan from" not in browser.get("/today").text  # seen once, as before
