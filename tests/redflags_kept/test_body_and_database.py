"""F9: a long note and a database that is down still show urgent care; the red flag is
stored, or kept on the device and sent once the database is back."""

import re

import pytest

from taper.domain.instrument import CIWA_B
from taper.models import Alert, DailyLog, RedFlagReport
from taper.web import LONG_BODY_LIMIT
from tests.conftest import login_as
from tests.helpers import dose_questions, field_error, fill_log, log_form, patient_today
from tests.redflags_kept.support import (
    KEPT,
    SENT_NOW,
    URGENT,
    csrf_token,
    database_down,
    kept_cookie,
    rows,
)

LONG_NOTE = "I feel awful today. " * 75_000  # 1.5 MB, over the app's 1 MB body limit


def _log_page(client):
    page = client.get("/log").text
    return page, dose_questions(page), re.search(r'name="submission_id" value="(\w+)"', page)[1]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_long_note_with_a_red_flag_sends_the_flag(app, client, patient):
    login_as(client, patient)
    page, plans, submission = _log_page(client)
    data = log_form(
        patient_today(patient),
        plans=plans,
        flags=["seizure"],
        note=LONG_NOTE,
        submission=submission,
    )
    data["csrf_token"] = csrf_token(page)
    response = client.post("/log", data=data)
    assert response.status_code == 200
    assert URGENT in response.text
    assert rows(app, DailyLog) == []
    (report,) = rows(app, RedFlagReport)
    assert report.flags == ["seizure"]
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_a_long_note_without_red_flags_gets_the_note_error_and_keeps_every_answer(
    app, client, patient
):
    login_as(client, patient)
    page, plans, submission = _log_page(client)
    data = log_form(patient_today(patient), plans=plans, score=3, note=LONG_NOTE, sleep="6.5")
    data.update(csrf_token=csrf_token(page), submission_id=submission)
    response = client.post("/log", data=data)
    assert response.status_code == 400
    assert "Keep the note under 2000 characters" in field_error(response.text, "note")
    item = CIWA_B.patient_items[0].key
    assert f'id="{item}-3" name="{item}" value="3" checked' in response.text
    assert 'value="6.5"' in response.text
    assert rows(app, DailyLog) == rows(app, RedFlagReport) == []


@pytest.mark.app_config(WTF_CSRF_ENABLED=True, URGENT_EMERGENCY_NUMBER="112")
def test_a_body_over_even_the_logs_limit_is_413_with_where_to_get_help(client, patient):
    login_as(client, patient)
    response = client.post(
        "/log", data={"red_flags": "seizure", "note": "x" * (LONG_BODY_LIMIT + 1)}
    )
    assert response.status_code == 413
    assert 'href="tel:112"' in response.text
    assert "If you need help now" in response.text
    # The larger limit is the log's and the help page's only.
    response = client.post("/password", data={"current_password": "x" * (2 << 20)})
    assert response.status_code == 413


@pytest.mark.parametrize("url", ["/log", "/help"])
def test_a_red_flag_while_the_database_is_down_is_kept_and_sent_when_it_is_back(
    app, client, patient, active_plan, url
):
    login_as(client, patient)
    if url == "/log":
        data = fill_log(client, flags=["seizure"])
    else:
        data = {"red_flags": "seizure", "red_flags_when": "now", "submission_id": "6" * 32}
    with database_down(app):
        response = client.post(url, data=data)
    assert response.status_code == 503
    assert URGENT in response.text
    assert KEPT in response.text
    assert "Traceback" not in response.text
    assert kept_cookie(client)
    assert rows(app, RedFlagReport) == rows(app, Alert) == []

    assert SENT_NOW in client.get("/today").text  # the next request, database back
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.source, report.submission_id) == (
        ["seizure"],
        "kept",
        data["submission_id"],
    )
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]
    assert kept_cookie(client) is None


def test_a_red_flag_kept_while_the_database_is_down_stays_kept_while_it_is_down(
    app, client, patient
):
    login_as(client, patient)
    data = {"red_flags": "seizure", "submission_id": "7" * 32}
    with database_down(app):
        client.post("/help", data=data)
        kept = kept_cookie(client)
        page = client.get("/today")
        assert page.status_code == 503
        assert kept_cookie(client) == kept
    assert SENT_NOW in client.get("/today").text


def test_the_same_form_sent_again_once_the_database_is_back_is_stored_once(
    app, client, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, flags=["seizure"])
    with database_down(app):
        assert KEPT in client.post("/log", data=data).text
    assert URGENT in client.post("/log", data=data).text  # the patient presses again
    client.get("/today")  # the kept copy is found stored, and dropped
    assert len(rows(app, DailyLog)) == 1
    assert rows(app, RedFlagReport) == []
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]
    assert kept_cookie(client) is None


def test_a_page_while_the_database_is_down_is_the_error_page_with_the_emergency_number(
    app, client, patient
):
    login_as(client, patient)
    with database_down(app):
        response = client.get("/today")
    assert response.status_code == 503
    assert "Taper is not available just now" in response.text
    assert 'href="tel:911"' in response.text
    assert "call or text 988" in response.text


def test_the_database_going_away_after_the_user_was_read_still_gives_the_urgent_page(
    app, client, patient
):
    """The signed-in user was loaded; then the database goes: the page is not a bare 500."""
    login_as(client, patient)
    with database_down(app, spare=lambda sql: 'FROM "user"' in sql or "FROM user" in sql):
        response = client.post("/help", data={"red_flags": "seizure", "submission_id": "8" * 32})
        history = client.get("/history")
    assert response.status_code == 503
    assert KEPT in response.text
    assert history.status_code == 503
    assert 'href="tel:911"' in history.text
