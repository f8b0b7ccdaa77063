"""The daily log asks one dose question per plan in force on the day chosen (a crossover has
two), stores what was asked about, and refuses a stale form rather than store a wrong dose."""

import csv
import io
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Alert, DailyLog, LogDose, TaperPlan, User
from taper.services import plans
from tests.conftest import login_as
from tests.helpers import dose_questions, field_error, fill_log, patient_today, version_of


def rows(app, model, **where):
    with app.app_context():
        query = select(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.scalars(query).all()


def doses_by_plan(app) -> dict[int, tuple[bool, Decimal, Decimal]]:
    return {
        d.plan_id: (d.took_as_scheduled, d.dose_taken, d.dose_scheduled) for d in rows(app, LogDose)
    }


def timeline_change(app, clinician, plan_id, action, today, until=None):
    """A hold, pause, release or resume as the clinician's service applies it on ``today``."""
    with app.app_context():
        plan = db.session.get(TaperPlan, plan_id)
        actor = db.session.get(User, clinician.id)
        plans.apply_timeline_change(actor, plan, plan.version, action, today, "Test", until)
        db.session.commit()


def logged_before(app, patient, today):
    """Logs with a low score from 12 to 4 days ago, then two with a high one (the days before
    today): a rise after a reduction 3 days ago, or after none."""
    with app.app_context():
        for back, total in [*((b, 5) for b in range(12, 3, -1)), (2, 34), (1, 34)]:
            db.session.add(
                DailyLog(
                    patient_id=patient.id,
                    day=today - timedelta(days=back),
                    submission_id=uuid.uuid4().hex,
                    answers={},
                    patient_total=total,
                    red_flags=[],
                )
            )
        db.session.commit()


@pytest.fixture
def crossover(client, clinician, patient, write_plan):
    """Alprazolam going down while diazepam goes up: both change today.

    alprazolam: 2 mg until yesterday, 1.5 mg from today; diazepam: 5 mg until yesterday,
    10 mg from today. Returns (alprazolam plan id, diazepam plan id)."""
    today = patient_today(patient)
    login_as(client, clinician)
    alprazolam = write_plan(
        patient,
        [
            (today - timedelta(days=20), "2", {}, ""),
            (today, "1.5", {}, ""),
            (today + timedelta(days=14), "1", {}, ""),
        ],
        medication="alprazolam",
    )
    diazepam = write_plan(
        patient,
        [
            (today - timedelta(days=20), "5", {}, ""),
            (today, "10", {}, ""),
            (today + timedelta(days=14), "15", {}, ""),
        ],
    )
    login_as(client, patient)
    return alprazolam, diazepam


def test_crossover_patient_answers_both_questions_and_both_doses_are_stored(
    client, app, patient, crossover
):
    alprazolam, diazepam = crossover
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your alprazolam as scheduled today: 1.5 mg?" in page
    assert "Did you take your diazepam as scheduled today: 10 mg?" in page
    assert dose_questions(page) == {alprazolam: "1.5", diazepam: "10"}
    # Each question is its own labelled group, its radios and dose field labelled.
    for plan_id in crossover:
        assert f'<label for="took_{plan_id}-yes">Yes</label>' in page
        assert f'<label for="took_{plan_id}-no">No</label>' in page
        assert f'<label for="dose_taken_{plan_id}">' in page

    saved = client.post("/log", data=fill_log(client))
    assert saved.headers["Location"] == f"/log/saved?day={patient_today(patient).isoformat()}"
    (entry,) = rows(app, DailyLog)
    assert doses_by_plan(app) == {
        alprazolam: (True, Decimal("1.5"), Decimal("1.5")),
        diazepam: (True, Decimal("10"), Decimal("10")),
    }
    assert {(d.log_id, d.medication, d.unit) for d in rows(app, LogDose)} == {
        (entry.id, "alprazolam", "mg"),
        (entry.id, "diazepam", "mg"),
    }
    assert rows(app, Alert) == []


def test_a_deviation_on_the_second_drug_raises_one_alert_for_that_plan(
    client, app, patient, crossover
):
    alprazolam, diazepam = crossover
    data = fill_log(client, answers={diazepam: ("no", "12")})
    assert client.post("/log", data=data).status_code == 302
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier, alert.plan_id) == ("dose_deviation", "review", diazepam)
    assert alert.reason == "Diazepam: took 12 mg; scheduled 10 mg"
    assert doses_by_plan(app)[alprazolam] == (True, Decimal("1.5"), Decimal("1.5"))
    assert doses_by_plan(app)[diazepam] == (False, Decimal("12"), Decimal("10"))


