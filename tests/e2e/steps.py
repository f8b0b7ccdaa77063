"""Steps the browser tests share: people set up through the pages, as they would do it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import ADMIN_EMAIL, assert_accessible, log_in

NEW_PASSWORD = "a long walk by the quiet river"


def set_password_from_link(page, link: str) -> None:
    page.goto(link)
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Type the new password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()


def patient_today() -> date:
    """The patient's local day: new accounts are on UTC, whatever this machine's zone."""
    return datetime.now(UTC).date()


def short(day: date) -> str:
    """A date as the clinician pages print it: '3 Mar 2026'."""
    return f"{day.day} {day:%b %Y}"


def long(day: date) -> str:
    """A date as the patient pages print it: 'Tuesday 3 March 2026'."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def new_clinician(new_page, name: str, email: str):
    """The admin creates a clinician, who sets a password: the clinician's page, logged in."""
    admin = new_page()
    log_in(admin, ADMIN_EMAIL, PASSWORD)
    admin.get_by_label("Full name").fill(name)
    admin.get_by_label("Email").fill(email)
    admin.get_by_label("Role").select_option("clinician")
    admin.get_by_role("button", name="Create account").click()
    clinician = new_page()
    set_password_from_link(clinician, admin.get_by_label("Set-password link").input_value())
    expect(clinician.get_by_role("heading", name="Patients")).to_be_visible()
    return clinician


def add_patient(clinician, name: str, email: str) -> str:
    """The clinician adds a patient and goes on to the patient's page: the set-password link."""
    clinician.get_by_role("link", name="Add a patient").click()
    clinician.get_by_label("Full name").fill(name)
    clinician.get_by_label("Email").fill(email)
    clinician.get_by_role("button", name="Add patient").click()
    link = clinician.get_by_label("Set-password link").input_value()
    clinician.get_by_role("link", name="Continue").click()
    return link


def write_active_plan(clinician, medication: str, steps: list[tuple[date, str]]) -> None:
    """From the patient's page: write a plan with these (start, daily dose) steps, activate it."""
    clinician.get_by_role("link", name="Write a new plan").click()
    clinician.get_by_label("Medication").fill(medication)
    for i, (start, dose) in enumerate(steps):
        step = clinician.get_by_role("group", name=f"Step {i + 1}", exact=True)
        step.get_by_label("Starts on").fill(start.isoformat())
        step.get_by_label("Total daily dose (mg)").fill(dose)
    clinician.get_by_role("button", name="Save plan").click()
    expect(
        clinician.get_by_role("heading", name=re.compile(f"^{medication} plan", re.I))
    ).to_be_visible()
    clinician.get_by_label("New status").select_option("active")
    clinician.get_by_role("button", name="Change status").click()
    expect(clinician.get_by_text("The plan is now active.")).to_be_visible()


def answer_all_symptoms_none(page) -> None:
    """Answer every symptom question of the daily log with 0 (not at all), and "no" to
    alcohol, opioids or other sedatives."""
    options = page.locator(".scale-item input[type=radio][value='0']")
    expect(options).to_have_count(17)
    for i in range(17):
        options.nth(i).check()
    page.locator("#substances-no").check()


def menu_link(page, name: str):
    """A link of the main menu: on a phone the links fold into "Menu", opened first as a
    person would (one tap)."""
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True)
    if not link.is_visible():
        page.locator("summary", has_text="Menu").click()
    return link
