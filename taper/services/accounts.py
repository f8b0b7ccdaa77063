"""Accounts and care teams: create, deactivate, assign, log in and out, set and change
passwords. The use cases the pages call (``open_account`` ... ``set_password_from_link``)
commit; the helpers they build on leave the commit to their caller."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select, update

from taper.domain.schedule import zone_names
from taper.extensions import db
from taper.models import CareTeamLink, Role, User, find_user_by_email, normalise_email
from taper.models.user import has_control_characters
from taper.services import ServiceError, audit, committed, locks, notify
from taper.services.passwords import check_password_policy, hash_password, verify_password
from taper.services.savepoint import insert_once

log = logging.getLogger(__name__)
# The salt is a namespace for the signed links, not a secret. "v2": links issued before
# issue 13 (shown to whoever asked, even for an account with a password) no longer work.
_TOKEN_SALT = "taper.set-password.v2"  # noqa: S105  # nosec B105
# The path of the auth.set_password page, for links in e-mails (built from PUBLIC_URL, never
# from the request's Host header, so a forged Host cannot send the owner's link elsewhere).
LINK_PATH = "/set-password/"
NO_HEALTH_DETAILS = "This message contains no health information.\n"


class LinkRefused(ServiceError):
    """Nobody may be handed a set-password link for this account (the view answers 403)."""


# Loose on purpose: people write numbers many ways ("+44 (0)7700 900123", "07700-900-123").
_PHONE_CHARACTERS = re.compile(r"[0-9 +\-()]+")
PHONE_DIGITS = (6, 20)
PHONE_ERROR = (
    "Enter a phone number of 6 to 20 digits, like 07700 900123 or +44 7700 900123. "
    "Use only digits, spaces, +, - and brackets."
)


def normalise_phone(value: str | None) -> str | None:
    """A phone number as typed, trimmed (None when left empty); ServiceError ("phone") when
    it holds other characters or has fewer than 6 or more than 20 digits."""
    phone = (value or "").strip()
    if not phone:
        return None
    digits = sum(c.isdigit() for c in phone)
    if (
        not _PHONE_CHARACTERS.fullmatch(phone)
        or not PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]
        or len(phone) > 32
    ):
        raise ServiceError(PHONE_ERROR, "phone")
    return phone


def _check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
        raise ServiceError("Choose a time zone from the list.", "timezone") from None
    if name not in zone_names():
        raise ServiceError("Choose a time zone from the list.", "timezone")
    return name


def _patient_id(user: User) -> int | None:
    # A patient's own account is patient data: "who touched this patient" must find these rows.
    return user.id if user.role is Role.PATIENT else None


def _looks_like_email(email: str) -> bool:
    # One "@" with something on both sides and a dot inside the domain: "a@", "@x.org" and
    # "a@@b" are typos, not addresses. No invisible or look-alike characters (a zero-width
    # space, a fullwidth "ｊ") and no trailing dot: a second account that reads exactly like
    # an existing one's address would be a different account.
    local, at, domain = email.partition("@")
    return (
        bool(at and local)
        and "@" not in domain
        and "." in domain[1:-1]
        and not domain.endswith(".")
        and len(email) <= 254
        and not any(c.isspace() or unicodedata.category(c).startswith("C") for c in email)
        and unicodedata.normalize("NFKC", email) == email
        and len(_scripts(email)) <= 1
    )


def _scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` ("LATIN", "CYRILLIC" ...): an address mixing
    two ("pаt" with a Cyrillic а) reads like another's."""
    return {unicodedata.name(c, "?").split()[0] for c in text if c.isalpha()}


def create_user(
    actor: User | None,
    *,
    email: str,
    name: str,
    role: Role,
    password: str | None = None,
    timezone: str | None = None,
) -> User:
    """Create an account; without a password it can only be entered through a set-password link."""
    email = normalise_email(email)
    if not _looks_like_email(email):
        raise ServiceError("Enter an email address like name@example.org.", "email")
    name = " ".join(name.split())
    if not name or len(name) > 120 or has_control_characters(name):
        raise ServiceError("Enter a name (up to 120 characters).", "name")
    if find_user_by_email(email) is not None:
        raise ServiceError("An account with this email already exists.", "email")
    if password is not None:
        check_password_policy(password, email, name)
    user = User(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password) if password is not None else None,
        timezone=_check_timezone(timezone or current_app.config["DEFAULT_TIMEZONE"]),
    )
    if not insert_once(user):  # the same form sent twice at once: the other one made it
        raise ServiceError("An account with this email already exists.", "email")
    audit.record(
        actor,
        "user.create",
        "user",
        user.id,
        patient_id=_patient_id(user),
        summary={"role": role.value},
    )
    return user


LAST_ADMIN = "This is the last active admin account: make another admin first."


