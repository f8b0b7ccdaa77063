"""A10 (issue 13, point 1): no account takeover through set-password links, and (6c) an admin
audit page with actions on accounts only.

A link for an account that already has a password is e-mailed to its owner through the outbox,
never shown to whoever asked; a password set by a link still asks for the two-step code; admins
get no link for their own account or another admin's; every link issued is an audit row; the
owner hears by e-mail when their password changes.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.policy import default as default_policy
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import AuditEvent, OutboxMessage, Role, TwoFactor, User
from taper.services import accounts
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import fill_log
from tests.security.test_two_step import turn_on
from tests.tools.smtp import free_port, smtp_server

NEW_PASSWORD = "Quiet harbour lamps glow at dusk, 1987"
SMTP_PORT = free_port()
# Words from the patient's clinical record that no account e-mail may carry.
CLINICAL_WORDS = ("diazepam", "dose", "symptom", "score", "alert", "log")


def clinical_words_in(body: str) -> list[str]:
    """CLINICAL_WORDS in an e-mail's text, its set-password token left out (random letters
    that now and then spell "log")."""
    text = re.sub(r"/set-password/\S+", "/set-password/", body.lower())
    return [word for word in CLINICAL_WORDS if word in text]


def outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def link_audit_rows(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(
            select(
                AuditEvent.actor_id,
                AuditEvent.object_type,
                AuditEvent.object_id,
                AuditEvent.patient_id,
                AuditEvent.summary,
            )
            .where(AuditEvent.action == "user.password_link")
            .order_by(AuditEvent.id)
        ).all()


def emailed_link_path(message: OutboxMessage, app) -> str:
    """The set-password path in an e-mailed link, which must start with PUBLIC_URL."""
    found = re.search(r"(\S+/set-password/\S+)", message.body)
    assert found, message.body
    assert found.group(1).startswith(app.config["PUBLIC_URL"].rstrip("/") + "/set-password/")
    return urlsplit(found.group(1)).path


def shown_link_path(page: str) -> str:
    found = re.search(r'id="link" class="link-box" type="text" readonly value="([^"]+)"', page)
    assert found, page
    return urlsplit(found.group(1)).path


def assert_no_link_in(page: str) -> None:
    assert "/set-password/" not in page
    assert 'id="link"' not in page


def signed_in_as_clinician(client) -> bool:
    response = client.get("/clinician/patients")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def set_password(client, path: str, password: str = NEW_PASSWORD):
    assert client.get(path).status_code == 200
    return client.post(path, data={"password": password, "confirm": password})


# --- the takeover journey, two-step on ------------------------------------------------------


def test_admin_link_for_a_clinician_with_two_step_is_emailed_and_still_asks_the_code(
    app, client, admin, clinician, patient
):
    """The attack of issue 13: an admin asks for a link for a clinician who has two-step on.
    Nothing usable reaches the admin; the clinician's e-mailed link sets a password but signs
    nobody in until the code step is passed; two-step stays on."""
    secret, _ = turn_on(client, clinician)
    login_as(client, admin)

    response = client.post(f"/admin/accounts/{clinician.id}/link")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "We have e-mailed Dr Ada Quinn a link" in page
    assert_no_link_in(page)
    (message,) = outbox(app)
    assert (message.to_email, message.alert_id, message.sent_at) == (clinician.email, None, None)
    assert "Ari Admin" in message.body  # the owner sees who asked
    assert "no health information" in message.body
    assert patient.name not in message.body
    assert link_audit_rows(app) == [(admin.id, "user", clinician.id, None, {"sent": "email"})]
    # Asking for a link changes nothing: the clinician's password still works.
    assert real_login(app.test_client(), clinician.email).headers["Location"] == "/login/code"

    # The owner follows the e-mailed link in their own browser.
    owner = app.test_client()
    done = set_password(owner, emailed_link_path(message, app))
    assert done.status_code == 302
    assert done.headers["Location"] == "/login/code"
    assert not signed_in_as_clinician(owner)
    assert not signed_in_as_clinician(owner)  # still not, on a second try
    wrong = owner.post("/login/code", data={"code": "000000"})
    assert wrong.status_code == 200
    assert not signed_in_as_clinician(owner)
    finished = owner.post("/login/code", data={"code": pyotp.TOTP(secret).now()})
    assert finished.status_code == 302
    assert signed_in_as_clinician(owner)

    with app.app_context():
        assert db.session.get(TwoFactor, clinician.id) is not None  # two-step stays on
    # A later login with the new password still asks for the code.
    assert (
        real_login(app.test_client(), clinician.email, NEW_PASSWORD).headers["Location"]
        == "/login/code"
    )
    assert real_login(app.test_client(), clinician.email).status_code == 200  # old one is gone
    assert app.test_client().get(emailed_link_path(message, app)).status_code == 400  # used


def test_a_link_used_by_someone_else_still_gives_them_no_session_without_the_code(
    app, client, admin, clinician
):
    """Even whoever got hold of an e-mailed link (a shared mailbox, a forwarded mail) cannot
    get past two-step login with it."""
    turn_on(client, clinician)
    login_as(client, admin)
    client.post(f"/admin/accounts/{clinician.id}/link")
    (message,) = outbox(app)

    thief = app.test_client()
    done = set_password(thief, emailed_link_path(message, app))

    assert done.headers["Location"] == "/login/code"
    assert not signed_in_as_clinician(thief)
    for url in ("/clinician/alerts", "/account/two-step", "/password"):
        assert thief.get(url).headers["Location"].startswith("/login")


def test_any_valid_link_still_asks_the_two_step_code(app, client, admin):
    """However a link came about (one issued before this change, one the owner got by mail),
    setting a password with it never skips two-step login."""
    secret, _ = turn_on(client, admin)
    with app.app_context():
        token = accounts.make_set_password_token(db.session.get(User, admin.id))
    browser = app.test_client()

    done = set_password(browser, f"/set-password/{token}")

    assert done.headers["Location"] == "/login/code"
    assert browser.get("/admin/accounts").headers["Location"].startswith("/login")
    waiting = browser.get("/login/code")  # the code step is waiting
    assert waiting.status_code == 200
    assert "Your password is set. Enter the code from your app" in waiting.get_data(as_text=True)
    assert browser.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    assert browser.get("/admin/accounts").status_code == 200


def test_without_two_step_the_owner_is_signed_in_after_setting_the_password(
    app, client, clinician, patient
):
    login_as(client, clinician)
    client.post(f"/clinician/patients/{patient.id}/link")
    (message,) = outbox(app)
    owner = app.test_client()
    done = set_password(owner, emailed_link_path(message, app))
    assert done.headers["Location"] == "/"
    assert owner.get("/today").status_code == 200


# --- who gets a link, and how ---------------------------------------------------------------


@pytest.mark.parametrize("target", ["self", "other admin", "other admin without a password"])
def test_admin_cannot_issue_a_link_for_own_or_another_admins_account(
    app, client, admin, make_user, target
):
    other = make_user(Role.ADMIN, name="Bea Admin")
    bare = make_user(Role.ADMIN, name="Cy Admin", password_hash=None)
    account = {"self": admin, "other admin": other, "other admin without a password": bare}[target]
    login_as(client, admin)

    response = client.post(f"/admin/accounts/{account.id}/link")

    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert_no_link_in(page)
    assert ("your own account" if target == "self" else "admin accounts") in page
    assert outbox(app) == []
    assert link_audit_rows(app) == []
    accounts_page = client.get("/admin/accounts").get_data(as_text=True)
    for admin_id in (admin.id, other.id, bare.id):
        assert f'action="/admin/accounts/{admin_id}/link"' not in accounts_page


@pytest.mark.parametrize(
    ("actor_role", "target_role", "allowed"),
    [
        (Role.ADMIN, Role.PATIENT, True),
        (Role.ADMIN, Role.CLINICIAN, True),
        (Role.ADMIN, Role.ADMIN, False),
        (Role.CLINICIAN, Role.PATIENT, True),
        (Role.CLINICIAN, Role.CLINICIAN, False),
        (Role.CLINICIAN, Role.ADMIN, False),
        (Role.PATIENT, Role.PATIENT, False),
        (Role.PATIENT, Role.CLINICIAN, False),
    ],
)
def test_who_may_issue_a_link_for_whom(app, make_user, actor_role, target_role, allowed):
    """The service's own rules, whatever view calls it: nobody acts on their own account,
    admins never on admins, clinicians only on patients, patients never."""
    actor, target = make_user(actor_role), make_user(target_role)
    with app.app_context():
        actor, target = db.session.get(User, actor.id), db.session.get(User, target.id)
        for account in (target, actor):
            if allowed and account is target:
                assert accounts.issue_set_password_link(actor, account) is None  # e-mailed
                continue
            with pytest.raises(accounts.LinkRefused):
                accounts.issue_set_password_link(actor, account)
        db.session.commit()
    assert len(link_audit_rows(app)) == len(outbox(app)) == int(allowed)


def test_admin_link_buttons_say_what_happens(client, admin, make_user):
    with_password = make_user(Role.PATIENT, name="Has Password")
    without = make_user(Role.CLINICIAN, name="No Password", password_hash=None)
    login_as(client, admin)
    page = client.get("/admin/accounts").get_data(as_text=True)
    row = page.split("Has Password")[1].split("</tr>")[0]
    assert f'action="/admin/accounts/{with_password.id}/link"' in row
    assert "E-mail a set-password link" in row
    row = page.split("No Password")[1].split("</tr>")[0]
    assert f'action="/admin/accounts/{without.id}/link"' in row
    assert "New set-password link" in row


def test_link_for_a_deactivated_account_is_refused(app, client, admin, make_user):
    gone = make_user(Role.PATIENT, active=False)
    login_as(client, admin)
    response = client.post(f"/admin/accounts/{gone.id}/link")
    assert response.status_code == 403
    assert_no_link_in(response.get_data(as_text=True))
    assert (outbox(app), link_audit_rows(app)) == ([], [])


def test_clinician_link_for_a_patient_with_a_password_is_emailed_not_shown(
    app, client, clinician, patient, active_plan
):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}").get_data(as_text=True)
    assert "E-mail a set-password link" in page

    response = client.post(f"/clinician/patients/{patient.id}/link")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "We have e-mailed Robin Patient a link" in page
    assert_no_link_in(page)
    (message,) = outbox(app)
    assert (message.to_email, message.alert_id) == (patient.email, None)
    assert not clinical_words_in(message.body), message.body
    assert link_audit_rows(app) == [
        (clinician.id, "user", patient.id, patient.id, {"sent": "email"})
    ]
    # The clinician cannot sign in as the patient: the old password still works for her, and
    # nothing the clinician holds sets a new one.
    assert real_login(app.test_client(), patient.email).status_code == 302
    patient_browser = app.test_client()
    assert set_password(patient_browser, emailed_link_path(message, app)).status_code == 302
    assert patient_browser.get("/today").status_code == 200


@pytest.mark.parametrize("who", ["admin", "clinician"])
def test_link_for_a_new_account_is_shown_and_not_emailed(app, client, admin, clinician, who):
    login_as(client, admin if who == "admin" else clinician)
    form = {"name": "Nova Newcomer", "email": "nova@example.org", "timezone": "UTC"}
    if who == "admin":
        response = client.post("/admin/accounts/new", data=form | {"role": "patient"})
    else:
        response = client.post("/clinician/patients/new", data=form)

    assert response.status_code == 200
    path = shown_link_path(response.get_data(as_text=True))
    with app.app_context():
        nova = db.session.scalar(select(User).where(User.email == "nova@example.org"))
        nova_id = nova.id
    actor = admin if who == "admin" else clinician
    assert link_audit_rows(app) == [(actor.id, "user", nova_id, nova_id, {"sent": "shown"})]
    assert outbox(app) == []

    # Asked again before any password is set: still shown (nobody to lock out or take over).
    again_url = (
        f"/admin/accounts/{nova_id}/link"
        if who == "admin"
        else f"/clinician/patients/{nova_id}/link"
    )
    again = client.post(again_url)
    assert again.status_code == 200
    shown_link_path(again.get_data(as_text=True))
    assert [row[-1] for row in link_audit_rows(app)] == [{"sent": "shown"}] * 2

    # Once the password is set, the next link goes by e-mail.
    newcomer = app.test_client()
    assert set_password(newcomer, path).headers["Location"] == "/"
    third = client.post(again_url)
    assert third.status_code == 200
    assert_no_link_in(third.get_data(as_text=True))
    assert [m.subject for m in outbox(app)] == [
        "Taper: your password was set",
        "Taper: a link to set a new password",
    ]
    assert [row[-1] for row in link_audit_rows(app)] == [{"sent": "shown"}] * 2 + [
        {"sent": "email"}
    ]


def test_emailed_link_uses_the_public_url_never_the_host_header(app, client, admin, patient):
    """Password-reset poisoning: a forged Host header cannot point the owner's link at another
    site."""
    login_as(client, admin)
    name = app.config["SESSION_COOKIE_NAME"]
    session_cookie = client.get_cookie(name)
    client.set_cookie(name, session_cookie.value, domain="evil.example")
    response = client.post(f"http://evil.example/admin/accounts/{patient.id}/link")
    assert response.status_code == 200
    (message,) = outbox(app)
    assert "evil.example" not in message.body
    emailed_link_path(message, app)


# --- the owner hears of every password change -----------------------------------------------


def test_password_change_emails_the_owner_without_health_details(app, patient, active_plan):
    client = app.test_client()
    assert real_login(client, patient.email).status_code == 302
    wrong = client.post(
        "/password",
        data={
            "current_password": "not my password at all",
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert wrong.status_code == 200
    assert outbox(app) == []

    changed = client.post(
        "/password",
        data={"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )

    assert changed.status_code == 302
    (message,) = outbox(app)
    assert (message.to_email, message.alert_id) == (patient.email, None)
    assert message.subject == "Taper: your password was changed"
    assert "If this was not you, contact your clinic" in message.body
    assert not clinical_words_in(message.body), message.body


def test_password_set_by_an_emailed_link_emails_the_owner(app, client, admin, clinician):
    login_as(client, admin)
    client.post(f"/admin/accounts/{clinician.id}/link")
    (link_mail,) = outbox(app)
    assert set_password(app.test_client(), emailed_link_path(link_mail, app)).status_code == 302
    _, notice = outbox(app)
    assert (notice.to_email, notice.subject) == (
        clinician.email,
        "Taper: your password was changed",
    )
    assert "contact your clinic" in notice.body


@pytest.mark.app_config(SMTP_PORT=SMTP_PORT)
def test_flask_notify_send_delivers_account_emails(app, client, runner, admin, patient):
    login_as(client, admin)
    client.post(f"/admin/accounts/{patient.id}/link")

    with smtp_server(SMTP_PORT) as inbox:
        result = runner.invoke(args=["notify", "send"])

    assert "Sent 1, failed 0" in result.output
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == [patient.email]
    mail = message_from_bytes(envelope.content, policy=default_policy)
    assert mail["Subject"] == "Taper: a link to set a new password"
    sent_link = re.search(r"\S+/set-password/\S+", mail.get_content()).group(0)
    (kept,) = outbox(app)
    assert kept.sent_at is not None
    # Once sent, the copy in the database (and its backups) holds no working link.
    assert urlsplit(sent_link).path.rsplit("/", 1)[1] not in kept.body
    assert "/set-password/(removed once sent)" in kept.body
    assert app.test_client().get(urlsplit(sent_link).path).status_code == 200


def test_a_link_shown_before_this_release_no_longer_works(app, patient):
    """Links issued before issue 13 were shown to whoever asked, also for accounts with a
    password: they are void after the upgrade (a new signing namespace)."""
    from itsdangerous import URLSafeTimedSerializer

    from taper.services.accounts import _fingerprint

    with app.app_context():
        user = db.session.get(User, patient.id)
        old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="taper.set-password")
        token = old.dumps({"u": user.id, "f": _fingerprint(user)})
    page = app.test_client().get(f"/set-password/{token}")
    assert page.status_code == 400
    assert "not valid" in page.get_data(as_text=True)


# --- 6c: the admin audit page shows actions on accounts only ---------------------------------


def test_admin_audit_page_lists_account_actions_and_no_clinical_events(
    app, client, admin, clinician, patient, active_plan, make_user
):
    login_as(client, patient)
    assert client.post("/log", data=fill_log(client)).status_code == 302
    assert client.post(
        "/help", data={"red_flags": "seizure", "submission_id": "a" * 32}
    ).status_code in (200, 302)
    login_as(client, clinician)
    client.get(f"/clinician/patients/{patient.id}")
    client.post(f"/clinician/patients/{patient.id}/link")
    login_as(client, admin)
    client.post(
        "/admin/accounts/new",
        data={
            "name": "Audit Person",
            "email": "audit@example.org",
            "role": "clinician",
            "timezone": "UTC",
        },
    )
    with app.app_context():
        newcomer = db.session.scalar(select(User.id).where(User.email == "audit@example.org"))
    client.post("/admin/care-team", data={"clinician": newcomer, "patient": patient.id})
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
    clinical = {a for a in actions if a.split(".")[0] in ("log", "plan", "alert", "patient")}
    assert {"log.save", "plan.create", "alert.raise", "patient.view"} <= clinical

    for url in ("/admin/audit", f"/admin/audit?patient={patient.id}"):
        page = client.get(url).get_data(as_text=True)
        shown = set(re.findall(r"<td>([a-z_0-9]+\.[a-z_0-9.]+)</td>", page))
        assert shown, page
        assert not shown & clinical, (url, shown & clinical)
        assert shown <= {a for a in actions if a not in clinical}
        assert "user.password_link" in shown
    everything = client.get("/admin/audit").get_data(as_text=True)
    assert {"user.create", "care_team.add"} <= set(
        re.findall(r"<td>([a-z_0-9]+\.[a-z_0-9.]+)</td>", everything)
    )
    assert "Audit Person (clinician)" in everything  # the account acted on is named


def test_an_admin_who_lost_their_password_gets_an_emailed_link_from_the_server(app, runner, admin):
    """No admin may send a link to an admin: the way back in is the server's command line,
    which e-mails the owner (never prints the link) and is audited with no actor."""
    result = runner.invoke(args=["users", "send-link", admin.email.upper()])

    assert result.exit_code == 0, result.output
    assert "/set-password/" not in result.output
    (message,) = outbox(app)
    assert message.to_email == admin.email
    assert "Your clinic's Taper administrator" in message.body
    assert link_audit_rows(app) == [(None, "user", admin.id, None, {"sent": "email"})]
    path = emailed_link_path(message, app)
    new = "violet harbour sings quietly"
    done = app.test_client().post(path, data={"password": new, "confirm": new})
    assert done.status_code == 302
    assert real_login(app.test_client(), admin.email, new).status_code == 302


@pytest.mark.parametrize("who", ["nobody", "deactivated"])
def test_send_link_refuses_unknown_and_deactivated_accounts(app, runner, make_user, who):
    email = "nobody@example.org"
    if who == "deactivated":
        email = make_user(Role.ADMIN, active=False).email

    result = runner.invoke(args=["users", "send-link", email])

    assert result.exit_code != 0
    assert ("No account" if who == "nobody" else "deactivated") in result.output
    assert outbox(app) == []
    assert link_audit_rows(app) == []
