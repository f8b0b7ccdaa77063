"""Journeys as people make them, found by labels and roles, each page checked with axe-core."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import ADMIN_EMAIL, assert_accessible, log_in
from tests.e2e.steps import (
    add_patient,
    answer_all_symptoms_none,
    long,
    menu_link,
    new_clinician,
    patient_today,
    set_password_from_link,
    short,
    write_active_plan,
)

pytestmark = pytest.mark.e2e


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
    start = patient_today() - timedelta(days=3)
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

    # Pause, then resume the same day: each shows what happens to the dates, then confirms.
    reason = "Reason for the change (needed to pause or resume)"
    clinician.get_by_label("New status").select_option("paused")
    clinician.get_by_label(reason).fill("Away for a family event")
    clinician.get_by_role("button", name="Change status").click()
    expect(
        clinician.get_by_role("heading", name="Pause the plan: check the new dates")
    ).to_be_visible()
    expect(clinician.locator("#timeline-summary")).to_have_text(
        "No date moves yet: the later steps move when you resume."
    )
    assert_accessible(clinician)
    clinician.get_by_role("button", name="Confirm and save").click()
    expect(
        clinician.get_by_text("The plan is paused: the dose in force stays until you resume it.")
    ).to_be_visible()
    expect(clinician.locator("#dose-today")).to_have_text("20 mg (paused)")
    clinician.get_by_label("New status").select_option("active")
    clinician.get_by_label(reason).fill("Back home sooner")
    clinician.get_by_role("button", name="Change status").click()
    expect(
        clinician.get_by_role("heading", name="Resume the plan: check the new dates")
    ).to_be_visible()
    expect(clinician.locator("#timeline-summary")).to_have_text("No step date moves.")
    clinician.get_by_role("button", name="Confirm and save").click()
    expect(
        clinician.get_by_text(
            "The plan is running again; the later steps have moved by the days paused."
        )
    ).to_be_visible()

    # Hold the current step until reviewed (the later steps wait), then revise the plan.
    clinician.get_by_label("Reason for the hold").fill("Poor sleep this week")
    clinician.get_by_role("button", name="Show the new dates").click()
    expect(
        clinician.get_by_role("heading", name="Hold the current dose: check the new dates")
    ).to_be_visible()
    expect(clinician.locator("#timeline-summary")).to_have_text(
        "The later steps wait: their dates are set when you end the hold."
    )
    clinician.get_by_role("button", name="Confirm and save").click()
    expect(
        clinician.get_by_text("The dose in force is on hold. The later steps have their new dates.")
    ).to_be_visible()
    expect(clinician.locator("#next-change")).to_have_text("17.5 mg, dated when you end the hold.")
    clinician.get_by_role("link", name="Revise this plan").click()
    step6 = clinician.get_by_role("group", name="Step 6", exact=True)
    step6.get_by_label("Total daily dose (mg)").fill("8")
    clinician.get_by_label("Reason for this change").fill("Smaller last cut")
    clinician.get_by_role("button", name="Save plan").click()
    expect(clinician.get_by_text("Plan saved as a new revision.")).to_be_visible()
    clinician.get_by_role("link", name="all revisions").click()
    expect(clinician.get_by_role("heading", name="Revision 5")).to_be_visible()
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
        patient.get_by_text(
            "Your clinician is keeping you on this dose until they review your plan."
        )
    ).to_be_visible()
    expect(patient.locator(".next-change")).to_have_text(
        "Next step: 17.5 mg, once your clinician ends the hold. They will set the date then."
    )
    assert_accessible(patient)
    width = patient.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the Today page must fit a 360 px phone without sideways scrolling"


def test_patient_logs_a_day_by_keyboard_then_reports_a_seizure(new_page, mailbox):
    # Set-up through the pages: a clinician with a patient on an active plan.
    clinician = new_clinician(new_page, "Dr Sam Ortiz", "ortiz@e2e.example.org")
    patient_link = add_patient(clinician, "Kim Day", "kim@e2e.example.org")
    today = patient_today()
    write_active_plan(
        clinician,
        "clonazepam",
        [(today - timedelta(days=5), "1.5"), (today + timedelta(days=9), "1.25")],
    )

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
    assert re.fullmatch(r"took_\d+-yes", patient.evaluate("document.activeElement.id"))
    patient.keyboard.press("Space")
    patient.keyboard.press("Tab")  # the "how much" field, left empty
    patient.keyboard.press("Tab")  # alcohol, opioids or sedatives: Yes ...
    assert patient.evaluate("document.activeElement.id") == "substances-yes"
    patient.keyboard.press("ArrowRight")  # ... No
    assert patient.evaluate("document.activeElement.id") == "substances-no"
    patient.keyboard.press("Tab")  # "what and how much", left empty
    patient.keyboard.press("Tab")
    patient.keyboard.type("7.5")
    patient.keyboard.press("Tab")
    patient.keyboard.type("Slept badly but OK.")
    patient.keyboard.press("Tab")
    patient.keyboard.press("Enter")
    expect(patient.get_by_text("Saved. Thank you for logging your day.")).to_be_visible()
    menu_link(patient, "History").click()
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
    menu_link(patient, "Progress").click()
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


def test_a_dated_hold_moves_the_next_typed_step_and_the_patient_sees_it(new_page):
    clinician = new_clinician(new_page, "Dr Alex Moss", "moss@e2e.example.org")
    patient_link = add_patient(clinician, "Sam Hart", "hart@e2e.example.org")
    today = patient_today()
    typed = [
        (today - timedelta(days=5), "2"),
        (today + timedelta(days=9), "1.5"),
        (today + timedelta(days=23), "1"),
        (today + timedelta(days=37), "0.5"),
        (today + timedelta(days=51), "0"),
    ]
    write_active_plan(clinician, "lorazepam", typed)

    # Hold today's 2 mg through a last day chosen past the next step's date. Expected, from the
    # dates typed: the next step starts the day after the hold's last day (or on its own date
    # if later), and every later step moves by as much, keeping its typed length.
    until = today + timedelta(days=20)
    next_start = max(until + timedelta(days=1), typed[1][0])
    shift = next_start - typed[1][0]
    moved = [typed[0][0]] + [start + shift for start, _ in typed[1:]]
    assert shift.days == 12
    clinician.get_by_label("Hold until").fill(until.isoformat())
    clinician.get_by_label("Reason for the hold").fill("Work exams this month")
    clinician.get_by_role("button", name="Show the new dates").click()

    # The preview: the new dates, before anything is saved; every dose as typed.
    expect(
        clinician.get_by_role("heading", name="Hold the current dose: check the new dates")
    ).to_be_visible()
    expect(clinician.locator("#timeline-summary")).to_contain_text(
        f"1.5 mg will start on {short(next_start)} instead of {short(typed[1][0])}."
    )
    rows = clinician.get_by_role("table", name="Steps before and after this change").locator(
        "tbody tr"
    )
    expect(rows).to_have_count(len(typed))
    for i, ((start, dose), new_start) in enumerate(zip(typed, moved, strict=True)):
        after = short(new_start)
        if new_start != start:
            after += f" (moved {(new_start - start).days} days later)"
        expect(rows.nth(i).locator("th, td")).to_have_text([str(i + 1), dose, short(start), after])
    expect(clinician.get_by_label("Reason for the hold")).to_have_value("Work exams this month")
    assert_accessible(clinician)
    clinician.get_by_role("button", name="Confirm and save").click()
    expect(
        clinician.get_by_text("The dose in force is on hold. The later steps have their new dates.")
    ).to_be_visible()
    expect(clinician.locator("#dose-today")).to_have_text("2 mg (on hold)")
    expect(clinician.locator("#next-change")).to_have_text(f"1.5 mg from {short(next_start)}.")

    # The move is a revision with its author and reason; the compare shows the moved steps.
    clinician.get_by_role("link", name="all revisions").click()
    revisions = clinician.get_by_role("table", name="Every saved revision, newest first")
    latest = revisions.get_by_role("row").filter(
        has=clinician.get_by_role("rowheader", name="2", exact=True)
    )
    expect(latest).to_contain_text("Dr Alex Moss")
    expect(latest).to_contain_text("Work exams this month")
    expect(latest).to_contain_text(
        f"Held from {short(today)} until {short(until)}; later steps moved {shift.days} days"
    )
    expect(clinician.locator("#moved-steps")).to_contain_text(
        f"1.5 mg from {short(typed[1][0])} to {short(next_start)}"
    )

    # The patient's Today: the held dose, until when, and the next typed step on its new date.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    expect(patient.get_by_role("heading", name=re.compile("^Today"))).to_be_visible()
    expect(patient.locator(".dose-today")).to_have_text("2 mg in total")
    expect(
        patient.get_by_text(f"Your clinician is keeping you on this dose until {long(until)}.")
    ).to_be_visible()
    expect(patient.locator(".next-change")).to_have_text(
        f"Next change: 1.5 mg from {long(next_start)}."
    )
    patient.get_by_text("Your whole plan").click()
    whole = patient.get_by_role("table", name="Lorazepam plan").locator("tbody tr")
    expect(whole.locator("td:first-child")).to_have_text([short(day) for day in moved])
    assert_accessible(patient)
    width = patient.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, "the Today page must fit a 360 px phone without sideways scrolling"


def test_crossover_patient_logs_each_dose_and_a_deviation_alerts_on_that_drug(new_page):
    clinician = new_clinician(new_page, "Dr Noor Aziz", "aziz@e2e.example.org")
    patient_link = add_patient(clinician, "Lee Park", "park@e2e.example.org")
    today = patient_today()
    # Alprazolam goes down (a step today), diazepam goes up: two plans running at once.
    write_active_plan(
        clinician,
        "alprazolam",
        [
            (today - timedelta(days=10), "2"),
            (today, "1.5"),
            (today + timedelta(days=14), "1"),
            (today + timedelta(days=28), "0"),
        ],
    )
    clinician.get_by_role("link", name="Lee Park").click()
    write_active_plan(
        clinician,
        "diazepam",
        [(today - timedelta(days=10), "5"), (today + timedelta(days=14), "10")],
    )

    # The patient's daily log asks one dose question per drug, for the day chosen.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    expect(patient.get_by_role("heading", name="Alprazolam")).to_be_visible()
    expect(patient.get_by_role("heading", name="Diazepam")).to_be_visible()
    patient.get_by_role("link", name="Log my day").first.click()
    questions = patient.get_by_role("group", name=re.compile("^Did you take your"))
    patient.get_by_role("link", name=f"Yesterday, {short(today - timedelta(days=1))}").click()
    expect(questions).to_have_text(
        [
            re.compile(r"^\s*Did you take your alprazolam as scheduled yesterday: 2 mg\?"),
            re.compile(r"^\s*Did you take your diazepam as scheduled yesterday: 5 mg\?"),
        ]
    )
    patient.get_by_role("link", name=f"Today, {short(today)}").click()
    expect(patient.get_by_role("heading", name="Your doses today")).to_be_visible()
    expect(questions).to_have_count(2)
    alprazolam = patient.get_by_role(
        "group", name="Did you take your alprazolam as scheduled today: 1.5 mg?"
    )
    diazepam = patient.get_by_role(
        "group", name="Did you take your diazepam as scheduled today: 5 mg?"
    )
    answer_all_symptoms_none(patient)
    alprazolam.get_by_role("radio", name="Yes").check()
    diazepam.get_by_role("radio", name="No").check()
    diazepam.get_by_label("If not, how much diazepam did you take in total (mg)?").fill("2.5")
    patient.get_by_label("How many hours did you sleep last night?").fill("6")
    assert_accessible(patient)
    patient.get_by_role("button", name="Save my day").click()
    expect(patient.get_by_text("Saved. Thank you for logging your day.")).to_be_visible()

    # The clinician's inbox: one dose-deviation alert, on diazepam only.
    clinician.get_by_role("link", name=re.compile("^Alerts")).click()
    deviations = clinician.locator(".alert-card").filter(has_text="Dose deviation")
    expect(deviations).to_have_count(1)
    expect(deviations.get_by_role("heading")).to_have_text(
        "Review Dose deviation (diazepam) – Lee Park"
    )
    expect(deviations).to_contain_text("Diazepam: took 2.5 mg; scheduled 5 mg")
    expect(clinician.locator(".alert-card").filter(has_text="alprazolam")).to_have_count(0)
    assert_accessible(clinician)

    # The log behind it keeps each answer with the dose that was asked about.
    deviations.get_by_role("link", name=f"See the log of {short(today)} for Lee Park").click()
    doses = clinician.locator("p").filter(has_text=re.compile("^Dose of "))
    expect(doses).to_have_text(
        [
            "Dose of alprazolam: took 1.5 mg, scheduled 1.5 mg",
            "Dose of diazepam: took 2.5 mg, scheduled 5 mg differs",
        ]
    )
    assert_accessible(clinician)

    # The overview row shows both drugs in force.
    clinician.get_by_role("link", name="Patients", exact=True).click()
    row = clinician.locator("table.overview tbody tr").filter(has_text="Lee Park")
    expect(row).to_contain_text("1.5 mg alprazolam")
    expect(row).to_contain_text("5 mg diazepam")


def test_a_fit_written_in_the_note_is_asked_about_and_reaches_the_care_team(new_page):
    clinician = new_clinician(new_page, "Dr Ana Ruiz", "ruiz@e2e.example.org")
    patient_link = add_patient(clinician, "Max Roe", "roe@e2e.example.org")
    today = patient_today()
    write_active_plan(
        clinician,
        "diazepam",
        [(today - timedelta(days=3), "10"), (today + timedelta(days=11), "7.5")],
    )

    # The patient writes about last night's fit in the note, ticking nothing.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    patient.get_by_role("link", name="Log my day").first.click()
    answer_all_symptoms_none(patient)
    patient.get_by_role("group", name=re.compile("^Did you take your diazepam")).get_by_role(
        "radio", name="Yes"
    ).check()
    patient.get_by_label("How many hours did you sleep last night?").fill("5")
    patient.get_by_label("Anything else to tell your care team? (optional)").fill(
        "I had a fit last night"
    )
    patient.get_by_role("button", name="Save my day").click()

    # Asked in the same response, in plain words, with the matching red-flag button.
    expect(
        patient.get_by_text("It sounds like you may have had a seizure. Is that right?")
    ).to_be_visible()
    assert_accessible(patient)
    patient.get_by_role("button", name=re.compile("^Yes: A seizure or fit")).click()
    expect(patient.get_by_role("heading", name="Get urgent help now")).to_be_visible()
    expect(patient.get_by_role("link", name="Text 988")).to_be_visible()
    expect(
        patient.get_by_text(re.compile("My dose for today, set by my clinician, is 10 mg"))
    ).to_be_visible()
    assert_accessible(patient)

    # The clinician: an urgent alert (since the last log) and a review alert quoting the note.
    clinician.get_by_role("link", name=re.compile("^Alerts")).click()
    urgent = clinician.locator(".alert-card").filter(has_text="Red flag reported")
    expect(urgent).to_contain_text("A seizure or fit (happened since the last log)")
    note = clinician.locator(".alert-card").filter(has_text="may describe")
    expect(note.get_by_role("heading")).to_have_text("Review Note – Max Roe")
    expect(note.locator("blockquote")).to_have_text("I had a fit last night")
    assert_accessible(clinician)


def test_patient_downloads_their_record_from_my_details(new_page):
    clinician = new_clinician(new_page, "Dr Ivy Stone", "stone@e2e.example.org")
    patient_link = add_patient(clinician, "Jo Archer", "archer@e2e.example.org")
    patient_id = re.search(r"/clinician/patients/(\d+)", clinician.url).group(1)
    today = patient_today()
    write_active_plan(
        clinician, "diazepam", [(today - timedelta(days=2), "5"), (today + timedelta(days=12), "4")]
    )

    # The patient logs a day, then finds their records on My details.
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    patient.get_by_role("link", name="Log my day").first.click()
    answer_all_symptoms_none(patient)
    patient.get_by_role("group", name=re.compile("^Did you take your diazepam")).get_by_role(
        "radio", name="Yes"
    ).check()
    patient.get_by_label("How many hours did you sleep last night?").fill("8")
    patient.get_by_label("Anything else to tell your care team? (optional)").fill(
        "A calm day in the garden"
    )
    patient.get_by_role("button", name="Save my day").click()
    expect(patient.get_by_text("Saved. Thank you for logging your day.")).to_be_visible()
    menu_link(patient, "My details").click()
    expect(patient.get_by_role("heading", name="Your records")).to_be_visible()
    expect(
        patient.get_by_role("heading", name="For another clinic's computer system (FHIR)")
    ).to_be_visible()
    assert_accessible(patient)

    # The FHIR file: a Bundle holding this patient.
    with patient.expect_download() as download:
        patient.get_by_role("link", name="My whole record (FHIR file)").click()
    assert download.value.suggested_filename == "taper-my-record.fhir.json"
    bundle = json.loads(download.value.path().read_bytes())
    assert bundle["resourceType"] == "Bundle"
    people = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert [p["id"] for p in people] == [f"patient-{patient_id}"]

    # The daily logs as a spreadsheet file, with the day just logged.
    with patient.expect_download() as download:
        patient.get_by_role("link", name="My daily logs (CSV)").click()
    assert download.value.suggested_filename == "taper-my-logs.csv"
    text = download.value.path().read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    (row,) = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    assert row["day"] == today.isoformat()
    assert row["note"] == "A calm day in the garden"
    expect(patient.get_by_role("heading", name="Your records")).to_be_visible()  # still here
