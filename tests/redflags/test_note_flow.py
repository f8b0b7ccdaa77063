"""Issue 12 point 2: a note that describes a red flag asks the patient at once, and the care
team always gets a review alert quoting it. Nothing the patient typed is lost."""

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Alert, AlertStatus, DailyLog, RedFlagReport, Role
from taper.services import alerts
from tests.conftest import login_as
from tests.helpers import fill_log

CLINIC_FILE = Path(__file__).with_name("clinic_phrases.json")


def rows(app, model):
    with app.app_context():
        return db.session.scalars(select(model).order_by(model.id)).all()


def test_a_fit_last_night_in_the_note_is_asked_about_and_quoted(
    client, app, patient, clinician, active_plan
):
    login_as(client, patient)
    response = client.post("/log", data=fill_log(client, note="I had a fit last night"))
    assert response.status_code == 200
    page = response.text
    assert "It sounds like you may have had a seizure. Is that right?" in page
    assert "Your log is saved, note and all." in page
    assert re.search(r'name="red_flags" value="seizure"', page)
    assert 'name="when_seizure" value="past"' in page
    # Nothing typed is lost; the care team is told whatever the answer.
    (entry,) = rows(app, DailyLog)
    assert entry.note == "I had a fit last night"
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier, alert.log_id) == ("note", "review", entry.id)
    assert alert.quote == "I had a fit last night"
    assert "A seizure or fit (in the past)" in alert.reason

    # "Yes": urgent care and an urgent alert, exactly as a ticked flag.
    token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
    yes = client.post(
        "/help",
        data={
            "red_flags": "seizure",
            "when_seizure": "past",
            "source": "note",
            "submission_id": token,
        },
    )
    assert "Get urgent help now" in yes.text
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.source, report.when) == (["seizure"], "note", "past")
    urgent = [a for a in rows(app, Alert) if a.tier == "urgent"]
    assert len(urgent) == 1
    assert "happened since the last log" in urgent[0].reason

    # The clinician sees the review alert with the note quoted.
    login_as(client, clinician)
    inbox = client.get("/clinician/alerts").text
    assert "I had a fit last night" in inbox
    assert "may describe: A seizure or fit" in inbox


def test_a_double_tap_asks_about_the_note_again(client, app, patient, active_plan):
    """The browser shows only the second answer to a double tap: it asks the question the
    first one asked, and nothing is saved or raised twice."""
    login_as(client, patient)
    data = fill_log(client, note="I had a fit last night")
    first = client.post("/log", data=data)
    again = client.post("/log", data=data)
    for response in (first, again):
        assert response.status_code == 200
        assert "It sounds like you may have had a seizure. Is that right?" in response.text
        assert "Your log is saved, note and all." in response.text
    assert len(rows(app, DailyLog)) == 1
    assert len(rows(app, Alert)) == 1


def test_no_is_not_right_still_leaves_the_review_alert(client, app, patient, active_plan):
    login_as(client, patient)
    page = client.post("/log", data=fill_log(client, note="I want to end it all")).text
    assert (
        "It sounds like you may have had thoughts of ending your life or of hurting yourself."
        in page
    )
    assert "No, that is not what I meant" in page
    assert client.get("/today").status_code == 200
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.quote) == ("note", "I want to end it all")
    assert rows(app, RedFlagReport) == []


def test_a_note_with_nothing_alarming_is_just_saved(client, app, patient, active_plan):
    login_as(client, patient)
    response = client.post(
        "/log", data=fill_log(client, note="No fits since Monday, fit as a fiddle")
    )
    assert response.status_code == 302
    assert rows(app, Alert) == []


