"""A step above a plausible daily dose asks the clinician to confirm it; nonsense is refused.
Nothing is ever suggested: the messages name only the dose typed."""

import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from taper.domain import doses
from taper.extensions import db
from taper.models import COMMON_MEDICATIONS, AuditEvent, PlanRevision, TaperPlan, TaperStep
from tests.conftest import login_as
from tests.helpers import field_error, patient_today, plan_form, row_counts, version_of


def _count(app, model) -> int:
    return row_counts(app, model)[0]


def _audit(app, action: str) -> dict:
    with app.app_context():
        return db.session.scalars(
            select(AuditEvent.summary).where(AuditEvent.action == action)
        ).one()


def _steps(patient, *totals):
    first = patient_today(patient) - timedelta(days=2)
    return [(first + timedelta(days=14 * i), t, {}, f"Note {i + 1}") for i, t in enumerate(totals)]


def _checkbox(page: str, row: int) -> str:
    match = re.search(rf'<input type="checkbox" id="steps-{row}-confirm_dose"[^>]*>', page)
    return match.group(0) if match else ""


# Domain: the table


def test_every_medication_the_editor_offers_has_a_plausible_maximum():
    assert set(doses.PLAUSIBLE_MAX) == set(COMMON_MEDICATIONS)
    assert all(value > 0 for value in doses.PLAUSIBLE_MAX.values())


def test_each_row_of_the_table_names_its_source():
    source = Path(doses.__file__).read_text(encoding="utf-8")
    for name in doses.PLAUSIBLE_MAX:
        comment = re.search(rf'\n    # (.+)\n(?:    # .+\n)*    "{name}":', source)
        assert comment, name
        assert re.search(r"FDA|BNF|SmPC", comment.group(1)), name


@pytest.mark.parametrize(
    ("medication", "total", "refused"),
    [
        ("diazepam", "60", None),
        ("Diazepam", "60.001", False),
        ("diazepam (Valium)", "80", False),
        ("diazepam", "600", False),
        ("diazepam", "600.001", True),
        ("diazepam", "9999999", True),
        ("triazolam", "0.5", None),
        ("triazolam", "1", False),
        ("pregabalin", "9999999", None),  # not in the table: no question
        ("", "80", None),
    ],
)
def test_check_daily_dose(medication, total, refused):
    check = doses.check_daily_dose(medication, Decimal(total))
    if refused is None:
        assert check is None
    else:
        assert check is not None
        assert check.refused is refused


def test_messages_name_only_the_dose_typed():
    """Never a suggestion: no number in the message but the one typed (and the factor)."""
    for name, most in doses.PLAUSIBLE_MAX.items():
        for typed in (most * 2, most * 20):
            message = doses.check_daily_dose(name, typed).message
            numbers = set(re.findall(r"[0-9]+(?:\.[0-9]+)?", message))
            assert numbers <= {f"{typed.normalize():f}", str(doses.CEILING_FACTOR)}, message


@pytest.mark.parametrize(
    ("typed", "generic"),
    [("Valium", "diazepam"), ("XANAX XR", "alprazolam"), ("Klonopin", "clonazepam")],
)
def test_a_brand_name_is_checked_as_its_drug(typed, generic):
    """A plan typed with the brand on the box gets the same "are you sure?" as the drug."""
    most = doses.PLAUSIBLE_MAX[generic]
    assert doses.check_daily_dose(typed, most) is None
    check = doses.check_daily_dose(typed, most * 2)
    assert check is not None
    assert check.refused is False
    assert generic in check.message
    assert doses.check_daily_dose(typed, most * 20).refused is True
    assert set(doses.BRANDS.values()) <= set(doses.PLAUSIBLE_MAX)


def test_far_above_plan():
    assert not doses.far_above_plan(Decimal("15"), Decimal("7.5"), "diazepam")
    assert doses.far_above_plan(Decimal("15.001"), Decimal("7.5"), "diazepam")
    assert doses.far_above_plan(Decimal("61"), Decimal("40"), "diazepam")  # above the maximum
    assert not doses.far_above_plan(Decimal("5"), Decimal("0"), "diazepam")
    assert doses.far_above_plan(Decimal("100"), Decimal("0"), "diazepam")
    assert not doses.far_above_plan(Decimal("100"), Decimal("60"), "pregabalin")


# The editor, through HTTP


def test_step_above_the_usual_maximum_asks_beside_the_step_and_keeps_everything(
    client, app, clinician, patient
):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    data = plan_form(_steps(patient, "80", "40"))
    response = client.post(url, data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (
        "80 mg a day is above the usual maximum for diazepam (the highest daily dose in its "
        "FDA label or the BNF). Tick to confirm this dose is right."
    ) in page
    assert 'id="form-errors"' in page  # "Nothing was saved yet." at the top too
    box = _checkbox(page, 0)
    assert 'value="80"' in box
    assert "checked" not in box
    assert not _checkbox(page, 1)  # 40 mg is within the usual range: no question
    assert "Yes, 80 mg a day is right" in page
    # Nothing typed is lost.
    assert re.search(r'id="steps-0-total"[^>]*value="80"', page)
    assert re.search(r'id="steps-1-total"[^>]*value="40"', page)
    assert "Note 2</textarea>" in page
    assert _count(app, TaperPlan) == 0

    data["steps-0-confirm_dose"] = "80"
    response = client.post(url, data=data)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(TaperStep.total).order_by(TaperStep.start_date)).all() == [
            Decimal("80"),
            Decimal("40"),
        ]
    assert _audit(app, "plan.create")["doses_confirmed_above_usual_max"] == [1]


