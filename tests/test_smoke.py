"""The login page and the role home pages work end to end through real requests."""

from taper.models import Role
from tests.conftest import login_as, real_login


def test_login_page_has_labelled_fields_and_button(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page
    assert 'value="Log in"' in page


def test_clinician_logs_in_and_sees_patients_in_nav(client, clinician, patient):
    response = real_login(client, clinician.email, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ">Patients</a>" in page
    assert patient.name in page


def test_each_role_lands_on_its_home_page(client, make_user):
    homes = {
        Role.PATIENT: "/today",
        Role.CLINICIAN: "/clinician/patients",
        Role.ADMIN: "/admin/accounts",
    }
    for role, path in homes.items():
        login_as(client, make_user(role))
        assert client.get("/").headers["Location"] == path


def test_logging_out_from_the_menu_ends_the_session(client, patient):
    page = real_login(client, patient.email, follow_redirects=True).get_data(as_text=True)
    menu = page[page.index('<details class="menu">') : page.index("</details>")]
    assert '<form method="post" action="/logout"' in menu
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/today").headers["Location"].startswith("/login")
