"""The visit report PDF (issue 15, item 12): readable (no text under 10 pt), and with what a
clinician asks for: the notes of the period as typed, the symptoms item by item, the missed
days, the steps to come exactly as typed (holds stated, no dose computed) and the clinic's
contact line from the configuration."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from taper.charts.report import BODY, missed_words, printable, report_figures, report_page_png
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import StepInput
from taper.domain.timeline import PlanSchedule
from taper.extensions import db
from taper.models import PlanStatus, Role, TaperPlan, User
from taper.services import progress
from tests.charts.pdf import page_count, pdf_text, text_objects
from tests.charts.stored import store_log, store_plan
from tests.conftest import login_as
from tests.helpers import patient_today

NOTE = "Slept badly; $x$ \\frac{1}{2} (brackets) 50% <b>not bold</b>\nsecond line\ttab"


@pytest.fixture
def reported(app, clinician, patient):
    """A plan with a split and notes on its steps, and logs on 24 of the last 28 days: notes
    on two of them, the items answered 1 three weeks ago and 3 in the last week."""
    today = patient_today(patient)
    plan_id = store_plan(
        app,
        patient,
        clinician,
        [
            (today - timedelta(days=40), "10", {"morning": "5", "bedtime": "5"}, "Take with food"),
            (today - timedelta(days=5), "7.5", {}, ""),
            (today + timedelta(days=9), "5", {"morning": "2.5", "bedtime": "2.5"}, "Go slow"),
            (today + timedelta(days=23), "2.5"),
        ],
    )
    missed = {today - timedelta(days=d) for d in (1, 2, 3, 15)}
    for back in range(28):
        day = today - timedelta(days=back)
        if day in missed:
            continue
        note = {4: NOTE, 20: "Felt foggy " * 200}.get(back, "")
        store_log(app, patient, day, [], score=3 if back < 7 else 1, note=note)
    return plan_id, today, missed


def report(app, patient, contact=""):
    with app.app_context():
        return progress.report_data(db.session.get(User, patient.id), contact=contact)


def test_no_text_in_the_pdf_is_under_10_pt(app, client, clinician, patient, reported):
    login_as(client, clinician)
    pdf = client.get(f"/reports/{patient.id}.pdf").data
    sizes = [size for size, _ in text_objects(pdf)]
    assert len(sizes) > 100
    assert min(sizes) >= 10
    assert BODY >= 10
    for fig in report_figures(report(app, patient)):  # the figures drawn, chart included
        fig.canvas.draw()
        drawn = [
            t.get_fontsize()
            for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_visible())
            if t.get_text().strip()
        ]
        assert min(drawn) >= 10


def test_report_has_notes_symptoms_missed_days_and_steps_to_come(
    app, client, clinician, patient, reported
):
    _, today, missed = reported
    login_as(client, clinician)
    response = client.get(f"/reports/{patient.id}.pdf")
    assert response.status_code == 200
    text = pdf_text(response.data)
    # The notes of the period, dated, as typed (new lines and tabs as spaces).
    assert "The patient's notes, as typed" in text
    four = today - timedelta(days=4)
    assert f"{four.day} {four:%b %Y}" in text
    assert "Slept badly; $x$ \\frac{1}{2} (brackets) 50% <b>not bold</b> second line tab" in text
    assert "(cut here)" in text  # a very long note is cut, saying so
    # Missed days: the days in the period with no log, counted and named.
    assert "4 of 28 days in the period with no log" in text
    # The symptoms, item by item: the mean in each week, and the latest answer.
    assert "Symptoms item by item" in text
    assert "Mean of the logged days in each period" in text
    for item in CIWA_B.patient_items:
        assert item.short in text
    data = report(app, patient)
    assert [means[-1] for _, means, _ in data.symptoms.rows] == [3.0] * 17  # the last week
    assert [means[0] for _, means, _ in data.symptoms.rows] == [1.0] * 17  # 4 weeks ago
    assert {latest for _, _, latest in data.symptoms.rows} == {3}
    assert len(data.symptoms.periods) == 4
    assert data.missed == tuple(sorted(missed))
    # The steps to come, exactly as typed: date, total, split, note; the earlier ones too.
    assert "Steps now and to come, exactly as typed:" in text
    later = today + timedelta(days=9)
    assert f"From {later.isoformat()}: 5 mg a day (morning 2.5, bedtime 2.5). Note: Go slow" in text
    assert f"From {(today + timedelta(days=23)).isoformat()}: 2.5 mg a day" in text
    assert "Earlier steps:" in text
    assert "(morning 5, bedtime 5). Note: Take with food" in text
    assert text.index("Steps now and to come") < text.index("Earlier steps:")


def test_notes_outside_the_period_are_left_out(app, client, clinician, patient, reported):
    today = reported[1]
    store_log(app, patient, today - timedelta(days=35), [], note="An old note from before")
    text = pdf_text(login_and_get(client, clinician, patient))
    assert "An old note from before" not in text


def login_and_get(client, user, patient):
    login_as(client, user)
    response = client.get(f"/reports/{patient.id}.pdf")
    assert response.status_code == 200
    return response.data


def test_clinic_contact_line_comes_from_the_config(app, client, clinician, patient, reported):
    assert app.config["CLINIC_CONTACT"] == ""  # the default: no line
    assert "Clinic contact" not in pdf_text(login_and_get(client, clinician, patient))
    app.config["CLINIC_CONTACT"] = "Riverside Clinic, 020 7946 0000 (weekdays 9-5)"
    text = pdf_text(login_and_get(client, patient, patient))  # the patient's own copy too
    assert "Clinic contact: Riverside Clinic, 020 7946 0000 (weekdays 9-5)" in text


def test_a_hold_is_stated_and_no_dose_is_computed(app, client, clinician, patient):
    today = patient_today(patient)
    store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=10), "10"), (today + timedelta(days=4), "7.5")],
        hold=(today - timedelta(days=2), None, "hold"),
    )
    text = pdf_text(login_and_get(client, clinician, patient))
    assert f"On hold since {today - timedelta(days=2)} until the clinician reviews it" in text
    assert "0 of" not in text or "days in the period with no log" in text
    doses = {
        line.split(": ")[1].split(" mg")[0] for line in text.splitlines() if "mg a day" in line
    }
    assert doses <= {"10", "7.5"}  # only what was typed


def test_steps_after_an_open_hold_have_no_date_and_a_completed_plan_no_dose(
    app, client, clinician, patient
):
    """Under an open hold the later steps wait for the clinician: their typed dates (here one
    already past) are not printed as if they were coming. A completed plan has no dose in
    force and no step to come, whatever its dates say."""
    today = patient_today(patient)
    held = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=20), "10"), (today - timedelta(days=3), "7.5"), (today, "5")],
        hold=(today - timedelta(days=10), None, "hold"),
    )
    text = pdf_text(login_and_get(client, clinician, patient))
    assert "When the clinician ends the hold or pause (no date yet): 7.5 mg a day" in text
    assert "When the clinician ends the hold or pause (no date yet): 5 mg a day" in text
    assert f"From {today - timedelta(days=3)}" not in text
    assert f"From {today}:" not in text
    with app.app_context():
        db.session.get(TaperPlan, held).status = PlanStatus.COMPLETED
        db.session.commit()
    text = pdf_text(login_and_get(client, clinician, patient))
    assert "No dose in force: the plan is not running." in text
    assert "Today:" not in text
    assert "When the clinician ends" not in text  # no step to come


def test_a_plan_paused_before_it_starts_gives_no_first_date(app, client, clinician, patient):
    today = patient_today(patient)
    store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=2), "4"), (today + timedelta(days=12), "2")],
        status=PlanStatus.PAUSED,
        hold=(today - timedelta(days=5), None, "pause"),
    )
    text = pdf_text(login_and_get(client, clinician, patient))
    flat = " ".join(text.replace("\x00", "fi").split())  # the PDF's "fi" glyph reads as \x00
    assert "Not started: paused before its first step (4 mg a day), which has no date" in flat
    assert "Steps now and to come, exactly as typed: When the clinician ends" in flat
    assert f"{today - timedelta(days=2)}" not in flat.split("Progress")[0]


def test_a_long_report_flows_onto_more_pages_with_a_footer(app, client, clinician, patient):
    today = patient_today(patient)
    store_plan(app, patient, clinician, [(today - timedelta(days=30 - i), "10") for i in range(30)])
    for back in range(28):
        store_log(app, patient, today - timedelta(days=back), [], note="A long day. " * 40)
    pdf = login_and_get(client, clinician, patient)
    pages = page_count(pdf)
    assert 2 <= pages <= 12
    text = pdf_text(pdf)
    assert f"page {pages} of {pages}" in text
    assert "(continued)" in text


def test_any_typed_characters_make_a_pdf(app, client, clinician, patient):
    """Warnings are errors in the tests: a glyph the font lacks would fail here."""
    today = patient_today(patient)
    store_plan(app, patient, clinician, [(today - timedelta(days=3), "10", {}, "漢字 $$ 😀")])
    # No NUL: PostgreSQL refuses it, and so does the app (taper/domain/text.py).
    store_log(app, patient, today, [], note="😀 漢字 𝄞 \x07 مرحبا שלום")
    pdf = login_and_get(client, clinician, patient)
    assert pdf.startswith(b"%PDF-")
    assert "From " in pdf_text(pdf)


def test_another_clinician_gets_no_report(client, patient, make_user, reported):
    login_as(client, make_user(Role.CLINICIAN))
    response = client.get(f"/reports/{patient.id}.pdf")
    assert response.status_code == 404
    assert not response.data.startswith(b"%PDF")


@pytest.mark.parametrize(
    ("typed", "printed"),
    [
        ("line\nbreak\ttab\x00nul", "line break tab nul"),
        ("漢字 too", "?? too"),  # not in the font: never a missing glyph (a warning, an error)
        ("Zoë, naïve, 50 %", "Zoë, naïve, 50 %"),
    ],
)
def test_typed_text_is_printed_as_typed_or_safely_replaced(typed, printed):
    assert printable(typed) == printed


def test_period_starts_at_the_plans_first_step_when_it_is_recent():
    today = date(2026, 12, 3)

    def schedule(first):
        return PlanSchedule(1, "diazepam", "mg", True, (StepInput(first, Decimal("5")),), None)

    assert progress.report_period([], today) == (date(2026, 11, 6), today)
    assert progress.report_period([schedule(date(2026, 11, 25))], today) == (
        date(2026, 11, 25),
        today,
    )
    assert progress.report_period([schedule(date(2026, 1, 1))], today)[0] == date(2026, 11, 6)
    assert progress.report_period([schedule(date(2027, 1, 1))], today) == (today, today)


def test_missed_days_read_as_runs():
    days = (date(2026, 11, 3), date(2026, 11, 4), date(2026, 11, 5), date(2026, 11, 9))
    assert missed_words(days) == "3–5 Nov, 9 Nov"
    assert missed_words((date(2026, 11, 30), date(2026, 12, 1))) == "30 Nov – 1 Dec"


def test_symptom_table_without_logs_says_so():
    table = progress.symptom_table([], date(2026, 11, 1), date(2026, 11, 10))
    assert table.periods == ("1–3 Nov", "4–10 Nov")
    assert all(means == (None, None) and latest is None for _, means, latest in table.rows)
    assert table.latest_day is None


def test_first_page_draws_to_png_for_a_look(app, patient, reported):
    image = report_page_png(report(app, patient))
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
