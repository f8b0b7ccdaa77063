"""/metrics: Prometheus text for a signed-in admin or a scraper with METRICS_TOKEN; request
latency by endpoint (never the raw path), alerts by tier, the outbox's depth and age, job
failures; one bounded set of queries; gunicorn's workers summed in multiprocess mode."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taper import jobs
from taper.jobs.failures import count_failure
from taper.models import Role
from tests.conftest import login_as

TOKEN = "a-scraper-token-of-at-least-some-length"  # noqa: S105  (a test value)
WITH_TOKEN = pytest.mark.app_config(METRICS_TOKEN=TOKEN)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text page."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def send_red_flag(client) -> None:
    data = {"red_flags": "chest_pain", "submission_id": uuid.uuid4().hex}
    assert client.post("/help", data=data).status_code == 200


@WITH_TOKEN
def test_a_scraper_with_the_token_reads_the_metrics(client):
    found = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert found[("taper_outbox_unsent", ())] == 0
    assert found[("taper_alerts_raised_total", (("tier", "urgent"),))] == 0


def test_an_admin_reads_the_metrics_without_a_token(client, admin):
    login_as(client, admin)
    assert ("taper_job_failures_total", ()) in scrape(client)


@WITH_TOKEN
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
    ],
)
def test_anyone_else_is_not_found(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert b"taper_" not in response.data


def test_an_empty_token_setting_lets_no_scraper_in(client):
    for authorization in ("Bearer ", "Bearer", "Bearer  "):
        assert client.get("/metrics", headers={"Authorization": authorization}).status_code == 404


@WITH_TOKEN
@pytest.mark.parametrize("role", [Role.PATIENT, Role.CLINICIAN])
def test_other_roles_are_refused_even_with_a_wrong_token(client, make_user, role, caplog):
    login_as(client, make_user(role))
    response = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403
    assert "You cannot open this page" in response.get_data(as_text=True)
    assert "access denied status=403" in caplog.text


@WITH_TOKEN
def test_a_clinician_with_the_token_gets_the_metrics(client, clinician):
    """The token is the scraper's credential, whoever is signed in on that browser."""
    login_as(client, clinician)
    assert scrape(client, Authorization=f"Bearer {TOKEN}")


@WITH_TOKEN
def test_alerts_and_the_outbox_are_counted(client, app, patient, active_plan):
    login_as(client, patient)
    send_red_flag(client)
    send_red_flag(client)
    found = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert found[("taper_alerts_raised_total", (("tier", "urgent"),))] == 2
    assert found[("taper_outbox_unsent", ())] >= 2  # an e-mail per urgent alert
    assert 0 <= found[("taper_outbox_oldest_unsent_age_seconds", ())] < 120


@WITH_TOKEN
def test_job_failures_are_counted(client, app):
    """Counted by taper.jobs (in this process without Redis, in Redis with it)."""
    before = scrape(client, Authorization=f"Bearer {TOKEN}")[("taper_job_failures_total", ())]
    count_failure(app, "outbox", RuntimeError("mail server said no"))
    after = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert after[("taper_job_failures_total", ())] == before + 1
    assert after[("taper_job_dead_letters", ())] == jobs.dead_letter_count(app)


@WITH_TOKEN
def test_a_broken_job_count_is_zero_and_logged(client, monkeypatch, caplog):
    def broken(*_args):
        raise RuntimeError("queue gone")

    monkeypatch.setattr(jobs, "dead_letter_count", broken)
    monkeypatch.delattr(jobs, "failures_total")
    found = scrape(client, Authorization=f"Bearer {TOKEN}")
    assert found[("taper_job_dead_letters", ())] == 0
    assert found[("taper_job_failures_total", ())] == 0
    assert "metrics: jobs.dead_letter_count unavailable (RuntimeError)" in caplog.text
    assert "metrics: jobs.failures_total unavailable (AttributeError)" in caplog.text


@WITH_TOKEN
def test_latency_is_labelled_by_endpoint_never_by_path(client, clinician, patient):
    login_as(client, clinician)
    assert client.get(f"/clinician/patients/{patient.id}").status_code == 200
    client.get("/no/such/page/12345")
    text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    found = samples(text)
    bucket = (("endpoint", "clinician.patient"), ("le", "+Inf"), ("status", "2xx"))
    assert found[("taper_request_duration_seconds_bucket", bucket)] >= 1
    unmatched = (("endpoint", "(no route)"), ("status", "4xx"))
    assert found[("taper_request_duration_seconds_count", unmatched)] >= 1
    endpoints = set(re.findall(r'endpoint="([^"]*)"', text))
    assert not [name for name in endpoints if "/" in name or str(patient.id) in name]


@WITH_TOKEN
def test_one_scrape_is_a_bounded_set_of_queries(
    client, make_user, patient, active_plan, count_queries
):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    scraper = client.application.test_client()
    with count_queries() as few:
        scraper.get("/metrics", headers=headers)
    login_as(client, patient)
    for _ in range(4):
        send_red_flag(client)
    with count_queries() as many:
        scraper.get("/metrics", headers=headers)
    assert len(many) == len(few) == 2  # alerts by tier; the outbox's depth and oldest


def test_gunicorn_workers_are_summed_in_multiprocess_mode(tmp_path):
    """Two worker processes write their timings to PROMETHEUS_MULTIPROC_DIR; a scrape in a
    third reads both."""
    worker = textwrap.dedent(
        """
        from taper import create_app
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "METRICS_TOKEN": "t"})
        client = app.test_client()
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
        """
    )
    scraper = textwrap.dedent(
        """
        from taper import create_app
        from taper.extensions import db
        app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "METRICS_TOKEN": "t"})
        with app.app_context():
            db.create_all()
        print(app.test_client().get("/metrics", headers={"Authorization": "Bearer t"}).text)
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for script in (worker, worker):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=120)  # noqa: S603
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", scraper], env=env, check=True, timeout=120, capture_output=True
    ).stdout.decode()
    found = samples(out)
    key = (
        "taper_request_duration_seconds_count",
        (("endpoint", "main.healthz"), ("status", "2xx")),
    )
    assert found[key] == 6
