"""F1: a log, its alerts, their e-mails and the audit row commit together; when the commit
fails the patient gets a 503 and no table holds any part of it (SQLite and PostgreSQL)."""

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from taper.extensions import db
from taper.models import Alert, AuditEvent, DailyLog, LogDose, OutboxMessage, RedFlagReport
from tests.conftest import login_as
from tests.helpers import log_form, row_counts
from tests.helpers import patient_today as today

MODELS = (DailyLog, LogDose, RedFlagReport, Alert, OutboxMessage, AuditEvent)


def counts(app) -> dict[str, int]:
    return dict(zip((m.__name__ for m in MODELS), row_counts(app, *MODELS), strict=True))


def fail(_connection):
    """The database goes away at the final COMMIT (savepoint releases come before it)."""
    raise OperationalError("COMMIT", {}, Exception("server closed the connection"))


@pytest.mark.parametrize(
    ("post", "retried"),
    [
        (lambda p, plan: ("/log", log_form(today(p), plans=plan, flags=["seizure"])), 200),
        (lambda p, plan: ("/log", log_form(today(p), plans=plan, took="no", dose_taken="2")), 302),
        (lambda p, plan: ("/help", {"red_flags": "seizure", "submission_id": "c" * 32}), 200),
    ],
    ids=["red-flag-log", "dose-deviation-log", "help-report"],
)
def test_a_failed_commit_leaves_nothing_half_written(
    app, client, patient, clinician, active_plan, post, retried
):
    login_as(client, patient)
    before = counts(app)
    url, data = post(patient, {active_plan: "7.5"})  # the dose the form shows today

    with app.app_context():
        engine = db.engine
    event.listen(engine, "commit", fail)
    try:
        response = client.post(url, data=data, headers={"Sec-Fetch-Site": "same-origin"})
    finally:
        event.remove(engine, "commit", fail)

    assert response.status_code == 503
    if "red_flags" in data:  # a red flag still gets the urgent-care screen
        assert "Call 911 now" in response.text
        assert "It is kept on this device" in response.text
    else:
        assert "Nothing was saved" in response.text
    assert counts(app) == before
    # The same form sent again once the database is back is saved in full.
    assert client.post(url, data=data).status_code == retried
    after = counts(app)
    assert after["AuditEvent"] > before["AuditEvent"]
    assert after["Alert"] == before["Alert"] + 1
    if url == "/log":  # the whole log: its dose answer too
        assert (after["DailyLog"], after["LogDose"]) == (
            before["DailyLog"] + 1,
            before["LogDose"] + 1,
        )