def _lock(user: User) -> None:
    """Lock the account's row (and, for an admin, every active admin's) and reload it: two
    admins switching each other off wait for one another, and the second sees the first's
    change (``locks.lock``)."""
    rows = User.id == user.id
    if user.role is Role.ADMIN:
        rows = rows | ((User.role == Role.ADMIN) & User.active.is_(True))
    locks.lock(User, rows, ("active", "updated_at"))


def deactivate_user(actor: User | None, user: User) -> bool:
    """Switch an account off and end all its sessions; False when it was off already (a
    second click writes nothing). The last active admin is never switched off."""
    _lock(user)
    if not user.active:
        return False
    if user.role is Role.ADMIN and not db.session.scalar(
        select(User.id).where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
    ):
        raise ServiceError(LAST_ADMIN)
    user.active = False
    user.end_sessions()
    audit.record(actor, "user.deactivate", "user", user.id, patient_id=_patient_id(user))
    return True


def reactivate_user(actor: User | None, user: User) -> bool:
    """Switch an account on again (its password stays; sessions from before stay ended);
    False when it was on already."""
    _lock(user)
    if user.active:
        return False
    user.active = True
    audit.record(actor, "user.reactivate", "user", user.id, patient_id=_patient_id(user))
    return True


def patients_without_a_clinician(patient_ids: list[int]) -> list[User]:
    """Those of these patients (active) whom no active clinician has on their care team: their
    alerts reach no care team until an admin assigns one."""
    if not patient_ids:
        return []
    covered = (
        select(CareTeamLink.patient_id)
        .join(User, User.id == CareTeamLink.clinician_id)
        .where(User.active.is_(True))
    )
    return list(
        db.session.scalars(
            select(User)
            .where(User.id.in_(patient_ids), User.active.is_(True), User.id.not_in(covered))
            .order_by(User.name, User.id)
        )
    )


def _team_of(clinician: User) -> list[int]:
    return list(
        db.session.scalars(
            select(CareTeamLink.patient_id).where(CareTeamLink.clinician_id == clinician.id)
        )
    )


def add_to_care_team(actor: User | None, clinician: User, patient: User) -> CareTeamLink:
    """Put a patient on a clinician's care team (idempotent)."""
    if clinician.role is not Role.CLINICIAN:
        raise ServiceError("Choose a clinician.", "clinician")
    if patient.role is not Role.PATIENT:
        raise ServiceError("Choose a patient.", "patient")
    link = db.session.get(CareTeamLink, (clinician.id, patient.id))
    if link is None:
        link = CareTeamLink(
            clinician_id=clinician.id,
            patient_id=patient.id,
            added_by_id=actor.id if actor else None,
        )
        if not insert_once(link):  # the same form sent twice at once: the other one added it
            return db.session.get(CareTeamLink, (clinician.id, patient.id))
        audit.record(
            actor,
            "care_team.add",
            "user",
            clinician.id,
            patient_id=patient.id,
            summary={"clinician_id": clinician.id},
        )
    return link


def care_team_patients(clinician: User) -> list[User]:
    """The patients on a clinician's care team, by name."""
    return list(
        db.session.scalars(
            select(User)
            .join(CareTeamLink, CareTeamLink.patient_id == User.id)
            .where(CareTeamLink.clinician_id == clinician.id)
            .order_by(User.name, User.id)
        )
    )


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (same answer for every failure)."""
    user = find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        return None
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change a password after checking the current one; ends every other session and tells
    the owner by e-mail."""
    if not verify_password(user.password_hash, current):
        raise ServiceError("That is not your current password.", "current_password")
    check_password_policy(new, user.email, user.name)
    user.password_hash = hash_password(new)
    user.end_sessions()
    audit.record(user, "user.password_change", "user", user.id, patient_id=_patient_id(user))
    _tell_owner_password_changed(user, first=False)


