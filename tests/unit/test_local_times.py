"""Times shown to people are in their own time zone, never "14:00 UTC"."""

from datetime import UTC, datetime, timedelta

from taper.templating import local_time, time_ago

NOW = datetime(2026, 12, 3, 14, 12, tzinfo=UTC)


def test_local_time_is_the_readers_wall_clock():
    assert local_time(NOW, "Europe/London") == "3 Dec 2026, 14:12"
    assert local_time(NOW, "America/New_York") == "3 Dec 2026, 09:12"
    assert local_time(NOW, "Asia/Tokyo", with_day=False) == "23:12"
    assert local_time(None, "UTC") == ""


def test_naive_stored_moments_are_taken_as_utc():
    assert local_time(NOW.replace(tzinfo=None), "America/New_York") == "3 Dec 2026, 09:12"


def test_time_ago_says_how_long_then_the_local_clock():
    tz = "America/New_York"
    assert time_ago(NOW - timedelta(seconds=20), tz, NOW) == "just now (09:11)"
    assert time_ago(NOW - timedelta(minutes=1), tz, NOW) == "1 minute ago (09:11)"
    assert time_ago(NOW - timedelta(minutes=12), tz, NOW) == "12 minutes ago (09:00)"
    assert time_ago(NOW - timedelta(hours=5), tz, NOW) == "5 hours ago (04:12)"
    # 23:00 the evening before in New York, though only 10 hours ago.
    assert time_ago(NOW - timedelta(hours=10, minutes=12), tz, NOW) == "yesterday (23:00)"
    assert time_ago(NOW - timedelta(days=3), tz, NOW) == "3 days ago (30 Nov 2026, 09:12)"


def test_time_ago_uses_the_readers_calendar_for_yesterday():
    # 14:12 UTC is already the next day in Tokyo (23:12); 00:30 UTC was 09:30 there.
    earlier = datetime(2026, 12, 3, 0, 30, tzinfo=UTC)
    assert time_ago(earlier, "Asia/Tokyo", NOW) == "13 hours ago (09:30)"
    assert time_ago(earlier, "America/Los_Angeles", NOW) == "yesterday (16:30)"
