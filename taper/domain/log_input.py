"""Reading a patient's log and help forms: days, dose answers, sleep, note and substances,
checked as plain strings and dates (no Flask, no database)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from taper.domain.doses import amount, far_above_plan
from taper.domain.instrument import CIWA_B, day_words, night_words
from taper.domain.red_flags import RED_FLAGS
from taper.domain.schedule import DoseError, parse_dose
from taper.domain.text import UNSAVABLE
from taper.domain.timeline import InForce

PAST_DAYS_ALLOWED = 2
NOTE_MAX = 2000
SUBSTANCES_DETAIL_MAX = 200


@dataclass(frozen=True)
class DoseQuestion:
    """One plan's dose question on the log form: the clinician's dose in force that day, as
    typed (held, paused or the last step included)."""

    plan_id: int
    medication: str
    unit: str
    dose: Decimal
    status: str  # active | held | paused | last

    @property
    def took_field(self) -> str:
        """The answer "yes" (took the dose shown) or "no"."""
        return f"took_{self.plan_id}"

    @property
    def taken_field(self) -> str:
        """The dose typed after "no"."""
        return f"dose_taken_{self.plan_id}"

    @property
    def shown_field(self) -> str:
        """The scheduled dose the form showed, so a stale form is refused, never stored."""
        return f"shown_{self.plan_id}"

    @property
    def confirm_field(self) -> str:
        """ "Yes, that is right" for a dose taken far above the plan's: the dose it was asked
        about, so a number changed after ticking is asked about again."""
        return f"confirm_taken_{self.plan_id}"


# took_<plan id>, dose_taken_<plan id>, shown_<plan id>, confirm_taken_<plan id>: the dose
# answers a form carries.
DOSE_FIELD = re.compile(r"(took|dose_taken|shown|confirm_taken)_([0-9]{1,10})")

# The log form's own fields, carried through the urgent-care page and back (nothing else).
LOG_FIELDS = frozenset(
    {item.key for item in CIWA_B.patient_items}
    | {"day", "sleep_hours", "note", "substances", "substances_detail", "submission_id"}
)


def allowed_days(today: date) -> list[date]:
    """Today and the days before it that may still be logged."""
    return [today - timedelta(days=n) for n in range(PAST_DAYS_ALLOWED + 1)]


def chosen_day(text: str, today: date) -> date:
    """The day the log form asks about: the day chosen if it may be logged, else today."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return today
    return day if day in allowed_days(today) else today


def questions(found: Iterable[InForce]) -> list[DoseQuestion]:
    """One dose question per plan in force (``timeline.in_force``), in its order."""
    return [
        DoseQuestion(
            f.plan.plan_id, f.plan.medication, f.plan.unit, f.dose.step.total, f.dose.status
        )
        for f in found
    ]


def kept_answers(form: Mapping[str, str]) -> dict[str, str]:
    """A log form's answers to carry through the urgent-care page and back, unsaved."""
    return {
        key: value for key, value in form.items() if key in LOG_FIELDS or DOSE_FIELD.fullmatch(key)
    }


def is_submission_id(text: str | None) -> bool:
    """The one-time id a log or help form carries (uuid4 hex), which makes a resend harmless."""
    return bool(re.fullmatch(r"[0-9a-f]{32}", text or ""))


def added_flags_submission(submission: str, flags: Iterable[str]) -> str:
    """The id for red flags added to a form already sent (Back, another flag ticked, sent
    again): a report of their own, under an id made from the form's and those flags, so the
    same resend sent once more is "already sent", not a second report."""
    text = submission + ":" + ",".join(sorted(flags))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def day_name(day: date, today: date) -> str:
    """ "today", "yesterday", or the day written out ("Monday 3 March")."""
    if day == today:
        return "today"
    if day == today - timedelta(days=1):
        return "yesterday"
    return f"{day:%A} {day.day} {day:%B}"


