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


def test_row_indices_of_ten_digits_are_counted_too(client, app, clinician, patient):
    """WTForms reads any run of digits as a row: so does the count, or rows past the limit
    would be dropped unseen (10 of 20 steps saved)."""
    login_as(client, clinician)
    steps = _steps(patient, 20)
    data = {"medication": "diazepam", "reason": ""}
    for row in range(130):  # 130 posted rows (the form takes 120), the typed steps last
        data[f"steps-{2_000_000_000 + row}-note"] = ""
    for i, (day, total, _, _) in enumerate(steps):
        data.update({f"steps-{2_000_000_110 + i}-start": day.isoformat()})
        data.update({f"steps-{2_000_000_110 + i}-total": total})
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 400
    assert "at most 60 steps" in _steps_error(response.get_data(as_text=True))
    assert _count(app, TaperPlan) == 0


def test_a_json_body_is_not_a_filled_form(client, app, clinician, patient):
    """The editor takes form fields only: a JSON body (any number of rows, values of any
    type) fills nothing, so it saves nothing and cuts nothing short."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, 20))
    for row in range(20, 130):
        data[f"steps-{row}-note"] = ""
    data["steps-125-start"] = data.pop("steps-19-start")
    data["steps-125-total"] = data.pop("steps-19-total")
    data["steps-0-total"] = 5  # not a string
    url = f"/clinician/patients/{patient.id}/plans/new"
    assert client.post(url, json=data).status_code == 400
    for body in ("[1, 2]", '"text"', "5"):
        response = client.post(url, data=body, content_type="application/json")
        assert response.status_code == 400, body
    check = client.post(f"{url}/check", json=data, headers={"Accept": "application/json"})
    assert check.status_code < 500
    assert check.get_json()["ok"] is False
    assert _count(app, TaperPlan) == 0


def test_a_file_in_place_of_a_field_is_not_a_field(client, app, clinician, patient, write_plan):
    """An uploaded file where a dose, a date or the version should be is missing, not a 500."""
    from io import BytesIO

    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    data = plan_form(_steps(patient, 2))
    data["steps-0-total"] = (BytesIO(b"10"), "dose.txt")
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 400
    plan_id = write_plan(patient, _steps(patient, 3))
    data = plan_form(_steps(patient, 2), reason="Slower")
    data["version"] = (BytesIO(str(version_of(app, plan_id)).encode()), "v.txt")
    response = client.post(
        f"/clinician/plans/{plan_id}/edit", data=data, content_type="multipart/form-data"
    )
    assert response.status_code in (400, 409)
    assert (_count(app, TaperPlan), _count(app, PlanRevision)) == (1, 1)


def test_a_field_name_that_is_not_ascii_is_refused(client, app, clinician, patient):
    """No field of ours has such a name; WTForms would read "steps-²-total" as row 2 and
    then fail on it."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, 2))
    data["steps-²-total"] = "3"
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 400
    data = plan_form(_steps(patient, 2)) | {f"steps-{'9' * 5000}-total": "3"}  # int() refuses
    for url in ("new", "new/check"):
        response = client.post(f"/clinician/patients/{patient.id}/plans/{url}", data=data)
        assert response.status_code == 400
    assert _count(app, TaperPlan) == 0