def test_deviations_on_both_drugs_raise_one_alert_each(client, app, patient, crossover):
    alprazolam, diazepam = crossover
    data = fill_log(client, took="no", dose_taken="3")
    assert client.post("/log", data=data).status_code == 302
    found = sorted((a.kind, a.plan_id) for a in rows(app, Alert))
    assert found == sorted([("dose_deviation", alprazolam), ("dose_deviation", diazepam)])


def test_history_day_page_and_export_show_every_plans_dose(client, app, patient, crossover):
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    client.post("/log", data=fill_log(client, answers={diazepam: ("no", "7.5")}))
    history = client.get("/history").get_data(as_text=True)
    assert "alprazolam: 1.5 / 1.5 mg" in history
    assert 'diazepam: 7.5 / 10 mg <span class="tag">differs</span>' in history
    day = client.get(f"/history/{today.isoformat()}").get_data(as_text=True)
    assert "<strong>Dose of alprazolam:</strong> took 1.5 mg, scheduled 1.5 mg</p>" in day
    assert "<strong>Dose of diazepam:</strong> took 7.5 mg, scheduled 10 mg" in day

    (row,) = csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True)))
    assert row["alprazolam taken as scheduled"] == "yes"
    assert row["alprazolam dose taken (mg)"] == row["alprazolam dose scheduled (mg)"] == "1.5"
    assert row["diazepam taken as scheduled"] == "no"
    assert row["diazepam dose taken (mg)"] == "7.5"
    assert row["diazepam dose scheduled (mg)"] == "10"


def test_export_leaves_a_plans_columns_empty_on_days_it_was_not_in_force(
    client, app, clinician, patient, write_plan
):
    today = patient_today(patient)
    login_as(client, clinician)
    write_plan(patient, [(today - timedelta(days=10), "2", {}, ""), (today, "0", {}, "")])
    write_plan(patient, [(today - timedelta(days=1), "5", {}, "")], medication="clonazepam")
    again = write_plan(patient, [(today - timedelta(days=1), "1", {}, "")])  # diazepam again
    login_as(client, patient)
    client.post("/log", data=fill_log(client, today - timedelta(days=2)))
    client.post("/log", data=fill_log(client))
    first, second = csv.DictReader(io.StringIO(client.get("/export.csv").get_data(as_text=True)))
    assert first["diazepam dose scheduled (mg)"] == "2"
    assert first["clonazepam dose taken (mg)"] == ""
    assert first[f"diazepam (plan {again}) dose taken (mg)"] == ""
    assert second["diazepam dose taken (mg)"] == ""  # stopped at 0 mg: not asked
    assert second["clonazepam dose taken (mg)"] == "5"
    assert second[f"diazepam (plan {again}) dose scheduled (mg)"] == "1"


def test_yes_on_yesterdays_form_stores_yesterdays_dose(client, app, patient, crossover):
    alprazolam, diazepam = crossover
    yesterday = patient_today(patient) - timedelta(days=1)
    page = client.get(f"/log?day={yesterday.isoformat()}").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled yesterday: 5 mg?" in page
    assert "Did you take your alprazolam as scheduled yesterday: 2 mg?" in page
    assert 'aria-current="page">Yesterday,' in page
    assert client.post("/log", data=fill_log(client, yesterday)).status_code == 302
    (entry,) = rows(app, DailyLog)
    assert entry.day == yesterday
    assert doses_by_plan(app) == {
        alprazolam: (True, Decimal("2"), Decimal("2")),
        diazepam: (True, Decimal("5"), Decimal("5")),
    }


def test_todays_questions_posted_for_yesterday_are_refused_not_stored(
    client, app, patient, crossover
):
    """The form showed today's doses; the day posted is yesterday, whose doses differ: a "yes"
    would store a dose nobody asked about, so nothing is stored."""
    alprazolam, diazepam = crossover
    yesterday = patient_today(patient) - timedelta(days=1)
    data = fill_log(client, note="kept")
    data["day"] = yesterday.isoformat()
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert rows(app, DailyLog) == []
    assert field_error(page, f"took_{diazepam}") == (
        "The form showed 10 mg of diazepam, but the dose scheduled for yesterday is 5 mg. "
        "Please answer again for that dose."
    )
    assert "The form showed 1.5 mg of alprazolam" in field_error(page, f"took_{alprazolam}")
    # The form is back for yesterday, with yesterday's doses, those answers cleared.
    assert "Did you take your diazepam as scheduled yesterday: 5 mg?" in page
    assert f'name="took_{diazepam}" value="yes" checked' not in page
    assert ">kept</textarea>" in page


