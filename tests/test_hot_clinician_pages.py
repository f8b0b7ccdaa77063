"""The clinician's two busiest pages, the overview and the alert inbox, cost a fixed, small
number of statements however many patients, plans, logs and alerts there are (issue 18), and
still show exactly what they did: scores and trends from corrected logs, the nav's badge, the
last page for a page number past the end, and never another clinician's patients."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Alert, AlertStatus, AuditEvent, DailyLog, Role, TaperPlan, User
from taper.services import overview
from tests.charts.stored import store_log, store_plan
from tests.conftest import login_as
from tests.helpers import patient_today


def add_log(app, patient, day, total, version=1):
    """One version of a day's log with this score (None: no score), stored as is."""
    with app.app_context():
        db.session.add(
            DailyLog(
                patient_id=patient.id,
                day=day,
                version=version,
                submission_id=uuid.uuid4().hex,
                answers={},
                patient_total=total,
                red_flags=[],
            )
        )
        db.session.commit()


def add_alert(app, patient, tier="review", **fields) -> int:
    with app.app_context():
        alert = Alert(
            patient_id=patient.id,
            kind=fields.pop("kind", "high_score" if tier != "urgent" else "red_flag"),
            tier=tier,
            reason=fields.pop("reason", f"{tier} for {patient.name}"),
            **fields,
        )
        db.session.add(alert)
        db.session.commit()
        return alert.id


def team_of(app, make_user, clinician, count, prefix="Team"):
    """``count`` patients, each with a plan of two steps, a week of logs (one corrected) and,
    for every third, an open review alert; the first one's alert is urgent."""
    people = [
        make_user(Role.PATIENT, name=f"{prefix} {uuid.uuid4().hex[:8]}", clinicians=(clinician,))
        for _ in range(count)
    ]
    for index, person in enumerate(people):
        today = patient_today(person)
        store_plan(
            app, person, clinician, [(today - timedelta(days=3), "4"), (today + timedelta(3), "2")]
        )
        for back in range(7):
            add_log(app, person, today - timedelta(days=back), 10 + back)
        add_log(app, person, today, 12, version=2)
        if index % 3 == 0:
            add_alert(app, person, "urgent" if index == 0 else "review")
    return people


def kinds(statements) -> list[str]:
    return [" ".join(s.split()[:3]) if s.startswith("INSERT") else "SELECT" for s in statements]


def audited(app, action) -> list[tuple[int, int | None]]:
    with app.app_context():
        return db.session.execute(
            select(AuditEvent.object_id, AuditEvent.patient_id)
            .where(AuditEvent.action == action)
            .order_by(AuditEvent.id)
        ).all()


def test_overview_is_three_statements_for_a_few_patients_or_many(
    app, client, clinician, make_user, count_queries
):
    """The signed-in user, one statement for the page (with the badge's count), the audit
    rows: the same for 3 patients as for 60 (a page and a bit) with two plans each."""
    team_of(app, make_user, clinician, 3, prefix="Zed")  # after the others by name
    login_as(client, clinician)
    client.get("/clinician/patients")
    with count_queries() as small:
        page = client.get("/clinician/patients").get_data(as_text=True)
    assert page.count("4 mg diazepam") == 3
    people = team_of(app, make_user, clinician, 57)
    for person in people:
        today = patient_today(person)
        store_plan(app, person, clinician, [(today, "1.25")], medication="alprazolam")
    with count_queries() as large:
        page = client.get("/clinician/patients").get_data(as_text=True)
    assert page.count("4 mg diazepam") == 50
    assert page.count("1.25 mg alprazolam") == 49  # all on page 1 but the first urgent one
    assert "page 1 of 2, 60 patients" in page
    assert '<span class="count">20<' in page  # the badge: 2 urgent and 18 review alerts
    assert kinds(small) == kinds(large) == ["SELECT", "SELECT", "INSERT INTO audit_event"]


