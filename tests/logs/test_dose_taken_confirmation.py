"""A "dose taken" far above the plan's asks the patient "Is that right?" on the same form,
everything else kept; nothing is suggested. Confirmed, it saves and the care team is told."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Alert, AuditEvent, DailyLog, LogDose, OutboxMessage, RedFlagReport
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today
from tests.tools.smtp import free_port, smtp_server


def rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model)).all()


def _error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error">(.*?)</p>', page, re.S)
    return match.group(1).strip() if match else ""


def _checkbox(page: str, field: str) -> str:
    match = re.search(rf'<input type="checkbox" id="{field}"[^>]*>', page)
    return match.group(0) if match else ""


def test_a_dose_ten_times_the_plan_is_asked_about_with_everything_kept(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, score=3, took="no", dose_taken="75", note="Rough day", sleep="5.5")
    response = client.post("/log", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    confirm = f"confirm_taken_{active_plan}"
    assert (
        _error(page, confirm) == "You wrote 75 mg. Your plan for today is 7.5 mg. Is 75 mg right?"
    )
    box = _checkbox(page, confirm)
    assert 'value="75"' in box
    assert "checked" not in box
    assert "Yes, 75 mg is right" in page
    # Everything else is kept as typed, and nothing was saved.
    assert f'name="dose_taken_{active_plan}" autocomplete="off" value="75"' in page
    assert f'id="took_{active_plan}-no" name="took_{active_plan}" value="no" checked' in page
    assert 'name="irritable" value="3" checked' in page
    assert "Rough day</textarea>" in page
    assert 'value="5.5"' in page
    assert rows(app, DailyLog) == []

    # "Yes, that is right": saved as typed, and the care team gets an urgent dose deviation
    # alert ("took more than the prescribed dose" is a red flag), by e-mail too.
    data[confirm] = "75"
    response = client.post("/log", data=data)
    assert response.status_code == 302
    (dose,) = rows(app, LogDose)
    assert (dose.took_as_scheduled, dose.dose_taken) == (False, Decimal("75"))
    (alert,) = [a for a in rows(app, Alert) if a.kind == "dose_deviation"]
    assert alert.tier == "urgent"
    assert alert.reason == (
        "Diazepam: took 75 mg; scheduled 7.5 mg (far more than the plan: the patient confirmed it)"
    )
    (message,) = rows(app, OutboxMessage)
    assert "75" not in message.body  # no health details in an e-mail
    with app.app_context():
        summary = db.session.scalar(
            select(AuditEvent.summary).where(AuditEvent.action == "log.save")
        )
    assert summary["dose_confirmed_far_above_plan"] == [active_plan]


def test_the_patient_can_change_the_number_instead(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="75")
    assert client.post("/log", data=data).status_code == 400
    data[f"dose_taken_{active_plan}"] = "7"
    assert client.post("/log", data=data).status_code == 302
    (dose,) = rows(app, LogDose)
    assert dose.dose_taken == Decimal("7")


def test_a_tick_for_another_number_asks_again(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="80")
    data[f"confirm_taken_{active_plan}"] = "75"  # ticked beside 75, then changed to 80
    page = client.post("/log", data=data).get_data(as_text=True)
    assert _error(page, f"confirm_taken_{active_plan}") == (
        "You wrote 80 mg. Your plan for today is 7.5 mg. Is 80 mg right?"
    )
    assert "checked" not in _checkbox(page, f"confirm_taken_{active_plan}")
    assert rows(app, DailyLog) == []


@pytest.mark.parametrize(("taken", "asked"), [("15", False), ("15.001", True), ("10", False)])
def test_only_more_than_twice_the_plan_is_asked_about(
    client, app, patient, active_plan, taken, asked
):
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, took="no", dose_taken=taken))
    assert response.status_code == (400 if asked else 302)
    assert bool(rows(app, DailyLog)) is not asked


def test_a_past_day_says_what_the_plan_was(client, app, patient, active_plan):
    login_as(client, patient)
    yesterday = patient_today(patient) - timedelta(days=1)
    page = client.post("/log", data=fill_log(client, yesterday, took="no", dose_taken="30"))
    assert _error(page.get_data(as_text=True), f"confirm_taken_{active_plan}") == (
        "You wrote 30 mg. Your plan for yesterday was 7.5 mg. Is 30 mg right?"
    )


def test_a_red_flag_never_waits_for_the_dose_question(client, app, patient, active_plan):
    """An unconfirmed dose is not saved, but the red flag ticked with it is sent at once, and
    "Back to my log" brings the dose back."""
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="75", flags=["overdose"], when="now")
    response = client.post("/log", data=data)
    assert response.status_code == 200
    assert "Get urgent help now" in response.text
    (report,) = rows(app, RedFlagReport)
    assert report.flags == ["overdose"]
    assert rows(app, DailyLog) == []
    resume = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', response.text)
    )
    assert resume[f"dose_taken_{active_plan}"] == "75"
    back = client.post("/log", data=resume)
    assert f'name="dose_taken_{active_plan}" autocomplete="off" value="75"' in back.text


def test_send_this_now_still_works_with_a_large_dose_typed(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="75", flags=["overdose"])
    data["send_flags"] = "1"
    response = client.post("/log", data=data)
    assert response.status_code == 200
    assert "Get urgent help now" in response.text
    assert [r.flags for r in rows(app, RedFlagReport)] == [["overdose"]]
    assert rows(app, DailyLog) == []


def test_a_correction_keeps_the_confirmed_answer(client, app, patient, active_plan):
    """The saved answer was confirmed: correcting something else does not ask again."""
    login_as(client, patient)
    data = fill_log(client, took="no", dose_taken="75")
    data[f"confirm_taken_{active_plan}"] = "75"
    assert client.post("/log", data=data).status_code == 302
    page = client.get("/log").get_data(as_text=True)
    assert "checked" in _checkbox(page, f"confirm_taken_{active_plan}")
    assert not _error(page, f"confirm_taken_{active_plan}")
    again = fill_log(client, took="no", dose_taken="75", note="Corrected the note")
    again[f"confirm_taken_{active_plan}"] = "75"
    assert client.post("/log", data=again).status_code == 302
    assert sorted(entry.version for entry in rows(app, DailyLog)) == [1, 2]


def test_the_question_suggests_no_dose(client, patient, active_plan):
    """Only the number typed and the plan's own dose appear in the question."""
    login_as(client, patient)
    page = client.post("/log", data=fill_log(client, took="no", dose_taken="75")).get_data(
        as_text=True
    )
    block = re.search(r'<div class="field dose-confirm.*?</div>', page, re.S).group(0)
    numbers = set(re.findall(r"[0-9]+(?:\.[0-9]+)?", re.sub(r"<[^>]*>", " ", block)))
    assert numbers == {"75", "7.5"}


