"""A2: passwords are checked for strength (zxcvbn, with the account's email and name as known
words) and against a large shipped list of breached passwords; every form that sets a
password shows the reason beside the field and keeps the rest of the form."""

import gzip
import re
from urllib.parse import urlsplit

import pytest
from zxcvbn import zxcvbn

from taper.extensions import db
from taper.models import Role, User
from taper.services import ServiceError, accounts
from taper.services.passwords import BREACHED_LIST, breached_passwords, check_password_policy
from tests.conftest import PASSWORD, login_as
from tests.helpers import field_error

STRONG = "otter lantern quietly folds"
# On the breached list, yet zxcvbn alone would let it through: the list is what refuses it.
BREACHED = "ne_e_pod_chehyl"


def change(client, new):
    return client.post(
        "/password", data={"current_password": PASSWORD, "password": new, "confirm": new}
    )


def password_of(app, user) -> str:
    with app.app_context():
        return db.session.get(User, user.id).password_hash


def test_the_breached_list_is_large_with_its_source_and_licence():
    with gzip.open(BREACHED_LIST, "rt", encoding="utf-8") as lines:
        header = "".join(line for line in lines if line.startswith("#"))
    assert "Source:" in header
    assert "MIT licence" in header
    words = breached_passwords()
    assert len(words) >= 100_000
    assert all(word == word.lower() for word in list(words)[:1000])
    assert breached_passwords() is words  # read once


def test_the_breached_password_passes_zxcvbn_alone():
    """So the next test shows the list at work, not the estimator."""
    assert zxcvbn(BREACHED)["score"] >= 3


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("aaaaaaaaaaaa", "too common"),
        (BREACHED, "too common"),
        (BREACHED.upper(), "too common"),
        ("abcabcabcabcabc", "too easy to guess"),
        ("1234567890123", "too common"),
        ("qwertyuiopasdfgh", "too common"),
        ("abcdefghijklmnop", "too common"),
        ("ponmlkjihgfedcba", "too easy to guess"),
        ("Dr Ada Quinn 2026", "too easy to guess"),  # the clinician's own name
    ],
)
def test_weak_and_breached_passwords_are_refused_beside_the_field(
    app, client, clinician, new, reason
):
    login_as(client, clinician)
    response = change(client, new)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert reason in field_error(page, "password")
    assert password_of(app, clinician) == clinician.password_hash


def test_the_refusal_says_what_to_change(client, clinician):
    login_as(client, clinician)
    message = field_error(change(client, "aaaaaaaaaaaab").get_data(as_text=True), "password")
    assert "too easy to guess" in message
    assert "Repeats like" in message
    assert "Add another word or two" in message


def test_email_is_a_known_word(app):
    """The parts of the email count as known words, so a password made of them is weak."""
    with pytest.raises(ServiceError, match="too easy to guess"):
        check_password_policy("okonkwozanzibar", "zanzibar.okonkwo@example.org", "Z O")
    check_password_policy("okonkwozanzibar", "someone@example.org", "Someone Else")


@pytest.mark.parametrize(
    "new",
    [
        STRONG,
        "correct horse battery staple 9",
        "Mein Fahrrad hat drei Klingeln!",
        "y" * 3 + STRONG + "q" * 95,
    ],
)
def test_strong_passphrases_are_accepted(app, client, clinician, new):
    login_as(client, clinician)
    response = change(client, new)
    assert response.status_code == 302
    assert password_of(app, clinician) != clinician.password_hash


def test_length_and_email_rules_stay():
    for password, message in [
        ("short one", "at least 12"),
        ("x" * 129, "at most 128"),
        ("Someone@Example.org", "email address"),
    ]:
        with pytest.raises(ServiceError, match=message):
            check_password_policy(password, "someone@example.org", "Someone")


def new_account_link(client, clinician) -> str:
    login_as(client, clinician)
    page = client.post(
        "/clinician/patients/new",
        data={"name": "Link Person", "email": "link@example.org", "timezone": "UTC"},
    ).get_data(as_text=True)
    link = re.search(r'value="(http://localhost/set-password/[^"]+)"', page).group(1)
    return urlsplit(link).path


def test_set_password_link_refuses_weak_passwords_beside_the_field(app, client, clinician):
    path = new_account_link(client, clinician)
    fresh = app.test_client()
    weak = fresh.post(path, data={"password": "aaaaaaaaaaaa", "confirm": "aaaaaaaaaaaa"})
    assert weak.status_code == 200
    assert "too common" in field_error(weak.get_data(as_text=True), "password")
    named = fresh.post(path, data={"password": "link person 123", "confirm": "link person 123"})
    assert "too easy to guess" in field_error(named.get_data(as_text=True), "password")
    good = fresh.post(path, data={"password": STRONG, "confirm": STRONG})
    assert good.status_code == 302


def test_accounts_created_with_a_password_are_checked(app):
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            accounts.create_user(
                None,
                email="weak@example.org",
                name="Weak Person",
                role=Role.CLINICIAN,
                password="aaaaaaaaaaaa",
            )
        assert refused.value.field == "password"
        user = accounts.create_user(
            None, email="ok@example.org", name="Ok Person", role=Role.CLINICIAN, password=STRONG
        )
        assert user.password_hash.startswith("$argon2id$")


def test_command_line_account_creation_refuses_a_weak_password(runner, monkeypatch):
    monkeypatch.setenv("TAPER_PASSWORD", "aaaaaaaaaaaa")
    result = runner.invoke(args=["users", "create", "cli@example.org", "--role", "clinician"])
    assert result.exit_code != 0
    assert "too common" in result.output
