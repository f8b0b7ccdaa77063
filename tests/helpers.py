"""Test helpers: typed plan rows and daily-log forms as the pages post them."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import TaperPlan


def plan_form(steps, *, medication="diazepam", reason="", version=None, password=None):
    """Form data as the plan editor posts it. ``steps`` = [(start, total, {part: dose}, note)]."""
    data = {"medication": medication, "reason": reason}
    if version is not None:
        data["version"] = str(version)
    if password is not None:
        data["password"] = password
    for i, (start, total, parts, note) in enumerate(steps):
        data[f"steps-{i}-start"] = start if isinstance(start, str) else start.isoformat()
        data[f"steps-{i}-total"] = total
        for name, value in (parts or {}).items():
            data[f"steps-{i}-{name}"] = value
        data[f"steps-{i}-note"] = note
    return data


def six_steps(first: date):
    """A 6-step diazepam plan typed by a clinician, two weeks a step."""
    doses = ["20", "17.5", "15", "12.5", "10", "7.5"]
    return [
        (first + timedelta(days=14 * i), dose, {}, f"Step {i + 1}") for i, dose in enumerate(doses)
    ]


def version_of(app, plan_id: int) -> int:
    with app.app_context():
        return db.session.get(TaperPlan, plan_id).version


def patient_today(patient) -> date:
    return local_today(datetime.now(UTC), patient.timezone)


def log_form(
    day: date,
    *,
    score: int = 1,
    plans: Mapping[int, str] | None = None,
    took: str | None = "yes",
    dose_taken: str = "",
    answers: Mapping[int, tuple[str | None, str]] | None = None,
    sleep: str = "7",
    note: str = "",
    flags=(),
    submission: str | None = None,
    substances: str | None = "no",
    when: str | None = None,
):
    """A complete daily-log form; every item answered with ``score``.

    ``plans`` maps each plan asked about to the scheduled dose the form showed (its hidden
    ``shown_<id>``); each is answered ``took`` (yes, no, or None for no answer) with
    ``dose_taken``, unless ``answers`` gives that plan its own (took, dose_taken).
    ``substances`` answers the alcohol/sedatives question (None: unanswered); ``when`` says
    when the red flags happened (now, past). Without
    ``plans`` the form has no dose question (a patient with no plan in force); ``fill_log``
    reads the questions from the page instead."""
    data = {item.key: str(score) for item in CIWA_B.patient_items}
    data.update(
        {
            "day": day.isoformat(),
            "sleep_hours": sleep,
            "note": note,
            "submission_id": submission or uuid.uuid4().hex,
        }
    )
    for plan_id, shown in (plans or {}).items():
        plan_took, plan_taken = (answers or {}).get(plan_id, (took, dose_taken))
        data[f"shown_{plan_id}"] = shown
        if plan_took is not None:
            data[f"took_{plan_id}"] = plan_took
        data[f"dose_taken_{plan_id}"] = plan_taken
    if flags:
        data["red_flags"] = list(flags)
    if substances is not None:
        data["substances"] = substances
    if when is not None:
        data["red_flags_when"] = when
    return data


def dose_questions(page: str) -> dict[int, str]:
    """The dose questions a log form asks: {plan id: scheduled dose shown}."""
    return {
        int(plan_id): shown
        for plan_id, shown in re.findall(r'name="shown_(\d+)" value="([^"]*)"', page)
    }


def fill_log(client, day: date | None = None, **fields):
    """Open the log form for ``day`` (today when None) as the signed-in patient and fill it
    in as ``log_form`` would, answering the dose questions that page asks."""
    page = client.get("/log" if day is None else f"/log?day={day.isoformat()}")
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    shown_day = re.search(r'name="day" value="([0-9-]+)"', text).group(1)
    fields.setdefault("submission", submission_of(text))
    return log_form(date.fromisoformat(shown_day), plans=dose_questions(text), **fields)


def submission_of(page: str) -> str:
    return re.search(r'name="submission_id" value="([0-9a-f]{32})"', page).group(1)


def field_error(page: str, field_id: str) -> str:
    """The error text rendered beside one field (empty when there is none)."""
    match = re.search(rf'id="{field_id}-error">(.*?)</p>', page, re.S)
    return match.group(1).strip() if match else ""
