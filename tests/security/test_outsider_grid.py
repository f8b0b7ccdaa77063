"""B2: every route that takes an id, filled with someone else's ids, as every outsider.

The grid walks the route catalogue (tests/helpers.py): each rule with an ``<int:...>`` argument,
each method it allows. The ids belong to a patient on another clinician's care team (her plan,
alert, log day). A clinician off that care team, another patient and (on clinical routes) an
admin must get 403 or 404, see none of the patient's data, and change no row. The owner's own
clinician (or an admin, for account routes) gets through with the same ids and forms, so a
denial is never just an unknown id or a bad form.
"""

from __future__ import annotations

import pytest

from taper.models import Role, User
from tests.conftest import login_as
from tests.helpers import CATALOGUE, call, calls, changed_tables, leaked, table_rows

DENIED = (403, 404)
ID_ROUTES = sorted(rule for rule, route in CATALOGUE.items() if route.takes_an_id)


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
    for route, method, url in calls(app, world, ids_only=True):
        if role is Role.ADMIN and not route.clinical:
            continue  # admins manage accounts, which is not clinical data
        visited.add(route.rule)
        before = table_rows(app)
        response = call(app, client, world, route, method, url)
        problems = []
        if response.status_code not in DENIED:
            problems.append(f"status {response.status_code}")
        if secrets := leaked(response.get_data()):
            problems.append(f"body shows {secrets}")
        if tables := changed_tables(before, table_rows(app)):
            problems.append(f"changed {tables}")
        if problems:
            failures.append(f"{role.value} {method} {url}: {'; '.join(problems)}")
    assert not failures, "\n".join(failures)
    assert visited == {r for r in ID_ROUTES if CATALOGUE[r].clinical or role is not Role.ADMIN}


@pytest.mark.parametrize("rule", ID_ROUTES)
def test_her_own_clinician_gets_through_with_the_same_ids(app, client, admin, world, rule):
    """The control: the grid's ids exist and its forms do their work for someone allowed
    (her clinician; an admin on account routes)."""
    route = CATALOGUE[rule]
    login_as(client, route.owner(world, admin))
    tried = [c for c in calls(app, world, ids_only=True) if c[0] is route]
    assert tried
    for _, method, url in tried:
        before = table_rows(app)
        response = call(app, client, world, route, method, url)
        assert response.status_code in (200, 302), (method, url, response.status_code)
        if method == "GET" and response.mimetype == "text/html":
            assert leaked(response.get_data()), (url, "the leak check would see nothing here")
        if method == "POST" and route.writes:
            assert changed_tables(before, table_rows(app)), (method, url, "changed nothing")
