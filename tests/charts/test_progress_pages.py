"""Progress pages, chart images, the PDF, the cache and the clinician's overview."""

import re
import struct
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from taper.charts import cache
from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import Alert, AlertStatus, AuditEvent, CareTeamLink, DailyLog, Role, User
from taper.services import progress
from tests.charts.pictures import chart
from tests.conftest import PASSWORD_HASH, login_as
from tests.helpers import fill_log, patient_today

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.charts.clear()


def test_patient_sees_own_chart_with_alt_text_and_numbers(client, patient, active_plan):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, patient_today(patient), score=1))
    page = client.get("/progress").get_data(as_text=True)
    img = chart(page, "progress")["img"]
    assert "Dose 10 mg → 7.5 mg" in img["alt"]
    assert "Show the numbers" in page
    assert "<td>17</td>" in page  # today's score in the table
    image = client.get(img["src"])
    assert image.status_code == 200
    assert image.data.startswith(PNG)
    assert image.headers["Content-Type"] == "image/png"
    # Drawn at the size a 360 px phone shows it (328 CSS px), so its text is not shrunk.
    assert struct.unpack(">II", image.data[16:24]) == (328, 440)
    assert image.headers["Cache-Control"] == "no-store"
    svg = client.get(f"/charts/{patient.id}/progress.svg?range=plan")
    assert svg.data.startswith(b"<?xml")


@pytest.mark.parametrize(
    "url",
    [
        "/charts/{id}/progress.png",
        "/charts/{id}/progress.svg",
        "/charts/{id}/symptoms.png",
        "/reports/{id}.pdf",
        "/clinician/patients/{id}/progress",
    ],
)
def test_someone_elses_chart_or_report_is_404_with_no_bytes(client, patient, make_user, url):
    login_as(client, make_user(Role.CLINICIAN))
    response = client.get(url.format(id=patient.id))
    assert response.status_code == 404
    assert not response.data.startswith((PNG, b"<?xml", b"%PDF"))
    other = make_user(name="Other Patient")
    login_as(client, other)
    response = client.get(url.format(id=patient.id))
    assert response.status_code in (403, 404)
    assert not response.data.startswith((PNG, b"<?xml", b"%PDF"))


def test_admin_sees_no_charts(client, patient, admin):
    login_as(client, admin)
    assert client.get(f"/charts/{patient.id}/progress.png").status_code == 403
    assert client.get(f"/reports/{patient.id}.pdf").status_code == 403


def test_unknown_format_is_404(client, patient):
    login_as(client, patient)
    assert client.get(f"/charts/{patient.id}/progress.gif").status_code == 404


def test_cache_key_changes_when_a_log_is_added_or_corrected(app, client, patient, active_plan):
    login_as(client, patient)
    day = patient_today(patient)

    def key():
        with app.app_context():
            user = db.session.get(User, patient.id)
            return progress.progress_data(user, "30", simple=True).cache_key("png")

    empty = key()
    client.post("/log", data=fill_log(client, day, score=1))
    logged = key()
    client.post("/log", data=fill_log(client, day, score=2))
    corrected = key()
    assert len({empty, logged, corrected}) == 3
    assert key() == corrected  # same data, same key


def test_cached_image_is_served_again_and_new_data_renders_anew(client, patient, active_plan):
    login_as(client, patient)
    url = f"/charts/{patient.id}/progress.png"
    first = client.get(url).data
    assert client.get(url).data == first
    assert (cache.charts.hits, cache.charts.misses) == (1, 1)
    client.post("/log", data=fill_log(client, patient_today(patient), score=3))
    assert client.get(url).data != first
    assert cache.charts.misses == 2


def test_pdf_report_for_clinician_and_for_the_patient(client, patient, clinician, active_plan):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, patient_today(patient), score=1, note="$x$ \\frac"))
    own = client.get(f"/reports/{patient.id}.pdf")
    assert own.status_code == 200
    assert own.data.startswith(b"%PDF-")
    assert own.headers["Content-Type"] == "application/pdf"
    assert own.headers["Cache-Control"] == "no-store"
    login_as(client, clinician)
    assert client.get(f"/reports/{patient.id}.pdf").data.startswith(b"%PDF-")