def test_a_ticked_flag_is_not_asked_again_but_the_note_is_quoted(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"], note="I had a fit last night")
    response = client.post("/log", data=data)
    assert "Get urgent help now" in response.text
    kinds = sorted((a.kind, a.tier) for a in rows(app, Alert))
    assert kinds == [("note", "review"), ("red_flag", "urgent")]


def test_each_note_is_its_own_alert_and_a_resent_note_is_not(client, app, patient, active_plan):
    login_as(client, patient)
    first = fill_log(client, note="I had a fit last night")
    client.post("/log", data=first)
    client.post("/log", data=first)  # a double submit: one log, one alert
    # A correction with the same note raises nothing new; another note does, even while the
    # first alert is still open.
    client.post("/log", data=fill_log(client, note="I had a fit last night"))
    client.post("/log", data=fill_log(client, note="I had a fit last night. I want to end it all"))
    notes = [a for a in rows(app, Alert) if a.kind == "note"]
    assert [a.quote for a in notes] == [
        "I had a fit last night",
        "I had a fit last night. I want to end it all",
    ]
    assert all(a.status is AlertStatus.OPEN for a in notes)


def test_a_screen_that_breaks_never_loses_the_log(client, app, patient, active_plan, monkeypatch):
    from taper.domain import note_screen

    def broken(*_args, **_kwargs):
        raise RuntimeError("rules file unreadable")

    monkeypatch.setattr(note_screen, "screen", broken)
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client, note="I had a fit")).status_code == 302
    assert len(rows(app, DailyLog)) == 1
    # A person reads what the screen could not.
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier, alert.quote) == ("note", "review", "I had a fit")
    assert "could not be checked" in alert.reason


def test_a_message_on_the_help_page_is_screened_and_quoted(client, app, patient, active_plan):
    login_as(client, patient)
    page = client.post(
        "/help", data={"note": "I took extra pills this morning", "submission_id": "a" * 32}
    ).text
    assert "It sounds like you may have taken more than your prescribed dose." in page
    assert "Your message was sent to your care team." in page
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.note, report.source) == (
        [],
        "I took extra pills this morning",
        "help",
    )
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.tier, alert.report_id) == ("note", "review", report.id)
    assert alert.quote == "I took extra pills this morning"


def test_any_message_on_the_help_page_reaches_the_care_team(client, app, patient, active_plan):
    login_as(client, patient)
    response = client.post(
        "/help", data={"note": "Please call me, I am scared", "submission_id": "b" * 32}
    )
    assert response.status_code == 302
    (alert,) = rows(app, Alert)
    assert (alert.kind, alert.quote) == ("note", "Please call me, I am scared")
    assert 'Message sent from "I need help now"' in alert.reason


def test_a_flag_pressed_with_a_message_sends_both(client, app, patient, active_plan):
    login_as(client, patient)
    client.post(
        "/help",
        data={
            "red_flags": "chest_pain",
            "note": "it started an hour ago",
            "submission_id": "c" * 32,
        },
    )
    kinds = sorted((a.kind, a.tier) for a in rows(app, Alert))
    assert kinds == [("note", "review"), ("red_flag", "urgent")]


def test_a_flag_pressed_with_a_message_too_long_still_sends_the_flag(
    client, app, patient, active_plan
):
    login_as(client, patient)
    response = client.post(
        "/help", data={"red_flags": "seizure", "note": "x" * 5000, "submission_id": "d" * 32}
    )
    assert "Get urgent help now" in response.text
    (report,) = rows(app, RedFlagReport)
    assert report.flags == ["seizure"]


def test_a_message_too_long_is_refused_beside_the_field_and_kept(client, app, patient):
    login_as(client, patient)
    response = client.post("/help", data={"note": "y" * 2500, "submission_id": "e" * 32})
    assert response.status_code == 400
    assert "Keep the note under 2000 characters" in response.text
    assert "y" * 2000 in response.text
    assert rows(app, Alert) == []


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.ADMIN])
def test_only_patients_send_messages(client, make_user, app, role):
    login_as(client, make_user(role))
    response = client.post("/help", data={"note": "I had a fit", "submission_id": "f" * 32})
    assert response.status_code in (403, 404)
    assert rows(app, Alert) == []


def test_note_alerts_are_never_merged_even_when_raised_directly(app, patient):
    from taper.domain.alert_rules import note_rule

    with app.app_context():
        user = db.session.merge(patient)
        for cause in ("note:a", "note:b", "note:a"):
            alerts.raise_alert(user, note_rule(user.created_at.date(), [("seizure", True)], cause))
        db.session.commit()
    assert [a.cause for a in rows(app, Alert)] == ["note:a", "note:b"]


@pytest.mark.app_config(RED_FLAG_PHRASES_FILE=str(CLINIC_FILE))
def test_a_clinic_phrase_file_reaches_the_daily_log(client, app, patient, active_plan):
    login_as(client, patient)
    page = client.post("/log", data=fill_log(client, note="shaking all over")).text
    assert "It sounds like you may have had a seizure. Is that right?" in page


