"""Clinician forms."""

from wtforms import SubmitField

from taper.forms import TaperForm, email_field, name_field, timezone_field


class NewPatientForm(TaperForm):
    name = name_field()
    email = email_field()
    timezone = timezone_field()
    submit = SubmitField("Add patient")
