"""Charts, the progress page and the visit report follow every running plan and the real
timeline: a crossover's two drugs, holds and pauses as they happened, open urgent alerts first,
and no stored date (even 9999-12-31) can make a page fail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from taper.charts import cache
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Alert, AlertStatus, PlanStatus, User
from taper.services import progress
from tests.charts.pictures import chart
from tests.charts.stored import store_log, store_plan, timeline_change
from tests.conftest import login_as
from tests.helpers import patient_today

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.charts.clear()


def loaded(app, patient, call):
    """Run ``call(user)`` in an app context with the patient loaded."""
    with app.app_context():
        return call(db.session.get(User, patient.id))


@pytest.fixture
def crossover(app, clinician, patient):
    """Alprazolam going down (1.5 → 1 mg, the last step) while diazepam goes up (2 → 5 mg),
    with a week of logs answering both dose questions."""
    today = patient_today(patient)
    alprazolam = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=20), "1.5"), (today - timedelta(days=6), "1")],
        medication="alprazolam",
    )
    diazepam = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=13), "2"), (today - timedelta(days=4), "5")],
        medication="diazepam",
    )
    for back in range(7):
        day = today - timedelta(days=back)
        alp = "1" if back < 6 else "1.5"
        dia = "5" if back < 4 else "2"
        taken = "4" if back == 1 else dia  # one day short on diazepam
        store_log(
            app,
            patient,
            day,
            [(alprazolam, "alprazolam", alp, alp), (diazepam, "diazepam", dia, taken)],
            score=2,
        )
    return alprazolam, diazepam


def test_crossover_chart_has_a_step_line_and_doses_taken_for_each_drug(app, patient, crossover):
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    data = loaded(app, patient, lambda u: progress.progress_data(u, "30", simple=False))
    assert [(s.plan_id, s.medication) for s in data.plans] == [
        (alprazolam, "alprazolam"),
        (diazepam, "diazepam"),
    ]
    first, second = data.plans
    assert [(p.day, p.dose, p.status) for p in first.schedule] == [
        (today - timedelta(days=20), Decimal("1.5"), "active"),
        (today - timedelta(days=6), Decimal("1"), "last"),
    ]
    assert first.open_from == today - timedelta(days=6)  # last step: until reviewed
    assert [(p.day, p.dose) for p in second.schedule] == [
        (today - timedelta(days=13), Decimal("2")),
        (today - timedelta(days=4), Decimal("5")),
    ]
    assert len(first.taken) == len(second.taken) == 7
    assert dict(second.taken)[today - timedelta(days=1)] == Decimal("4")
    assert dict(first.taken)[today - timedelta(days=1)] == Decimal("1")
    assert data.changes == (today - timedelta(days=6), today - timedelta(days=4))
    heat = loaded(app, patient, lambda u: progress.heatmap_data(u, "30"))
    # Each drug's change, and the day diazepam started while alprazolam was taken.
    assert heat.dose_changes == tuple(today - timedelta(days=n) for n in (13, 6, 4))


def test_crossover_progress_page_names_each_drug_in_words_and_numbers(
    client, patient, clinician, crossover
):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/progress").get_data(as_text=True)
    alt = chart(page, "progress")["img"]["alt"]
    assert alt.startswith("Alprazolam: Dose 1.5 mg from")
    assert "Diazepam: Dose 2 mg from" in alt
    assert "Dose 2 mg → 5 mg on" in alt
    assert "stays in force until the clinician reviews the plan" in alt
    assert '<th scope="col">Alprazolam taken (mg)</th><th scope="col">Diazepam taken (mg)</th>' in (
        page
    )
    assert "<caption>Alprazolam: the dose scheduled" in page
    assert "<caption>Diazepam: the dose scheduled" in page
    assert "last step, until a clinician reviews the plan" in page
    charts = page[page.index('<figure class="chart progress-chart">') : page.rindex("</figure>")]
    assert "your" not in charts.lower()  # the reader is the clinician
    today = patient_today(patient)
    yesterday = today - timedelta(days=1)
    row = re.search(rf'<th scope="row">{yesterday.day} {yesterday:%b %Y}</th>(.*?)</tr>', page)
    assert re.findall(r"<td>(.*?)</td>", row.group(1))[:2] == ["1", "4"]
    heat = chart(page, "symptoms")["img"]["alt"]
    for back in (13, 6, 4):  # each drug's changes, and the day diazepam started
        day = today - timedelta(days=back)
        assert f"no symptom rose by 1 point or more after {day.day} {day:%B}" in heat
        assert f"{day.day} {day:%b %Y} (dose change)</th>" in page
    image = client.get(f"/charts/{patient.id}/progress.png")
    assert image.status_code == 200
    assert image.data.startswith(PNG)
    login_as(client, patient)
    own = client.get("/progress").get_data(as_text=True)
    assert "Alprazolam, Diazepam" in own  # the caption names the drugs
    assert "<caption>Diazepam: the dose your clinician set" in own
    assert "last step, until your clinician reviews it" in own


def test_held_plan_stays_flat_through_the_hold_and_the_next_step_starts_on_its_moved_date(
    app, client, clinician, patient
):
    """4 → 3 → 2 → 1 → 0 mg a week apart, held at 3 mg for two weeks: the chart stays at
    3 mg through the hold, 2 mg (never 1 mg) starts the day after, later steps a week apart."""
    today = patient_today(patient)
    first = today - timedelta(days=10)
    plan_id = store_plan(
        app,
        patient,
        clinician,
        [(first + timedelta(days=7 * i), dose) for i, dose in enumerate("43210")],
    )
    until = today + timedelta(days=13)
    timeline_change(app, clinician, plan_id, "hold", today, until)
    data = loaded(app, patient, lambda u: progress.progress_data(u, "plan", simple=False))
    (series,) = data.plans
    assert [(p.day, p.dose, p.status) for p in series.schedule] == [
        (first, Decimal("4"), "active"),
        (first + timedelta(days=7), Decimal("3"), "active"),
        (today, Decimal("3"), "held"),
        (until + timedelta(days=1), Decimal("2"), "active"),
        (until + timedelta(days=8), Decimal("1"), "active"),
        (until + timedelta(days=15), Decimal("0"), "stopped"),
    ]
    assert series.line_end == until + timedelta(days=15)
    assert series.holds == ((today, until, "hold", False),)
    heat = loaded(app, patient, lambda u: progress.heatmap_data(u, "plan"))
    assert heat.dose_changes == (
        first + timedelta(days=7),
        until + timedelta(days=1),
        until + timedelta(days=8),
        until + timedelta(days=15),
    )
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/progress?range=plan").get_data(
        as_text=True
    )
    assert f"Held from {today.day} {today:%B} to {until.day} {until:%B}" in page
    assert "<td>on hold</td>" in page


def test_released_hold_and_a_pause_are_shaded_as_they_really_were(
    app, clinician, patient, make_user
):
    today = patient_today(patient)
    plan_id = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=9), "4"), (today + timedelta(days=5), "2")],
    )
    timeline_change(app, clinician, plan_id, "hold", today)  # until reviewed
    data = loaded(app, patient, lambda u: progress.progress_data(u, "30", simple=False))
    assert data.plans[0].holds == ((today, today, "hold", True),)  # open: to the range's end
    assert data.plans[0].open_from == today
    timeline_change(app, clinician, plan_id, "release", today)  # from tomorrow
    data = loaded(app, patient, lambda u: progress.progress_data(u, "plan", simple=False))
    assert data.plans[0].holds == ((today, today, "hold", False),)
    assert [(p.day, p.dose) for p in data.plans[0].schedule][-1] == (
        today + timedelta(days=5),
        Decimal("2"),
    )
    other = make_user(name="Pat Paused", clinicians=(clinician,))
    paused = store_plan(app, other, clinician, [(today - timedelta(days=3), "4")])
    timeline_change(app, clinician, paused, "pause", today)
    data = loaded(app, other, lambda u: progress.progress_data(u, "30", simple=False))
    assert data.plans[0].holds == ((today, today, "pause", True),)
    timeline_change(app, clinician, paused, "resume", today)  # the same day: no day paused
    data = loaded(app, other, lambda u: progress.progress_data(u, "30", simple=False))
    assert data.plans[0].holds == ()


def test_a_finished_plan_is_shown_when_none_runs(app, clinician, patient):
    today = patient_today(patient)
    store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=60), "2"), (today - timedelta(days=40), "0")],
        medication="lorazepam",
        status=PlanStatus.COMPLETED,
    )
    latest = store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=30), "5"), (today - timedelta(days=10), "2")],
        status=PlanStatus.COMPLETED,
    )
    store_plan(app, patient, clinician, [(today, "9")], status=PlanStatus.DRAFT)
    data = loaded(app, patient, lambda u: progress.progress_data(u, "90", simple=False))
    assert [s.plan_id for s in data.plans] == [latest]
    assert data.plans[0].line_end == today - timedelta(days=10)  # not past its last step
    assert data.plans[0].open_from is None


FAR = date(9999, 12, 31)


def test_far_dates_stored_in_the_database_never_break_a_chart_page_or_pdf(
    app, client, clinician, patient
):
    """Steps and holds at 9999-12-31 and 0001-01-01, stored past every form check: each
    chart, progress page, heatmap, report and the overview still answers 200."""
    today = patient_today(patient)
    store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=10), "5"), (FAR, "2")],
        hold=(today - timedelta(days=2), FAR, "hold"),
    )
    store_plan(
        app,
        patient,
        clinician,
        [(date(1, 1, 1), "3"), (today + timedelta(days=5), "1")],
        medication="alprazolam",
    )
    store_plan(
        app,
        patient,
        clinician,
        [(FAR, "1")],
        medication="oxazepam",
        status=PlanStatus.PAUSED,
        hold=(FAR, None, "pause"),
    )
    store_log(app, patient, today, score=3)
    ranges = ("30", "90", "plan")
    own = [f"/progress?range={r}" for r in ranges]
    charts = [
        f"/charts/{patient.id}/progress.{fmt}?range={r}"
        for r in ranges
        for fmt in "png svg".split()
    ]
    report = [f"/reports/{patient.id}.pdf"]
    login_as(client, patient)
    for url in own + charts + report:
        response = client.get(url)
        assert response.status_code == 200, url
    login_as(client, clinician)
    clinician_urls = [
        *(f"/clinician/patients/{patient.id}/progress?range={r}" for r in ranges),
        *(
            f"/charts/{patient.id}/symptoms.{fmt}?range={r}"
            for r in ranges
            for fmt in ("png", "svg")
        ),
        *charts,
        *report,
        "/clinician/patients",
    ]
    for url in clinician_urls:
        response = client.get(url)
        assert response.status_code == 200, url
    data = loaded(app, patient, lambda u: progress.progress_data(u, "plan", simple=False))
    assert data.end <= today + timedelta(days=730)
    assert (data.end - data.start).days <= progress.PLAN_RANGE_MAX_DAYS


def test_report_lists_every_running_plan_with_its_dose_in_force(
    app, client, clinician, patient, crossover, make_user
):
    alprazolam, diazepam = crossover
    today = patient_today(patient)
    timeline_change(app, clinician, diazepam, "hold", today, today + timedelta(days=6))
    report = loaded(app, patient, progress.report_data)
    assert [p.title for p in report.plans] == [
        "Alprazolam (mg), active",
        "Diazepam (mg), active",
    ]
    assert report.plans[0].in_force == (
        "Today: 1 mg a day, the last step: in force until the clinician reviews the plan."
    )
    assert report.plans[1].in_force == (
        f"Today: 5 mg a day, on hold since {today} until {today + timedelta(days=6)}."
    )
    assert [p.plan_id for p in report.progress.plans] == [alprazolam, diazepam]
    assert report.logs[1][3] == "alprazolam 1 / 1; diazepam 4 / 5"
    assert any(line.startswith("Diazepam 2.") and "(hold from" in line for line in report.revisions)
    other = make_user(name="Sam Stopped", clinicians=(clinician,))
    store_plan(
        app,
        other,
        clinician,
        [(today - timedelta(days=9), "2"), (today - timedelta(days=2), "0")],
    )
    paused = store_plan(app, other, clinician, [(today - timedelta(days=9), "4")], medication="x")
    timeline_change(app, clinician, paused, "pause", today)
    later = store_plan(app, other, clinician, [(today + timedelta(days=3), "1")], medication="y")
    report = loaded(app, other, progress.report_data)
    assert [p.in_force for p in report.plans] == [
        f"Stopped (0 mg) since {today - timedelta(days=2)}.",
        f"Today: 4 mg a day, paused since {today} (steps do not advance).",
        f"Not started: first step 1 mg from {today + timedelta(days=3)}.",
    ]
    assert later
    login_as(client, clinician)
    pdf = client.get(f"/reports/{patient.id}.pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF-")


def test_report_lists_every_unresolved_alert_urgent_first_then_the_latest_resolved(
    app, client, patient, clinician
):
    """Unresolved (open or acknowledged) alerts all, by tier, open before acknowledged; an
    urgent one acknowledged long ago is never pushed off by newer ones. Then the latest
    resolved. Each dated by the patient's own calendar day."""
    now = datetime.now(UTC)

    def alert(kind, tier, status, hours_ago):
        return Alert(
            patient_id=patient.id,
            kind=kind,
            tier=tier,
            reason=f"{kind} {hours_ago}",
            status=status,
            created_at=now - timedelta(hours=hours_ago),
        )

    def day(hours_ago):
        return f"{local_today(now - timedelta(hours=hours_ago), patient.timezone):%Y-%m-%d}"

    with app.app_context():
        db.session.add_all(
            [
                alert("red_flag", "urgent", AlertStatus.RESOLVED, 1),
                alert("high_score", "review", AlertStatus.ACKNOWLEDGED, 2),
                alert("missed_logs", "info", AlertStatus.OPEN, 30),
                alert("red_flag", "urgent", AlertStatus.OPEN, 70),
                alert("red_flag", "urgent", AlertStatus.OPEN, 20),
                alert("rising_score", "review", AlertStatus.OPEN, 100),
                alert("dose_deviation", "review", AlertStatus.ACKNOWLEDGED, 50),
                alert("red_flag", "urgent", AlertStatus.ACKNOWLEDGED, 300),
                *(alert("high_score", "review", AlertStatus.ACKNOWLEDGED, 3 + i) for i in range(6)),
                *(alert("red_flag", "urgent", AlertStatus.RESOLVED, 200 + i) for i in range(10)),
            ]
        )
        db.session.commit()
    report = loaded(app, patient, progress.report_data)
    assert report.alerts[:3] == (
        f"{day(20)} urgent red flag: red_flag 20 [open]",
        f"{day(70)} urgent red flag: red_flag 70 [open]",
        f"{day(300)} urgent red flag: red_flag 300 [acknowledged]",
    )
    assert report.alerts[3:6] == (
        f"{day(100)} review rising score: rising_score 100 [open]",
        f"{day(2)} review high score: high_score 2 [acknowledged]",
        f"{day(3)} review high score: high_score 3 [acknowledged]",
    )
    assert report.alerts[11:16] == (
        f"{day(50)} review dose deviation: dose_deviation 50 [acknowledged]",
        f"{day(30)} info missed logs: missed_logs 30 [open]",
        f"{day(1)} urgent red flag: red_flag 1 [resolved]",
        f"{day(200)} urgent red flag: red_flag 200 [resolved]",
        f"{day(201)} urgent red flag: red_flag 201 [resolved]",
    )
    assert len(report.alerts) == 13 + progress.REPORT_OTHER_ALERTS  # every unresolved one
    with app.app_context():  # many open alerts: every one is listed, before any other
        db.session.add_all(alert("red_flag", "urgent", AlertStatus.OPEN, 400 + i) for i in range(9))
        db.session.commit()
    report = loaded(app, patient, progress.report_data)
    assert len(report.alerts) == 22 + progress.REPORT_OTHER_ALERTS
    assert all("urgent red flag" in line and "[open]" in line for line in report.alerts[:11])
    assert report.alerts[11] == f"{day(300)} urgent red flag: red_flag 300 [acknowledged]"
    login_as(client, clinician)
    assert client.get(f"/reports/{patient.id}.pdf").data.startswith(b"%PDF-")