def test_a_broken_clinic_phrase_file_stops_the_app_at_start(app_factory, tmp_path):
    from taper.domain.note_screen import RuleFileError

    path = tmp_path / "broken.json"
    path.write_text('{"target_rules": [{"literal": "x", "category": "fits"}]}', encoding="utf-8")
    with pytest.raises(RuleFileError, match="broken.json"):
        app_factory(RED_FLAG_PHRASES_FILE=str(path))


def test_a_second_yes_on_the_same_question_is_sent_too(client, app, patient, active_plan):
    """Two flags asked about, "press the one that fits": Back, then the other one (and each
    pressed again: neither is sent twice)."""
    login_as(client, patient)
    note = "I had a fit last night and I want to end it all"
    page = client.post("/log", data=fill_log(client, note=note)).text
    token = re.search(r'name="submission_id" value="(\w+)"', page).group(1)
    for key in ("seizure", "suicidal", "seizure", "suicidal"):
        data = {"red_flags": key, "source": "note", "submission_id": token}
        assert "Get urgent help now" in client.post("/help", data=data).text
    assert sorted(r.flags[0] for r in rows(app, RedFlagReport)) == ["seizure", "suicidal"]
    assert len([a for a in rows(app, Alert) if a.tier == "urgent"]) == 2


def test_a_note_too_long_to_save_is_still_asked_about_and_kept_whole(
    client, app, patient, active_plan
):
    login_as(client, patient)
    note = "word " * 500 + "I had a fit last night"
    response = client.post("/log", data=fill_log(client, note=note, score=3))
    assert response.status_code == 400
    assert "Keep the note under 2000 characters" in response.text
    assert "It sounds like you may have had a seizure. Is that right?" in response.text
    assert note.strip() in response.text  # nothing cut
    assert 'formaction="/log?send_flags=1"' in response.text
    assert rows(app, DailyLog) == []
    # "Yes" sends the flag and keeps every answer for the way back.
    data = fill_log(client, note=note, score=3)
    data.update(red_flags="seizure", when_seizure="past")
    sent = client.post("/log?send_flags=1", data=data)
    assert "Get urgent help now" in sent.text
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.source, report.when) == (["seizure"], "note", "past")
    assert 'name="resume" value="1"' in sent.text


def test_a_help_message_too_long_is_still_asked_about(client, app, patient):
    login_as(client, patient)
    note = "x " * 1200 + "I am going to kill myself tonight"
    response = client.post("/help", data={"note": note, "submission_id": "a" * 32})
    assert response.status_code == 400
    assert "It sounds like you may have had thoughts of ending your life" in response.text
    assert note.strip() in response.text
    assert rows(app, Alert) == []


def test_a_flag_pressed_with_a_message_too_long_says_the_message_was_not_sent(
    client, app, patient, active_plan
):
    login_as(client, patient)
    data = {"red_flags": "seizure", "note": "z" * 3000, "submission_id": "b" * 32}
    response = client.post("/help", data=data)
    assert "Get urgent help now" in response.text
    assert "Your message was too long to send" in response.text


def test_the_same_help_message_twice_is_quoted_twice(client, app, patient):
    login_as(client, patient)
    for token in ("c" * 32, "d" * 32):
        client.post("/help", data={"note": "Please call me", "submission_id": token})
    assert [a.quote for a in rows(app, Alert)] == ["Please call me", "Please call me"]


def test_what_else_was_taken_is_screened_too(client, app, patient, active_plan):
    login_as(client, patient)
    data = fill_log(client, substances="yes")
    data["substances_detail"] = "took 10 extra pills"
    page = client.post("/log", data=data).text
    assert "It sounds like you may have taken more than your prescribed dose." in page
    kinds = sorted(a.kind for a in rows(app, Alert))
    assert kinds == ["note", "substances"]


def test_the_question_page_shows_where_to_get_help(client, patient, active_plan):
    login_as(client, patient)
    page = client.post("/log", data=fill_log(client, note="I want to end it all")).text
    assert 'href="tel:911"' in page
    assert 'href="sms:988"' in page
