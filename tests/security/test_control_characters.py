"""C1: control characters (NUL above all, which PostgreSQL refuses) never reach the database.

Forms refuse them beside the field and keep the rest of what was typed; a query string
carrying NUL is answered 400."""

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import PlanRevision, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import field_error, plan_form, row_counts


def plan_rows(app) -> tuple[int, ...]:
    return row_counts(app, TaperPlan, PlanRevision, TaperStep)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("medication", "diaz\x00epam"),
        ("steps-0-note", "take\x00with food"),
        ("steps-1-note", "escape \x1b[31m"),
        ("medication", "del\x7f"),
    ],
)
def test_plan_editor_refuses_control_characters_beside_the_field(
    app, client, clinician, patient, field, value
):
    login_as(client, clinician)
    data = plan_form([("2026-03-02", "10", {}, "first"), ("2026-03-16", "7.5", {}, "second")])
    data[field] = value
    before = plan_rows(app)

    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "cannot be saved" in field_error(page, field)
    assert 'value="7.5"' in page  # the rest of what was typed is kept
    assert plan_rows(app) == before


def test_line_breaks_and_tabs_in_a_note_are_kept(app, client, clinician, patient):
    login_as(client, clinician)
    data = plan_form([("2026-03-02", "10", {}, "line one\r\nline two\tend")])
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(TaperStep.note)) == "line one\r\nline two\tend"


@pytest.mark.parametrize("query", [{"q": "Kim\x00"}, {"alerts": "\x00"}, {"q": ["a", "b\x00"]}])
def test_nul_in_a_query_string_is_a_400(client, clinician, query):
    login_as(client, clinician)
    assert client.get("/clinician/patients", query_string=query).status_code == 400


def test_an_ordinary_search_still_works(client, clinician, patient):
    login_as(client, clinician)
    response = client.get("/clinician/patients", query_string={"q": patient.name[:3]})
    assert response.status_code == 200
    assert patient.name in response.get_data(as_text=True)
