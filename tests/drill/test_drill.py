"""The fault drill (issue 16): the production shape on this machine, broken under load.

Two gunicorn app servers, one worker, a PostgreSQL database and a Redis of the drill's own
(tests/drill/stack.py). Patients log days and report red flags across both servers; one
server is SIGKILLed mid-run and the worker restarted; a request that failed is sent to the
other server with the same form. Then: every acknowledged log and red flag is stored exactly
once, every urgent alert has exactly one e-mail per clinician, sent once and received once
(or, at most once per killed worker, twice with the same Message-ID: the killed worker was
between the mail server's "accepted" and its own commit), and no alert is doubled. A second
phase stops Redis: pages keep working and nothing is lost; when Redis is back the worker
delivers the outbox. `make drill` runs it (in .ci/run)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.drill.client import Patient, Tally, run_load
from tests.drill.stack import PASSWORD, Stack, drill_stack, flask, wait_until_ready

pytestmark = pytest.mark.drill

LOAD_SECONDS = 15
KILL_AT, WORKER_RESTART_AT = 5, 9
DRAIN_SECONDS = 45
REDIS_LOAD_SECONDS, REDIS_KILL_AT = 8, 2
ALERT_LINK = re.compile(r"/clinician/alerts#alert-(\d+)")
MESSAGE_ID = re.compile(r"^Message-ID: *(\S+)", re.MULTILINE | re.IGNORECASE)


@pytest.fixture(scope="module")
def stack():
    started = time.monotonic()
    with drill_stack(patients=10) as built:
        built.events.append(f"stack up in {time.monotonic() - started:.1f} s")
        yield built


@contextmanager
def _logs_on_failure(stack: Stack) -> Iterator[None]:
    """Print the processes' last log lines when the drill fails (the logs go with it)."""
    try:
        yield
    except BaseException:
        print(stack.failure_report())
        raise


def _patients(stack: Stack, tally: Tally, emails: list[str]) -> list[Patient]:
    patients = [Patient(email, stack.bases, tally, seed) for seed, email in enumerate(emails)]
    for index, patient in enumerate(patients):
        patient.browser.login(patient.email, PASSWORD, first=index % 2)
    return patients


def _mailed_alerts(stack: Stack) -> dict[tuple[int, str], Counter]:
    """Urgent-alert e-mails the SMTP server received: per (alert id, recipient), how many
    times each Message-ID arrived."""
    received: dict[tuple[int, str], Counter] = {}
    for envelope in list(stack.mailbox.messages):
        text = envelope.content.decode("utf-8", "replace")
        found = ALERT_LINK.search(text)
        if found:
            message_id = MESSAGE_ID.search(text)
            for recipient in envelope.rcpt_tos:
                key = (int(found.group(1)), recipient)
                received.setdefault(key, Counter())[message_id and message_id.group(1)] += 1
    return received


def _resent(received: dict[tuple[int, str], Counter]) -> int:
    """Deliveries beyond the first of each message."""
    return sum(n - 1 for ids in received.values() for n in ids.values())


def _urgent_alerts(stack: Stack) -> list:
    return stack.query(
        "SELECT id, log_id, report_id FROM alert WHERE tier = 'urgent' AND id > :seeded",
        seeded=stack.seeded_alert_id,
    )


def _expected_mail(stack: Stack) -> Counter:
    """One e-mail per urgent alert raised in the drill and clinician on the care team."""
    rows = stack.query(
        "SELECT a.id, u.email FROM alert a JOIN care_team c ON c.patient_id = a.patient_id "
        'JOIN "user" u ON u.id = c.clinician_id '
        "WHERE a.tier = 'urgent' AND a.id > :seeded AND u.active",
        seeded=stack.seeded_alert_id,
    )
    return Counter((row.id, row.email) for row in rows)


