"""B2: every route that takes an id, filled with someone else's ids, as every outsider.

The grid is built from ``app.url_map``: each rule with an ``<int:...>`` argument, each method it
allows. The ids belong to a patient on another clinician's care team (their plan, alert, log
day). A clinician off that care team, another patient and (on clinical routes) an admin must get
403 or 404, see none of the patient's data, and change no row. The owner's own clinician (or an
admin, for account routes) gets through with the same ids and forms, so a denial is never just
an unknown id or a bad form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.routing import IntegerConverter, Rule

from taper.charts.render import FORMATS
from taper.domain.instrument import CIWA_B
from taper.extensions import db
from taper.models import Alert, Role, User
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today, plan_form, version_of

VICTIM_NAME = "Marisol Vantreeck"
VICTIM_EMAIL = "marisol.vantreeck@example.org"
MEDICATION = "loprazolam"  # not in the editor's list of common names: seen only with her plan
STEP_NOTE = "Halve the evening tablet gently"
HOLD_REASON = "Wobbly week after the house move"
LOG_NOTE = "Slept badly after the funeral"
VISIT_NOTE = "Tremor settling at the visit"
SECRETS = (VICTIM_NAME, VICTIM_EMAIL, MEDICATION, STEP_NOTE, HOLD_REASON, LOG_NOTE, VISIT_NOTE)
DENIED = (403, 404)


@dataclass(frozen=True)
class World:
    """The victim and her clinical records, all created through the app."""

    patient: User
    plan_id: int
    alert_id: int
    day: date


Form = Callable[[Flask, World], dict]


def _steps(world: World):
    """Two valid steps, so a plan form that got through would really be saved."""
    today = patient_today(world.patient)
    return [(today - timedelta(days=1), "6", {}, ""), (today + timedelta(days=14), "4", {}, "")]


def _version(app: Flask, world: World) -> str:
    """The plan's version as it is now, so a refusal is never just a stale form."""
    return str(version_of(app, world.plan_id))


@dataclass(frozen=True)
class Route:
    """How to call one endpoint: whether admins are kept out of it as clinical data, the form
    its POST would need to do its work, and whether that work writes a row."""

    clinical: bool = True
    form: Form = field(default=lambda app, world: {})
    writes: bool = True


# Every endpoint with an <int:...> argument. A new one fails test_grid_covers_every_id_route
# until it is described here.
ROUTES: dict[str, Route] = {
    "admin.deactivate": Route(clinical=False),
    "admin.new_link": Route(clinical=False),  # an audit row, and an e-mail or a shown link
    "clinician.acknowledge_alert": Route(form=lambda app, w: {"note": "Outsider saw it"}),
    "clinician.resolve_alert": Route(form=lambda app, w: {"note": "Outsider closed it"}),
    "clinician.patient": Route(),
    "clinician.alert_settings": Route(
        form=lambda app, w: {
            "high_score": "30",
            "rising_points": "5",
            "missed_days": "3",
            "plan_end_days": "7",
        }
    ),
    "clinician.new_assessment": Route(
        form=lambda app, w: {**{item.key: "2" for item in CIWA_B.items}, "note": "Outsider"}
    ),
    "clinician.new_link": Route(),
    "clinician.patient_logs": Route(),
    "clinician.patient_log_day": Route(),
    "clinician.new_plan": Route(form=lambda app, w: plan_form(_steps(w), medication="diazepam")),
    "clinician.plan": Route(),
    "clinician.edit_plan": Route(
        form=lambda app, w: plan_form(_steps(w), reason="Outsider edit", version=_version(app, w))
    ),
    # Timeline changes are posted confirmed (the second step), as if the preview was seen.
    "clinician.hold": Route(
        form=lambda app, w: {
            "reason": "Outsider hold",
            "until": "",
            "version": _version(app, w),
            **_confirmed(w),
        }
    ),
    "clinician.release_hold": Route(
        form=lambda app, w: {
            "reason": "Outsider release",
            "version": _version(app, w),
            **_confirmed(w),
        }
    ),
    "clinician.plan_status": Route(
        form=lambda app, w: {
            "status": "completed",  # the plan is on hold, so a pause would be refused
            "reason": "Outsider completes it",
            "version": _version(app, w),
            **_confirmed(w),
        }
    ),
    "clinician.revisions": Route(),
    "progress.progress_image": Route(),
    "progress.heatmap_image": Route(),
    "progress.patient_progress": Route(),
    "progress.report_pdf": Route(),
}


def _takes_an_id(rule: Rule) -> bool:
    return any(isinstance(c, IntegerConverter) for c in rule._converters.values())


def id_rules(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if _takes_an_id(rule)]


def _fillings(rule: Rule, world: World) -> Iterator[dict[str, object]]:
    """Every valid set of values for the rule's arguments (one per chart format)."""
    ids = {
        "patient_id": world.patient.id,
        "user_id": world.patient.id,
        "plan_id": world.plan_id,
        "alert_id": world.alert_id,
        "day": world.day.isoformat(),
    }
    choices = {"fmt": tuple(FORMATS)}
    unknown = set(rule.arguments) - set(ids) - set(choices)
    assert not unknown, f"{rule.endpoint}: no sample value for {sorted(unknown)}"
    fillings = [{arg: ids[arg] for arg in rule.arguments if arg in ids}]
    for arg, values in choices.items():
        if arg in rule.arguments:
            fillings = [{**f, arg: value} for f in fillings for value in values]
    yield from fillings


