"""Clinician forms for alerts, thresholds and visit assessments."""

from wtforms import IntegerField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from taper.forms import TaperForm


class AlertNoteForm(TaperForm):
    note = TextAreaField("Note", [Optional(), Length(max=1000)])
    submit = SubmitField("Save")


class ThresholdsForm(TaperForm):
    high_score = IntegerField(
        "High score alert at (0–68)",
        [DataRequired(), NumberRange(1, 68)],
        description="Default 41, the start of the severe band.",
    )
    rising_points = IntegerField(
        "Rising alert when the recent average is this many points higher",
        [DataRequired(), NumberRange(1, 68)],
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
    note = TextAreaField("Visit note (optional)", [Optional(), Length(max=2000)])
    submit = SubmitField("Save assessment")