def test_a_correction_of_a_small_difference_asks_nothing(client, app, patient, active_plan):
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, took="no", dose_taken="10")).status_code == 302
    page = client.get("/log").get_data(as_text=True)
    assert not _checkbox(page, f"confirm_taken_{active_plan}")
    assert "is right" not in page


def test_a_dose_above_the_usual_maximum_is_asked_about_below_twice_the_plan(
    client, app, clinician, patient, write_plan
):
    """40 mg diazepam in the plan, 70 mg taken: under twice the plan, above the usual
    maximum for diazepam."""
    login_as(client, clinician)
    today = patient_today(patient)
    plan_id = write_plan(patient, [(today - timedelta(days=5), "40", {}, "")])
    login_as(client, patient)
    page = client.post("/log", data=fill_log(client, took="no", dose_taken="70")).get_data(
        as_text=True
    )
    assert _error(page, f"confirm_taken_{plan_id}") == (
        "You wrote 70 mg. Your plan for today is 40 mg. Is 70 mg right?"
    )
    assert rows(app, DailyLog) == []


def test_a_far_dose_is_urgent_even_with_a_review_alert_open_and_raised_once_per_dose(
    client, app, patient, active_plan
):
    """Yesterday's small slip left a review alert open: today's dose ten times the plan is an
    urgent alert of its own. Correcting today's log (the sleep) with the same dose raises
    nothing new; another dose that day is a new situation."""
    login_as(client, patient)
    today = patient_today(patient)
    yesterday = today - timedelta(days=1)
    assert (
        client.post("/log", data=fill_log(client, yesterday, took="no", dose_taken="7")).status_code
        == 302
    )
    data = fill_log(client, took="no", dose_taken="75", sleep="5")
    data[f"confirm_taken_{active_plan}"] = "75"
    assert client.post("/log", data=data).status_code == 302
    correction = fill_log(client, took="no", dose_taken="75", sleep="6")
    correction[f"confirm_taken_{active_plan}"] = "75"
    assert client.post("/log", data=correction).status_code == 302
    tiers = sorted(a.tier for a in rows(app, Alert) if a.kind == "dose_deviation")
    assert tiers == ["review", "urgent"]
    assert len(rows(app, OutboxMessage)) == 1
    more = fill_log(client, took="no", dose_taken="80", sleep="6")
    more[f"confirm_taken_{active_plan}"] = "80"
    assert client.post("/log", data=more).status_code == 302
    tiers = sorted(a.tier for a in rows(app, Alert) if a.kind == "dose_deviation")
    assert tiers == ["review", "urgent", "urgent"]