def grid(app: Flask, world: World) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, url) for every id route, with the victim's ids filled in."""
    adapter = app.url_map.bind("localhost")
    for rule in id_rules(app):
        assert rule.endpoint in ROUTES, f"{rule.endpoint}: not in the grid (add it to ROUTES)"
        for values in _fillings(rule, world):
            url = adapter.build(rule.endpoint, values)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule.endpoint, method, url


def snapshot(app: Flask) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def leaked(body: bytes) -> list[str]:
    lowered = body.lower()
    return [secret for secret in SECRETS if secret.lower().encode() in lowered]


def call(app: Flask, client: FlaskClient, world: World, endpoint: str, method: str, url: str):
    data = ROUTES[endpoint].form(app, world) if method == "POST" else None
    response = client.open(url, method=method, data=data)
    response.close()
    return response


def _confirmed(w) -> dict[str, str]:
    return {"confirm": "1", "day": w.day.isoformat()}


@pytest.fixture
def world(app, client, clinician, make_user, write_plan) -> World:
    """A patient on Dr Quinn's care team with an active plan on hold, a visit assessment, a
    logged day and an open alert, each made the way the app makes them."""
    victim = make_user(Role.PATIENT, name=VICTIM_NAME, email=VICTIM_EMAIL, clinicians=(clinician,))
    today = patient_today(victim)
    login_as(client, clinician)
    plan_id = write_plan(
        victim,
        [
            (today - timedelta(days=20), "10", {}, ""),
            (today - timedelta(days=3), "7.5", {}, STEP_NOTE),
            (today + timedelta(days=11), "5", {}, ""),
        ],
        medication=MEDICATION,
    )
    response = client.post(
        f"/clinician/plans/{plan_id}/hold",
        data={
            "reason": HOLD_REASON,
            "until": "",
            "version": str(version_of(app, plan_id)),
            "confirm": "1",
            "day": today.isoformat(),
        },
    )
    assert response.status_code == 302
    response = client.post(
        f"/clinician/patients/{victim.id}/assessments/new",
        data={**{item.key: "1" for item in CIWA_B.items}, "note": VISIT_NOTE},
    )
    assert response.status_code == 302
    login_as(client, victim)
    # A high score raises a review alert (no urgent e-mail is attempted).
    response = client.post("/log", data=fill_log(client, today, score=3, note=LOG_NOTE))
    assert response.status_code == 302
    with app.app_context():
        alert_id = db.session.scalars(select(Alert.id).where(Alert.patient_id == victim.id)).one()
    return World(patient=victim, plan_id=plan_id, alert_id=alert_id, day=today)


def test_grid_covers_every_id_route(app):
    """A new route with an id fails here until the grid knows how to fill it."""
    endpoints = {rule.endpoint for rule in id_rules(app)}
    assert not endpoints - ROUTES.keys(), f"not in the grid: {sorted(endpoints - ROUTES.keys())}"
    assert not ROUTES.keys() - endpoints, f"no longer routes: {sorted(ROUTES.keys() - endpoints)}"


def _outsider(role: Role, make_user, clinician) -> User:
    if role is Role.CLINICIAN:
        outsider = make_user(Role.CLINICIAN, name="Dr Olu Outsider")
        make_user(Role.PATIENT, name="Own Caseload", clinicians=(outsider,))
        return outsider
    if role is Role.PATIENT:  # shares her clinician: a care team does not join its patients
        return make_user(Role.PATIENT, name="Pat Neighbour", clinicians=(clinician,))
    return make_user(Role.ADMIN, name="Ari Admin")


@pytest.mark.parametrize("role", list(Role), ids=lambda role: role.value)
def test_outsiders_get_nothing_from_someone_elses_ids(
    app, client, make_user, clinician, world, role
):
    """Role x id route x method: 403/404, none of her data in the body, no row changed."""
    login_as(client, _outsider(role, make_user, clinician))
    failures, visited = [], set()
    for endpoint, method, url in grid(app, world):
        if role is Role.ADMIN and not ROUTES[endpoint].clinical:
            continue  # admins manage accounts, which is not clinical data
        visited.add(endpoint)
        before = snapshot(app)
        response = call(app, client, world, endpoint, method, url)
        problems = []
        if response.status_code not in DENIED:
            problems.append(f"status {response.status_code}")
        if secrets := leaked(response.get_data()):
            problems.append(f"body shows {secrets}")
        if tables := changed_tables(before, snapshot(app)):
            problems.append(f"changed {tables}")
        if problems:
            failures.append(f"{role.value} {method} {url} ({endpoint}): {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
    assert visited == {e for e, r in ROUTES.items() if r.clinical or role is not Role.ADMIN}


@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_her_own_clinician_gets_through_with_the_same_ids(
    app, client, clinician, admin, world, endpoint
):
    """The control: the grid's ids exist and its forms do their work for someone allowed
    (her clinician; an admin on account routes)."""
    login_as(client, clinician if ROUTES[endpoint].clinical else admin)
    calls = [c for c in grid(app, world) if c[0] == endpoint]
    assert calls
    for _, method, url in calls:
        before = snapshot(app)
        response = call(app, client, world, endpoint, method, url)
        assert response.status_code in (200, 302), (method, url, response.status_code)
        if method == "GET" and response.mimetype == "text/html":
            assert leaked(response.get_data()), (url, "the leak check would see nothing here")
        if method == "POST" and ROUTES[endpoint].writes:
            assert changed_tables(before, snapshot(app)), (method, url, "changed nothing")
