"""Sign-in forms."""

from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from taper.forms import TaperForm, email_field, new_password_fields


class LoginForm(TaperForm):
    email = email_field()
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=128)])
    submit = SubmitField("Log in")


class ChangePasswordForm(TaperForm):
    current_password = PasswordField(
        "Current password", [DataRequired("Enter your current password."), Length(max=128)]
    )
    password, confirm = new_password_fields()
    submit = SubmitField("Change password")


class SetPasswordForm(TaperForm):
    password, confirm = new_password_fields()
    submit = SubmitField("Set password")


class ReauthForm(TaperForm):
    password = PasswordField("Password", [DataRequired("Enter your password."), Length(max=128)])
    submit = SubmitField("Continue")