def parse_shown(text: str | None) -> Decimal | None:
    """The scheduled dose a form showed, or None when the field holds no dose."""
    text = (text or "").strip()
    if len(text) > 24:  # a dose the form showed is short; anything else is not one
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_doses(
    form: Mapping[str, str],
    asked_questions: list[DoseQuestion],
    day: date,
    today: date,
    errors: dict[str, str],
) -> list[tuple[DoseQuestion, bool, Decimal]]:
    """The answer to each dose question: (question, took as scheduled, dose taken). "Yes"
    stores the dose scheduled on ``day``, and only if that is the dose the form showed."""
    asked = {q.plan_id for q in asked_questions}
    answered = {
        int(found.group(2))
        for key in form
        if (found := DOSE_FIELD.fullmatch(key)) and (form.get(key) or "").strip()
    }
    name = day_name(day, today)
    if answered - asked:
        # A plan that is not in force that day (stopped, not started, another patient's):
        # never named, never stored, never silently dropped.
        errors["doses"] = (
            f"This form asked about a medicine that is not scheduled for {name}. Check the "
            "dose questions below (they are the ones for that day), then save again."
        )
    answers = []
    for q in asked_questions:
        shown = parse_shown(form.get(q.shown_field))
        if shown is None:
            errors[q.took_field] = (
                f"This form did not ask about your {q.medication}. The dose scheduled for "
                f"{name} is {amount(q.dose, q.unit)}: please answer for it."
            )
            continue
        if shown != q.dose:
            errors[q.took_field] = (
                f"The form showed {amount(shown, q.unit)} of {q.medication}, but the dose "
                f"scheduled for {name} is {amount(q.dose, q.unit)}. Please answer again for "
                "that dose."
            )
            continue
        answer = _dose_answer(form, q, day, today, errors)
        if answer is not None:
            answers.append(answer)
    return answers


def _dose_answer(
    form: Mapping[str, str], q: DoseQuestion, day: date, today: date, errors: dict[str, str]
) -> tuple[DoseQuestion, bool, Decimal] | None:
    """One question's "yes" or "no" and the dose typed after "no"; None when refused."""
    took = (form.get(q.took_field) or "").strip()
    if took == "yes":
        return (q, True, q.dose)
    if took != "no":
        errors[q.took_field] = "Choose Yes or No."
        return None
    try:
        taken = parse_dose(form.get(q.taken_field), required=True)
    except DoseError as error:
        errors[q.taken_field] = str(error)
        return None
    if far_above(q, taken) and not _confirmed(form.get(q.confirm_field), taken):
        errors[q.confirm_field] = _far_above_question(q, taken, day, today)
    return (q, False, taken)


def _confirmed(text: str | None, taken: Decimal) -> bool:
    """The patient confirmed this very dose (not one changed since)."""
    try:
        return parse_dose(text, required=False) == taken
    except DoseError:
        return False


def _far_above_question(q: DoseQuestion, taken: Decimal, day: date, today: date) -> str:
    """ "You wrote 75 mg. Your plan for today is 7.5 mg. Is 75 mg right?" Nothing suggested."""
    plan = "Your plan for today is"
    if day != today:
        plan = f"Your plan for {day_name(day, today)} was"
    return (
        f"You wrote {amount(taken, q.unit)}. {plan} {amount(q.dose, q.unit)}. "
        f"Is {amount(taken, q.unit)} right?"
    )


def far_above(q: DoseQuestion, taken: Decimal) -> bool:
    """A dose taken far above the plan's that day (``doses.far_above_plan``): asked about."""
    return far_above_plan(taken, q.dose, q.medication, q.unit)


def confirmed_far_above(answers: Iterable[tuple[DoseQuestion, bool, Decimal]]) -> list[int]:
    """The plans whose dose taken is far above the plan's, which the patient confirmed."""
    return [q.plan_id for q, took, taken in answers if not took and far_above(q, taken)]


def form_values(form: Mapping[str, str], asked: list[DoseQuestion]) -> dict[str, str]:
    """The posted answers to show again on a form for the questions given: a dose answer is
    kept only when the form showed the same dose for that plan, so an answer given for one
    dose is never offered for another."""
    values = {
        key: value
        for key, value in form.items()
        if key not in ("csrf_token", "submission_id") and not DOSE_FIELD.fullmatch(key)
    }
    for q in asked:
        if parse_shown(form.get(q.shown_field)) == q.dose:
            for name in (q.took_field, q.taken_field, q.confirm_field):
                if name in form:
                    values[name] = form[name]
    return values


def parse_day(text: str, today: date, errors: dict[str, str]) -> date | None:
    """The day a log is for: today or up to ``PAST_DAYS_ALLOWED`` days before."""
    try:
        day = date.fromisoformat((text or "").strip())
    except ValueError:
        errors["day"] = "Choose the day this log is for."
        return None
    if day > today:
        errors["day"] = "You cannot log a day that has not happened yet."
    elif day < today - timedelta(days=PAST_DAYS_ALLOWED):
        errors["day"] = (
            "You can log today, yesterday or the day before. For older days, please tell "
            "your clinician."
        )
    return day


_HOURS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