def test_a_form_made_stale_by_a_plan_revision_is_refused(
    client, app, clinician, patient, crossover
):
    alprazolam, diazepam = crossover
    data = fill_log(client)
    today = patient_today(patient)
    with app.app_context():  # the clinician revises today's diazepam dose meanwhile
        plan = db.session.get(TaperPlan, diazepam)
        rows_typed = [
            {"start": (today - timedelta(days=20)).isoformat(), "total": "5"},
            {"start": today.isoformat(), "total": "7.5"},
        ]
        actor = db.session.get(User, clinician.id)
        plans.revise_plan(actor, plan, plan.version, rows_typed, "Smaller step")
        db.session.commit()
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "The form showed 10 mg of diazepam" in field_error(page, f"took_{diazepam}")
    assert "the dose scheduled for today is 7.5 mg" in field_error(page, f"took_{diazepam}")
    assert rows(app, DailyLog) == []
    # The unchanged question keeps its answer; the changed one is asked afresh.
    assert f'name="took_{alprazolam}" value="yes" checked' in page
    assert f'name="took_{diazepam}" value="yes" checked' not in page
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert doses_by_plan(app)[diazepam] == (True, Decimal("7.5"), Decimal("7.5"))


def test_a_missing_answer_is_marked_beside_its_question_and_the_rest_kept(
    client, app, patient, crossover
):
    alprazolam, diazepam = crossover
    data = fill_log(
        client,
        score=2,
        note="Foggy",
        answers={alprazolam: (None, ""), diazepam: ("no", "8")},
    )
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_error(page, f"took_{alprazolam}") == "Choose Yes or No."
    assert field_error(page, f"took_{diazepam}") == ""
    assert f'aria-describedby="took_{alprazolam}-error"' in page
    assert f'id="took_{diazepam}-no" name="took_{diazepam}" value="no" checked' in page
    assert f'name="dose_taken_{diazepam}" autocomplete="off" value="8"' in page
    assert 'id="irritable-2" name="irritable" value="2" checked' in page
    assert ">Foggy</textarea>" in page
    assert rows(app, DailyLog) == []


def test_a_no_needs_the_dose_typed_for_that_plan(client, app, patient, crossover):
    alprazolam, diazepam = crossover
    data = fill_log(client, answers={alprazolam: ("no", "lots")})
    page = client.post("/log", data=data).get_data(as_text=True)
    assert "Enter a number" in field_error(page, f"dose_taken_{alprazolam}")
    assert field_error(page, f"dose_taken_{diazepam}") == ""
    assert rows(app, DailyLog) == []


def test_a_question_left_off_the_form_is_refused_never_skipped(client, app, patient, crossover):
    alprazolam, diazepam = crossover
    data = fill_log(client)
    for name in (f"took_{diazepam}", f"shown_{diazepam}", f"dose_taken_{diazepam}"):
        del data[name]
    page = client.post("/log", data=data).get_data(as_text=True)
    assert (
        "This form did not ask about your diazepam. The dose scheduled for today is 10 mg"
        in field_error(page, f"took_{diazepam}")
    )
    assert rows(app, DailyLog) == []


def test_other_patients_plan_in_a_field_name_is_refused_and_not_named(
    client, app, clinician, patient, make_user, crossover, write_plan
):
    other = make_user(clinicians=(clinician,))
    login_as(client, clinician)
    theirs = write_plan(
        other, [(patient_today(other) - timedelta(days=3), "4", {}, "")], medication="oxazepam"
    )
    login_as(client, patient)
    data = fill_log(client)
    data.update({f"took_{theirs}": "yes", f"shown_{theirs}": "4", f"dose_taken_{theirs}": ""})
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "asked about a medicine that is not scheduled for today" in field_error(page, "doses")
    assert "oxazepam" not in page
    assert rows(app, DailyLog) == []
    assert rows(app, LogDose) == []
    junk = {"took_abc": "yes", "shown_": "1", "took_-1": "yes", "took_1e3": "yes"}
    assert client.post("/log", data={**fill_log(client), **junk}).status_code == 302
    assert set(doses_by_plan(app)) == set(crossover)  # names with no plan id: ignored


