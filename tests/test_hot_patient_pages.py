"""Issue 18: the patient's hot pages (Today, the daily log's form and submit, the cached
progress chart) run a pinned number of SQL statements whatever the patient's history, and
the caches that make them cheap (a saved revision's steps, the log form's symptom questions,
the session cookie) never show anything stale."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from taper.extensions import db
from taper.models import AuditEvent, DailyLog, Role
from taper.services import current_plans
from tests.conftest import login_as
from tests.helpers import fill_log, log_form, patient_today, plan_form, version_of

# Statements per page once warm (the revision's steps cached): loading the signed-in user
# is the first of each. COMMIT is not a statement the counter sees.
PINNED = {
    # user; plans with their revision, author and receipt; logged today and the latest
    # urgent alert; the audit rows (one insert for every plan shown)
    "today": 4,
    # user; plans; the day's last log with its dose answers
    "log form": 3,
    # user; plans; the logs in range with their doses; red-flag reports; the revisions'
    # holds; the audit row
    "chart": 6,
}


@pytest.fixture
def crossover(client, clinician, patient, write_plan):
    """Two active plans (a crossover), the first revised once: a per-plan or per-revision
    query would show as more statements than one plan has."""
    today = patient_today(patient)
    login_as(client, clinician)
    first = write_plan(
        patient,
        [(today - timedelta(days=20), "10", {}, ""), (today + timedelta(days=5), "8", {}, "")],
    )
    second = write_plan(
        patient, [(today - timedelta(days=10), "1", {}, "")], medication="alprazolam"
    )
    return first, second


def _statements(count_queries, client, method: str, url: str, **kwargs) -> int:
    """Statements of one request, after a first one has warmed the caches."""
    getattr(client, method)(url, **kwargs)
    with count_queries() as statements:
        response = getattr(client, method)(url, **kwargs)
    assert response.status_code in (200, 302), response.status_code
    return len(statements)


def _log_days(client, patient, days: int) -> None:
    """``days`` logged days before today (each through the real form)."""
    today = patient_today(patient)
    for back in range(1, days + 1):
        day = today - timedelta(days=back)
        if back <= 2:  # the form offers today and the two days before
            client.post("/log", data=fill_log(client, day))
        else:
            db.session.add(
                DailyLog(
                    patient_id=patient.id,
                    day=day,
                    version=1,
                    submission_id=uuid.uuid4().hex,
                    answers={},
                    patient_total=3,
                    red_flags=[],
                    note="",
                )
            )
    db.session.commit()


@pytest.mark.parametrize(
    ("page", "url"),
    [("today", "/today"), ("log form", "/log"), ("chart", "/charts/{patient}/progress.png")],
)
def test_hot_patient_page_runs_its_pinned_statements_whatever_the_history(
    app, client, patient, crossover, count_queries, page, url
):
    login_as(client, patient)
    url = url.format(patient=patient.id)
    few = _statements(count_queries, client, "get", url)
    with app.app_context():
        _log_days(client, patient, 40)
    client.post("/help", data={"red_flags": "seizure", "submission_id": uuid.uuid4().hex})
    many = _statements(count_queries, client, "get", url)
    assert few == many == PINNED[page]


def test_the_log_form_of_a_logged_day_adds_only_its_audit_row(
    app, client, patient, crossover, count_queries
):
    """A logged day's form shows that log: the statements of an empty form and the audit row
    of that view (D5), however long the history."""
    login_as(client, patient)
    yesterday = patient_today(patient) - timedelta(days=1)
    client.post("/log", data=fill_log(client, yesterday))
    url = f"/log?day={yesterday.isoformat()}"
    few = _statements(count_queries, client, "get", url)
    with app.app_context():
        _log_days(client, patient, 40)
    assert few == _statements(count_queries, client, "get", url) == PINNED["log form"] + 1


def test_daily_log_submit_runs_a_fixed_number_of_statements(
    app, client, patient, crossover, count_queries
):
    """The submit reads the history for the alert rules in one statement: forty more logged
    days add nothing."""
    login_as(client, patient)

    def submit() -> int:
        form = fill_log(client)
        with count_queries() as statements:
            response = client.post("/log", data=form)
        assert response.status_code == 302, response.status_code
        return len(statements)

    submit()  # the first save of the day (and the steps cached)
    few = submit()
    with app.app_context():
        _log_days(client, patient, 40)
        dialect = db.engine.dialect.name
    assert submit() == few
    # user, plans, the patient's row lock, the submission id, the day's last version,
    # SAVEPOINT, the log, its dose answers (one insert each on SQLite, one for both on
    # PostgreSQL), RELEASE, the history, the patient's alert thresholds, the audit row
    assert few == {"sqlite": 13, "postgresql": 12}[dialect]


def test_today_audits_every_plan_shown_in_one_statement(app, client, patient, crossover):
    login_as(client, patient)
    client.get("/today")
    with app.app_context():
        rows = db.session.query(AuditEvent).filter_by(action="plan.view").all()
        assert sorted(r.object_id for r in rows) == sorted(crossover)
        assert {r.patient_id for r in rows} == {patient.id}
        assert {r.actor_id for r in rows} == {patient.id}


def test_a_new_revision_shows_on_today_at_once_despite_the_cached_steps(
    app, client, clinician, patient, crossover
):
    """The steps of a saved revision are cached; a new revision is another entry, so the
    patient sees the new dose and the notice as soon as it is saved."""
    first, _ = crossover
    today = patient_today(patient)
    login_as(client, patient)
    assert "10 mg" in client.get("/today").text
    login_as(client, clinician)
    steps = [(today - timedelta(days=20), "10", {}, ""), (today - timedelta(days=1), "9", {}, "")]
    response = client.post(
        f"/clinician/plans/{first}/edit",
        data=plan_form(steps, reason="Slower", version=version_of(app, first)),
    )
    assert response.status_code == 302
    login_as(client, patient)
    page = client.get("/today").text
    assert "9 mg" in page
    assert "reason: Slower" in page
    # Seen once: the notice does not come back on the next visit.
    assert "reason: Slower" not in client.get("/today").text


def test_the_step_cache_tells_revisions_apart_by_their_creation_time(app, patient, crossover):
    """An id that a rolled-back revision used (SQLite can give it again) is another key."""
    with app.test_request_context():
        plans = current_plans.current_plans(patient)
        revision = plans[0].revision
        cache = current_plans._cache()
        key = (revision.id, revision.created_at)
        assert cache.get_many([key]) == {key: revision.steps}
        other = (revision.id, revision.created_at + timedelta(microseconds=1))
        assert cache.get_many([other]) == {}


def test_the_step_cache_keeps_at_most_its_size(app):
    from datetime import date
    from decimal import Decimal

    from taper.domain.schedule import StepInput

    a, b, c = ((StepInput(date(2026, 1, n), Decimal(n)),) for n in (1, 2, 3))
    cache = current_plans._StepCache(size=2)
    cache.put_many({(1, 0): a, (2, 0): b})
    assert cache.get_many([(1, 0)]) == {(1, 0): a}  # 1 is now the most recent
    cache.put_many({(3, 0): c})
    assert cache.get_many([(1, 0), (2, 0), (3, 0)]) == {(1, 0): a, (3, 0): c}


def test_the_cached_symptom_questions_show_each_patients_own_answers(
    app, client, make_user, clinician, patient, crossover
):
    """The symptom questions are a cached fragment keyed by their answers: a correction
    starts from what this patient said, and another patient's blank form stays blank."""
    login_as(client, patient)
    client.post("/log", data=fill_log(client, score=3))
    page = client.get("/log").text
    assert page.count('value="3" checked') == 17
    other = make_user(Role.PATIENT, clinicians=(clinician,))
    login_as(client, other)
    page = client.get("/log").text
    assert " checked" not in page.split('id="q-substances"')[0].split("log-questions")[1]


