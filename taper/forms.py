"""Form fields shared by several blueprints. Forms parse and validate; they decide nothing."""

from __future__ import annotations

import inspect
from functools import cache

from flask import abort, request
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    FieldList,
    FormField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import HiddenInput, SubmitInput

from taper.domain.schedule import zone_names
from taper.domain.text import UNSAVABLE

UNSAVABLE_MESSAGE = "This contains characters that cannot be saved. Please retype it."
# Flask-WTF's marker for "formdata not given: read it from the request".
_FROM_REQUEST = inspect.signature(FlaskForm.__init__).parameters["formdata"].default


class BareHiddenInput(HiddenInput):
    """A hidden input without an id: nothing labels or links to it, and a page with several
    forms (csrf_token, version, day, confirm in each) would otherwise repeat the same id."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", False)  # html_params leaves out an attribute that is False
        return super().__call__(field, **kwargs)


class BareSubmitInput(SubmitInput):
    """A submit button without an id (its value is its name): several forms on one page each
    have a ``submit``, and ids must be unique. ``form.submit(id="x")`` still gives one."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", False)
        return super().__call__(field, **kwargs)


class TaperForm(FlaskForm):
    """Base of every form: text holding control characters is refused beside its field;
    hidden fields (Flask-WTF's csrf_token too) and submit buttons render without an id."""

    class Meta(FlaskForm.Meta):
        def wrap_formdata(self, form, formdata):
            """A posted form's text fields only. Flask-WTF would also take a JSON body (values
            of any type, a list of any length: a plan's rows past the limit then dropped
            unseen) or uploaded files in place of fields; our forms are sent by browsers and
            our own scripts as form fields, so anything else is simply not a filled form."""
            if formdata is not _FROM_REQUEST:
                return formdata
            if request.method not in {"POST", "PUT", "PATCH", "DELETE"} or not request.form:
                return None
            # Every field name of ours is short and ASCII; WTForms reads "steps-²-total" as
            # row 2 and then fails on int("²"), and a row of 5,000 digits on int() itself.
            if not all(key.isascii() and len(key) <= 100 for key in request.form):
                abort(400)
            return request.form

        def bind_field(self, form, unbound_field, options):
            widget = _bare_widget(unbound_field.field_class)
            if widget is not None and "widget" not in unbound_field.kwargs:
                options = {**options, "widget": widget}
            return super().bind_field(form, unbound_field, options)

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        for field in _leaf_fields(self):
            text = field.data
            if isinstance(text, str) and UNSAVABLE.search(text):
                field.errors = [*field.errors, UNSAVABLE_MESSAGE]
                valid = False
        return valid


def _bare_widget(field_class):
    """The id-less widget for a hidden field or a submit button (None for any other field)."""
    if issubclass(field_class, HiddenField):
        return BareHiddenInput()
    if issubclass(field_class, SubmitField):
        return BareSubmitInput()
    return None


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
    return [SelectChoice(z, z.replace("_", " ")) for z in sorted(zone_names())]


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
