"""C1: Hypothesis over form fields and query parameters: never a 500, never a partial write."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import Alert, AuditEvent, DailyLog, PlanRevision, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import log_form, patient_today, plan_form

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
nasty = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "-1",
            "5",
            "NaN",
            "inf",
            "1e309",
            "ten",
            "0",
            "",
            "\x00",
            "\u202e",
            "😀",
            "2999-02-30",
            "' OR 1=1--",
            "<script>alert(1)</script>",
            "{{7*7}}",
            "9" * 40,
            "0.0001",
            "4.0",
            " 4 ",
        ]
    ),
)


def counts(app, *models):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in models)


@FUZZ
@given(
    field=st.sampled_from(
        [
            *(i.key for i in CIWA_B.patient_items),
            "day",
            "sleep_hours",
            "dose_taken",
            "took_as_scheduled",
            "note",
            "submission_id",
        ]
    ),
    value=nasty,
)
def test_daily_log_never_500_and_all_or_nothing(app, client, patient, active_plan, field, value):
    login_as(client, patient)
    before = counts(app, DailyLog, Alert, AuditEvent)
    data = log_form(patient_today(patient))
    data[field] = value
    response = client.post("/log", data=data)
    assert response.status_code < 500
    after = counts(app, DailyLog, Alert, AuditEvent)
    if response.status_code == 302:
        assert after[0] == before[0] + 1
    else:
        assert response.status_code in (200, 400)
        if response.status_code == 400:
            assert after == before


@FUZZ
@given(
    field=st.sampled_from(
        [
            "medication",
            "steps-0-start",
            "steps-0-total",
            "steps-0-morning",
            "steps-0-note",
            "steps-1-start",
            "steps-1-total",
            "reason",
        ]
    ),
    value=nasty,
)
def test_plan_editor_never_500_and_all_or_nothing(app, client, clinician, patient, field, value):
    login_as(client, clinician)
    before = counts(app, TaperPlan, PlanRevision, TaperStep)
    data = plan_form([("2026-03-02", "10", {}, ""), ("2026-03-16", "7.5", {}, "")])
    data[field] = value
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code in (302, 400)
    after = counts(app, TaperPlan, PlanRevision, TaperStep)
    if response.status_code == 400:
        assert after == before


@FUZZ
@given(value=nasty)
def test_query_parameters_never_500(client, clinician, patient, value):
    login_as(client, clinician)
    for url, name in [
        ("/clinician/patients", "q"),
        ("/clinician/patients", "alerts"),
        (f"/clinician/patients/{patient.id}/progress", "range"),
        (f"/charts/{patient.id}/progress.png", "range"),
    ]:
        assert client.get(url, query_string={name: value}).status_code < 500


@FUZZ
@given(email=nasty, password=nasty)
def test_login_never_500(client, email, password):
    assert client.post("/login", data={"email": email, "password": password}).status_code in (
        200,
        302,
        429,
    )