def test_the_cached_symptom_questions_show_their_errors_and_keep_the_other_answers(
    client, patient, crossover
):
    login_as(client, patient)
    form = fill_log(client, score=2)
    form.pop("tense")
    form["fatigued"] = "9"
    page = client.post("/log", data=form)
    assert page.status_code == 400
    text = page.text
    assert 'id="tense-error"' in text
    assert 'id="fatigued-error"' in text
    assert 'aria-describedby="tense-error"' in text
    assert text.count('value="2" checked') == 15  # every other answer kept


def test_the_session_cookie_is_sent_again_only_when_its_idle_clock_moves(
    client, patient, crossover, monkeypatch
):
    login_as(client, patient)
    client.get("/today")  # the first page adds its CSRF token to the session
    again = client.get("/today")
    assert "Set-Cookie" not in again.headers  # seen just now: nothing to send again
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    moved = client.get("/today")
    assert "taper_session=" in moved.headers.get("Set-Cookie", "")


def test_the_idle_limit_still_ends_a_session_on_time(client, patient, crossover, monkeypatch):
    login_as(client, patient)
    assert client.get("/today").status_code == 200
    later = time.time() + 31 * 60  # past the 30-minute idle limit
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.get("/today")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_a_log_form_for_a_day_already_logged_refills_the_dose_answers(client, patient, crossover):
    login_as(client, patient)
    form = fill_log(client)
    first, second = sorted(int(k.split("_")[1]) for k in form if k.startswith("shown_"))
    form[f"took_{second}"] = "no"
    form[f"dose_taken_{second}"] = "0.5"
    assert client.post("/log", data=form).status_code == 302
    page = client.get("/log").text
    assert f'id="took_{first}-yes" name="took_{first}" value="yes" checked' in page
    assert f'id="took_{second}-no" name="took_{second}" value="no" checked' in page
    assert 'value="0.5"' in page


