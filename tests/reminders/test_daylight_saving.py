"""Daylight saving (issue 16, item 1): the job runs every few minutes all day on the days
the clocks change, in New York and London, with time-machine moving the clock. The reminder
comes once, at the UTC instant the patient's own clock shows its time; a time in the skipped
hour comes as soon as the clock jumps past it; a time in the repeated hour comes the first
time round and not again."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tests.reminders.conftest import ONE_MINUTE, outbox, reminders_of, send_due, utc

STEP = timedelta(minutes=10)

CASES = [
    # zone, local day, reminder time, the UTC instant it must arrive at
    pytest.param(
        "America/New_York",
        date(2027, 3, 14),
        time(20, 0),
        utc(2027, 3, 15, 0, 0),
        id="new-york-spring-forward-20:00-EDT",
    ),
    pytest.param(
        "America/New_York",
        date(2027, 11, 7),
        time(20, 0),
        utc(2027, 11, 8, 1, 0),
        id="new-york-fall-back-20:00-EST",
    ),
    pytest.param(
        # 02:00 EST becomes 03:00 EDT at 07:00 UTC: 02:30 never shows on the clock.
        "America/New_York",
        date(2027, 3, 14),
        time(2, 30),
        utc(2027, 3, 14, 7, 0),
        id="new-york-skipped-02:30",
    ),
    pytest.param(
        # 01:30 EDT (05:30 UTC), then 01:30 EST again an hour later (06:30 UTC).
        "America/New_York",
        date(2027, 11, 7),
        time(1, 30),
        utc(2027, 11, 7, 5, 30),
        id="new-york-repeated-01:30",
    ),
    pytest.param(
        "Europe/London",
        date(2027, 3, 28),
        time(20, 0),
        utc(2027, 3, 28, 19, 0),
        id="london-spring-forward-20:00-BST",
    ),
    pytest.param(
        "Europe/London",
        date(2027, 10, 31),
        time(20, 0),
        utc(2027, 10, 31, 20, 0),
        id="london-fall-back-20:00-GMT",
    ),
    pytest.param(
        # 01:00 GMT becomes 02:00 BST at 01:00 UTC: 01:30 never shows on the clock.
        "Europe/London",
        date(2027, 3, 28),
        time(1, 30),
        utc(2027, 3, 28, 1, 0),
        id="london-skipped-01:30",
    ),
    pytest.param(
        # 01:30 BST (00:30 UTC), then 01:30 GMT again an hour later (01:30 UTC).
        "Europe/London",
        date(2027, 10, 31),
        time(1, 30),
        utc(2027, 10, 31, 0, 30),
        id="london-repeated-01:30",
    ),
]


def _local_day_in_utc(zone: str, day: date) -> tuple[datetime, datetime]:
    """The first and last instant of a local day, in UTC (23 or 25 hours on these days)."""
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _run_at(app, instant: datetime) -> int:
    """The job at ``instant``, with the clock itself moved there (as a worker would see it)."""
    with time_machine.travel(instant, tick=False):
        now = datetime.now(UTC)
        assert now == instant
        return send_due(app, now)


@pytest.mark.parametrize(("zone", "day", "at", "arrives"), CASES)
def test_the_reminder_comes_once_at_the_right_instant(app, reminded, zone, day, at, arrives):
    patient = reminded(timezone=zone, at=at)
    start, end = _local_day_in_utc(zone, day)
    assert (end - start) != timedelta(days=1)  # really a day the clocks change

    instants = sorted({*_every(start, end), arrives - ONE_MINUTE, arrives})
    queued_at = [instant for instant in instants if _run_at(app, instant)]

    assert queued_at == [arrives]
    assert reminders_of(app) == [(patient.id, day)]
    assert len(outbox(app, patient)) == 1


def _every(start: datetime, end: datetime) -> list[datetime]:
    found, instant = [], start
    while instant < end:
        found.append(instant)
        instant += STEP
    return found


def test_the_repeated_hour_does_not_send_twice_even_run_each_minute(app, reminded):
    """New York, 7 November 2027: every minute from 01:00 EDT to 01:59 EST, two hours of
    runs across the repeated hour: one e-mail."""
    patient = reminded(timezone="America/New_York", at=time(1, 30))
    first = utc(2027, 11, 7, 5, 0)  # 01:00 EDT
    runs = [_run_at(app, first + ONE_MINUTE * n) for n in range(120)]

    assert sum(runs) == 1
    assert runs.index(1) == 30  # 01:30 EDT, the first time the clock shows it
    assert reminders_of(app) == [(patient.id, date(2027, 11, 7))]
