"""Account management forms."""

from wtforms import SelectChoice, SelectField, SubmitField

from taper.forms import TaperForm, email_field, name_field, timezone_field
from taper.models import Role


class NewAccountForm(TaperForm):
    """A new account of any role."""

    name = name_field()
    email = email_field()
    role = SelectField(
        "Role",
        choices=[
            SelectChoice(Role.CLINICIAN.value, "Clinician"),
            SelectChoice(Role.PATIENT.value, "Patient"),
            SelectChoice(Role.ADMIN.value, "Admin"),
        ],
    )
    timezone = timezone_field()
    submit = SubmitField("Create account")

    def account(self) -> dict:
        """The typed account (but its role), as ``accounts.open_account`` takes it."""
        return {"email": self.email.data, "name": self.name.data, "timezone": self.timezone.data}


class AssignForm(TaperForm):
    """Put a patient on a clinician's care team."""

    clinician = SelectField("Clinician", coerce=int, validate_choice=True)
    patient = SelectField("Patient", coerce=int, validate_choice=True)
    submit = SubmitField("Add to care team")