def owners_clock(moment: datetime, timezone: str) -> str:
    """A moment as its owner reads it: '3 December 2026 at 09:05 (America/New York time)',
    never in UTC (an unknown zone falls back to UTC, named as such)."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, "America"
        zone, timezone = ZoneInfo("UTC"), "UTC"
    local = moment.astimezone(zone)
    return f"{local.day} {local:%B %Y} at {local:%H:%M} ({timezone.replace('_', ' ')} time)"


def _tell_owner_password_changed(user: User, *, first: bool) -> None:
    # Whoever set it (the owner, or someone holding a link), the owner hears of it.
    did = "set" if first else "changed"
    when = owners_clock(datetime.now(UTC), user.timezone)
    notify.queue(
        user.email,
        f"Taper: your password was {did}",
        f"Hello {user.name},\n\nThe password of your Taper account was {did} on {when}.\n"
        "If this was you, there is nothing more to do.\n\n"
        "If this was not you, contact your clinic straight away.\n\n" + NO_HEALTH_DETAILS,
    )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def _fingerprint(user: User) -> str:
    # Changes as soon as a password is set, which makes each link work once.
    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def make_set_password_token(user: User) -> str:
    """A signed, expiring, one-time token for the set-password page."""
    return _serializer().dumps({"u": user.id, "f": _fingerprint(user)})


def user_for_set_password_token(token: str) -> User:
    """The user a valid token belongs to; ServiceError when expired, used or forged."""
    max_age = current_app.config["SET_PASSWORD_LINK_HOURS"] * 3600
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ServiceError("This link has expired. Ask your clinician for a new one.") from None
    except BadSignature:
        raise ServiceError("This link is not valid. Ask your clinician for a new one.") from None
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or not user.active or data.get("f") != _fingerprint(user):
        raise ServiceError("This link has already been used or is no longer valid.")
    return user


def set_password_with_token(token: str, password: str) -> User:
    """Set a password from a set-password link; the link stops working afterwards and the
    owner is told by e-mail. Signing in (and two-step login) is left to the caller."""
    user = user_for_set_password_token(token)
    check_password_policy(password, user.email, user.name)
    first = user.password_hash is None
    # The link is spent by one conditional UPDATE: of two uses at the same instant, the second
    # finds the password no longer the one its link was made for (it waits for the first to
    # commit, then matches no row), so it cannot keep a session of its own.
    was = User.password_hash.is_(None) if first else User.password_hash == user.password_hash
    claimed = db.session.execute(
        update(User)
        .where(User.id == user.id, was)
        .values(password_hash=hash_password(password), session_version=User.session_version + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise ServiceError("This link has already been used or is no longer valid.")
    db.session.refresh(user, ["password_hash", "session_version"])
    audit.record(user, "user.password_set", "user", user.id, patient_id=_patient_id(user))
    _tell_owner_password_changed(user, first=first)
    return user


def _record_link(actor: User | None, account: User, sent: str) -> None:
    audit.record(
        actor,
        "user.password_link",
        "user",
        account.id,
        patient_id=_patient_id(account),
        summary={"sent": sent},
    )


def first_set_password_link(actor: User, account: User) -> str:
    """The token of the set-password link of an account created in this transaction, to show
    on screen: it never had a password, so nobody is locked out or taken over."""
    if account.password_hash is not None:
        raise LinkRefused("This account already has a password.")
    _record_link(actor, account, "shown")
    return make_set_password_token(account)


def issue_set_password_link(actor: User, account: User) -> str | None:
    """A fresh set-password link for someone else's account. Only an account that never had
    a password gets it back as a token to show on screen; any other is e-mailed to its owner
    (None is returned), so whoever asked never holds a working link to it. Audited either way.

    Admins may not issue links for their own account or another admin's; clinicians only for
    patients (the view checks the care team). A password set by the link still asks for the
    two-step code (auth.set_password)."""
    if account.id == actor.id:
        raise LinkRefused(
            "You cannot issue a set-password link for your own account. "
            "Use Change password instead."
        )
    if actor.role is Role.ADMIN and account.role is Role.ADMIN:
        raise LinkRefused(
            "Admins cannot issue set-password links for admin accounts: only the account's "
            "owner can change its password."
        )
    if actor.role is Role.CLINICIAN and account.role is not Role.PATIENT:
        raise LinkRefused("Clinicians can issue set-password links for patients only.")
    if actor.role not in (Role.ADMIN, Role.CLINICIAN):
        raise LinkRefused("You cannot issue set-password links.")
    if not account.active:
        raise LinkRefused("This account is deactivated: a link would not work.")
    if account.password_hash is None:
        _record_link(actor, account, "shown")
        return make_set_password_token(account)
    email_set_password_link(actor, account)
    return None


def email_set_password_link(actor: User | None, account: User) -> None:
    """E-mail the account's owner a set-password link through the outbox (audited). With no
    actor it comes from the server's command line (`flask users send-link`), the way back in
    for an admin, whose account no other admin may send a link to."""
    if not account.active:
        raise LinkRefused("This account is deactivated: a link would not work.")
    token = make_set_password_token(account)
    link = f"{current_app.config['PUBLIC_URL'].rstrip('/')}{LINK_PATH}{token}"
    hours = current_app.config["SET_PASSWORD_LINK_HOURS"]
    who = f"{actor.name} at your clinic" if actor else "Your clinic's Taper administrator"
    notify.queue(
        account.email,
        "Taper: a link to set a new password",
        f"Hello {account.name},\n\n{who} asked Taper to send you a link "
        f"to set a new password for your Taper account. It works once, within {hours} hours:"
        f"\n\n{link}\n\nIf you did not ask for this, you can ignore this e-mail: your "
        "password stays as it is. If it happens again, contact your clinic.\n\n"
        + NO_HEALTH_DETAILS,
    )
    _record_link(actor, account, "email")


# --- use cases the pages call: each commits once --------------------------------------------


def open_account(
    actor: User,
    *,
    email: str,
    name: str,
    role: Role,
    timezone: str | None,
    care_team_of: User | None = None,
    phone: str | None = None,
) -> tuple[User, str]:
    """Create an account (on ``care_team_of``'s care team, when given; with a phone number,
    when one was typed) and issue the set-password link to show on screen; return the account
    and the link's token."""

    def create() -> tuple[User, str]:
        typed_phone = normalise_phone(phone)  # a wrong number is refused before anything is made
        user = create_user(actor, email=email, name=name, role=role, timezone=timezone)
        if care_team_of is not None:
            add_to_care_team(actor, care_team_of, user)
        if typed_phone is not None:
            _store_phone(actor, user, typed_phone)
        return user, first_set_password_link(actor, user)

    return committed(create)