def test_clinician_progress_page_has_heatmap(client, clinician, patient, active_plan):
    """The heatmap has words (alt) and numbers (a table); the cut 3 days ago is named."""
    import uuid

    today = patient_today(patient)
    with client.application.app_context():  # older days than a patient may still log
        for back in (5, 4):
            db.session.add(
                DailyLog(
                    patient_id=patient.id,
                    day=today - timedelta(days=back),
                    version=1,
                    submission_id=uuid.uuid4().hex,
                    answers={item.key: 1 for item in CIWA_B.patient_items},
                    patient_total=17,
                    red_flags=[],
                )
            )
        db.session.commit()
    login_as(client, patient)
    for back in (2, 1):
        form = fill_log(client, today - timedelta(days=back), score=3)
        assert client.post("/log", data=form).status_code == 302
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/progress?range=90").get_data(as_text=True)
    assert "Symptoms by day" in page
    alt = chart(page, "symptoms")["img"]["alt"]
    cut = today - timedelta(days=3)
    assert f"from the dose change on {cut.day} {cut:%B}, " in alt
    assert "Irritable 1.0 → 3.0, Tired 1.0 → 3.0" in alt
    assert "and 13 more rose" in alt
    table = page[page.index('class="heat-numbers"') :]
    yesterday = today - timedelta(days=1)
    cells = re.search(
        rf'<th scope="row">{yesterday.day} {yesterday:%b %Y}</th>(.*?)</tr>', table
    ).group(1)
    assert re.findall(r"<td>(.*?)</td>", cells) == ["3"] * 17 + ["7"]
    assert f"{cut.day} {cut:%b %Y} (dose change)</th>" in table
    assert client.get(f"/charts/{patient.id}/symptoms.png?range=90").data.startswith(PNG)
    login_as(client, patient)
    assert client.get(f"/charts/{patient.id}/symptoms.png").status_code == 403


def seed_care_team(app, clinician, count: int, *, crossover: bool = False) -> None:
    """``count`` patients on the clinician's team, each with an active plan and a week of logs;
    every tenth has an urgent alert. ``crossover``: each also has a second, held, plan."""
    import uuid
    from datetime import date
    from decimal import Decimal

    from taper.models import PlanRevision, PlanStatus, TaperPlan, TaperStep

    today = date.today()
    with app.app_context():
        patients = [
            User(
                email=f"bulk{i}-{uuid.uuid4().hex[:6]}@example.org",
                name=f"Bulk Patient {i:04d}",
                role=Role.PATIENT,
                password_hash=PASSWORD_HASH,
                timezone="UTC",
            )
            for i in range(count)
        ]
        db.session.add_all(patients)
        db.session.flush()
        for i, patient in enumerate(patients):
            db.session.add(CareTeamLink(clinician_id=clinician.id, patient_id=patient.id))
            plan = TaperPlan(
                patient_id=patient.id,
                medication="diazepam",
                created_by_id=clinician.id,
                status=PlanStatus.ACTIVE,
            )
            revision = PlanRevision(
                plan=plan,
                number=1,
                author_id=clinician.id,
                steps=[
                    TaperStep(start_date=today - timedelta(days=10), total=Decimal("10")),
                    TaperStep(start_date=today + timedelta(days=4), total=Decimal("7.5")),
                ],
            )
            db.session.add_all([plan, revision])
            db.session.flush()
            plan.current_revision = revision
            if crossover:
                second = TaperPlan(
                    patient_id=patient.id,
                    medication="alprazolam",
                    created_by_id=clinician.id,
                    status=PlanStatus.ACTIVE,
                )
                held = PlanRevision(
                    plan=second,
                    number=1,
                    author_id=clinician.id,
                    hold_start=today - timedelta(days=1),
                    hold_kind="hold",
                    steps=[
                        TaperStep(start_date=today - timedelta(days=5), total=Decimal("1")),
                        TaperStep(start_date=today + timedelta(days=9), total=Decimal("0.5")),
                    ],
                )
                db.session.add_all([second, held])
                db.session.flush()
                second.current_revision = held
            for back in range(7):
                db.session.add(
                    DailyLog(
                        patient_id=patient.id,
                        day=today - timedelta(days=back),
                        version=1,
                        submission_id=uuid.uuid4().hex,
                        answers={},
                        patient_total=10 + back,
                        red_flags=[],
                    )
                )
            if i % 10 == 0:
                db.session.add(
                    Alert(
                        patient_id=patient.id,
                        kind="red_flag",
                        tier="urgent",
                        reason="Red flag reported",
                    )
                )
        db.session.commit()


