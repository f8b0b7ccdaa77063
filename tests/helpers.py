"""Test helpers: typed plan rows and daily-log forms as the pages post them, the row-count
helpers that show nothing was written, and the catalogue of every route the grids walk."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyotp
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import Rule

from taper.charts import render
from taper.domain.instrument import CIWA_B
from taper.domain.schedule import local_today
from taper.extensions import db
from taper.models import Role, TaperPlan, User
from taper.services.records import EXPORT_FILES


def previous_step_code(secret: str) -> str:
    """The two-step code of the time step before this one (taken for clock drift, and unlike
    this step's code still free for the login that follows). Never computed in a step's last
    two seconds: by the time the server checks, its clock could be a step further on, and a
    code two steps old is refused."""
    left = 30 - time.time() % 30
    if left < 2:
        time.sleep(left + 0.05)
    return pyotp.TOTP(secret).at(time.time() - 30)


def plan_form(steps, *, medication="diazepam", reason="", version=None, password=None):
    """Form data as the plan editor posts it. ``steps`` = [(start, total, {part: dose}, note)]."""
    data = {"medication": medication, "reason": reason}
    if version is not None:
        data["version"] = str(version)
    if password is not None:
        data["password"] = password
    for i, (start, total, parts, note) in enumerate(steps):
        data[f"steps-{i}-start"] = start if isinstance(start, str) else start.isoformat()
        data[f"steps-{i}-total"] = total
        for name, value in (parts or {}).items():
            data[f"steps-{i}-{name}"] = value
        data[f"steps-{i}-note"] = note
    return data


def six_steps(first: date):
    """A 6-step diazepam plan typed by a clinician, two weeks a step."""
    doses = ["20", "17.5", "15", "12.5", "10", "7.5"]
    return [
        (first + timedelta(days=14 * i), dose, {}, f"Step {i + 1}") for i, dose in enumerate(doses)
    ]


def version_of(app, plan_id: int) -> int:
    with app.app_context():
        return db.session.get(TaperPlan, plan_id).version


def patient_today(patient) -> date:
    return local_today(datetime.now(UTC), patient.timezone)


def log_form(
    day: date,
    *,
    score: int = 1,
    plans: Mapping[int, str] | None = None,
    took: str | None = "yes",
    dose_taken: str = "",
    answers: Mapping[int, tuple[str | None, str]] | None = None,
    sleep: str = "7",
    note: str = "",
    flags=(),
    submission: str | None = None,
    substances: str | None = "no",
    when: str | None = None,
):
    """A complete daily-log form; every item answered with ``score``.

    ``plans`` maps each plan asked about to the scheduled dose the form showed (its hidden
    ``shown_<id>``); each is answered ``took`` (yes, no, or None for no answer) with
    ``dose_taken``, unless ``answers`` gives that plan its own (took, dose_taken).
    ``substances`` answers the alcohol/sedatives question (None: unanswered); ``when`` says
    when the red flags happened (now, past). Without
    ``plans`` the form has no dose question (a patient with no plan in force); ``fill_log``
    reads the questions from the page instead."""
    data = {item.key: str(score) for item in CIWA_B.patient_items}
    data.update(
        {
            "day": day.isoformat(),
            "sleep_hours": sleep,
            "note": note,
            "submission_id": submission or uuid.uuid4().hex,
        }
    )
    for plan_id, shown in (plans or {}).items():
        plan_took, plan_taken = (answers or {}).get(plan_id, (took, dose_taken))
        data[f"shown_{plan_id}"] = shown
        if plan_took is not None:
            data[f"took_{plan_id}"] = plan_took
        data[f"dose_taken_{plan_id}"] = plan_taken
    if flags:
        data["red_flags"] = list(flags)
    if substances is not None:
        data["substances"] = substances
    if when is not None:
        data["red_flags_when"] = when
    return data


def dose_questions(page: str) -> dict[int, str]:
    """The dose questions a log form asks: {plan id: scheduled dose shown}."""
    return {
        int(plan_id): shown
        for plan_id, shown in re.findall(r'name="shown_(\d+)" value="([^"]*)"', page)
    }


def fill_log(client, day: date | None = None, **fields):
    """Open the log form for ``day`` (today when None) as the signed-in patient and fill it
    in as ``log_form`` would, answering the dose questions that page asks."""
    page = client.get("/log" if day is None else f"/log?day={day.isoformat()}")
    assert page.status_code == 200, page.status_code
    text = page.get_data(as_text=True)
    shown_day = re.search(r'name="day" value="([0-9-]+)"', text).group(1)
    fields.setdefault("submission", submission_of(text))
    return log_form(date.fromisoformat(shown_day), plans=dose_questions(text), **fields)


def submission_of(page: str) -> str:
    return re.search(r'name="submission_id" value="([0-9a-f]{32})"', page).group(1)


def field_error(page: str, field_id: str) -> str:
    """The error text rendered beside one field (empty when there is none)."""
    match = re.search(rf'id="{field_id}-error">(.*?)</p>', page, re.S)
    return match.group(1).strip() if match else ""


# --- counting rows: "nothing was written" ---------------------------------------------------


def count_rows(model, **where) -> int:
    """Rows of one table (those matching ``where``), read in the current app context."""
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def row_counts(app, *models) -> tuple[int, ...]:
    """Rows of each table, read in an app context of their own."""
    with app.app_context():
        return tuple(count_rows(model) for model in models)


def table_rows(app) -> dict[str, list[str]]:
    """Every row of every table, to show that a refused request changed nothing."""
    with app.app_context():
        return {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }


def changed_tables(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    """The tables whose rows differ between two ``table_rows`` snapshots."""
    return [name for name in before if before[name] != after[name]]


# --- the route catalogue --------------------------------------------------------------------

VICTIM_NAME = "Marisol Vantreeck"
VICTIM_EMAIL = "marisol.vantreeck@example.org"
MEDICATION = "loprazolam"  # not in the editor's list of common names: seen only with her plan
STEP_NOTE = "Halve the evening tablet gently"
HOLD_REASON = "Wobbly week after the house move"
LOG_NOTE = "Slept badly after the funeral"
VISIT_NOTE = "Tremor settling at the visit"
SECRETS = (VICTIM_NAME, VICTIM_EMAIL, MEDICATION, STEP_NOTE, HOLD_REASON, LOG_NOTE, VISIT_NOTE)


@dataclass(frozen=True)
class World:
    """A patient (the victim) with her clinical records, all created through the app, her
    clinician, and a patient on nobody's care team yet."""

    patient: User
    clinician: User
    newcomer: User
    plan_id: int
    alert_id: int
    day: date
    token: str  # a valid set-password link token of the newcomer


Form = Callable[[Flask, World], dict]

PATIENT = frozenset({Role.PATIENT})
CLINICIAN = frozenset({Role.CLINICIAN})
ADMIN = frozenset({Role.ADMIN})
CARE = frozenset({Role.PATIENT, Role.CLINICIAN})  # a patient's own pages, or her care team's
SIGNED_IN = frozenset(Role)


def _no_form(app: Flask, world: World) -> dict:
    return {}


@dataclass(frozen=True)
class Route:
    """One rule of the app and what the grids need to call it: the methods it answers, the
    roles that may use it, whether it is public, and the form a POST needs to do its work with
    the ids of a ``World`` (``writes``: that work writes a row)."""

    rule: str
    methods: frozenset[str]
    roles: frozenset[Role]
    public: bool = False
    form: Form = _no_form
    writes: bool = True

    @property
    def clinical(self) -> bool:
        """Clinical data: admins, who manage accounts, are kept out."""
        return Role.ADMIN not in self.roles

    @property
    def takes_an_id(self) -> bool:
        """Its URL names a record by an integer id."""
        return "<int:" in self.rule

    @property
    def takes_a_form(self) -> bool:
        """A POST with fields of its own (not only the ids in its URL)."""
        return "POST" in self.methods and self.form is not _no_form

    def owner(self, world: World, admin: User) -> User:
        """Someone who may use this route with the world's ids."""
        if Role.CLINICIAN in self.roles:
            return world.clinician
        return admin if Role.ADMIN in self.roles else world.patient


def _version(app: Flask, world: World) -> str:
    """The plan's version as it is now, so a refusal is never just a stale form."""
    return str(version_of(app, world.plan_id))


def _steps(world: World):
    """Two valid steps, so a plan form that got through would really be saved."""
    today = patient_today(world.patient)
    return [(today - timedelta(days=1), "6", {}, ""), (today + timedelta(days=14), "4", {}, "")]


def _confirmed(app: Flask, world: World) -> dict[str, str]:
    """A timeline change posted confirmed (the second step), as if the preview was seen."""
    return {"confirm": "1", "day": world.day.isoformat(), "version": _version(app, world)}


def _new_email() -> str:
    return f"grid.{uuid.uuid4().hex[:12]}@example.org"


def _get(rule: str, roles: frozenset[Role], **kwargs) -> Route:
    return Route(rule, frozenset({"GET"}), roles, **kwargs)


def _post(rule: str, roles: frozenset[Role], **kwargs) -> Route:
    return Route(rule, frozenset({"POST"}), roles, **kwargs)


def _page(rule: str, roles: frozenset[Role], **kwargs) -> Route:
    return Route(rule, frozenset({"GET", "POST"}), roles, **kwargs)


NEW_PASSWORD_FORM = {
    "password": "a long sentence only I know",
    "confirm": "a long sentence only I know",
}

# Every rule of the app. A new rule fails tests/security/test_route_catalogue.py until it is
# described here; the access, CSRF and fuzz grids read it.
ROUTES: tuple[Route, ...] = (
    _get("/", SIGNED_IN),
    _get("/ping", SIGNED_IN, public=True),
    _get("/health", SIGNED_IN, public=True),
    _get("/healthz", SIGNED_IN, public=True),
    _get("/readyz", SIGNED_IN, public=True),
    _get("/metrics", ADMIN, public=True),  # an admin, or a scraper with the token
    _get("/static/<path:filename>", SIGNED_IN, public=True),
    # Signing in and accounts
    _page("/login", SIGNED_IN, public=True, form=lambda app, w: {"email": w.patient.email}),
    _page("/login/code", SIGNED_IN, public=True, form=lambda app, w: {"code": "123456"}),
    _page("/set-password/<token>", SIGNED_IN, public=True, form=lambda app, w: NEW_PASSWORD_FORM),
    _post("/logout", SIGNED_IN),
    _page(
        "/password",
        SIGNED_IN,
        form=lambda app, w: {"current_password": "x" * 12, **NEW_PASSWORD_FORM},
    ),
    _page("/account/two-step", SIGNED_IN, form=lambda app, w: {"code": "123456"}),
    _get("/account/two-step/qr.svg", SIGNED_IN),
    _page("/account/details", SIGNED_IN, form=lambda app, w: {"phone": "07700 900123"}),
    _post("/account/reminder", PATIENT, form=lambda app, w: {"reminder-on": "on"}),
    _post("/account/two-step/off", SIGNED_IN, form=lambda app, w: {"password": "x", "code": "1"}),
    _post(
        "/account/two-step/recovery-codes",
        SIGNED_IN,
        form=lambda app, w: {"renew-password": "x", "renew-code": "1"},
    ),
    # Admins: accounts and care teams, no clinical data
    _get("/admin/accounts", ADMIN),
    _post(
        "/admin/accounts/new",
        ADMIN,
        form=lambda app, w: {
            "name": "Dr Jordan Ellis",
            "email": _new_email(),
            "role": "clinician",
            "timezone": "Europe/London",
        },
    ),
    _post("/admin/accounts/<int:user_id>/link", ADMIN),  # an audit row, and an e-mail or a link
    _post("/admin/accounts/<int:user_id>/deactivate", ADMIN),
    _post("/admin/accounts/<int:user_id>/reactivate", ADMIN, writes=False),  # the world's is on
    _post(
        "/admin/care-team",
        ADMIN,
        form=lambda app, w: {"clinician": str(w.clinician.id), "patient": str(w.newcomer.id)},
    ),
    _post("/admin/care-team/<int:patient_id>/<int:clinician_id>/remove", ADMIN),
    _get("/admin/audit", ADMIN),
    _get("/admin/jobs", ADMIN),
    _post("/admin/jobs/retry", ADMIN, writes=False),  # the job id is a form field
    _post("/admin/jobs/remove", ADMIN, writes=False),
    # Patients
    _get("/today", PATIENT),
    _page("/log", PATIENT, form=lambda app, w: log_form(w.day, note="Another go")),
    _get("/log/saved", PATIENT),
    _page(
        "/help",
        PATIENT,
        form=lambda app, w: {"red_flags": ["confusion"], "submission_id": uuid.uuid4().hex},
    ),
    _get("/history", PATIENT),
    _get("/history/<day>", PATIENT),
    _get("/export.csv", PATIENT),
    _get("/export/<name>", PATIENT),
    _get("/progress", PATIENT),
    # Charts and the visit report: a patient's own, or her care team's
    _get("/charts/<int:patient_id>/progress.<fmt>", CARE),
    _get("/charts/<int:patient_id>/symptoms.<fmt>", CLINICIAN),
    _get("/reports/<int:patient_id>.pdf", CARE),
    # Clinicians
    _get("/clinician/patients", CLINICIAN),
    _page(
        "/clinician/patients/new",
        CLINICIAN,
        form=lambda app, w: {"name": "Casey Newcomer", "email": _new_email(), "timezone": "UTC"},
    ),
    _get("/clinician/patients/<int:patient_id>", CLINICIAN),
    _get("/clinician/patients/<int:patient_id>/export/<name>", CLINICIAN),
    _get("/clinician/patients/export.zip", CLINICIAN),
    _post("/clinician/patients/<int:patient_id>/link", CLINICIAN),
    _post(
        "/clinician/patients/<int:patient_id>/phone",
        CLINICIAN,
        form=lambda app, w: {"phone-phone": "07700 900123"},
    ),
    _get("/clinician/patients/<int:patient_id>/logs", CLINICIAN),
    _get("/clinician/patients/<int:patient_id>/logs/<day>", CLINICIAN),
    _get("/clinician/patients/<int:patient_id>/progress", CLINICIAN),
    _page(
        "/clinician/patients/<int:patient_id>/alert-settings",
        CLINICIAN,
        form=lambda app, w: {
            "high_score": "30",
            "rising_points": "5",
            "missed_days": "3",
            "plan_end_days": "7",
        },
    ),
    _page(
        "/clinician/patients/<int:patient_id>/assessments/new",
        CLINICIAN,
        form=lambda app, w: {**{item.key: "2" for item in CIWA_B.items}, "note": "Outsider"},
    ),
    _page(
        "/clinician/patients/<int:patient_id>/plans/new",
        CLINICIAN,
        form=lambda app, w: plan_form(_steps(w), medication="diazepam"),
    ),
    _post("/clinician/patients/<int:patient_id>/plans/new/check", CLINICIAN, writes=False),
    _get("/clinician/plans/<int:plan_id>", CLINICIAN),
    _post("/clinician/plans/<int:plan_id>/edit/check", CLINICIAN, writes=False),
    _page(
        "/clinician/plans/<int:plan_id>/edit",
        CLINICIAN,
        form=lambda app, w: plan_form(_steps(w), reason="Outsider edit", version=_version(app, w)),
    ),
    _post(
        "/clinician/plans/<int:plan_id>/hold",
        CLINICIAN,
        form=lambda app, w: {"reason": "Outsider hold", "until": "", **_confirmed(app, w)},
    ),
    _post(
        "/clinician/plans/<int:plan_id>/release-hold",
        CLINICIAN,
        form=lambda app, w: {"reason": "Outsider release", **_confirmed(app, w)},
    ),
    _post(
        "/clinician/plans/<int:plan_id>/status",
        CLINICIAN,
        # The plan is on hold, so a pause would be refused.
        form=lambda app, w: {
            "status": "completed",
            "reason": "Outsider completes it",
            **_confirmed(app, w),
        },
    ),
    _get("/clinician/plans/<int:plan_id>/revisions", CLINICIAN),
    _get("/clinician/alerts", CLINICIAN),
    _post(
        "/clinician/alerts/<int:alert_id>/acknowledge",
        CLINICIAN,
        form=lambda app, w: {"note": "Outsider saw it"},
    ),
    _post(
        "/clinician/alerts/<int:alert_id>/resolve",
        CLINICIAN,
        form=lambda app, w: {"note": "Outsider closed it"},
    ),
)
CATALOGUE: dict[str, Route] = {route.rule: route for route in ROUTES}


def app_routes(app: Flask) -> dict[str, frozenset[str]]:
    """Every rule of ``app.url_map`` with the methods it answers (no HEAD or OPTIONS)."""
    return {
        rule.rule: frozenset(rule.methods - {"HEAD", "OPTIONS"})
        for rule in app.url_map.iter_rules()
    }


def catalogue_gaps(app: Flask) -> list[str]:
    """How the catalogue and the app's routes differ (empty when they agree)."""
    routes = app_routes(app)
    gaps = [
        f"not in the catalogue: {sorted(m)} {r}" for r, m in routes.items() if r not in CATALOGUE
    ]
    gaps += [f"no longer a route: {r}" for r in CATALOGUE if r not in routes]
    gaps += [
        f"methods differ: {r} answers {sorted(m)}, catalogue {sorted(CATALOGUE[r].methods)}"
        for r, m in routes.items()
        if r in CATALOGUE and CATALOGUE[r].methods != m
    ]
    return gaps


SAMPLE_FORMATS = tuple(render.FORMATS)  # every chart format the app serves


def fillings(rule: Rule, world: World) -> list[dict[str, object]]:
    """Every valid set of values for a rule's arguments from the world (one per chart format
    and per file of an export)."""
    ids = {
        "patient_id": world.patient.id,
        "user_id": world.patient.id,
        "clinician_id": world.clinician.id,
        "plan_id": world.plan_id,
        "alert_id": world.alert_id,
        "day": world.day.isoformat(),
        "token": world.token,
        "filename": "css/app.css",
    }
    unknown = set(rule.arguments) - set(ids) - {"fmt", "name"}
    assert not unknown, f"{rule.rule}: no sample value for {sorted(unknown)}"
    values = {arg: ids[arg] for arg in rule.arguments if arg in ids}
    if "fmt" in rule.arguments:
        return [{**values, "fmt": fmt} for fmt in SAMPLE_FORMATS]
    if "name" in rule.arguments:  # every file of a record the app serves
        return [{**values, "name": name} for name in EXPORT_FILES]
    return [values]


def calls(app: Flask, world: World, *, ids_only: bool = False) -> Iterator[tuple[Route, str, str]]:
    """(route, method, url) for every rule of the app (or only those taking an id), with the
    world's values filled in. A rule missing from the catalogue fails here."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        route = CATALOGUE.get(rule.rule)
        assert route is not None, f"{rule.rule}: not in the catalogue (tests/helpers.py ROUTES)"
        if ids_only and not route.takes_an_id:
            continue
        for values in fillings(rule, world):
            url = adapter.build(rule.endpoint, values)
            for method in sorted(route.methods):
                yield route, method, url


def call(app: Flask, client, world: World, route: Route, method: str, url: str, form=True):
    """Open one url as the client is signed in, with the route's form on a POST."""
    data = route.form(app, world) if method == "POST" and form else None
    response = client.open(url, method=method, data=data)
    response.close()
    return response


def leaked(body: bytes) -> list[str]:
    """The victim's secrets that a page shows."""
    lowered = body.lower()
    return [secret for secret in SECRETS if secret.lower().encode() in lowered]