def test_alert_inbox_is_three_statements_for_one_alert_or_a_page_of_them(
    app, client, clinician, make_user, count_queries
):
    """Patients, who acknowledged, the log's day and the plan's medication come with the
    alerts in one statement: no statement per alert."""
    team_of(app, make_user, clinician, 1)
    login_as(client, clinician)
    client.get("/clinician/alerts")
    with count_queries() as small:
        page = client.get("/clinician/alerts").get_data(as_text=True)
    assert page.count("alert-card") == 1
    people = team_of(app, make_user, clinician, 60)
    with app.app_context():
        plan_ids = {
            plan.patient_id: plan.id
            for plan in db.session.scalars(
                select(TaperPlan).where(TaperPlan.patient_id.in_([p.id for p in people]))
            )
        }
        log_ids = {
            log.patient_id: log.id
            for log in db.session.scalars(
                select(DailyLog).where(DailyLog.patient_id.in_([p.id for p in people]))
            )
        }
    for index, person in enumerate(people[:40]):
        add_alert(
            app,
            person,
            "info",
            kind="plan_end" if index % 2 else "missed_logs",
            plan_id=plan_ids[person.id] if index % 2 else None,
            log_id=None if index % 2 else log_ids[person.id],
            status=AlertStatus.ACKNOWLEDGED if index % 4 == 1 else AlertStatus.OPEN,
            acknowledged_by_id=clinician.id if index % 4 == 1 else None,
            acknowledged_at=datetime.now(UTC) if index % 4 == 1 else None,
        )
    with count_queries() as large:
        page = client.get("/clinician/alerts").get_data(as_text=True)
    assert page.count("alert-card") == 50
    assert "61 open alerts" in page
    assert "Review the diazepam plan" in page
    assert "Acknowledged by Dr Ada Quinn" in page
    assert "See the log of" in page
    assert kinds(small) == kinds(large) == ["SELECT", "SELECT", "INSERT INTO audit_event"]


def test_scores_use_each_days_latest_version_and_trend_over_the_last_week(
    app, client, clinician, make_user
):
    def person(name):
        return make_user(Role.PATIENT, name=name, clinicians=(clinician,))

    rising, falling, unscored, old, fresh = (
        person(n) for n in ("Ria Rising", "Fay Falling", "Uma Unscored", "Olly Old", "Fred New")
    )
    today = patient_today(rising)
    for back, total in enumerate([20, 20, 20, 20, 10, 10, 10]):  # newest first
        add_log(app, rising, today - timedelta(days=back), total)
    add_log(app, falling, today - timedelta(days=1), 20)
    add_log(app, falling, today, 30)
    add_log(app, falling, today, 5, version=2)  # the correction counts, not the first version
    add_log(app, unscored, today - timedelta(days=1), 12)
    add_log(app, unscored, today, 40)
    add_log(app, unscored, today, None, version=2)  # corrected to no score: the day is dropped
    add_log(app, old, today - timedelta(days=30), 44)  # too old for a score
    login_as(client, clinician)
    page = client.get("/clinician/patients").get_data(as_text=True)

    def cells(someone):
        row = page[page.index(f">{someone.name}</a>") :]
        return re.findall(r"<td>(.*?)</td>", row[: row.index("</tr>")])[2:4]

    def day(back):
        shown = today - timedelta(days=back)
        return f"{shown.day} {shown:%b %Y}"

    assert cells(rising) == [day(0), "20 (rising)"]
    assert cells(falling) == [day(0), "5 (falling)"]
    assert cells(unscored) == [day(0), "12"]
    assert cells(old) == [day(30), "–"]
    assert cells(fresh) == ["never", "–"]


def test_doses_read_exactly_as_typed_with_holds_and_plans_not_started(app, clinician, patient):
    today = patient_today(patient)
    store_plan(
        app,
        patient,
        clinician,
        [(today - timedelta(days=9), "0.125"), (today + timedelta(days=20), "0.1")],
        medication="clonazepam",
    )
    store_plan(app, patient, clinician, [(today + timedelta(days=2), "12.5")])
    with app.app_context():
        page = overview.overview(db.session.get(User, clinician.id))
    (row,) = page.rows
    assert [(e.medication, e.dose, e.status, e.days_since_change, e.starts) for e in row.plans] == [
        ("clonazepam", Decimal("0.125"), "active", 9, None),
        ("diazepam", None, "not_started", None, today + timedelta(days=2)),
    ]
    assert str(row.plans[0].dose) == "0.125"