def test_overview_query_count_is_constant(app, client, clinician, make_user, count_queries):
    """The overview costs the same number of queries for 5 patients with one plan each as
    for 500, most of them with a second (held) plan."""
    login_as(client, clinician)
    seed_care_team(app, clinician, 5)
    client.get("/clinician/patients")
    with count_queries() as small:
        assert client.get("/clinician/patients").status_code == 200
    seed_care_team(app, clinician, 495, crossover=True)
    with count_queries() as large:
        page = client.get("/clinician/patients").get_data(as_text=True)
    assert len(small) == len(large) <= 12
    # Page 1 is the 51 urgent patients' first 50: one from the first seed, 49 with two plans.
    assert page.count("1 mg alprazolam") == 49
    assert page.count('<span class="tag">on hold until reviewed</span>') == 49
    assert page.count("Bulk Patient") == 50  # a page at a time, most in need first
    assert "page 1 of 10, 500 patients" in page
    urgent_first = re.findall(r">(Bulk Patient \d+)</a>", page)[:50]
    assert urgent_first[0] == "Bulk Patient 0000"  # every tenth has an urgent alert

    def overview_views():
        with app.app_context():
            return (
                db.session.execute(
                    select(User.name)
                    .join(AuditEvent, AuditEvent.patient_id == User.id)
                    .where(AuditEvent.action == "overview.view")
                )
                .scalars()
                .all()
            )

    before = overview_views()
    last = client.get("/clinician/patients?page=10").get_data(as_text=True)
    assert last.count("Bulk Patient") == 50
    assert "Next page" not in last
    shown = re.findall(r">(Bulk Patient \d+)</a>", last)
    after = overview_views()
    assert sorted(after[len(before) :]) == sorted(shown)  # D5: one audit row per patient shown


def test_overview_sorts_by_need_filters_and_searches(client, app, clinician, make_user):
    calm = make_user(name="Aaron Calm", clinicians=(clinician,))
    review = make_user(name="Bea Review", clinicians=(clinician,))
    urgent = make_user(name="Zed Urgent", clinicians=(clinician,))
    missed = make_user(name="Cy Missed", clinicians=(clinician,))
    with app.app_context():
        db.session.add_all(
            [
                Alert(patient_id=urgent.id, kind="red_flag", tier="urgent", reason="x"),
                Alert(patient_id=review.id, kind="high_score", tier="review", reason="x"),
                Alert(patient_id=missed.id, kind="missed_logs", tier="info", reason="x"),
            ]
        )
        db.session.commit()
    login_as(client, clinician)
    page = client.get("/clinician/patients").get_data(as_text=True)
    order = [page.index(p.name) for p in (urgent, review, missed, calm)]
    assert order == sorted(order)
    urgent_only = client.get("/clinician/patients?alerts=urgent").get_data(as_text=True)
    assert urgent.name in urgent_only
    assert calm.name not in urgent_only
    none_only = client.get("/clinician/patients?alerts=none").get_data(as_text=True)
    assert calm.name in none_only
    assert urgent.name not in none_only
    found = client.get("/clinician/patients?q=bea").get_data(as_text=True)
    assert review.name in found
    assert calm.name not in found
    for nasty in ("' OR 1=1--", "%", "_", "\\"):
        response = client.get("/clinician/patients", query_string={"q": nasty, "alerts": nasty})
        assert response.status_code == 200
        assert calm.name not in response.get_data(as_text=True)

    def shown(alert_filter):
        page = client.get("/clinician/patients", query_string={"alerts": alert_filter})
        return [p.name for p in (calm, review, urgent, missed) if p.name in page.text]

    assert shown("review") == [review.name]
    assert shown("open") == [review.name, urgent.name, missed.name]
    assert shown("nonsense") == shown("all") == [calm.name, review.name, urgent.name, missed.name]
    with app.app_context():  # a resolved alert no longer counts
        alert = db.session.scalar(select(Alert).where(Alert.patient_id == urgent.id))
        alert.status = AlertStatus.RESOLVED
        db.session.commit()
    assert shown("urgent") == []
    assert urgent.name in shown("none")


def test_overview_shows_dose_days_since_change_and_last_log(
    client, clinician, patient, active_plan
):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, patient_today(patient), score=2))
    login_as(client, clinician)
    page = client.get("/clinician/patients").get_data(as_text=True)
    row = page[page.index(patient.name) :]
    row = row[: row.index("</tr>")]
    assert "7.5 mg diazepam" in row
    assert '<td><div class="plan-dose">3</div></td>' in row  # days since the cut
    assert "34" in row
    with client.application.app_context():
        assert db.session.scalars(select(DailyLog)).first().patient_total == 34


def test_overview_last_log_is_each_patients_latest_day(
    client, clinician, patient, active_plan, make_user
):
    silent = make_user(Role.PATIENT, name="Silent Sam", clinicians=(clinician,))
    today = patient_today(patient)
    login_as(client, patient)
    for day in (today - timedelta(days=2), today - timedelta(days=1)):
        assert client.post("/log", data=fill_log(client, day, score=2)).status_code == 302
    login_as(client, clinician)
    page = client.get("/clinician/patients").get_data(as_text=True)

    def row_of(name):
        row = page[page.index(name) :]
        return row[: row.index("</tr>")]

    yesterday = today - timedelta(days=1)
    assert f"<td>{yesterday.day} {yesterday:%b %Y}" in row_of(patient.name)
    assert "<td>never" in row_of(silent.name)