def test_a_tick_for_another_total_does_not_confirm_a_changed_dose(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form(_steps(patient, "90"))
    data["steps-0-confirm_dose"] = "80"  # ticked beside 80, then the total was changed
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "90 mg a day is above the usual maximum for diazepam" in field_error(
        page, "steps-0-confirm_dose"
    )
    assert "checked" not in _checkbox(page, 0)
    assert _count(app, TaperPlan) == 0


def test_ticked_box_stays_ticked_when_something_else_is_wrong(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form([*_steps(patient, "80"), ("2026-02-30", "20", {}, "")])
    data["steps-0-confirm_dose"] = "80"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert "real date" in field_error(page, "steps-1-start")
    assert "checked" in _checkbox(page, 0)
    assert not field_error(page, "steps-0-confirm_dose")  # confirmed: a notice, not an error
    assert 'id="steps-0-confirm_dose-notice">80 mg a day is above' in page
    assert _count(app, TaperPlan) == 0


@pytest.mark.parametrize("total", ["9999999", "601", "9999999.999"])
def test_nonsense_dose_is_refused_even_when_ticked(client, app, clinician, patient, total):
    login_as(client, clinician)
    data = plan_form(_steps(patient, total))
    data["steps-0-confirm_dose"] = total
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f"{total} mg a day is more than 10 times the usual maximum for diazepam" in field_error(
        page, "steps-0-total"
    )
    assert "cannot be saved" in field_error(page, "steps-0-total")
    assert not _checkbox(page, 0)  # nothing to confirm: the number must change
    assert _count(app, TaperPlan) == 0


def test_check_the_steps_shows_the_question_too(client, clinician, patient):
    login_as(client, clinician)
    data = plan_form(_steps(patient, "80"))
    data["check"] = "Check the steps (saves nothing)"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert "80 mg a day is above the usual maximum" in field_error(page, "steps-0-confirm_dose")


def test_medication_not_in_the_table_is_not_asked_about(client, app, clinician, patient):
    login_as(client, clinician)
    response = client.post(
        f"/clinician/patients/{patient.id}/plans/new",
        data=plan_form(_steps(patient, "600"), medication="pregabalin"),
    )
    assert response.status_code == 302
    assert "doses_confirmed_above_usual_max" not in _audit(app, "plan.create")


def test_the_medication_typed_is_the_one_checked(client, app, clinician, patient):
    """2 mg is usual for diazepam, not for triazolam (at most 0.5 mg)."""
    login_as(client, clinician)
    response = client.post(
        f"/clinician/patients/{patient.id}/plans/new",
        data=plan_form(_steps(patient, "2"), medication="Triazolam"),
    )
    assert response.status_code == 400
    assert "2 mg a day is above the usual maximum for triazolam" in response.get_data(as_text=True)


def test_revising_an_active_plan_asks_and_records_the_confirmation(
    client, app, clinician, patient, write_plan
):
    login_as(client, clinician)
    plan_id = write_plan(patient, _steps(patient, "20", "10"))
    url = f"/clinician/plans/{plan_id}/edit"
    data = plan_form(
        _steps(patient, "20", "70"),
        reason="Patient disclosed more",
        version=version_of(app, plan_id),
    )
    response = client.post(url, data=data)
    assert response.status_code == 400
    assert "70 mg a day is above the usual maximum for diazepam" in field_error(
        response.get_data(as_text=True), "steps-1-confirm_dose"
    )
    assert _count(app, PlanRevision) == 1

    data["steps-1-confirm_dose"] = "70"
    assert client.post(url, data=data).status_code == 302
    assert _count(app, PlanRevision) == 2
    assert _audit(app, "plan.revise")["doses_confirmed_above_usual_max"] == [2]


def test_editing_a_plan_with_a_confirmed_dose_asks_again_with_the_box_empty(
    client, app, clinician, patient, write_plan
):
    """The app never ticks the box: each save of a dose above the usual maximum is confirmed
    by the clinician saving it."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, "80"))
    data["steps-0-confirm_dose"] = "80"
    client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    with app.app_context():
        plan_id = db.session.scalar(select(TaperPlan.id))
    page = client.get(f"/clinician/plans/{plan_id}/edit").get_data(as_text=True)
    assert "80 mg a day is above the usual maximum for diazepam" in page
    assert "checked" not in _checkbox(page, 0)


def test_add_rows_shows_the_question_and_keeps_the_facts_table(client, clinician, patient):
    """Before saving, the question is a notice (not an error) and the steps' facts still show."""
    login_as(client, clinician)
    data = plan_form(_steps(patient, "80", "70"))
    data["add_rows"] = "Add more steps"
    page = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data).get_data(
        as_text=True
    )
    assert 'id="steps-0-confirm_dose-notice">80 mg a day is above' in page
    assert not field_error(page, "steps-0-confirm_dose")
    assert 'id="typed-facts"' in page