def test_double_submit_of_a_crossover_log_saves_one_log(client, app, patient, crossover):
    data = fill_log(client)
    assert client.post("/log", data=data).status_code == 302
    again = client.post("/log", data=data)
    # The browser shows only this answer: the day as saved, not the history list.
    assert again.status_code == 302
    assert again.headers["Location"] == f"/log/saved?day={patient_today(patient).isoformat()}"
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "already saved" in page
    assert "Saved. Thank you for logging your day." in page
    assert len(rows(app, DailyLog)) == 1
    assert len(rows(app, LogDose)) == 2


def test_a_plan_completed_today_is_still_asked_about_for_the_days_before(
    client, app, clinician, patient, crossover
):
    """The clinician completes alprazolam today: today's log no longer asks about it, but a
    log of yesterday (when it was still taken) does, and a correction keeps its answer."""
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    yesterday = today - timedelta(days=1)
    login_as(client, patient)
    answers = {alprazolam: ("no", "3"), diazepam: ("yes", "")}
    saved = client.post("/log", data=fill_log(client, yesterday, answers=answers, sleep="7"))
    assert saved.status_code == 302
    form = fill_log(client, yesterday, answers=answers, sleep="4")  # a correction, opened now
    login_as(client, clinician)
    done = client.post(
        f"/clinician/plans/{alprazolam}/status",
        data={"status": "completed", "version": str(version_of(app, alprazolam))},
    )
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(TaperPlan, alprazolam).completed_on == today
    login_as(client, patient)
    assert set(dose_questions(client.get("/log").text)) == {diazepam}
    assert dose_questions(client.get(f"/log?day={yesterday.isoformat()}").text) == {
        alprazolam: "2",
        diazepam: "5",
    }
    assert client.post("/log", data=form).status_code == 302  # the form opened before
    latest = max(rows(app, DailyLog), key=lambda log: log.version)
    assert {(d.plan_id, d.took_as_scheduled, d.dose_taken) for d in latest.doses} == {
        (alprazolam, False, Decimal("3")),
        (diazepam, True, Decimal("5")),
    }


def test_a_paused_plan_still_asks_for_the_dose_in_force(client, app, clinician, patient, crossover):
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    # Paused five days ago at 5 mg: today's step (10 mg) has not come, the dose stays.
    timeline_change(app, clinician, diazepam, "pause", today - timedelta(days=5))
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled today: 5 mg?" in page
    assert "Your plan is paused: this dose stays the same for now." in page
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert doses_by_plan(app)[diazepam] == (True, Decimal("5"), Decimal("5"))


def test_a_held_plan_asks_for_the_held_dose(client, app, clinician, patient, crossover):
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    timeline_change(
        app, clinician, alprazolam, "hold", today - timedelta(days=2), today + timedelta(days=3)
    )
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your alprazolam as scheduled today: 2 mg?" in page
    assert "Your clinician is keeping this dose for now." in page
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert doses_by_plan(app)[alprazolam] == (True, Decimal("2"), Decimal("2"))


def test_the_last_step_not_zero_is_still_asked_after_it_started(
    client, app, clinician, patient, write_plan
):
    today = patient_today(patient)
    login_as(client, clinician)
    plan = write_plan(
        patient,
        [(today - timedelta(days=30), "4", {}, ""), (today - timedelta(days=9), "2", {}, "")],
    )
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled today: 2 mg?" in page
    assert "This dose stays until your clinician reviews your plan with you." in page
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert doses_by_plan(app) == {plan: (True, Decimal("2"), Decimal("2"))}


def test_a_plan_stopped_at_zero_is_not_asked_but_the_days_before_are(
    client, app, clinician, patient, write_plan
):
    today = patient_today(patient)
    login_as(client, clinician)
    plan = write_plan(
        patient,
        [(today - timedelta(days=30), "1", {}, ""), (today - timedelta(days=1), "0", {}, "")],
    )
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your" not in page
    assert dose_questions(page) == {}
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert rows(app, LogDose) == []
    before = today - timedelta(days=2)
    page = client.get(f"/log?day={before.isoformat()}").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled on " in page
    assert client.post("/log", data=fill_log(client, before)).status_code == 302
    assert doses_by_plan(app) == {plan: (True, Decimal("1"), Decimal("1"))}