def test_badge_counts_open_alerts_on_both_pages_even_when_a_page_is_empty(
    app, client, clinician, make_user
):
    """The nav's count is the care team's open alerts (not acknowledged ones), read by the
    page's own statement, also on a filtered overview that shows nobody."""
    people = [make_user(Role.PATIENT, clinicians=(clinician,)) for _ in range(3)]
    add_alert(app, people[0], "review")
    add_alert(app, people[1], "urgent")
    add_alert(app, people[2], "review", status=AlertStatus.ACKNOWLEDGED)
    add_alert(app, people[2], "urgent", status=AlertStatus.RESOLVED)
    stranger = make_user(Role.PATIENT, clinicians=(make_user(Role.CLINICIAN),))
    add_alert(app, stranger, "urgent")
    login_as(client, clinician)
    badge = '<span class="count">2<span class="visually-hidden"> open alerts</span></span>'
    for url in (
        "/clinician/patients",
        "/clinician/patients?q=nobody-has-this-name",
        "/clinician/alerts",
        "/clinician/alerts?page=7",
    ):
        assert badge in client.get(url).get_data(as_text=True), url
    with app.app_context():
        for alert in db.session.scalars(select(Alert).where(Alert.status != AlertStatus.RESOLVED)):
            alert.status = AlertStatus.RESOLVED
        db.session.commit()
    assert '<span class="count">' not in client.get("/clinician/patients").get_data(as_text=True)
    empty = client.get("/clinician/alerts").get_data(as_text=True)
    assert "No open alerts. Well done." in empty
    assert '<span class="count">' not in empty


@pytest.mark.parametrize(
    ("query", "shown_page"),
    [
        ({"page": "0"}, 1),
        ({"page": "-4"}, 1),
        ({"page": "two"}, 1),
        ({"page": "3"}, 2),
        ({"page": "99999999999999999999999"}, 2),
        ({"page": "2", "alerts": "nonsense"}, 2),
        ({"page": "2", "alerts": "urgent"}, 1),
    ],
)
def test_nonsense_page_numbers_and_filters_show_a_real_page(
    app, client, clinician, make_user, query, shown_page
):
    """A page number past the end shows the last page, one before the first the first, an
    unknown filter all patients; each patient shown is audited, no one else."""
    people = [
        make_user(Role.PATIENT, name=f"Paged {n:03d}", clinicians=(clinician,)) for n in range(55)
    ]
    add_alert(app, people[7], "urgent")
    login_as(client, clinician)
    before = len(audited(app, "overview.view"))
    response = client.get("/clinician/patients", query_string=query)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    names = re.findall(r">(Paged \d+)</a>", page)
    if query.get("alerts") == "urgent":
        assert names == ["Paged 007"]
    else:
        assert f"page {shown_page} of 2, 55 patients" in page
        assert len(names) == (50 if shown_page == 1 else 5)
    by_id = {p.id: p.name for p in people}
    assert [by_id[i] for i, _ in audited(app, "overview.view")[before:]] == names


def test_inbox_page_past_the_end_shows_the_last_page_and_audits_it(
    app, client, clinician, make_user
):
    people = [make_user(Role.PATIENT, clinicians=(clinician,)) for _ in range(3)]
    ids = [add_alert(app, people[n % 3], "urgent") for n in range(53)]
    login_as(client, clinician)
    for asked in ("2", "40", "99999999999999999999999"):
        before = len(audited(app, "alert.view"))
        page = client.get("/clinician/alerts", query_string={"page": asked}).get_data(as_text=True)
        shown = [int(i) for i in re.findall(r'id="alert-(\d+)"', page)]
        assert shown == sorted(ids)[:3][::-1]  # the oldest three: newest first on page 2
        assert "page 2 of 2" in page
        assert [i for i, _ in audited(app, "alert.view")[before:]] == shown


def test_another_clinicians_patients_and_alerts_are_never_shown_nor_audited(
    app, client, clinician, make_user
):
    other = make_user(Role.CLINICIAN, name="Dr Other")
    mine = make_user(Role.PATIENT, name="Mina Mine", clinicians=(clinician,))
    theirs = make_user(Role.PATIENT, name="Theo Theirs", clinicians=(other,))
    shared = make_user(Role.PATIENT, name="Sasha Shared", clinicians=(clinician, other))
    for person in (mine, theirs, shared):
        today = patient_today(person)
        store_plan(app, person, clinician, [(today, "3")])
        store_log(app, person, today)
        add_alert(app, person, "urgent", reason=f"Urgent for {person.name}")
    login_as(client, clinician)
    for url in (
        "/clinician/patients",
        "/clinician/patients?alerts=urgent",
        "/clinician/patients?q=theo",
        "/clinician/patients?q=%25",
        "/clinician/alerts",
    ):
        page = client.get(url).get_data(as_text=True)
        assert "Theo Theirs" not in page, url
    assert "Mina Mine" in client.get("/clinician/patients?q=MINA").get_data(as_text=True)
    assert {patient for _, patient in audited(app, "overview.view")} == {mine.id, shared.id}
    assert {patient for _, patient in audited(app, "alert.view")} == {mine.id, shared.id}
    login_as(client, other)
    page = client.get("/clinician/patients").get_data(as_text=True)
    assert "Theo Theirs" in page
    assert "Sasha Shared" in page
    assert "Mina Mine" not in page
