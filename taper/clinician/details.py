"""A patient's contact details, as their clinician keeps them: the phone number the care
team calls (the patient can change it too, on their own "My details" page)."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SubmitField

from taper import access
from taper.auth.forms import phone_field
from taper.clinician import bp
from taper.clinician.forms import NewPatientForm
from taper.domain.instrument import CIWA_B
from taper.forms import TaperForm
from taper.services import ServiceError, accounts, overview


class PhoneForm(TaperForm):
    """A patient's phone number (empty removes it). Prefixed: the patient page has other forms,
    and every id on a page is unique."""

    phone = phone_field(
        "Phone number", description="For example 07700 900123. Leave it empty to remove it."
    )
    submit = SubmitField("Save phone number")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("prefix", "phone")
        super().__init__(*args, **kwargs)


class NewPatientWithPhoneForm(NewPatientForm):
    """A new patient for your own care team, and the phone number to call them on."""

    phone = phone_field(
        description="Optional. So the care team can call them. They can change it themselves."
    )


def patient_page(patient, phone_form: PhoneForm | None = None, status: int = 200):
    """The patient page (audited as a view), with the phone form as typed when it was refused."""
    if phone_form is None:
        phone_form = PhoneForm(formdata=None, data={"phone": patient.phone or ""})
    page = overview.open_patient(current_user, patient)
    return render_template(
        "clinician/patient.html", patient=patient, scale=CIWA_B, phone_form=phone_form, **page
    ), status


@bp.post("/patients/<int:patient_id>/phone")
def patient_phone(patient_id: int):
    """Change the phone number of a patient on your care team (audited)."""
    patient = access.patient_or_404(current_user, patient_id)
    form = PhoneForm()
    if form.validate_on_submit():
        try:
            changed = accounts.change_phone(current_user, patient, form.phone.data)
        except ServiceError as error:
            form.phone.errors.append(error.message)
        else:
            flash(f"{patient.name}'s phone number is saved." if changed else "Nothing changed.")
            return redirect(url_for("clinician.patient", patient_id=patient.id) + "#contact")
    return patient_page(patient, form, status=400)
