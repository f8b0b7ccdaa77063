"""Bad input to the plan editor: a clear error beside the field, nothing saved, nothing lost."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import PlanRevision, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import field_error, plan_form, row_counts, six_steps

DOSE_FIELDS = ("total", "morning", "midday", "evening", "bedtime")


def count(app, model) -> int:
    return row_counts(app, model)[0]


def test_new_plan_form_has_every_dose_field_empty(client, clinician, patient):
    """DESIGN non-negotiable 1: no dose field is pre-filled."""
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/plans/new").get_data(as_text=True)
    names = "|".join(DOSE_FIELDS)
    inputs = re.findall(rf'<input[^>]*id="steps-\d+-(?:{names})"[^>]*>', page)
    assert len(inputs) == 10 * len(DOSE_FIELDS)  # ten empty rows: a 10-step plan in one go
    for tag in inputs:
        assert 'value=""' in tag or "value=" not in tag, tag


def test_added_rows_and_edit_form_blank_rows_copy_no_dose(
    client, app, clinician, patient, write_plan
):
    login_as(client, clinician)
    data = plan_form([(date(2026, 3, 2), "20", {"morning": "10", "bedtime": "10"}, "")])
    data["add_rows"] = "Add more steps"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert (
        'id="steps-0-total" inputmode="decimal" name="steps-0-total" type="text" value="20"' in page
    )
    for row in (1, 2, 3):
        for name in DOSE_FIELDS:
            tag = re.search(rf'<input[^>]*id="steps-{row}-{name}"[^>]*>', page).group(0)
            assert 'value=""' in tag or "value=" not in tag, tag

    plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
    page = client.get(f"/clinician/plans/{plan_id}/edit").get_data(as_text=True)
    for row in (6, 7, 8):  # the blank rows after the six typed steps
        tag = re.search(rf'<input[^>]*id="steps-{row}-total"[^>]*>', page).group(0)
        assert 'value=""' in tag or "value=" not in tag, tag


BAD_ROWS = [
    pytest.param([("2026-03-02", "-1", {}, "")], "steps-0-total", "negative", id="negative"),
    pytest.param([("2026-03-02", "0.0001", {}, "")], "steps-0-total", "3 decimal", id="precision"),
    pytest.param([("2026-03-02", "ten", {}, "")], "steps-0-total", "Enter a number", id="words"),
    pytest.param([("2026-03-02", "NaN", {}, "")], "steps-0-total", "Enter a number", id="nan"),
    pytest.param([("2026-03-02", "inf", {}, "")], "steps-0-total", "Enter a number", id="inf"),
    pytest.param([("2026-03-02", "1e309", {}, "")], "steps-0-total", "Enter a number", id="1e309"),
    pytest.param([("2026-03-02", "", {}, "")], "steps-0-total", "Enter the dose", id="empty"),
    pytest.param([("2026-02-30", "10", {}, "")], "steps-0-start", "real date", id="30-february"),
    pytest.param([("", "10", {}, "")], "steps-0-start", "Enter the date", id="no-date"),
    pytest.param(
        [("2026-03-02", "10", {}, ""), ("2026-03-02", "5", {}, "")],
        "steps-1-start",
        "already starts on this date",
        id="duplicate-date",
    ),
    pytest.param(
        [("2026-03-16", "10", {}, ""), ("2026-03-02", "5", {}, "")],
        "steps-1-start",
        "in order",
        id="out-of-order",
    ),
    pytest.param(
        [("2026-03-02", "10", {"morning": "5", "bedtime": "2.5"}, "")],
        "steps-0-total",
        "parts add up to 7.5 mg, but the total is 10 mg",
        id="split-sum",
    ),
    pytest.param(
        [("2026-03-02", "10", {"morning": "abc"}, "")],
        "steps-0-morning",
        "Enter a number",
        id="bad-part",
    ),
    pytest.param(
        [("2026-03-02", "0", {}, ""), ("2026-03-16", "5", {}, "")],
        "steps-0-total",
        "Only the last step can be 0",
        id="zero-in-middle",
    ),
]


@pytest.mark.parametrize(("rows", "field_id", "message"), BAD_ROWS)
def test_bad_step_is_refused_beside_its_field_and_nothing_is_saved(
    client, app, clinician, patient, rows, field_id, message
):
    login_as(client, clinician)
    data = plan_form(rows, medication="lorazepam")
    data["steps-0-note"] = "Keep <this> note"
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in field_error(page, field_id)
    assert count(app, TaperPlan) == count(app, PlanRevision) == count(app, TaperStep) == 0
    # Everything typed is still there (escaped).
    assert 'value="lorazepam"' in page
    assert "Keep &lt;this&gt; note" in page
    for i, (_start, total, _parts, _note) in enumerate(rows):
        if total:
            assert f'name="steps-{i}-total" type="text" value="{total}"' in page


def test_split_error_sits_beside_the_split_fields(client, clinician, patient):
    login_as(client, clinician)
    data = plan_form([("2026-03-02", "10", {"morning": "5", "bedtime": "2.5"}, "")])
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert "The parts add up to 7.5 mg, but the total is 10 mg." in page
    assert "<details open>" in page  # the split section is opened to show the problem


def test_missing_medication_and_no_steps(client, app, clinician, patient):
    login_as(client, clinician)
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data={"medication": "  "})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Enter the medication" in field_error(page, "medication")
    assert "Add at least one step." in page
    assert count(app, TaperPlan) == 0


def test_revising_an_active_plan_needs_a_reason(client, app, clinician, patient, write_plan):
    from tests.helpers import version_of

    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
    response = client.post(
        f"/clinician/plans/{plan_id}/edit",
        data=plan_form(six_steps(date(2026, 3, 2)), reason=" ", version=version_of(app, plan_id)),
    )
    assert response.status_code == 400
    assert "Say why the plan is changing." in field_error(response.get_data(as_text=True), "reason")
    assert count(app, PlanRevision) == 1


def test_extra_fields_cannot_assign_plan_to_another_patient(
    client, app, clinician, patient, make_user
):
    """B3: patient_id, status and version in the body are ignored."""
    other = make_user(name="Other Patient", clinicians=(clinician,))
    login_as(client, clinician)
    data = plan_form(six_steps(date(2026, 3, 2)))
    data.update({"patient_id": str(other.id), "status": "active", "created_by_id": "999"})
    assert client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).status_code == 302
    with app.app_context():
        plan = db.session.scalar(select(TaperPlan))
        assert plan.patient_id == patient.id
        assert plan.status.value == "draft"
        assert plan.created_by_id == clinician.id


def test_check_the_steps_shows_changes_and_lengths_and_saves_nothing(
    client, app, clinician, patient
):
    """Issue 3: while writing, each step's change (mg and %) and length, for information."""
    login_as(client, clinician)
    data = plan_form(six_steps(date(2026, 3, 2)))
    data["check"] = "Check the steps (saves nothing)"
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 200
    table = response.text[response.text.index('id="typed-facts"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in rows]
    assert [c[2] for c in cells] == ["20", "17.5", "15", "12.5", "10", "7.5"]
    assert cells[0][3:] == ["–", "14 days"]
    assert cells[1][3:] == ["−2.5 mg (−12.5 %)", "14 days"]
    assert cells[5][3:] == ["−2.5 mg (−25 %)", "last step"]
    assert count(app, TaperPlan) == 0


def test_check_the_steps_puts_problems_beside_the_fields(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form([("2026-03-02", "10", {}, ""), ("2026-03-01", "ten", {}, "")])
    data["check"] = "Check the steps (saves nothing)"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).text
    assert field_error(page, "steps-1-total").startswith("Enter a number")
    assert 'id="typed-facts"' not in page
    assert count(app, TaperPlan) == 0


def test_the_editor_shows_the_saved_steps_facts(client, app, clinician, patient, write_plan):
    login_as(client, clinician)
    plan_id = write_plan(patient, six_steps(date(2026, 3, 2)))
    page = client.get(f"/clinician/plans/{plan_id}/edit").text
    assert 'id="typed-facts"' in page
    assert "−2.5 mg (−12.5 %)" in page
