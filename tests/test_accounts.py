"""The accounts service: creating users, signing in, passwords, set-password links, care teams,
and the audit row each use case writes in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from taper.extensions import db
from taper.models import (
    AuditEvent,
    CareTeamLink,
    OutboxMessage,
    Role,
    User,
    find_user_by_email,
)
from taper.services import ServiceError, accounts
from taper.services.passwords import verify_password
from tests.conftest import PASSWORD
from tests.helpers import count_rows

NEW_PASSWORD = "a brand new sentence for Taper"


@pytest.fixture
def ctx(app):
    """An app context for calling services directly, as a view or a CLI command would."""
    with app.app_context():
        yield
        db.session.rollback()


def audit_rows() -> list[tuple]:
    return db.session.execute(
        select(
            AuditEvent.action,
            AuditEvent.actor_id,
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.patient_id,
        ).order_by(AuditEvent.id)
    ).all()


def get(user: User) -> User:
    """The user as the current session sees it."""
    return db.session.get(User, user.id)


def create(**overrides) -> User:
    fields = {"email": "new.person@example.org", "name": "New Person", "role": Role.PATIENT}
    return accounts.create_user(None, **(fields | overrides))


# --- create_user -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "   "}, "email"),
        ({"email": "no-at-sign.example.org"}, "email"),
        ({"email": "name@"}, "email"),
        ({"email": "@example.org"}, "email"),
        ({"email": "two@@example.org"}, "email"),
        ({"email": "a@b@example.org"}, "email"),
        ({"email": "name@localhost"}, "email"),
        ({"email": "name@example."}, "email"),
        ({"email": "with space@example.org"}, "email"),
        ({"email": "tab\t@example.org"}, "email"),
        ({"email": "x" * 243 + "@example.org"}, "email"),  # 255 characters
        ({"name": ""}, "name"),
        ({"name": "  \t  "}, "name"),
        ({"name": "n" * 121}, "name"),
        ({"name": "Nul\x00Name"}, "name"),
        ({"name": "Bell\x07 Name"}, "name"),
        ({"email": "nul\x00@example.org"}, "email"),
        ({"email": "esc\x1b@example.org"}, "email"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "Europe/Londn"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": "/etc/localtime"}, "timezone"),
        ({"timezone": "utc"}, "timezone"),
        ({"password": "short pass"}, "password"),
        ({"password": "p" * 129}, "password"),
        ({"password": "password1234"}, "password"),
        ({"password": "New.Person@Example.org"}, "password"),  # the email itself
    ],
)
@pytest.mark.usefixtures("ctx")
def test_create_user_refuses_bad_input_on_the_right_field(overrides, field):
    with pytest.raises(ServiceError) as refused:
        create(**overrides)

    assert refused.value.field == field
    assert refused.value.message
    db.session.rollback()
    assert count_rows(User) == 0
    assert count_rows(AuditEvent) == 0


@pytest.mark.usefixtures("ctx")
def test_create_user_normalises_email_and_name():
    user = create(email="  Jo.Smith@Example.ORG ", name="  Jo \t  Smith  ")

    assert user.email == "jo.smith@example.org"
    assert user.name == "Jo Smith"


@pytest.mark.usefixtures("ctx")
def test_create_user_accepts_the_longest_allowed_email_and_name():
    email = "x" * 242 + "@example.org"  # 254 characters
    user = create(email=email, name="n" * 120)
    db.session.commit()

    assert len(get(user).email) == 254


@pytest.mark.usefixtures("ctx")
def test_create_user_stores_an_argon2id_hash_never_the_password():
    user = create(password=PASSWORD)
    db.session.commit()

    stored = get(user).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")


@pytest.mark.usefixtures("ctx")
def test_create_user_without_password_leaves_the_account_unusable_until_set():
    user = create()
    db.session.commit()

    assert get(user).password_hash is None
    assert accounts.authenticate(user.email, "") is None


@pytest.mark.usefixtures("ctx")
def test_create_user_uses_the_configured_time_zone_unless_given(app):
    default = create(email="default@example.org")
    chosen = create(email="chosen@example.org", timezone="Europe/Paris")

    assert default.timezone == app.config["DEFAULT_TIMEZONE"]
    assert chosen.timezone == "Europe/Paris"


@pytest.mark.usefixtures("ctx")
def test_create_user_starts_active_with_session_version_one():
    user = create(role=Role.CLINICIAN)
    db.session.commit()

    assert (get(user).active, get(user).session_version, get(user).role) == (
        True,
        1,
        Role.CLINICIAN,
    )


# --- authenticate ----------------------------------------------------------------------------


@pytest.fixture
def people(app, make_user):
    """One user per way a login can fail, plus one that works."""
    return {
        "active": make_user(Role.PATIENT, email="active@example.org"),
        "deactivated": make_user(Role.PATIENT, email="gone@example.org", active=False),
        "no-password": make_user(Role.PATIENT, email="new@example.org", password_hash=None),
    }


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nobody@example.org", PASSWORD),
        ("active@example.org", PASSWORD + " "),
        ("active@example.org", PASSWORD.upper()),
        ("active@example.org", ""),
        ("gone@example.org", PASSWORD),
        ("new@example.org", PASSWORD),
        ("new@example.org", ""),
        # the text the dummy hash was made from must not open an account without a password
        ("new@example.org", "not a real password, only for timing"),
        ("nobody@example.org", "not a real password, only for timing"),
    ],
    ids=[
        "unknown-email",
        "wrong-password",
        "wrong-case-password",
        "empty-password",
        "deactivated",
        "no-password-set",
        "no-password-set-empty",
        "no-password-set-dummy-text",
        "unknown-email-dummy-text",
    ],
)
def test_authenticate_returns_none_for_every_kind_of_failure(app, people, email, password):
    with app.app_context():
        assert accounts.authenticate(email, password) is None


@pytest.mark.parametrize("email", ["\x00", "active@example.org\x00", "\x15\x00", "a\x7f@x.org"])
def test_emails_with_control_characters_find_nobody_on_any_database(app, people, email):
    with app.app_context():
        assert find_user_by_email(email) is None
        assert accounts.authenticate(email, PASSWORD) is None


@pytest.mark.usefixtures("ctx")
def test_names_in_any_script_are_kept_as_typed():
    names = ["Zoë Ørsted-Łukasik", "مریم\u200cنژاد", "李小龍", "Ana 👩\u200d⚕️ Ruiz"]
    made = [create(email=f"n{i}@example.org", name=name) for i, name in enumerate(names)]
    db.session.commit()

    assert [get(user).name for user in made] == names


def test_authenticate_returns_the_user_whatever_the_email_case(app, people):
    with app.app_context():
        user = accounts.authenticate("  ACTIVE@Example.org ", PASSWORD)

    assert user is not None
    assert user.id == people["active"].id


# --- change_password -------------------------------------------------------------------------


def test_change_password_requires_the_current_one(app, make_user):
    person = make_user(Role.CLINICIAN)
    with app.app_context():
        user = get(person)
        with pytest.raises(ServiceError) as refused:
            accounts.change_password(user, "not my password at all", NEW_PASSWORD)
        db.session.commit()  # whatever the caller commits, nothing changed

        assert refused.value.field == "current_password"
    with app.app_context():
        assert accounts.authenticate(person.email, PASSWORD) is not None
        assert accounts.authenticate(person.email, NEW_PASSWORD) is None
        assert get(person).session_version == 1
        assert count_rows(AuditEvent) == 0


@pytest.mark.parametrize("weak", ["too short", "password1234", "x" * 129])
def test_change_password_applies_the_policy_to_the_new_one(app, make_user, weak):
    person = make_user(Role.PATIENT)
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            accounts.change_password(get(person), PASSWORD, weak)
        assert refused.value.field == "password"
        db.session.commit()
    with app.app_context():
        assert accounts.authenticate(person.email, PASSWORD) is not None


def test_change_password_replaces_the_hash_and_ends_other_sessions(app, make_user):
    person = make_user(Role.PATIENT)
    with app.app_context():
        accounts.change_password(get(person), PASSWORD, NEW_PASSWORD)
        db.session.commit()
    with app.app_context():
        assert accounts.authenticate(person.email, PASSWORD) is None
        assert accounts.authenticate(person.email, NEW_PASSWORD).id == person.id
        assert get(person).session_version == 2
        assert get(person).password_hash.startswith("$argon2id$")


# --- set-password links ----------------------------------------------------------------------


@pytest.fixture
def invited(make_user):
    """Two accounts created without a password, waiting for their links."""
    return (
        make_user(Role.PATIENT, email="first.invite@example.org", password_hash=None),
        make_user(Role.PATIENT, email="second.invite@example.org", password_hash=None),
    )


def _token(app, user: User) -> str:
    with app.app_context():
        return accounts.make_set_password_token(get(user))


def test_set_password_link_works_once(app, invited):
    person, _ = invited
    token = _token(app, person)
    with app.app_context():
        assert accounts.set_password_with_token(token, NEW_PASSWORD).id == person.id
        db.session.commit()
    with app.app_context():
        assert accounts.authenticate(person.email, NEW_PASSWORD).id == person.id
        with pytest.raises(ServiceError, match="already been used"):
            accounts.user_for_set_password_token(token)
        with pytest.raises(ServiceError, match="already been used"):
            accounts.set_password_with_token(token, "someone else's new sentence")
        db.session.commit()
    with app.app_context():
        assert accounts.authenticate(person.email, NEW_PASSWORD) is not None


def test_set_password_link_is_bound_to_its_own_user(app, invited):
    first, second = invited
    token = _token(app, first)
    with app.app_context():
        assert accounts.user_for_set_password_token(token).id == first.id
        accounts.set_password_with_token(token, NEW_PASSWORD)
        db.session.commit()
    with app.app_context():
        assert get(first).password_hash is not None
        assert get(second).password_hash is None
        assert accounts.authenticate(second.email, NEW_PASSWORD) is None


def test_a_new_link_for_one_user_does_not_open_another(app, invited):
    first, second = invited
    first_token, second_token = _token(app, first), _token(app, second)

    assert first_token != second_token
    with app.app_context():
        assert accounts.user_for_set_password_token(second_token).id == second.id


def _flip_first(part: str) -> str:
    # The first base64 character always carries six real bits; the last may be padding only.
    return ("B" if part[0] == "A" else "A") + part[1:]


def _tampered(token: str) -> list[str]:
    payload, timestamp, signature = token.rsplit(".", 2)
    return [
        f"{payload}.{timestamp}.{_flip_first(signature)}",
        f"{_flip_first(payload)}.{timestamp}.{signature}",
        f"{payload}.{_flip_first(timestamp)}.{signature}",
        f"{payload}x.{timestamp}.{signature}",
        f"{payload}.{timestamp}",
        "",
        "not-a-token",
    ]


def test_tampered_set_password_links_are_refused(app, invited):
    person, _ = invited
    token = _token(app, person)
    with app.app_context():
        for bad in _tampered(token):
            with pytest.raises(ServiceError, match="not valid"):
                accounts.user_for_set_password_token(bad)
            with pytest.raises(ServiceError):
                accounts.set_password_with_token(bad, NEW_PASSWORD)
        db.session.commit()
    with app.app_context():
        assert get(person).password_hash is None


@pytest.mark.parametrize(
    ("secret", "salt"),
    [("another-secret", accounts._TOKEN_SALT), ("testing-secret", "another-salt")],
    ids=["wrong-secret", "wrong-salt"],
)
def test_links_signed_with_another_key_are_refused(app, invited, secret, salt):
    person, other = invited
    with app.app_context():
        fingerprint = accounts._fingerprint(get(other))
    forged = URLSafeTimedSerializer(secret, salt=salt).dumps({"u": other.id, "f": fingerprint})

    with app.app_context(), pytest.raises(ServiceError, match="not valid"):
        accounts.user_for_set_password_token(forged)


@pytest.mark.parametrize(
    ("minutes_old", "works"),
    [(-1, True), (1, False), (60 * 24 * 30, False)],
    ids=["just-inside-the-limit", "just-past-the-limit", "a-month-old"],
)
def test_set_password_link_expires(app, invited, minutes_old, works):
    person, _ = invited
    issued = datetime.now(UTC) - timedelta(
        hours=app.config["SET_PASSWORD_LINK_HOURS"], minutes=minutes_old
    )
    with time_machine.travel(issued, tick=False):
        token = _token(app, person)

    with app.app_context():
        if works:
            assert accounts.user_for_set_password_token(token).id == person.id
        else:
            with pytest.raises(ServiceError, match="expired"):
                accounts.set_password_with_token(token, NEW_PASSWORD)
            db.session.commit()
            assert get(person).password_hash is None


def test_set_password_link_of_a_deactivated_account_is_refused(app, invited):
    person, _ = invited
    token = _token(app, person)
    with app.app_context():
        accounts.deactivate_user(None, get(person))
        db.session.commit()
    with app.app_context(), pytest.raises(ServiceError, match="no longer valid"):
        accounts.set_password_with_token(token, NEW_PASSWORD)


def test_weak_password_through_a_link_is_refused_and_the_link_still_works(app, invited):
    person, _ = invited
    token = _token(app, person)
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            accounts.set_password_with_token(token, "short")
        assert refused.value.field == "password"
        db.session.rollback()
    with app.app_context():
        accounts.set_password_with_token(token, NEW_PASSWORD)
        db.session.commit()
    with app.app_context():
        assert accounts.authenticate(person.email, NEW_PASSWORD) is not None


def test_setting_a_password_through_a_link_ends_earlier_sessions(app, invited):
    person, _ = invited
    token = _token(app, person)
    with app.app_context():
        accounts.set_password_with_token(token, NEW_PASSWORD)
        db.session.commit()
    with app.app_context():
        assert get(person).session_version == 2


# --- care teams ------------------------------------------------------------------------------


def test_add_to_care_team_is_idempotent(app, make_user, admin):
    clinician = make_user(Role.CLINICIAN)
    patient = make_user(Role.PATIENT)
    with app.app_context():
        first = accounts.add_to_care_team(get(admin), get(clinician), get(patient))
        again = accounts.add_to_care_team(get(admin), get(clinician), get(patient))
        db.session.commit()
        assert again is first
        accounts.add_to_care_team(get(admin), get(clinician), get(patient))
        db.session.commit()
    with app.app_context():
        assert count_rows(CareTeamLink) == 1
        assert count_rows(AuditEvent, action="care_team.add") == 1
        link = db.session.get(CareTeamLink, (clinician.id, patient.id))
        assert link.added_by_id == admin.id


@pytest.mark.parametrize(
    ("clinician_role", "patient_role", "field"),
    [
        (Role.PATIENT, Role.PATIENT, "clinician"),
        (Role.ADMIN, Role.PATIENT, "clinician"),
        (Role.CLINICIAN, Role.CLINICIAN, "patient"),
        (Role.CLINICIAN, Role.ADMIN, "patient"),
        (Role.PATIENT, Role.CLINICIAN, "clinician"),
    ],
)
def test_add_to_care_team_refuses_wrong_roles(app, make_user, clinician_role, patient_role, field):
    first = make_user(clinician_role)
    second = make_user(patient_role)
    with app.app_context():
        with pytest.raises(ServiceError) as refused:
            accounts.add_to_care_team(None, get(first), get(second))
        assert refused.value.field == field
        db.session.commit()
    with app.app_context():
        assert count_rows(CareTeamLink) == 0
        assert count_rows(AuditEvent) == 0


def test_care_team_patients_lists_only_own_patients_by_name(app, make_user):
    mine, theirs = make_user(Role.CLINICIAN), make_user(Role.CLINICIAN)
    make_user(Role.PATIENT, name="Cy Cole", clinicians=(mine,))
    make_user(Role.PATIENT, name="Al Adams", clinicians=(mine, theirs))
    make_user(Role.PATIENT, name="Bea Brown", clinicians=(theirs,))
    make_user(Role.PATIENT, name="Bo Banks", clinicians=(mine,))
    with app.app_context():
        names = [p.name for p in accounts.care_team_patients(get(mine))]

    assert names == ["Al Adams", "Bo Banks", "Cy Cole"]


# --- the audit row of each use case ----------------------------------------------------------


def _create_patient(users):
    made = accounts.create_user(
        users["admin"], email="made@example.org", name="Made Patient", role=Role.PATIENT
    )
    return ("user.create", users["admin"].id, "user", made.id, made.id)


def _create_clinician(users):
    made = accounts.create_user(
        users["admin"], email="doc@example.org", name="Dr Made", role=Role.CLINICIAN
    )
    return ("user.create", users["admin"].id, "user", made.id, None)


def _create_from_cli(_users):
    made = accounts.create_user(
        None, email="cli@example.org", name="Cli Made", role=Role.ADMIN, password=NEW_PASSWORD
    )
    return ("user.create", None, "user", made.id, None)


def _deactivate_patient(users):
    accounts.deactivate_user(users["admin"], users["patient"])
    return ("user.deactivate", users["admin"].id, "user", users["patient"].id, users["patient"].id)


def _deactivate_clinician(users):
    accounts.deactivate_user(users["admin"], users["clinician"])
    return ("user.deactivate", users["admin"].id, "user", users["clinician"].id, None)


def _add_to_care_team(users):
    accounts.add_to_care_team(users["admin"], users["clinician"], users["patient"])
    return (
        "care_team.add",
        users["admin"].id,
        "user",
        users["clinician"].id,
        users["patient"].id,
    )


def _change_password(users):
    accounts.change_password(users["patient"], PASSWORD, NEW_PASSWORD)
    return (
        "user.password_change",
        users["patient"].id,
        "user",
        users["patient"].id,
        users["patient"].id,
    )


def _set_password(users):
    token = accounts.make_set_password_token(users["invited"])
    accounts.set_password_with_token(token, NEW_PASSWORD)
    return (
        "user.password_set",
        users["invited"].id,
        "user",
        users["invited"].id,
        users["invited"].id,
    )


USE_CASES = [
    _create_patient,
    _create_clinician,
    _create_from_cli,
    _deactivate_patient,
    _deactivate_clinician,
    _add_to_care_team,
    _change_password,
    _set_password,
]


@pytest.fixture
def cast(app, make_user, admin):
    """Ids of an admin, a clinician, a patient (not yet on a care team) and an invited patient."""
    return {
        "admin": admin,
        "clinician": make_user(Role.CLINICIAN),
        "patient": make_user(Role.PATIENT),
        "invited": make_user(Role.PATIENT, password_hash=None),
    }


def _attached(cast):
    return {role: get(user) for role, user in cast.items()}


def _snapshot():
    users = db.session.execute(
        select(User.id, User.email, User.password_hash, User.active, User.session_version).order_by(
            User.id
        )
    ).all()
    return users, count_rows(CareTeamLink), count_rows(AuditEvent)


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda f: f.__name__.strip("_"))
def test_each_use_case_writes_one_audit_row_with_actor_and_patient(app, cast, use_case):
    with app.app_context():
        expected = use_case(_attached(cast))
        db.session.commit()
    with app.app_context():
        assert audit_rows() == [expected]
        assert db.session.scalar(select(AuditEvent.at)).tzinfo is not None


@pytest.mark.parametrize("use_case", USE_CASES, ids=lambda f: f.__name__.strip("_"))
def test_rolling_back_a_use_case_leaves_neither_change_nor_audit_row(app, cast, use_case):
    with app.app_context():
        before = _snapshot()
        use_case(_attached(cast))
        db.session.flush()
        assert count_rows(AuditEvent) == 1  # written in the same transaction as the change
        db.session.rollback()
    with app.app_context():
        assert _snapshot() == before
        assert audit_rows() == []


def test_the_password_changed_email_reads_the_owners_own_clock(app, make_user):
    """Times shown to a person are in their time zone, never "14:00 UTC" (issue 15)."""
    user = make_user(Role.PATIENT, timezone="Asia/Tokyo")
    with time_machine.travel(datetime(2026, 12, 3, 14, 12, tzinfo=UTC), tick=False):
        with app.app_context():
            accounts.change_own_password(
                db.session.get(User, user.id), PASSWORD, "a brand new long passphrase"
            )
    with app.app_context():
        (message,) = db.session.scalars(select(OutboxMessage)).all()
        body = message.body
    assert "on 3 December 2026 at 23:12 (Asia/Tokyo time)" in body  # 14:12 UTC is 23:12 there
    assert "UTC" not in body


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("America/New_York", "3 December 2026 at 09:05 (America/New York time)"),
        ("Not/A_Zone", "3 December 2026 at 14:05 (UTC time)"),
    ],
)
def test_owners_clock_names_the_zone_it_reads(zone, expected):
    assert accounts.owners_clock(datetime(2026, 12, 3, 14, 5, tzinfo=UTC), zone) == expected


def test_a_set_password_link_used_twice_at_the_same_instant_works_once(shared_app):
    """Two browsers send the same link's form at once, each with a password: one sets it and
    is signed in; the other is told the link was used, and holds no session."""
    import threading

    app = shared_app
    with app.app_context():
        user = accounts.create_user(
            None, email="new@race.example.org", name="New Person", role=Role.PATIENT
        )
        db.session.commit()
        token, user_id = accounts.make_set_password_token(user), user.id
    passwords = ["violet harbour lantern quietly", "marble orchard tuesday gravel"]
    barrier = threading.Barrier(2, timeout=20)
    outcomes: dict[int, tuple[int, int]] = {}

    def use(n: int) -> None:
        browser = app.test_client()
        browser.get(f"/set-password/{token}")
        barrier.wait()
        data = {"password": passwords[n], "confirm": passwords[n]}
        sent = browser.post(f"/set-password/{token}", data=data)
        outcomes[n] = (sent.status_code, browser.get("/today").status_code)

    threads = [threading.Thread(target=use, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == [(200, 302), (302, 200)]  # one signed in, one refused
    winner = next(n for n, (status, _) in outcomes.items() if status == 302)
    with app.app_context():
        stored = db.session.get(User, user_id)
        assert verify_password(stored.password_hash, passwords[winner])
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.action == "user.password_set")
        ).all()
        assert actions == ["user.password_set"]


# --- two of the same request at once, and look-alike addresses ---------------------------------


def test_an_account_made_meanwhile_by_the_same_form_is_a_refusal_not_an_error(
    app, make_user, admin, monkeypatch
):
    """Two "New account" posts at once: both find no account with the e-mail, the unique
    index refuses the second insert, which answers like any existing e-mail."""
    taken = make_user(Role.CLINICIAN, email="twin@example.org")
    monkeypatch.setattr(accounts, "find_user_by_email", lambda email: None)  # the race, lost
    with app.app_context():
        with pytest.raises(ServiceError, match="already exists") as refused:
            accounts.create_user(get(admin), email=taken.email, name="Dr Twin", role=Role.CLINICIAN)
        assert refused.value.field == "email"
        db.session.commit()  # the rest of the transaction is still usable
        assert count_rows(User) == 2


def test_a_care_team_link_added_meanwhile_is_kept_once(app, make_user, admin, monkeypatch):
    clinician, patient = make_user(Role.CLINICIAN), make_user(Role.PATIENT)
    with app.app_context():
        accounts.add_to_care_team(get(admin), get(clinician), get(patient))
        db.session.commit()
    with app.app_context():
        real_get = db.session.get
        missed = []

        def get_missing_the_link(model, key, **kwargs):
            if model is CareTeamLink and not missed:  # the other request's link, not seen yet
                missed.append(key)
                return None
            return real_get(model, key, **kwargs)

        monkeypatch.setattr(db.session, "get", get_missing_the_link)
        link = accounts.add_to_care_team(get(admin), get(clinician), get(patient))
        db.session.commit()
        assert missed
        assert (link.clinician_id, link.patient_id) == (clinician.id, patient.id)
    with app.app_context():
        assert count_rows(CareTeamLink) == 1
        assert count_rows(AuditEvent, action="care_team.add") == 1


@pytest.mark.parametrize(
    "email",
    [
        "ｊordan@example.org",  # a fullwidth letter
        "jordan\u200b@example.org",  # a zero-width space
        "jordan@example.org.",  # a trailing dot
        "jor\u202edan@example.org",  # a right-to-left override
        "p\u0430t@example.org",  # a Cyrillic а among Latin letters
    ],
)
def test_an_address_that_reads_like_another_is_refused(app, email):
    with app.app_context():
        with pytest.raises(ServiceError, match="Enter an email address") as refused:
            accounts.create_user(None, email=email, name="Jordan", role=Role.CLINICIAN)
        assert refused.value.field == "email"


def test_an_address_with_accented_letters_is_still_taken(app):
    with app.app_context():
        user = accounts.create_user(None, email="josé@example.org", name="José", role=Role.PATIENT)
        assert user.email == "josé@example.org"