def deactivate_account(actor: User, user: User) -> list[User]:
    """Switch an account off (its sessions end at once) and commit; for a clinician, the
    patients this leaves with no active clinician (the admin is told at once)."""

    def switch_off() -> list[User]:
        deactivate_user(actor, user)
        if user.role is not Role.CLINICIAN:
            return []
        return patients_without_a_clinician(_team_of(user))

    return committed(switch_off)


def reactivate_account(actor: User, user: User) -> bool:
    """``reactivate_user``, committed: False when the account was on already."""
    return committed(reactivate_user, actor, user)


def leave_care_team(actor: User, clinician: User, patient: User) -> bool:
    """Take a clinician off a patient's care team (they no longer see the patient's record)
    and commit; True when the patient still has an active clinician."""

    def remove() -> bool:
        if clinician.role is not Role.CLINICIAN or patient.role is not Role.PATIENT:
            raise ServiceError("Choose a clinician and one of their patients.")
        _lock(patient)  # two removals at once: the second sees the first, and warns
        link = db.session.get(CareTeamLink, (clinician.id, patient.id))
        if link is not None:
            db.session.delete(link)
            audit.record(
                actor,
                "care_team.remove",
                "user",
                clinician.id,
                patient_id=patient.id,
                summary={"clinician_id": clinician.id},
            )
            db.session.flush()
        return not patients_without_a_clinician([patient.id])

    return committed(remove)


def join_care_team(actor: User, clinician: User, patient: User) -> None:
    """Put a patient on a clinician's care team and commit."""
    add_to_care_team(actor, clinician, patient)
    db.session.commit()


def issue_link(actor: User, account: User) -> str | None:
    """``issue_set_password_link``, committed (its audit row, and the e-mail in the outbox)."""
    token = issue_set_password_link(actor, account)
    db.session.commit()
    return token


def set_phone(actor: User, account: User, phone: str | None) -> bool:
    """Store the account's phone number (trimmed; empty removes it) and audit the change
    (never the number itself); False when it was already that. Only the account's owner, or
    a clinician whose care team the patient is on, may (the views check that first, with a
    404; this is the second lock)."""
    own = actor.id == account.id
    if not own and (
        actor.role is not Role.CLINICIAN
        or account.role is not Role.PATIENT
        or db.session.get(CareTeamLink, (actor.id, account.id)) is None
    ):
        raise ServiceError("You cannot change this phone number.", "phone")
    phone = normalise_phone(phone)
    if phone == account.phone:
        return False
    _store_phone(actor, account, phone)
    return True


def _store_phone(actor: User, account: User, phone: str | None) -> None:
    # The audit row says who changed it and whether a number is now set: never the number.
    account.phone = phone
    audit.record(
        actor,
        "user.phone_change",
        "user",
        account.id,
        patient_id=_patient_id(account),
        summary={"set": phone is not None, "by_owner": actor.id == account.id},
    )


def change_phone(actor: User, account: User, phone: str | None) -> bool:
    """``set_phone``, committed: a user's own number, or (the view checked the care team)
    their patient's. True when it changed."""
    return committed(lambda: set_phone(actor, account, phone))


def log_in(user: User, *, two_step: bool = False) -> None:
    """Audit and commit the login of a user whose password (and code) were proved; the view
    has just started their session (``web.start_session``)."""
    summary = {"two_step": True} if two_step else None
    audit.record(user, "auth.login", "user", user.id, summary=summary)
    db.session.commit()


def log_out(user: User) -> None:
    """End every session of the account and audit the logout."""
    user.end_sessions()
    audit.record(user, "auth.logout", "user", user.id)
    db.session.commit()


def change_own_password(user: User, current: str, new: str) -> None:
    """``change_password``, committed."""
    change_password(user, current, new)
    db.session.commit()


def set_password_from_link(token: str, password: str) -> User:
    """``set_password_with_token``, committed; return the account."""
    user = set_password_with_token(token, password)
    db.session.commit()
    return user
