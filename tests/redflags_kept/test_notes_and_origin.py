"""Review follow-ups: a red flag written only in a note is kept too, and only a report posted
from one of our own pages is kept (another site must not plant one)."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from taper.models import Alert, RedFlagReport
from tests.conftest import login_as, real_login
from tests.helpers import fill_log
from tests.redflags_kept.support import KEPT, UNSENT, URGENT, database_down, kept_cookie, rows

MAY_4 = datetime(2026, 5, 4, 13, 0, tzinfo=UTC)


def test_a_note_describing_a_fit_after_the_session_expired_is_kept_and_sent(app, client, patient):
    with time_machine.travel(MAY_4, tick=False) as clock:
        login_as(client, patient)
        data = {"note": "I had a fit last night", "submission_id": "a" * 32}
        clock.shift(timedelta(minutes=31))
        response = client.post("/help", data=data)
        assert URGENT in response.text
        assert KEPT in response.text
        assert "A seizure or fit" in response.text
        assert kept_cookie(client)
        real_login(client, patient.email)
    (report,) = rows(app, RedFlagReport)
    assert (report.flags, report.when, report.source) == (["seizure"], "past", "kept")
    assert [a.tier for a in rows(app, Alert)] == ["urgent"]


def test_a_log_note_describing_a_red_flag_is_kept_while_the_database_is_down(
    app, client, patient, active_plan
):
    login_as(client, patient)
    data = fill_log(client, note="I want to end it all")
    with database_down(app):
        response = client.post("/log", data=data)
    assert response.status_code == 503
    assert KEPT in response.text
    assert "Thoughts of suicide or self-harm" in response.text
    client.get("/today")
    (report,) = rows(app, RedFlagReport)
    assert report.flags == ["suicidal"]


def test_a_note_with_nothing_alarming_is_not_kept(app, client, patient):
    with time_machine.travel(MAY_4, tick=False) as clock:
        login_as(client, patient)
        clock.shift(timedelta(minutes=31))
        response = client.post("/help", data={"note": "no fits since Monday"})
        assert response.status_code == 302
        assert kept_cookie(client) is None


@pytest.mark.parametrize(
    ("headers", "kept"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        ({"Sec-Fetch-Site": "same-site"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": None, "Origin": "http://localhost"}, True),
        ({"Sec-Fetch-Site": None, "Referer": "http://localhost/help"}, True),
        ({"Sec-Fetch-Site": None, "Origin": "https://evil.example"}, False),
        ({"Sec-Fetch-Site": None}, False),  # an old browser with nothing to show
    ],
)
@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_only_a_report_from_our_own_pages_is_kept(app, client, patient, headers, kept):
    client.environ_base.pop("HTTP_SEC_FETCH_SITE", None)
    sent = {k: v for k, v in headers.items() if v is not None}
    response = client.post(
        "/help", data={"red_flags": "seizure", "submission_id": "d" * 32}, headers=sent
    )
    assert URGENT in response.text  # urgent care shows whatever the origin
    assert (KEPT in response.text) is kept
    assert (UNSENT in response.text) is not kept
    assert (kept_cookie(client) is not None) is kept
    login_as(client, patient)
    client.get("/today")
    assert len(rows(app, RedFlagReport)) == (1 if kept else 0)
