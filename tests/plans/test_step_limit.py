"""A plan of more than 60 steps is refused with a message beside the steps, never cut to 60."""

import re
from datetime import timedelta

from taper.models import PlanRevision, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import patient_today, plan_form, row_counts, version_of

LIMIT = 60


def _steps(patient, count: int):
    first = patient_today(patient) - timedelta(days=30)
    return [(first + timedelta(days=i), str(count - i), {}, f"Step {i + 1}") for i in range(count)]


def _count(app, model) -> int:
    return row_counts(app, model)[0]


def _steps_error(page: str) -> str:
    match = re.search(r'id="steps-error">(.*?)</p>', page, re.S)
    return match.group(1).strip() if match else ""


def test_61_steps_are_refused_beside_the_steps_and_every_row_is_kept(
    client, app, clinician, patient
):
    login_as(client, clinician)
    response = client.post(
        f"/clinician/patients/{patient.id}/plans/new",
        data=plan_form(_steps(patient, LIMIT + 1), reason="Long taper"),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "at most 60 steps" in _steps_error(page)
    assert "this one has 61" in _steps_error(page)
    assert (_count(app, TaperPlan), _count(app, TaperStep)) == (0, 0)
    # Nothing typed is lost: the 61st row is still there, as typed.
    assert re.search(r'id="steps-60-total"[^>]*value="1"', page)
    assert 'id="steps-60-note"' in page
    assert "Step 61</textarea>" in page


def test_61_steps_are_refused_with_check_too(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form(_steps(patient, LIMIT + 1))
    data["check"] = "Check the steps (saves nothing)"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert "at most 60 steps" in _steps_error(page)


def test_60_steps_and_blank_rows_after_them_save_every_step(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form(_steps(patient, LIMIT))
    for row in (LIMIT, LIMIT + 1, LIMIT + 2):  # the blank rows "Add more steps" gives
        data.update({f"steps-{row}-start": "", f"steps-{row}-total": "", f"steps-{row}-note": ""})
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 302, _steps_error(response.get_data(as_text=True))
    assert _count(app, TaperStep) == LIMIT


def test_revising_to_61_steps_is_refused_and_keeps_the_revision(
    client, app, clinician, patient, write_plan
):
    login_as(client, clinician)
    plan_id = write_plan(patient, _steps(patient, 3))
    response = client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(
            _steps(patient, LIMIT + 1), reason="Slower", version=version_of(app, plan_id)
        ),
    )
    assert response.status_code == 400
    assert "this one has 61" in _steps_error(response.get_data(as_text=True))
    assert (_count(app, PlanRevision), _count(app, TaperStep)) == (1, 3)


def test_add_rows_stops_at_the_limit(client, clinician, patient):
    """ "Add more steps" on a full plan adds no row past the limit (the 60 typed are kept)."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, LIMIT))
    data["add_rows"] = "Add more steps"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert 'id="steps-59-total"' in page
    assert 'id="steps-60-total"' not in page


def test_more_rows_than_the_form_takes_are_refused_not_cut(client, app, clinician, patient):
    """A post with more rows than the editor keeps (one typed far down) is refused whole."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, 2))
    data.update({"steps-500-start": _steps(patient, 3)[2][0].isoformat(), "steps-500-total": "1"})
    for row in range(2, 200):
        data[f"steps-{row}-note"] = ""
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 400
    assert "at most 60 steps" in _steps_error(response.get_data(as_text=True))
    assert _count(app, TaperPlan) == 0
