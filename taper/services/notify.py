"""Sending queued e-mails (the outbox) over SMTP, with retries and backoff."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import smtplib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from taper.extensions import db
from taper.models import Alert, OutboxMessage

log = logging.getLogger(__name__)
_SENT_LINK = re.compile(r"/set-password/\S+")
MAX_BACKOFF = timedelta(hours=1)
# How long a sender on SQLite holds a message before another may try it (the send's timeout
# is far shorter).
CLAIM_LEASE = timedelta(minutes=5)
IMMEDIATE_TIMEOUT = 3  # seconds, for the attempt made while the patient waits


def queue(to_email: str, subject: str, body: str, *, alert_id: int | None = None) -> OutboxMessage:
    """Add an e-mail to the outbox in the caller's transaction (sent by `flask notify send`).
    ``alert_id`` is None for a message about an account rather than an alert."""
    message = OutboxMessage(alert_id=alert_id, to_email=to_email, subject=subject, body=body)
    db.session.add(message)
    return message


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after each failure, at most an hour. The exponent is capped
    before the timedelta is made: 2**41 minutes overflowed it at the 42nd failure, inside the
    sender's error handler, and a message failing for good then stopped every later one."""
    return min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 6)), MAX_BACKOFF)


def message_id(message: OutboxMessage) -> str:
    """The e-mail's Message-ID: the same on every attempt, so the one resend a crash can cause
    (see ``send_pending``) is recognisably the same message, shown once by mail clients that
    merge by Message-ID. Keyed with SECRET_KEY so it does not tell how many e-mails we send."""
    config = current_app.config
    key = str(config["SECRET_KEY"]).encode()
    seed = f"outbox:{message.id}:{message.created_at.isoformat()}".encode()
    digest = hmac.new(key, seed, hashlib.sha256).hexdigest()[:32]
    domain = parseaddr(config["MAIL_SENDER"])[1].rpartition("@")[2] or "localhost"
    return f"<{digest}@{domain}>"


def _email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_SENDER"]
    email["To"] = message.to_email
    email["Subject"] = message.subject
    email["Message-ID"] = message_id(message)
    email.set_content(message.body)
    return email


@contextmanager
def _mail_server(timeout: float) -> Iterator[smtplib.SMTP]:
    """A connection to the mail server, signed in; QUIT when done (a failed QUIT is ignored:
    by then the message was accepted and recorded)."""
    config = current_app.config
    smtp = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=timeout)
    try:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        yield smtp
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def _record_sent(message: OutboxMessage) -> None:
    message.attempts += 1
    message.sent_at = datetime.now(UTC)
    # A sent set-password link has no business staying readable in the database.
    message.body = _SENT_LINK.sub("/set-password/(removed once sent)", message.body)


def _claim(outbox_id: int, now: datetime) -> OutboxMessage | None:
    """The message, if it is still unsent and no other sender has it; None otherwise.

    PostgreSQL: the row stays locked (SKIP LOCKED) until the sender commits. SQLite has no
    row locks, and holding its one write lock while the mail server answers would stall
    every request: the sender takes a lease instead (a committed ``next_attempt_at`` in the
    future), so a second sender (another thread or process) skips the message."""
    if db.session.get_bind().dialect.name != "sqlite":
        return db.session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.id == outbox_id, OutboxMessage.sent_at.is_(None))
            .with_for_update(skip_locked=True)
        )
    leased = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == outbox_id,
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return db.session.get(OutboxMessage, outbox_id) if leased else None


def send_pending(
    now: datetime | None = None, *, alert_id: int | None = None, immediate: bool = False
) -> tuple[int, int]:
    """Send every message that is due (or those of one alert); return (sent, failed).

    Each message is committed on its own, so a crash loses nothing that was sent. Rows are
    claimed while sending (SKIP LOCKED on PostgreSQL, a lease on SQLite: ``_claim``) so two
    senders never send one twice. Delivery is at least once: a sender killed between the mail
    server's "accepted" and the commit that records it (one commit's time) leaves the message
    unsent, and it goes again, with the same Message-ID; losing an urgent alert is worse.
    ``immediate`` (inside a patient's request): a short timeout, and the first failure leaves
    the rest to `flask notify send`, so a dead mail server never holds the urgent page."""
    now = now or datetime.now(UTC)
    timeout = current_app.config["SMTP_TIMEOUT"]
    if immediate:
        timeout = min(timeout, IMMEDIATE_TIMEOUT)
    query = select(OutboxMessage.id).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.next_attempt_at <= now
    )
    if alert_id is not None:
        query = query.where(OutboxMessage.alert_id == alert_id)
    sent = failed = 0
    for outbox_id in db.session.scalars(query.order_by(OutboxMessage.id)).all():
        message = _claim(outbox_id, now)
        if message is None:
            db.session.rollback()
            continue
        try:
            with _mail_server(timeout) as smtp:
                smtp.send_message(_email(message))
                # Recorded before QUIT: only a crash inside this commit, after the mail server
                # took the message, leaves it unsent here and so sent again (same Message-ID).
                _record_sent(message)
                db.session.commit()
        except SQLAlchemyError:
            raise  # the database failed, not the mail server: the caller's error
        except Exception as error:  # noqa: BLE001  (one bad message must never block the rest)
            message.attempts += 1
            message.next_attempt_at = now + backoff(message.attempts)
            message.last_error = type(error).__name__
            db.session.commit()
            failed += 1
            log.warning("outbox message %s not sent (%s)", outbox_id, type(error).__name__)
            if immediate:
                break
        else:
            sent += 1
    return sent, failed


def send_urgent_now(alerts: Iterable[Alert]) -> None:
    """Try to e-mail the care team about urgent alerts straight away, after they are committed;
    the outbox and cron retry if this fails, and a failure never reaches the patient."""
    for alert in alerts:
        if alert.tier != "urgent":
            continue
        try:
            send_pending(alert_id=alert.id, immediate=True)
        except Exception:  # noqa: BLE001  (the patient must see the urgent page whatever happens)
            db.session.rollback()
            log.exception("immediate notification failed for alert %s", alert.id)
