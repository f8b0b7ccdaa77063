"""Clinician forms: new patients, the plan editor, schedule changes, alerts, thresholds and
visit assessments. They only carry text; the services parse and check it."""

from wtforms import (
    DateField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from taper.domain.instrument import CIWA_B
from taper.forms import TaperForm, email_field, name_field, timezone_field

MAX_FORM_ROWS = 120
DOSE_ATTRS = {"inputmode": "decimal", "autocomplete": "off", "class": "dose-input"}


class StepRowForm(Form):
    """One step as typed: every dose field starts empty (the app never suggests a dose)."""

    start = StringField("Starts on", render_kw={"type": "date"})
    total = StringField("Total daily dose (mg)", render_kw=DOSE_ATTRS)
    morning = StringField("Morning (mg)", render_kw=DOSE_ATTRS)
    midday = StringField("Midday (mg)", render_kw=DOSE_ATTRS)
    evening = StringField("Evening (mg)", render_kw=DOSE_ATTRS)
    bedtime = StringField("Bedtime (mg)", render_kw=DOSE_ATTRS)
    note = TextAreaField("Note to the patient", [Optional(), Length(max=2000)])
    # "This dose is right" for a total above the usual maximum: a checkbox whose value is the
    # total it was shown beside (drawn by the template; never ticked by the app).
    confirm_dose = StringField("This dose is right")


class PasswordConfirmMixin:
    """The password typed to confirm a schedule change when the last one is not recent."""

    password = PasswordField(
        "Your password", description="Type your password to confirm this schedule change."
    )


class PlanForm(PasswordConfirmMixin, TaperForm):
    """The plan editor: medication, the steps as typed, and the reason for a change."""

    medication = StringField(
        "Medication", [Length(max=80)], render_kw={"list": "medications", "autocomplete": "off"}
    )
    # More rows than a plan may have steps (taper.domain.plan_input.MAX_ROWS), so a plan typed
    # too long is refused with every row kept, never cut short (the view refuses a post with
    # more rows than this).
    steps = FieldList(FormField(StepRowForm), min_entries=0, max_entries=MAX_FORM_ROWS)
    reason = TextAreaField("Reason for this change", [Optional(), Length(max=1000)])
    version = HiddenField()
    # A new plan's one-time id (uuid4 hex), made when the editor is first shown: the same
    # form sent twice (a double click, Back and Save again) saves one plan.
    submission_id = HiddenField()
    # Date help: only start dates move (taper.domain.plan_input.fill_start_dates).
    step_days = StringField(
        "Each step lasts (days)",
        render_kw={"inputmode": "numeric", "autocomplete": "off", "size": 4},
    )
    fill_dates = SubmitField("Fill the start dates")
    add_rows = SubmitField("Add more steps")
    check = SubmitField("Check the steps (saves nothing)")
    submit = SubmitField("Save plan")


class TimelineForm(PasswordConfirmMixin, TaperForm):
    """Shared fields of hold, release, pause and resume: the first post shows the new dates,
    the second (``confirm``) saves them for the patient's day the preview was made for."""

    reason = TextAreaField("Reason", [Length(max=1000)])
    version = HiddenField()
    day = HiddenField()
    confirm = HiddenField()


class HoldForm(TimelineForm):
    """Hold the dose in force until a date, or until reviewed."""

    reason = TextAreaField("Reason for the hold", [Length(max=1000)])
    until = DateField(
        "Hold until (the last day of the held dose; leave empty to hold until you review it)",
        [Optional()],
        render_kw={"type": "date"},
    )
    submit = SubmitField("Show the new dates")


class ReleaseHoldForm(TimelineForm):
    """End the hold in force."""

    reason = TextAreaField("Reason for ending the hold", [Length(max=1000)])
    submit = SubmitField("Show the new dates")


class StatusForm(TimelineForm):
    """Change a plan's status (activate, pause, resume, complete)."""

    status = SelectField("New status", choices=[])
    reason = TextAreaField("Reason for the change (needed to pause or resume)", [Length(max=1000)])
    submit = SubmitField("Change status")


class CompareForm(Form):
    """The two revisions to show side by side (from the query string)."""

    a = IntegerField("Earlier revision", [Optional()])
    b = IntegerField("Later revision", [Optional()])


class NewPatientForm(TaperForm):
    """A new patient for your own care team."""

    name = name_field()
    email = email_field()
    timezone = timezone_field()
    submit = SubmitField("Add patient")

    def account(self) -> dict:
        """The typed account, as ``accounts.open_account`` takes it."""
        return {"email": self.email.data, "name": self.name.data, "timezone": self.timezone.data}


class AlertNoteForm(TaperForm):
    """A clinician's note on an alert."""

    note = TextAreaField("Note", [Optional(), Length(max=1000)])
    submit = SubmitField("Save")


class ThresholdsForm(TaperForm):
    """A patient's alert thresholds."""

    high_score = IntegerField(
        f"High score alert at (0–{CIWA_B.patient_max})",
        [DataRequired(), NumberRange(1, CIWA_B.patient_max)],
        description="Default 41, the start of the severe band.",
    )
    seen = HiddenField()  # the thresholds the form was filled from (alerts.shown)
    rising_points = IntegerField(
        "Rising alert when the recent average is this many points higher",
        [DataRequired(), NumberRange(1, CIWA_B.patient_max)],
        description="Default 10.",
    )
    missed_days = IntegerField(
        "Missed-log alert after this many days without a log",
        [DataRequired(), NumberRange(1, 30)],
        description="Default 2 (1 in the 3 days after a dose reduction).",
    )
    plan_end_days = IntegerField(
        "Plan-end review alert this many days before the last step starts (0–60)",
        [InputRequired(), NumberRange(0, 60)],
        description=(
            "Default 7. Only for a plan whose last step is not 0: that dose stays in force "
            "until you review the plan. 0 alerts on the day it starts."
        ),
    )
    submit = SubmitField("Save thresholds")


class AssessmentNoteForm(TaperForm):
    """The note of a visit assessment."""

    note = TextAreaField("Visit note (optional)", [Optional(), Length(max=2000)])
    # The form's one-time id (uuid4 hex): the same form sent twice saves one assessment.
    submission_id = HiddenField()
    submit = SubmitField("Save assessment")