def test_log_form_helper_matches_the_page(client, patient, crossover):
    """Guard for the tests above: the form they send is the one the page asks."""
    login_as(client, patient)
    form = fill_log(client)
    assert form == log_form(
        patient_today(patient),
        plans={int(k.split("_")[1]): v for k, v in form.items() if k.startswith("shown_")},
        submission=form["submission_id"],
    )


def test_cached_links_follow_the_path_the_app_is_mounted_at(client, patient, crossover):
    """Template links are built once per process, per mount path: an app behind a proxy at
    /clinic links to /clinic/..., the same app at / to /..."""
    login_as(client, patient)
    mounted = client.get("/today", base_url="http://localhost/clinic").text
    plain = client.get("/today").text
    assert 'href="/clinic/log"' in mounted
    assert 'href="/clinic/help"' in mounted
    assert 'href="/log"' in plain
    assert "/clinic/" not in plain
    assert client.application.jinja_env.globals["url_for"].__name__ == "cached_url_for"


def test_junk_answers_never_key_the_cached_symptom_questions(client, patient, crossover):
    """Only a valid answer (0 to 4) keys the fragment: anything else a patient posts is not
    kept for the life of the process (a refused form could be megabytes)."""
    from taper.templating import _fragment

    login_as(client, patient)
    _fragment.cache_clear()  # shared by the process: start from nothing, so growth shows
    client.get("/log")
    before = _fragment.cache_info().currsize
    for n in range(5):
        form = fill_log(client, score=2)
        form["fatigued"] = f"junk-{n}-" + "x" * 1000
        assert client.post("/log", data=form).status_code == 400
    assert _fragment.cache_info().currsize == before + 1  # the refused form, once


def test_the_step_cache_is_bounded_by_its_bytes_too():
    from datetime import date
    from decimal import Decimal

    from taper.domain.schedule import StepInput

    long = (StepInput(date(2026, 1, 1), Decimal(1), (), "n" * 5000),)
    cache = current_plans._StepCache(size=100, max_bytes=12000)
    cache.put_many({(1, 0): long, (2, 0): long})
    cache.put_many({(3, 0): long})
    assert set(cache.get_many([(1, 0), (2, 0), (3, 0)])) == {(2, 0), (3, 0)}
    assert cache.bytes == 2 * current_plans._StepCache.weight(long)


def test_audit_rows_without_a_summary_read_alike_on_every_path(app, client, patient, crossover):
    """A plan viewed on Today (one insert for the page) and a row written one at a time both
    store a missing summary the same way."""
    from taper.services import audit

    login_as(client, patient)
    client.get("/today")
    with app.app_context():
        user = db.session.get(type(patient), patient.id)
        audit.record(user, "probe.one", "user", user.id, patient_id=user.id)
        db.session.commit()
        rows = db.session.execute(
            db.select(AuditEvent.action, AuditEvent.summary.is_(None)).where(
                AuditEvent.action.in_(["plan.view", "probe.one"])
            )
        ).all()
    assert {is_null for _action, is_null in rows} == {False}
