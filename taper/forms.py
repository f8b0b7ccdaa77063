"""Form fields shared by several blueprints. Forms parse and validate; they decide nothing."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    FieldList,
    FormField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, EqualTo, Length

from taper.domain.text import UNSAVABLE

UNSAVABLE_MESSAGE = "This contains characters that cannot be saved. Please retype it."


class TaperForm(FlaskForm):
    """Base of every form: text holding control characters is refused beside its field."""

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _leaf_fields(self):
            text = field.data
            if isinstance(text, str) and UNSAVABLE.search(text):
                field.errors = [*field.errors, UNSAVABLE_MESSAGE]
                valid = False
        return valid


def _leaf_fields(fields):
    for field in fields:
        if isinstance(field, FieldList):
            yield from _leaf_fields(field.entries)
        elif isinstance(field, FormField):
            yield from _leaf_fields(field.form)
        elif not isinstance(field, PasswordField):
            yield field


@cache
def timezone_choices() -> list[SelectChoice]:
    """Every IANA zone, for a select field."""
    return [SelectChoice(z, z.replace("_", " ")) for z in sorted(available_timezones())]


def name_field() -> StringField:
    return StringField("Full name", [DataRequired("Enter a name."), Length(max=120)])


def email_field() -> EmailField:
    return EmailField("Email", [DataRequired("Enter an email address."), Length(max=254)])


def timezone_field() -> SelectField:
    return SelectField("Time zone", choices=timezone_choices(), validate_choice=True)


def new_password_fields() -> tuple[PasswordField, PasswordField]:
    """A new password and its confirmation (policy is checked by the service)."""
    return (
        PasswordField(
            "New password",
            [DataRequired("Enter a new password."), Length(max=128)],
            description="At least 12 characters. A short sentence is easy to remember.",
        ),
        PasswordField(
            "Type the new password again",
            [
                DataRequired("Type the new password again."),
                EqualTo("password", "The two passwords are not the same."),
            ],
        ),
    )