def test_a_plan_not_started_yet_and_a_draft_are_not_asked(
    client, app, clinician, patient, write_plan
):
    today = patient_today(patient)
    login_as(client, clinician)
    write_plan(patient, [(today + timedelta(days=1), "5", {}, "")])
    write_plan(patient, [(today - timedelta(days=5), "5", {}, "")], activate=False)
    login_as(client, patient)
    assert dose_questions(client.get("/log").get_data(as_text=True)) == {}


def test_a_correction_refills_each_plans_answer_while_its_question_is_unchanged(
    client, app, clinician, patient, crossover
):
    alprazolam, diazepam = crossover
    client.post("/log", data=fill_log(client, answers={diazepam: ("no", "8")}))
    page = client.get("/log").get_data(as_text=True)
    assert f'id="took_{alprazolam}-yes" name="took_{alprazolam}" value="yes" checked' in page
    assert f'id="took_{diazepam}-no" name="took_{diazepam}" value="no" checked' in page
    assert f'name="dose_taken_{diazepam}" autocomplete="off" value="8"' in page
    # The clinician changes today's diazepam dose: that answer is asked afresh.
    today = patient_today(patient)
    with app.app_context():
        plan = db.session.get(TaperPlan, diazepam)
        actor = db.session.get(User, clinician.id)
        typed = [
            {"start": (today - timedelta(days=20)).isoformat(), "total": "5"},
            {"start": today.isoformat(), "total": "7.5"},
        ]
        plans.revise_plan(actor, plan, plan.version, typed, "Smaller step")
        db.session.commit()
    page = client.get("/log").get_data(as_text=True)
    assert f'name="took_{alprazolam}" value="yes" checked' in page
    assert f'name="took_{diazepam}" value="no" checked' not in page
    assert f'name="dose_taken_{diazepam}" autocomplete="off" value=""' in page


def test_the_day_chooser_links_are_keyboard_links_to_each_allowed_day(
    client, app, patient, crossover
):
    today = patient_today(patient)
    page = client.get("/log").get_data(as_text=True)
    links = re.findall(r'<a href="/log\?day=([0-9-]+)"( aria-current="page")?>([^<]+)</a>', page)
    assert [(d, bool(current)) for d, current, _ in links] == [
        (today.isoformat(), True),
        ((today - timedelta(days=1)).isoformat(), False),
        ((today - timedelta(days=2)).isoformat(), False),
    ]
    assert [label.split(",")[0] for _, _, label in links] == [
        "Today",
        "Yesterday",
        "The day before",
    ]
    # A day outside the window opens today's form.
    old = (today - timedelta(days=3)).isoformat()
    page = client.get(f"/log?day={old}").get_data(as_text=True)
    assert f'name="day" value="{today.isoformat()}"' in page


def test_rising_alert_counts_from_the_day_the_dose_really_went_down(
    client, app, clinician, patient, write_plan
):
    """A hold moved the 7.5 mg step from 10 days ago to 3 days ago: symptoms rising since
    then are "after the reduction", measured from the day the dose really changed."""
    today = patient_today(patient)
    login_as(client, clinician)
    plan = write_plan(
        patient,
        [(today - timedelta(days=30), "10", {}, ""), (today - timedelta(days=10), "7.5", {}, "")],
    )
    timeline_change(
        app, clinician, plan, "hold", today - timedelta(days=12), today - timedelta(days=4)
    )
    logged_before(app, patient, today)
    login_as(client, patient)
    page = client.get("/log").get_data(as_text=True)
    assert "Did you take your diazepam as scheduled today: 7.5 mg?" in page
    assert client.post("/log", data=fill_log(client, score=2)).status_code == 302
    (alert,) = rows(app, Alert, kind="rising")
    reduced = (today - timedelta(days=3)).isoformat()
    assert alert.reason.endswith(f"before the reduction on {reduced}")


def test_a_step_date_passed_during_a_pause_is_no_reduction_for_the_rising_rule(
    client, app, clinician, patient, write_plan
):
    """Paused 12 days ago at 10 mg: the typed 7.5 mg date (3 days ago) passed while paused, but
    the dose never went down, so symptoms since then are not "after a reduction"."""
    today = patient_today(patient)
    login_as(client, clinician)
    plan = write_plan(
        patient,
        [(today - timedelta(days=30), "10", {}, ""), (today - timedelta(days=3), "7.5", {}, "")],
    )
    timeline_change(app, clinician, plan, "pause", today - timedelta(days=12))
    logged_before(app, patient, today)
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, score=2)).status_code == 302
    assert doses_by_plan(app) == {plan: (True, Decimal("10"), Decimal("10"))}
    assert rows(app, Alert, kind="rising") == []
