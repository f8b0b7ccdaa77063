"""Every page has unique ids, and every id a page points at (label ``for``, ``aria-*``, ``#``
links) is on it: pages with several forms (the plan page, the admin accounts page) used to
repeat ``csrf_token``, ``version`` and ``submit``. The e2e run also checks every page it loads
with the Nu HTML Checker (tests/e2e/conftest.py); this is the quick check on every route."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

from flask import Flask

from taper.admin.forms import NewAccountForm
from taper.clinician.forms import HoldForm
from taper.models import Role
from tests.conftest import login_as
from tests.helpers import CATALOGUE, World, fillings
from tests.security import conftest as grids

world = grids.world  # the fixture the security grids call every route with

POINTERS = ("for", "aria-describedby", "aria-labelledby", "aria-controls", "aria-errormessage")


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.pointed: list[tuple[str, str]] = []  # (attribute, id)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.append(value)
            elif name in POINTERS:
                self.pointed += [(name, ref) for ref in value.split()]
            elif name == "href" and value.startswith("#") and len(value) > 1:
                self.pointed.append((name, value[1:]))

    handle_startendtag = handle_starttag


def id_problems(html: str) -> list[str]:
    """Repeated ids, and ids pointed at that the page does not have."""
    parser = _Ids()
    parser.feed(html)
    parser.close()
    problems = [f'id "{i}" is used {n} times' for i, n in Counter(parser.ids).items() if n > 1]
    have = set(parser.ids)
    problems += [
        f'{attr}="{ref}" names no element' for attr, ref in parser.pointed if ref not in have
    ]
    return problems


def test_the_parser_finds_a_repeated_id_and_a_dangling_label():
    page = (
        '<form><input id="csrf_token"></form><form><input id="csrf_token"></form>'
        '<label for="nowhere">X</label><a href="#main">skip</a><main id="main"></main>'
    )
    assert id_problems(page) == [
        'id "csrf_token" is used 2 times',
        'for="nowhere" names no element',
    ]


def _owners(world: World, admin) -> dict[Role, object]:
    return {Role.PATIENT: world.patient, Role.CLINICIAN: world.clinician, Role.ADMIN: admin}


def _pages(app: Flask, world: World, role: Role):
    """The url of every HTML page of the catalogue that ``role`` may open, with the world's
    ids (a rule not yet in the catalogue is tests/security/test_route_catalogue.py's failure)."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        route = CATALOGUE.get(rule.rule)
        if route is None or "GET" not in route.methods or role not in route.roles or route.public:
            continue
        if rule.rule.startswith(("/static/", "/charts/", "/reports/")) or ".csv" in rule.rule:
            continue
        for values in fillings(rule, world):
            yield adapter.build(rule.endpoint, values)


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)


def test_every_page_has_unique_ids(app: Flask, client, world, admin):
    """Each role opens every page it may open, with real records (a plan on hold with its
    hold, status and revision forms; the accounts page with its many small forms), with the
    CSRF token rendered as in production."""
    app.config["WTF_CSRF_ENABLED"] = True  # read per request: pages render their tokens
    owners = _owners(world, admin)
    pages = 0
    problems: dict[str, list[str]] = {}
    for role, user in owners.items():
        login_as(client, user)
        for url in _pages(app, world, role):
            response = client.get(url)
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            pages += 1
            found = id_problems(response.get_data(as_text=True))
            if found:
                problems[f"{role.value} {url}"] = found
    assert not problems, problems
    assert pages >= 20  # the walk really reached the pages


def test_pages_with_errors_have_unique_ids(app: Flask, client, world, admin):
    """Forms sent back with their errors: the daily log answered nothing, a plan with no
    steps, and an admin's new account with no name (both of the accounts page's forms)."""
    app.config["WTF_CSRF_ENABLED"] = True
    sent = [
        (world.patient, "/log", "/log", {}),
        (
            world.clinician,
            f"/clinician/patients/{world.patient.id}/plans/new",
            f"/clinician/patients/{world.patient.id}/plans/new",
            {"medication": "diazepam"},
        ),
        (admin, "/admin/accounts", "/admin/accounts/new", {"name": "", "email": "x"}),
    ]
    for user, page_url, post_url, data in sent:
        login_as(client, user)
        page = client.get(page_url).get_data(as_text=True)
        response = client.post(post_url, data={**data, "csrf_token": _csrf(page)})
        assert response.status_code in (200, 400, 422), (post_url, response.status_code)
        html = response.get_data(as_text=True)
        assert 'class="error' in html, post_url  # really the page with its errors
        assert id_problems(html) == [], post_url


def test_hidden_fields_and_submit_buttons_render_without_an_id(app: Flask):
    """At the root (taper/forms.py): hidden fields, Flask-WTF's csrf_token among them, and
    submit buttons carry no id, unless a template asks for one; other fields keep theirs."""
    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context():
        hold = HoldForm()
        account = NewAccountForm()
        bare = [hold.csrf_token(), hold.version(), hold.day(), hold.confirm(), hold.submit()]
        bare += [account.csrf_token(), account.submit()]
        for html in bare:
            assert "id=" not in str(html), html
        assert 'value="Show the new dates"' in str(hold.submit())
        assert 'id="chosen"' in str(hold.submit(id="chosen"))
        assert 'id="name"' in str(account.name())
        assert 'id="reason"' in str(hold.reason())


def test_the_accounts_page_has_two_forms_and_unique_ids(app: Flask, client, admin, make_user):
    """The admin accounts page: a new-account form, a care-team form and two small forms per
    account, each with its csrf_token."""
    app.config["WTF_CSRF_ENABLED"] = True
    make_user(Role.PATIENT)
    login_as(client, admin)
    html = client.get("/admin/accounts").get_data(as_text=True)
    assert html.count('name="csrf_token"') >= 4
    assert id_problems(html) == []