def parse_sleep(text: str, errors: dict[str, str]) -> Decimal | None:
    """Hours slept, 0 to 24 in tenths of an hour."""
    text = (text or "").strip()
    if not text:
        errors["sleep_hours"] = "Enter roughly how many hours you slept, like 6 or 6.5."
        return None
    # Digits with one decimal point at most: Decimal alone would read "1_2" as 12 and
    # "0e5" as 0.
    hours = Decimal(text) if _HOURS.fullmatch(text) else None
    if hours is None or not 0 <= hours <= 24 or hours != round(hours, 1):
        errors["sleep_hours"] = "Enter a number of hours from 0 to 24, like 6 or 6.5."
        return None
    return hours


def parse_note(text: str, errors: dict[str, str]) -> str:
    """A note as it will be stored: trimmed, at most ``NOTE_MAX`` characters, all savable."""
    text = (text or "").replace("\r\n", "\n").strip()
    if len(text) > NOTE_MAX:
        errors["note"] = f"Keep the note under {NOTE_MAX} characters (it has {len(text)})."
    elif UNSAVABLE.search(text):
        errors["note"] = "The note contains characters that cannot be saved. Please retype it."
    return text


def parse_substances(form: Mapping[str, str], errors: dict[str, str]) -> tuple[bool | None, str]:
    """Alcohol, opioids or other sedatives that day: yes or no (asked every day; None when not
    answered), and what, if the patient says; problems go into ``errors``."""
    answer = (form.get("substances") or "").strip()
    detail = (form.get("substances_detail") or "").replace("\r\n", " ").strip()
    if answer not in ("yes", "no"):
        errors["substances"] = "Choose Yes or No."
    if len(detail) > SUBSTANCES_DETAIL_MAX:
        errors["substances_detail"] = f"Keep this under {SUBSTANCES_DETAIL_MAX} characters."
    elif UNSAVABLE.search(detail):
        errors["substances_detail"] = "This contains characters that cannot be saved."
    if answer != "yes":
        detail = ""
    return (answer == "yes") if answer in ("yes", "no") else None, detail


def day_offset(day: date, today: date) -> int:
    """How many days before today ``day`` is (0 today, 1 yesterday, 2 the day before)."""
    return max((today - day).days, 0)


def sleep_question(offset: int, on: str = "") -> str:
    """ "How many hours did you sleep last night?" ("the night before" when logging
    yesterday, "the night before Tuesday 1 December" for the day before)."""
    return f"How many hours did you sleep {night_words(offset, on)}?"


def substances_question(offset: int, on: str = "") -> str:
    """The alcohol, opioids and sedatives question for the day logged."""
    return (
        "Did you drink alcohol, or take opioids or other sedatives (like sleeping pills or "
        f"strong painkillers), {day_words(offset, on)}?"
    )


def dose_question(q: DoseQuestion, offset: int, on: str = "") -> str:
    """ "Did you take your diazepam as scheduled today: 7.5 mg?" """
    return (
        f"Did you take your {q.medication} as scheduled {day_words(offset, on)}: "
        f"{amount(q.dose, q.unit)}?"
    )


@dataclass(frozen=True)
class Problem:
    """One line of the log form's error summary: where to go (``href``, a fragment naming
    the first control of the question, or "" when there is none), which question, and why."""

    href: str
    question: str
    message: str


def problems(
    errors: Mapping[str, str], asked: Iterable[DoseQuestion], offset: int, on: str = ""
) -> list[Problem]:
    """The log form's errors in the order of its questions, each linked to its question."""
    found: list[Problem] = []
    named: set[str] = set()
    first_flag = RED_FLAGS[0].key

    def add(key: str, href: str, question: str) -> None:
        if key in errors and key not in named:
            named.add(key)
            found.append(Problem(href, question, errors[key]))

    add("form", "", "This form")
    add("red_flags", f"#flag-{first_flag}", "Something serious happening?")
    add("day", "#day-heading", "Which day is this for?")
    for item in CIWA_B.patient_items:
        add(item.key, f"#{item.key}-0", f"Question {item.number}: {item.worded(offset, on)}")
    add("doses", "#doses-heading", "Your doses")
    for q in asked:
        add(q.took_field, f"#{q.took_field}-yes", dose_question(q, offset, on))
        add(
            q.taken_field,
            f"#{q.taken_field}",
            f"If not, how much {q.medication} did you take in total ({q.unit})?",
        )
        add(q.confirm_field, f"#{q.confirm_field}", f"Is the {q.medication} dose you wrote right?")
    add("substances", "#substances-yes", substances_question(offset, on))
    add("substances_detail", "#substances_detail", "If yes, what and how much?")
    add("sleep_hours", "#sleep_hours", sleep_question(offset, on))
    add("note", "#note", "Anything else to tell your care team?")
    for key in errors:  # anything else, never silently left out
        add(key, "", "")
    return found