@pytest.fixture
def crossover(client, clinician, patient, write_plan):
    """Alprazolam (1.5 mg today) and diazepam (10 mg today) taken together."""
    today = patient_today(patient)
    login_as(client, clinician)
    alprazolam = write_plan(
        patient,
        [(today - timedelta(days=20), "2", {}, ""), (today, "1.5", {}, "")],
        medication="alprazolam",
    )
    diazepam = write_plan(
        patient, [(today - timedelta(days=20), "5", {}, ""), (today, "10", {}, "")]
    )
    login_as(client, patient)
    return alprazolam, diazepam


def _deviations(app) -> list[tuple[int, str]]:
    return sorted((a.plan_id, a.tier) for a in rows(app, Alert) if a.kind == "dose_deviation")


def test_a_far_dose_of_each_drug_of_a_crossover_is_an_urgent_alert_each(
    client, app, patient, crossover
):
    alprazolam, diazepam = crossover
    data = fill_log(client, took="no", dose_taken="25")
    data[f"confirm_taken_{alprazolam}"] = data[f"confirm_taken_{diazepam}"] = "25"
    assert client.post("/log", data=data).status_code == 302
    assert _deviations(app) == sorted([(alprazolam, "urgent"), (diazepam, "urgent")])


def test_a_far_dose_is_not_hidden_by_the_other_drugs_slip_of_the_same_number(
    client, app, patient, crossover
):
    """Alprazolam 12 mg (plan 1.5: far) and diazepam 12 mg (plan 10: a slip), same day."""
    alprazolam, diazepam = crossover
    data = fill_log(client, took="no", dose_taken="12")
    data[f"confirm_taken_{alprazolam}"] = "12"
    assert client.post("/log", data=data).status_code == 302
    assert _deviations(app) == sorted([(alprazolam, "urgent"), (diazepam, "review")])


PORT = free_port()


@pytest.mark.app_config(SMTP_PORT=PORT, PUBLIC_URL="https://taper.example.org")
def test_a_far_dose_is_e_mailed_at_once_and_today_says_nothing_of_an_urgent_report(
    client, app, patient, clinician, active_plan
):
    """Like a red flag's, its e-mail is tried from the request; but the patient reported no
    red flag, so Today does not say the team saw "your urgent report"."""
    with smtp_server(PORT) as inbox:
        login_as(client, patient)
        data = fill_log(client, took="no", dose_taken="75")
        data[f"confirm_taken_{active_plan}"] = "75"
        assert client.post("/log", data=data).status_code == 302
    (message,) = rows(app, OutboxMessage)
    assert message.sent_at is not None
    assert len(inbox.messages) == 1
    assert "urgent report" not in client.get("/today").get_data(as_text=True)
