"""Admin: creating accounts, set-password links, care-team assignments and deactivation,
through real requests. That nobody else may (other roles, visitors, posts without the CSRF
token) is in the grids of tests/security/."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, CareTeamLink, Role, User
from tests.conftest import login_as, real_login
from tests.helpers import field_error, row_counts

NEW_PASSWORD = "a long sentence only I know"
XSS_NAMES = ["<script>alert(1)</script>", '"><svg onload=alert(1)>']


@pytest.fixture
def as_admin(client, admin):
    login_as(client, admin)
    return client


def account_form(**overrides) -> dict[str, str]:
    form = {
        "name": "Dr Jordan Ellis",
        "email": "jordan.ellis@example.org",
        "role": "clinician",
        "timezone": "Europe/London",
    }
    return form | overrides


def link_path(page: str) -> str:
    """The path of the set-password link shown on a link page."""
    link = re.search(r'id="link" class="link-box" type="text" readonly value="([^"]+)"', page)
    assert link, page
    parts = urlsplit(link.group(1))
    assert parts.scheme == "http"
    assert parts.path.startswith("/set-password/")
    return parts.path


def stored(app, email: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None:
            db.session.expunge(user)
        return user


def set_password_via(app, path: str, password: str = NEW_PASSWORD):
    """Open the link in a fresh browser and set a password; returns (client, response)."""
    visitor = app.test_client()
    form = visitor.get(path)
    assert form.status_code == 200
    assert "Set your password" in form.get_data(as_text=True)
    return visitor, visitor.post(path, data={"password": password, "confirm": password})


# --- creating accounts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "home"),
    [("clinician", "/clinician/patients"), ("patient", "/today"), ("admin", "/admin/accounts")],
)
def test_admin_creates_an_account_whose_link_works_once(app, as_admin, admin, role, home):
    email = f"new.{role}@example.org"
    response = as_admin.post("/admin/accounts/new", data=account_form(email=email, role=role))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Account ready: Dr Jordan Ellis" in page
    user = stored(app, email)
    assert (user.role.value, user.name, user.timezone, user.password_hash) == (
        role,
        "Dr Jordan Ellis",
        "Europe/London",
        None,
    )

    path = link_path(page)
    visitor, done = set_password_via(app, path)
    assert done.status_code == 302
    assert done.headers["Location"] == "/"
    landed = visitor.get("/", follow_redirects=True)
    assert landed.request.path == home
    assert landed.status_code == 200

    again = app.test_client().get(path)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)
    assert real_login(app.test_client(), email, NEW_PASSWORD).status_code == 302
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.create"))
        assert (event.actor_id, event.object_id) == (admin.id, user.id)


def test_created_account_cannot_log_in_before_the_link_is_used(app, as_admin):
    as_admin.post("/admin/accounts/new", data=account_form())

    response = real_login(app.test_client(), "jordan.ellis@example.org", "")
    assert response.status_code == 200
    response = real_login(app.test_client(), "jordan.ellis@example.org", NEW_PASSWORD)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Enter a name."),
        ({"name": "    "}, "name", "Enter a name"),
        ({"name": "n" * 121}, "name", "120 characters"),
        ({"name": "Nul\x00Name"}, "name", "cannot be saved"),
        ({"email": "nul\x00@example.org"}, "email", "cannot be saved"),
        ({"email": ""}, "email", "Enter an email address."),
        ({"email": "not-an-email"}, "email", "Enter an email address like name@example.org."),
        ({"email": "jordan@"}, "email", "Enter an email address like name@example.org."),
        ({"email": "taken@example.org"}, "email", "An account with this email already exists."),
        ({"email": "TAKEN@Example.org"}, "email", "An account with this email already exists."),
        ({"role": "superuser"}, "role", "Not a valid choice"),
        ({"role": ""}, "role", "Not a valid choice"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Not a valid choice"),
        ({"timezone": ""}, "timezone", "Not a valid choice"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "long-name",
        "nul-in-name",
        "nul-in-email",
        "empty-email",
        "bad-email",
        "half-email",
        "duplicate-email",
        "duplicate-email-other-case",
        "unknown-role",
        "empty-role",
        "unknown-timezone",
        "empty-timezone",
    ],
)
def test_bad_new_account_is_refused_beside_the_field_with_values_kept(
    app, as_admin, make_user, overrides, field, message
):
    make_user(Role.PATIENT, email="taken@example.org")
    before = row_counts(app, User, AuditEvent)
    data = account_form(**overrides)

    response = as_admin.post("/admin/accounts/new", data=data)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in field_error(page, field)
    assert 'aria-invalid="true"' in page
    assert "Please fix the problem below." in page
    for kept in ("name", "email"):
        if data[kept].strip():
            assert f'value="{escape(data[kept])}"' in page
    if field != "timezone":
        assert '<option selected value="Europe/London">' in page
    if field != "role":
        assert '<option selected value="clinician">' in page
    assert row_counts(app, User, AuditEvent) == before


def test_mass_assigned_fields_on_a_new_account_are_ignored(app, as_admin):
    data = account_form(active="false", session_version="7", password_hash="x", id="999")

    assert as_admin.post("/admin/accounts/new", data=data).status_code == 200

    user = stored(app, "jordan.ellis@example.org")
    assert (user.active, user.session_version, user.password_hash) == (True, 1, None)
    assert user.id != 999


def test_admin_issues_a_fresh_link_for_an_existing_account(app, as_admin, make_user):
    invited = make_user(Role.PATIENT, password_hash=None, email="late@example.org")

    response = as_admin.post(f"/admin/accounts/{invited.id}/link")

    assert response.status_code == 200
    _, done = set_password_via(app, link_path(response.get_data(as_text=True)))
    assert done.status_code == 302
    assert real_login(app.test_client(), "late@example.org", NEW_PASSWORD).status_code == 302


def test_link_for_an_unknown_account_is_404(as_admin):
    assert as_admin.post("/admin/accounts/987654/link").status_code == 404


# --- care teams ------------------------------------------------------------------------------


def test_admin_assigns_a_patient_who_then_appears_in_the_clinicians_list(
    app, client, admin, make_user
):
    doctor = make_user(Role.CLINICIAN, name="Dr Lee Park")
    person = make_user(Role.PATIENT, name="Morgan Assigned")
    login_as(client, admin)

    response = client.post("/admin/care-team", data={"clinician": doctor.id, "patient": person.id})

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/accounts"
    page = client.get("/admin/accounts").get_data(as_text=True)
    assert "Morgan Assigned is now on Dr Lee Park&#39;s care team." in page
    assert re.search(r"<td>Morgan Assigned</td>.*?<li>Dr Lee Park\s", page, re.DOTALL)
    with app.app_context():
        link = db.session.get(CareTeamLink, (doctor.id, person.id))
        assert link.added_by_id == admin.id

    clinician_view = app.test_client()
    login_as(clinician_view, doctor)
    assert "Morgan Assigned" in clinician_view.get("/clinician/patients").get_data(as_text=True)
    assert clinician_view.get(f"/clinician/patients/{person.id}").status_code == 200


@pytest.mark.parametrize(
    ("clinician_key", "patient_key"),
    [
        ("doctor", "other_doctor"),
        ("doctor", "admin"),
        ("person", "person"),
        ("person", "doctor"),
        ("admin", "person"),
        ("doctor", "missing"),
        ("missing", "person"),
        ("doctor", "gone"),
    ],
)
def test_wrong_care_team_assignment_is_refused_and_nothing_saved(
    app, client, admin, make_user, clinician_key, patient_key
):
    people = {
        "admin": admin,
        "doctor": make_user(Role.CLINICIAN),
        "other_doctor": make_user(Role.CLINICIAN),
        "person": make_user(Role.PATIENT),
        "gone": make_user(Role.PATIENT, active=False),
    }
    ids = {key: user.id for key, user in people.items()} | {"missing": 987654}
    login_as(client, admin)

    response = client.post(
        "/admin/care-team",
        data={"clinician": ids[clinician_key], "patient": ids[patient_key]},
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    field = "patient" if clinician_key == "doctor" else "clinician"
    assert field_error(page, field)
    assert row_counts(app, CareTeamLink, AuditEvent) == (0, 0)


def test_assigning_twice_keeps_one_link(app, as_admin, make_user):
    doctor = make_user(Role.CLINICIAN)
    person = make_user(Role.PATIENT)

    for _ in range(2):
        response = as_admin.post(
            "/admin/care-team", data={"clinician": doctor.id, "patient": person.id}
        )
        assert response.status_code == 302

    assert row_counts(app, CareTeamLink, AuditEvent) == (1, 1)


# --- deactivation ----------------------------------------------------------------------------


def test_admin_deactivates_an_account_and_its_sessions_end(app, client, admin, patient):
    patient_browser = app.test_client()
    login_as(patient_browser, patient)
    assert patient_browser.get("/today").status_code == 200
    login_as(client, admin)

    response = client.post(f"/admin/accounts/{patient.id}/deactivate", follow_redirects=True)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Robin Patient can no longer log in." in page
    assert re.search(r"<td>Robin Patient</td>.*?<td>Deactivated</td>", page, re.DOTALL)
    after = stored(app, patient.email)
    assert after.active is False
    assert after.session_version == patient.session_version + 1
    assert patient_browser.get("/today").headers["Location"].startswith("/login")
    assert real_login(app.test_client(), patient.email).status_code == 200
    with app.app_context():
        event = db.session.scalar(select(AuditEvent))
        assert (event.action, event.actor_id, event.object_id, event.patient_id) == (
            "user.deactivate",
            admin.id,
            patient.id,
            patient.id,
        )


def test_admin_cannot_deactivate_own_account(app, client, admin):
    login_as(client, admin)

    response = client.post(f"/admin/accounts/{admin.id}/deactivate", follow_redirects=True)

    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    assert stored(app, admin.email).active is True
    assert row_counts(app, AuditEvent) == (0,)
    assert client.get("/admin/accounts").status_code == 200  # still signed in


def test_deactivating_an_unknown_account_is_404(as_admin):
    assert as_admin.post("/admin/accounts/987654/deactivate").status_code == 404


def test_a_second_deactivate_writes_nothing(app, as_admin, patient):
    """A double click, or Back and the button again: one audit row, no second session bump."""
    for _ in range(2):
        assert as_admin.post(f"/admin/accounts/{patient.id}/deactivate").status_code == 302
    assert row_counts(app, AuditEvent) == (1,)
    assert stored(app, patient.email).session_version == patient.session_version + 1


def test_a_deactivated_account_is_reactivated_and_its_old_sessions_stay_ended(
    app, client, admin, patient
):
    patient_browser = app.test_client()
    login_as(patient_browser, patient)
    login_as(client, admin)
    client.post(f"/admin/accounts/{patient.id}/deactivate")
    page = client.get("/admin/accounts").get_data(as_text=True)
    assert f'action="/admin/accounts/{patient.id}/reactivate"' in page

    response = client.post(f"/admin/accounts/{patient.id}/reactivate", follow_redirects=True)

    assert "Robin Patient can log in again." in response.get_data(as_text=True)
    assert stored(app, patient.email).active is True
    assert patient_browser.get("/today").status_code == 302  # the cookie from before
    assert real_login(app.test_client(), patient.email).status_code == 302  # the password works
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["user.deactivate", "user.reactivate", "auth.login"]
    again = client.post(f"/admin/accounts/{patient.id}/reactivate", follow_redirects=True)
    assert "can log in again" not in again.get_data(as_text=True)  # already on: nothing done
    assert row_counts(app, AuditEvent) == (3,)


def test_the_last_active_admin_cannot_be_deactivated_even_by_another(app, client, admin, make_user):
    other = make_user(Role.ADMIN, name="Admin Other")
    login_as(client, admin)
    assert client.post(f"/admin/accounts/{other.id}/deactivate").status_code == 302
    assert stored(app, other.email).active is False
    # The other admin's browser: its session ended, but say it were still signed in somehow:
    # the service itself refuses to switch off the last active admin.
    from taper.services import ServiceError, accounts

    with app.app_context():
        me = db.session.get(User, admin.id)
        with pytest.raises(ServiceError, match="last active admin"):
            accounts.deactivate_account(db.session.get(User, other.id), me)
    assert stored(app, admin.email).active is True


def test_two_admins_switching_each_other_off_at_once_leave_one(shared_app, monkeypatch):
    """Each request waits for the other's lock, then sees its change: one of them is refused."""
    import threading

    from taper import access
    from tests.conftest import PASSWORD_HASH

    with shared_app.app_context():
        first, second = (
            User(role=Role.ADMIN, email=f"{n}@example.org", name=n, password_hash=PASSWORD_HASH)
            for n in ("first", "second")
        )
        db.session.add_all([first, second])
        db.session.commit()
        pairs = [(first.get_id(), second.id), (second.get_id(), first.id)]
    barrier = threading.Barrier(2, timeout=10)
    found = access.account_or_404

    def in_step(user, account_id):
        account = found(user, account_id)
        barrier.wait()  # both requests have read the account they switch off
        return account

    monkeypatch.setattr(access, "account_or_404", in_step)
    statuses = []

    def switch_off(identity: str, other_id: int) -> None:
        browser = shared_app.test_client()
        with browser.session_transaction() as session:
            session.update(_user_id=identity, login_at=9e9, seen_at=9e9, auth_at=9e9)
        statuses.append(browser.post(f"/admin/accounts/{other_id}/deactivate").status_code)

    threads = [threading.Thread(target=switch_off, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with shared_app.app_context():
        active = db.session.scalars(select(User.name).where(User.active.is_(True))).all()
    assert len(active) == 1, active
    assert statuses == [302, 302]


def test_a_clinician_is_taken_off_a_care_team_and_loses_the_record(
    app, client, admin, clinician, patient, make_user
):
    """Reassigning a patient: the new clinician added, the old one removed, who then sees a
    404 like for anybody else's patient."""
    new = make_user(Role.CLINICIAN, name="Dr New")
    login_as(client, admin)
    client.post("/admin/care-team", data={"clinician": new.id, "patient": patient.id})
    old_browser = app.test_client()
    login_as(old_browser, clinician)
    assert old_browser.get(f"/clinician/patients/{patient.id}").status_code == 200

    response = client.post(
        f"/admin/care-team/{patient.id}/{clinician.id}/remove", follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert f"Robin Patient is not on {clinician.name}&#39;s care team now." in page
    assert "No active clinician" not in page
    assert old_browser.get(f"/clinician/patients/{patient.id}").status_code == 404
    with app.app_context():
        links = db.session.scalars(select(CareTeamLink.clinician_id)).all()
        event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert links == [new.id]
    assert (event.action, event.object_id, event.patient_id) == (
        "care_team.remove",
        clinician.id,
        patient.id,
    )
    assert "Dr New" in client.get(f"/admin/audit?patient={patient.id}").get_data(as_text=True)


def test_two_removals_at_once_leave_nobody_and_one_admin_is_told(shared_app, monkeypatch):
    """Two admins each take one of a patient's two clinicians off at the same moment: the
    patient's row is locked, so the second sees the first's removal and warns."""
    import threading

    from taper import access
    from tests.conftest import PASSWORD_HASH

    with shared_app.app_context():
        people = [
            User(role=role, email=f"{name}@example.org", name=name, password_hash=PASSWORD_HASH)
            for role, name in (
                (Role.ADMIN, "one"),
                (Role.ADMIN, "two"),
                (Role.CLINICIAN, "Dr X"),
                (Role.CLINICIAN, "Dr Y"),
                (Role.PATIENT, "Pat"),
            )
        ]
        db.session.add_all(people)
        db.session.flush()
        one, two, x, y, pat = people
        db.session.add_all(CareTeamLink(clinician_id=c.id, patient_id=pat.id) for c in (x, y))
        db.session.commit()
        jobs = [(one.get_id(), pat.id, x.id), (two.get_id(), pat.id, y.id)]
    barrier = threading.Barrier(2, timeout=10)
    found = access.account_or_404

    def in_step(user, account_id):
        account = found(user, account_id)
        if account.role is Role.CLINICIAN:  # loaded second: both requests are past their reads
            barrier.wait()
        return account

    monkeypatch.setattr(access, "account_or_404", in_step)
    pages = []

    def remove(identity: str, patient_id: int, clinician_id: int) -> None:
        browser = shared_app.test_client()
        with browser.session_transaction() as session:
            session.update(_user_id=identity, login_at=9e9, seen_at=9e9, auth_at=9e9)
        url = f"/admin/care-team/{patient_id}/{clinician_id}/remove"
        pages.append(browser.post(url, follow_redirects=True).get_data(as_text=True))

    threads = [threading.Thread(target=remove, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with shared_app.app_context():
        assert db.session.scalars(select(CareTeamLink)).all() == []
    warned = [page for page in pages if "No active clinician has Pat on their care team" in page]
    assert len(pages) == 2
    assert len(warned) == 1


def test_removing_the_only_clinician_warns_and_the_page_says_so(app, as_admin, clinician, patient):
    response = as_admin.post(
        f"/admin/care-team/{patient.id}/{clinician.id}/remove", follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "No active clinician has Robin Patient on their care team now" in page
    row = re.search(r"<td>Robin Patient</td>.*?</tr>", page, re.DOTALL).group(0)
    assert "No active clinician." in row


@pytest.mark.parametrize("swap", [False, True])
def test_removing_with_the_wrong_kinds_of_account_changes_nothing(
    app, as_admin, clinician, patient, swap
):
    first, second = (clinician, patient) if swap else (patient, patient)
    response = as_admin.post(
        f"/admin/care-team/{first.id}/{second.id}/remove", follow_redirects=True
    )
    assert "Choose a clinician and one of their patients." in response.get_data(as_text=True)
    assert row_counts(app, CareTeamLink, AuditEvent) == (1, 0)


def test_deactivating_a_patients_only_clinician_warns_and_marks_the_patient(
    app, as_admin, clinician, patient, make_user
):
    covered = make_user(Role.PATIENT, name="Sam Covered", clinicians=(clinician,))
    make_user(Role.CLINICIAN, name="Dr Second")
    as_admin.post(
        "/admin/care-team", data={"clinician": _id(app, "Dr Second"), "patient": covered.id}
    )

    response = as_admin.post(f"/admin/accounts/{clinician.id}/deactivate", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "No active clinician has Robin Patient on their care team now" in page
    assert "Sam Covered on their" not in page
    robin = re.search(r"<td>Robin Patient</td>.*?</tr>", page, re.DOTALL).group(0)
    assert "No active clinician." in robin
    assert f"{escape(clinician.name)} (deactivated)" in robin
    sam = re.search(r"<td>Sam Covered</td>.*?</tr>", page, re.DOTALL).group(0)
    assert "No active clinician." not in sam


def _id(app, name: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.name == name))


# --- escaping --------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS_NAMES)
def test_names_with_markup_are_escaped_on_admin_and_clinician_pages(
    app, client, admin, clinician, payload
):
    login_as(client, admin)
    created = client.post(
        "/admin/accounts/new",
        data=account_form(name=payload, email="xss@example.org", role="patient"),
    )
    assert created.status_code == 200
    person = stored(app, "xss@example.org")
    assigned = client.post(
        "/admin/care-team", data={"clinician": clinician.id, "patient": person.id}
    )
    assert assigned.status_code == 302

    clinician_browser = app.test_client()
    login_as(clinician_browser, clinician)
    pages = {
        "link page": created.get_data(as_text=True),
        "accounts": client.get("/admin/accounts").get_data(as_text=True),
        "new link": client.post(f"/admin/accounts/{person.id}/link").get_data(as_text=True),
        "audit trail": client.get(f"/admin/audit?patient={person.id}").get_data(as_text=True),
        "patients": clinician_browser.get("/clinician/patients").get_data(as_text=True),
    }

    assert person.name == payload
    for name, page in pages.items():
        assert payload not in page, name
        assert "<svg" not in page, name
        assert "<script>" not in page, name
        assert str(escape(payload)) in page, name


@pytest.mark.parametrize("payload", XSS_NAMES)
def test_markup_in_a_refused_form_is_escaped_when_shown_again(as_admin, payload):
    response = as_admin.post("/admin/accounts/new", data=account_form(name=payload, email=payload))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert payload not in page
    assert f'value="{escape(payload)}"' in page