def _wait_for_outbox(stack: Stack, seconds: float) -> float:
    """Until nothing is left unsent and the mailbox holds every expected e-mail; the wait."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        unsent = stack.query("SELECT count(*) AS n FROM outbox_message WHERE sent_at IS NULL")
        received = Counter(dict.fromkeys(_mailed_alerts(stack), 1))
        if unsent[0].n == 0 and +(_expected_mail(stack) - received) == Counter():
            break
        time.sleep(0.5)
    return time.monotonic() - started


def _check_nothing_lost_or_doubled(stack: Stack, tally: Tally, resends_allowed: int) -> dict:
    """The drill's verdict on the database and the mailbox. E-mail is at least once (see
    notify.send_pending): a process SIGKILLed between the mail server's "accepted" and its own
    commit leaves that message to be sent again, with the same Message-ID, so at most one
    resend per killed worker (``resends_allowed``, in all, since the stack started)."""
    assert not tally.errors, tally.errors[:10]
    logs = dict(
        stack.query(
            "SELECT submission_id, count(*) FROM daily_log "
            "WHERE submission_id = ANY(CAST(:ids AS text[])) GROUP BY submission_id",
            ids=list(tally.logs),
        )
    )
    assert set(logs) == tally.logs, f"acknowledged logs missing: {tally.logs - set(logs)}"
    assert set(logs.values()) <= {1}
    reports = dict(
        stack.query(
            "SELECT submission_id, count(*) FROM red_flag_report "
            "WHERE submission_id = ANY(CAST(:ids AS text[])) GROUP BY submission_id",
            ids=list(tally.reports),
        )
    )
    assert set(reports) == tally.reports, f"reports missing: {tally.reports - set(reports)}"
    assert set(reports.values()) <= {1}

    urgent = _urgent_alerts(stack)
    per_log = Counter(row.log_id for row in urgent if row.log_id)
    per_report = Counter(row.report_id for row in urgent if row.report_id)
    assert max([*per_log.values(), *per_report.values(), 1]) == 1, "an urgent alert doubled"
    flagged = dict(
        stack.query(
            "SELECT submission_id, id FROM daily_log "
            "WHERE submission_id = ANY(CAST(:ids AS text[]))",
            ids=list(tally.flagged_logs),
        )
    )
    report_ids = dict(
        stack.query(
            "SELECT submission_id, id FROM red_flag_report "
            "WHERE submission_id = ANY(CAST(:ids AS text[]))",
            ids=list(tally.reports),
        )
    )
    assert all(per_log[log_id] == 1 for log_id in flagged.values()), "a red flag without alert"
    assert all(per_report[rid] == 1 for rid in report_ids.values()), "a report without alert"
    doubled = stack.query(
        "SELECT patient_id, kind, plan_id, count(*) FROM alert WHERE status = 'open' "
        "AND tier <> 'urgent' AND kind <> 'note' GROUP BY patient_id, kind, plan_id "
        "HAVING count(*) > 1"
    )
    assert not doubled, f"duplicate open alerts: {doubled}"

    outbox = stack.query(
        "SELECT o.alert_id, o.to_email, count(*) AS n, count(o.sent_at) AS sent "
        "FROM outbox_message o WHERE o.alert_id > :seeded GROUP BY o.alert_id, o.to_email",
        seeded=stack.seeded_alert_id,
    )
    expected = _expected_mail(stack)
    assert Counter({(r.alert_id, r.to_email): r.n for r in outbox}) == expected
    assert all(r.sent == r.n for r in outbox), "outbox messages left unsent"
    received = _mailed_alerts(stack)
    split = {key: ids for key, ids in received.items() if len(ids) > 1}
    assert not split, f"one alert e-mailed to one clinician as two messages: {split}"
    resent = _resent(received)
    twice = {key: ids for key, ids in received.items() if sum(ids.values()) > 1}
    assert resent <= resends_allowed, f"e-mails received more than once: {twice}"
    assert Counter(dict.fromkeys(received, 1)) == expected, "the mail server did not get the outbox"
    return {
        "logs acknowledged": len(tally.logs),
        "red flags acknowledged": len(tally.flagged_logs) + len(tally.reports),
        "urgent alerts": len(urgent),
        "e-mails received": sum(sum(ids.values()) for ids in received.values()),
        "e-mails received again after a kill (same Message-ID)": resent,
    }


def _summary(title: str, stack: Stack, tally: Tally, verdict: dict, seconds: dict) -> None:
    lines = [f"== fault drill: {title}"]
    lines += [f"   {event}" for event in stack.events]
    lines += [f"   requests: {dict(sorted(tally.counts.items()))}"]
    lines += [f"   {name}: {value}" for name, value in verdict.items()]
    lines += [f"   seconds: {', '.join(f'{k} {v:.1f}' for k, v in seconds.items())}"]
    print("\n" + "\n".join(lines))


def _break_things(stack: Stack, stop: threading.Event) -> None:
    """Mid-load: SIGKILL app server 1 (master and workers), then restart the worker."""
    started = time.monotonic()
    if stop.wait(KILL_AT):
        return
    stack.servers[1].kill()
    stack.events.append(f"SIGKILL app server 1 (master and workers) at {KILL_AT} s")
    if stop.wait(max(0.0, WORKER_RESTART_AT - (time.monotonic() - started))):
        return
    stack.restart_worker()


def test_killed_server_and_restarted_worker_lose_nothing(stack):
    """Patients across two servers; one server killed, the worker restarted: every
    acknowledged log and red flag is stored once, and e-mailed once per clinician."""
    with _logs_on_failure(stack):
        tally = Tally()
        patients = _patients(stack, tally, stack.patients)
        stop = threading.Event()
        breaker = threading.Thread(target=_break_things, args=(stack, stop), daemon=True)
        started = time.monotonic()
        breaker.start()
        run_load(patients, LOAD_SECONDS, stop)
        stop.set()
        breaker.join(30)
        load = time.monotonic() - started
        assert not stack.servers[1].running, "app server 1 was not killed"
        assert tally.counts["failed: ConnectionRefusedError"] > 0, "the kill was not felt"
        stack.start_server(1)  # the README's command again, for the next phase
        drained = _wait_for_outbox(stack, DRAIN_SECONDS)
        # Each of the killed server's workers may have been inside that window.
        killed = int(stack.env["WEB_CONCURRENCY"])
        verdict = _check_nothing_lost_or_doubled(stack, tally, resends_allowed=killed)
        wait_until_ready(stack.bases[1])
        _summary(
            "server killed, worker restarted",
            stack,
            tally,
            verdict,
            dict(load=load, outbox_drained=drained),
        )


def _while_redis_is_down(stack: Stack, tally: Tally) -> None:
    """Patients who sign in now (login throttling without its store), log a day, log one
    with a red flag, press "I need help now", open Today; and an e-mail that only the worker
    sends (no request pushes it): a set-password link."""
    failures: list[Exception] = []

    def queue_link() -> None:
        try:
            flask(stack.env, "users", "send-link", stack.clinician)
        except Exception as error:  # noqa: BLE001  (reported below)
            failures.append(error)

    link = threading.Thread(target=queue_link)
    link.start()
    for step, patient in enumerate(_patients(stack, tally, stack.patients[:4])):
        patient.log_day()
        patient.log_day("confusion" if step % 2 else None)
        patient.ask_for_help("hallucinations")
        assert patient.browser.request("GET", "/today", first=step % 2).status == 200
    link.join(120)
    assert not failures, failures


def _link_delivered(stack: Stack) -> bool:
    unsent = stack.query(
        "SELECT count(*) AS n FROM outbox_message WHERE alert_id IS NULL AND sent_at IS NULL"
    )
    received = any(
        stack.clinician in envelope.rcpt_tos and not ALERT_LINK.search(envelope.content.decode())
        for envelope in list(stack.mailbox.messages)
    )
    return unsent[0].n == 0 and received


def test_redis_down_pages_work_and_outbox_is_delivered_after(stack):
    """Redis SIGKILLed under load: signing in, logging days and red flags still work and
    are stored; Redis back on the same port: the worker (not restarted) delivers the outbox."""
    with _logs_on_failure(stack):
        stack.events.clear()
        resent_before = _resent(_mailed_alerts(stack))  # nothing is killed mid-send now
        tally = Tally()
        loaders = _patients(stack, tally, stack.patients[4:])  # signed in before
        stop = threading.Event()
        load = threading.Thread(target=run_load, args=(loaders, REDIS_LOAD_SECONDS, stop))
        load.start()
        time.sleep(REDIS_KILL_AT)
        stack.redis.kill()
        stack.events.append(f"Redis SIGKILLed at {REDIS_KILL_AT} s (no persistence: data gone)")
        started = time.monotonic()
        _while_redis_is_down(stack, tally)
        load.join(REDIS_LOAD_SECONDS + 60)
        down = time.monotonic() - started
        assert stack.worker.running, "the worker died with Redis:\n" + stack.worker.tail()
        assert not _link_delivered(stack)
        stack.redis.start()
        stack.events.append("Redis started again on the same port; the worker left running")
        restarted = time.monotonic()
        while not _link_delivered(stack) and time.monotonic() - restarted < DRAIN_SECONDS:
            time.sleep(0.5)
        delivered = time.monotonic() - restarted
        assert _link_delivered(stack), "the worker did not deliver once Redis was back"
        _wait_for_outbox(stack, DRAIN_SECONDS)
        verdict = _check_nothing_lost_or_doubled(stack, tally, resends_allowed=resent_before)
        assert tally.counts["logs acknowledged"] > 8
        _summary(
            "Redis stopped under load, then started",
            stack,
            tally,
            verdict,
            dict(redis_down=down, link_delivered_after_redis=delivered),
        )