def test_alert_inbox_query_count_is_constant(app, client, clinician, count_queries):
    """No N+1: the inbox costs the same for 1 open alert as for 50."""
    login_as(client, clinician)
    seed_care_team(app, clinician, 10)
    client.get("/clinician/alerts")
    with count_queries() as small:
        assert client.get("/clinician/alerts").get_data(as_text=True).count("alert-card") == 1
    seed_care_team(app, clinician, 490)
    with count_queries() as large:
        assert client.get("/clinician/alerts").get_data(as_text=True).count("alert-card") == 50
    assert len(small) == len(large) <= 8


def test_alert_inbox_pages_fifty_at_a_time_most_urgent_first(app, client, clinician):
    """120 open alerts: 50 per page, every urgent one before any review one."""
    login_as(client, clinician)
    seed_care_team(app, clinician, 120)  # every tenth patient has an urgent alert
    with app.app_context():
        for link in db.session.scalars(
            select(CareTeamLink).where(CareTeamLink.clinician_id == clinician.id)
        ):
            db.session.add(
                Alert(
                    patient_id=link.patient_id,
                    kind="rising_score",
                    tier="review",
                    reason="Score rising",
                )
            )
        db.session.commit()

    def tiers(number):
        page = client.get("/clinician/alerts", query_string={"page": number})
        assert page.status_code == 200
        return re.findall(r'class="alert-card tier-(\w+)"', page.get_data(as_text=True))

    first, third, beyond = tiers(1), tiers(3), tiers(99)
    assert first == ["urgent"] * 12 + ["review"] * 38
    assert len(tiers(2)) == 50
    assert third == ["review"] * 32
    assert beyond == third  # a page past the end shows the last one
    assert tiers("two") == first
    page = client.get("/clinician/alerts").get_data(as_text=True)
    assert "132 open alerts" in page
    assert "page 1 of 3" in page
    assert 'href="?page=2">Next page</a>' in page
    with app.app_context():
        viewed = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "alert.view")
        )
    assert viewed == 50 * 4 + 32 * 2  # a row for each alert shown (six pages), no more


def test_captions_speak_to_their_reader_and_name_red_flags_only_when_shown(
    client, clinician, patient, active_plan
):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, patient_today(patient), score=1))
    own = client.get("/progress").get_data(as_text=True)
    caption = re.search(r"<figcaption>(.*?)</figcaption>", own, re.S).group(1)
    assert "your clinician" in caption
    assert "the clinician" not in caption
    assert "red flag" not in caption  # none in this range
    assert "Back to" not in own  # the patient's own page needs no way back to herself
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/progress").get_data(as_text=True)
    caption = re.search(r"<figcaption>(.*?)</figcaption>", page, re.S).group(1)
    assert "your" not in caption.lower()
    assert f"{patient.name}'s daily dose" in caption
    assert "red flag" not in caption
    # The page names the patient and links back to the patient page.
    assert f'href="/clinician/patients/{patient.id}"' in page
    assert f"Progress of {patient.name}" in page
    # Every scrollable table can be reached by keyboard, with a name of its own.
    wraps = re.findall(r'<div class="table-wrap"([^>]*)>', page)
    assert len(wraps) == 3
    labels = [re.search(r'aria-label="([^"]+)"', w).group(1) for w in wraps]
    assert all('tabindex="0" role="region"' in w for w in wraps)
    assert len(set(labels)) == len(labels)


def test_caption_names_red_flags_when_the_range_has_one(client, patient, active_plan):
    login_as(client, patient)
    form = fill_log(client, patient_today(patient), score=1)
    form["red_flags"] = ["confusion"]
    client.post("/log", data=form)
    own = client.get("/progress").get_data(as_text=True)
    caption = re.search(r"<figcaption>(.*?)</figcaption>", own, re.S).group(1)
    assert "triangles mark days you reported a red flag" in caption


def test_a_completed_plans_whole_chart_ends_after_its_last_change_not_today():
    """Completed on 20 Jan after steps on 4 and 11 Jan, seen on 1 Sep: the chart runs to 30
    days after the last change, whether or not the completion day is known (it once ran to
    today, since the plan was in force on its last change day)."""
    from decimal import Decimal

    from taper.domain.schedule import StepInput
    from taper.domain.timeline import PlanSchedule

    steps = (StepInput(date(2027, 1, 4), Decimal(4)), StepInput(date(2027, 1, 11), Decimal(3)))
    done = PlanSchedule(1, "diazepam", "mg", False, steps, None, ended_on=date(2027, 1, 20))
    unknown = PlanSchedule(1, "diazepam", "mg", False, steps, None)
    today = date(2027, 9, 1)
    expected = (date(2027, 1, 4), date(2027, 2, 10))
    assert progress.date_range([done], "plan", today) == expected
    assert progress.date_range([unknown], "plan", today) == expected
