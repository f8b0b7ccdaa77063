"""Journeys as people make them, found by labels and roles, each page checked with axe-core."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import ADMIN_EMAIL, assert_accessible, log_in

pytestmark = pytest.mark.e2e
NEW_PASSWORD = "a long walk by the quiet river"


def set_password_from_link(page, link: str) -> None:
    page.goto(link)
    assert_accessible(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Type the new password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()


def test_admin_clinician_patient_plan_journey(new_page):
    # Admin creates a clinician account.
    admin = new_page()
    log_in(admin, ADMIN_EMAIL, PASSWORD)
    expect(admin.get_by_role("heading", name="Accounts")).to_be_visible()
    assert_accessible(admin)
    admin.get_by_label("Full name").fill("Dr Jordan Lee")
    admin.get_by_label("Email").fill("jordan@e2e.example.org")
    admin.get_by_label("Role").select_option("clinician")
    admin.get_by_role("button", name="Create account").click()
    link = admin.get_by_label("Set-password link").input_value()
    assert_accessible(admin)

    # The clinician sets a password, adds a patient and writes a six-step plan.
    clinician = new_page()
    set_password_from_link(clinician, link)
    expect(clinician.get_by_role("heading", name="Patients")).to_be_visible()
    assert_accessible(clinician)
    clinician.get_by_role("link", name="Add a patient").click()
    assert_accessible(clinician)
    clinician.get_by_label("Full name").fill("Robin Vale")
    clinician.get_by_label("Email").fill("robin@e2e.example.org")
    clinician.get_by_role("button", name="Add patient").click()
    patient_link = clinician.get_by_label("Set-password link").input_value()
    clinician.get_by_role("link", name="Continue").click()
    assert_accessible(clinician)
    clinician.get_by_role("link", name="Write a new plan").click()
    assert_accessible(clinician)
    clinician.get_by_label("Medication").fill("diazepam")
    start = date.today() - timedelta(days=3)
    doses = ["20", "17.5", "15", "12.5", "10", "7.5"]
    for i, dose in enumerate(doses):
        step = clinician.get_by_role("group", name=f"Step {i + 1}", exact=True)
        step.get_by_label("Starts on").fill((start + timedelta(days=14 * i)).isoformat())
        step.get_by_label("Total daily dose (mg)").fill(dose)
    first = clinician.get_by_role("group", name="Step 1", exact=True)
    first.get_by_text("Split across the day (optional)").click()
    first.get_by_label("Morning (mg)").fill("10")
    first.get_by_label("Bedtime (mg)").fill("10")
    first.get_by_label("Note to the patient").fill("Take the bedtime dose with a snack.")
    clinician.get_by_role("button", name="Save plan").click()
    expect(clinician.get_by_role("heading", name=re.compile("Diazepam plan"))).to_be_visible()
    assert_accessible(clinician)
    clinician.get_by_label("New status").select_option("active")
    clinician.get_by_role("button", name="Change status").click()
    expect(clinician.get_by_text("The plan is now active.")).to_be_visible()

    # Hold the current step, then revise the plan.
    clinician.get_by_label("Reason for the hold").fill("Poor sleep this week")
    clinician.get_by_role("button", name="Hold the current dose").click()
    expect(clinician.get_by_text("The current dose is on hold.")).to_be_visible()
    clinician.get_by_role("link", name="Revise this plan").click()
    step6 = clinician.get_by_role("group", name="Step 6", exact=True)
    step6.get_by_label("Total daily dose (mg)").fill("8")
    clinician.get_by_label("Reason for this change").fill("Smaller last cut")
    clinician.get_by_role("button", name="Save plan").click()
    expect(clinician.get_by_text("Plan saved as a new revision.")).to_be_visible()
    clinician.get_by_role("link", name="all revisions").click()
    expect(clinician.get_by_role("heading", name="Revision 3")).to_be_visible()
    assert_accessible(clinician)

    # The patient sets a password on a phone and sees today's dose exactly as typed.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    expect(patient.get_by_role("heading", name=re.compile("^Today"))).to_be_visible()
    expect(patient.locator(".dose-today")).to_contain_text("20 mg")
    expect(patient.get_by_text("Morning: 10 mg")).to_be_visible()
    expect(patient.locator(".note")).to_contain_text("Take the bedtime dose with a snack.")
    expect(patient.get_by_text(re.compile("Changed by Dr Jordan Lee"))).to_be_visible()
    expect(
        patient.get_by_text("Your clinician is holding this dose until they review it.")
    ).to_be_visible()
    assert_accessible(patient)
    width = patient.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the Today page must fit a 360 px phone without sideways scrolling"


def test_patient_logs_a_day_by_keyboard_then_reports_a_seizure(new_page, mailbox):
    # Set-up through the pages: a clinician with a patient on an active plan.
    admin = new_page()
    log_in(admin, ADMIN_EMAIL, PASSWORD)
    admin.get_by_label("Full name").fill("Dr Sam Ortiz")
    admin.get_by_label("Email").fill("ortiz@e2e.example.org")
    admin.get_by_label("Role").select_option("clinician")
    admin.get_by_role("button", name="Create account").click()
    clinician = new_page()
    set_password_from_link(clinician, admin.get_by_label("Set-password link").input_value())
    clinician.get_by_role("link", name="Add a patient").click()
    clinician.get_by_label("Full name").fill("Kim Day")
    clinician.get_by_label("Email").fill("kim@e2e.example.org")
    clinician.get_by_role("button", name="Add patient").click()
    patient_link = clinician.get_by_label("Set-password link").input_value()
    clinician.get_by_role("link", name="Continue").click()
    clinician.get_by_role("link", name="Write a new plan").click()
    clinician.get_by_label("Medication").fill("clonazepam")
    step = clinician.get_by_role("group", name="Step 1", exact=True)
    step.get_by_label("Starts on").fill((date.today() - timedelta(days=5)).isoformat())
    step.get_by_label("Total daily dose (mg)").fill("1.5")
    step = clinician.get_by_role("group", name="Step 2", exact=True)
    step.get_by_label("Starts on").fill((date.today() + timedelta(days=9)).isoformat())
    step.get_by_label("Total daily dose (mg)").fill("1.25")
    clinician.get_by_role("button", name="Save plan").click()
    clinician.get_by_label("New status").select_option("active")
    clinician.get_by_role("button", name="Change status").click()

    # The patient logs a normal day with the keyboard only, on a phone-sized screen.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    patient.get_by_role("link", name="Log my day").first.click()
    assert_accessible(patient)
    for _ in range(60):
        patient.keyboard.press("Tab")
        if patient.evaluate("document.activeElement.id") == "irritable-0":
            break
    for index in range(17):
        patient.keyboard.press("Space")  # 0 ...
        patient.keyboard.press("ArrowRight")  # ... then 1
        patient.keyboard.press("Tab")  # next question (or the dose question after the last)
        assert index == 16 or patient.evaluate("document.activeElement.id").endswith("-0")
    assert patient.evaluate("document.activeElement.id") == "took-yes"
    patient.keyboard.press("Space")
    patient.keyboard.press("Tab")  # the "how much" field, left empty
    patient.keyboard.press("Tab")
    patient.keyboard.type("7.5")
    patient.keyboard.press("Tab")
    patient.keyboard.type("Slept badly but OK.")
    patient.keyboard.press("Tab")
    patient.keyboard.press("Enter")
    expect(patient.get_by_text("Saved. Thank you for logging your day.")).to_be_visible()
    patient.get_by_role("link", name="History").click()
    expect(patient.get_by_role("cell", name="17", exact=True)).to_be_visible()
    assert_accessible(patient)

    # A seizure: two clicks from any page to the urgent-care screen.
    patient.get_by_role("link", name="I need help now").click()
    assert_accessible(patient)
    patient.get_by_role("button", name=re.compile("^A seizure or fit")).click()
    expect(patient.get_by_role("heading", name="Get urgent help now")).to_be_visible()
    expect(patient.get_by_role("link", name="Call 911")).to_be_visible()
    assert_accessible(patient)

    # The clinician sees the urgent alert first, has an e-mail, and acknowledges it.
    assert any(m.rcpt_tos == ["ortiz@e2e.example.org"] for m in mailbox.messages)
    clinician.get_by_role("link", name=re.compile("^Alerts")).click()
    first = clinician.locator(".alert-card").first
    expect(first).to_contain_text("Urgent")
    expect(first).to_contain_text("Kim Day")
    expect(first).to_contain_text("A seizure or fit")
    assert_accessible(clinician)
    first.get_by_role("button", name=re.compile("^Acknowledge")).click()
    expect(clinician.get_by_text("Alert acknowledged.")).to_be_visible()
    patient.get_by_role("link", name="Back to Taper").click()
    expect(patient.get_by_text(re.compile("Your care team saw your urgent report"))).to_be_visible()

    # The patient's own progress chart, then the clinician's chart and the PDF report.
    patient.get_by_role("link", name="Progress").click()
    chart = patient.get_by_role("img", name=re.compile("Dose 1.5 mg"))
    expect(chart).to_be_visible()
    # The image has loaded and decoded (a broken image has no natural width).
    patient.wait_for_function(
        "() => { const i = document.querySelector('figure img');"
        " return i && i.complete && i.naturalWidth > 300; }"
    )
    assert_accessible(patient)
    clinician.get_by_role("link", name="Patients").click()
    expect(clinician.locator("table.overview tbody tr").first).to_contain_text("Kim Day")
    assert_accessible(clinician)
    clinician.get_by_role("link", name="Kim Day").click()
    clinician.get_by_role("link", name="Progress charts").click()
    expect(clinician.get_by_role("heading", name="Symptoms by day")).to_be_visible()
    assert_accessible(clinician)
    with clinician.expect_download() as download:
        clinician.get_by_role("link", name="Download the visit report (PDF)").click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF-")
