"""Sign-in, password and two-step forms."""

from wtforms import PasswordField, RadioField, SelectChoice, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from taper.forms import TaperForm, email_field, new_password_fields


class LoginForm(TaperForm):
    """Email and password."""

    email = email_field()
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=128)])
    submit = SubmitField("Log in")


class ChangePasswordForm(TaperForm):
    """Your current password and a new one, twice."""

    current_password = PasswordField(
        "Current password", [DataRequired("Enter your current password."), Length(max=128)]
    )
    password, confirm = new_password_fields()
    submit = SubmitField("Change password")


def phone_field(label: str = "Phone number (optional)", description: str = "") -> StringField:
    """A phone number; what it may hold (and how long it may be, once trimmed) is checked by
    accounts.normalise_phone, so every refusal reads the same."""
    return StringField(
        label,
        description=description,
        render_kw={"inputmode": "tel", "autocomplete": "tel"},
    )


class DetailsForm(TaperForm):
    """Your own details: for now, a phone number the care team can call."""

    phone = phone_field(
        description="So your care team can call you. For example 07700 900123 or "
        "+44 7700 900123. Leave it empty to remove it."
    )
    submit = SubmitField("Save my details")


class ReminderForm(TaperForm):
    """The patient's daily reminder e-mail: on or off, and the local time it goes at. What the
    answers may be is checked by reminders.parse_choice, so every refusal reads the same."""

    on = RadioField(
        "Do you want a reminder e-mail?",
        choices=[
            SelectChoice("off", "No reminder e-mails"),
            SelectChoice("on", "Yes: e-mail me on days I have not filled in my check-in yet"),
        ],
        default="off",
        validate_choice=False,
    )
    at = StringField(
        "Time of the reminder",
        description="In your own time zone (shown above), on the 24-hour clock: for example 20:00 "
        "for 8 in the evening.",
        default="20:00",
        render_kw={"type": "time"},
    )
    submit = SubmitField("Save my reminder")


class SetPasswordForm(TaperForm):
    """A new password, twice, from a set-password link."""

    password, confirm = new_password_fields()
    submit = SubmitField("Set password")


class CodeForm(TaperForm):
    """A code from the authenticator app, or a recovery code."""

    code = StringField(
        "Code",
        [DataRequired("Enter the 6-digit code from your app."), Length(max=40)],
        description="The 6-digit code from your authenticator app, or one of your recovery codes.",
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField("Continue")


class DisableForm(TaperForm):
    """Turn two-step login off: password and a current code."""

    password = PasswordField("Password", [DataRequired(), Length(max=128)])
    code = StringField(
        "Code from your app",
        [DataRequired(), Length(max=40)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField("Turn off two-step login")


class RenewForm(DisableForm):
    """New recovery codes: password and a current code."""

    submit = SubmitField("Make new recovery codes")
