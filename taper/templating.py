"""Jinja filters for showing clinical values exactly as stored."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request, url_for
from jinja2 import Environment
from markupsafe import Markup

from taper.domain.doses import plain
from taper.domain.instrument import band_for
from taper.domain.schedule import local_today


def dose(value: Decimal | None) -> str:
    """A stored dose without padding zeros: 7.500 -> '7.5', 10.000 -> '10'."""
    return "" if value is None else plain(value)


def signed(value: Decimal | None, suffix: str = "") -> str:
    """A change for information, with its sign: '-2.5 mg', '+1 mg'."""
    if value is None:
        return "–"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{dose(abs(value))}{suffix}"


def long_date(value: date | None) -> str:
    """'Tuesday 3 March 2026'."""
    if value is None:
        return ""
    return f"{value:%A} {value.day} {value:%B %Y}"


def short_date(value: date | None) -> str:
    """'3 Mar 2026'."""
    if value is None:
        return ""
    return f"{value.day} {value:%b %Y}"


def local_day(moment: datetime | None, tz_name: str) -> date | None:
    """The calendar day a stored (UTC) moment fell on in a time zone: a change saved at
    23:30 in New York is on that day there, whatever the UTC date."""
    return None if moment is None else local_today(moment, tz_name)


def _local(moment: datetime, tz_name: str) -> datetime:
    """A stored moment (UTC; naive values are taken as UTC) in a time zone."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(tz_name))


def local_time(moment: datetime | None, tz_name: str, *, with_day: bool = True) -> str:
    """A stored moment as the reader's wall clock: '3 Dec 2026, 14:05' (or '14:05')."""
    if moment is None:
        return ""
    local = _local(moment, tz_name)
    clock = f"{local:%H:%M}"
    return f"{local.day} {local:%b %Y}, {clock}" if with_day else clock


def time_ago(moment: datetime | None, tz_name: str, now: datetime | None = None) -> str:
    """How long ago, then the reader's wall clock: '12 minutes ago (14:00)', 'yesterday
    (23:10)', '3 days ago (30 Nov 2026, 09:15)'."""
    if moment is None:
        return ""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    local, local_now = _local(moment, tz_name), _local(now, tz_name)
    days = (local_now.date() - local.date()).days
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        minutes = seconds // 60
        ago = f"{minutes} minute{'s' if minutes != 1 else ''} ago"
    elif days == 0:
        hours = seconds // 3600
        ago = f"{hours} hour{'s' if hours != 1 else ''} ago"
    elif days == 1:
        ago = "yesterday"
    else:
        ago = f"{days} days ago"
    return f"{ago} ({local_time(moment, tz_name, with_day=days > 1)})"


def urgent_text(text: str) -> str:
    """A configured urgent-care line with the configured numbers in it: {emergency},
    {crisis} and {poison} (plain replacement, so other braces in a clinic's text are kept)."""
    config = current_app.config
    for name, key in (
        ("emergency", "URGENT_EMERGENCY_NUMBER"),
        ("crisis", "URGENT_CRISIS_NUMBER"),
        ("poison", "URGENT_POISON_NUMBER"),
    ):
        text = text.replace("{" + name + "}", config[key])
    return text


def fragment(name: str, **context: Hashable) -> Markup:
    """The template ``name`` rendered with ``context`` alone, once per process for each
    context: for a large part of a page that depends on nothing else (no user, request or
    CSRF token), such as the symptom questions of the daily log. Keep the context to a few
    small values (never free text a patient typed): each distinct one is kept."""
    return _fragment(current_app.jinja_env, name, tuple(sorted(context.items())))


@lru_cache(maxsize=256)  # a log form's questions are about 20 kB: some 5 MB in all
def _fragment(env: Environment, name: str, context: tuple) -> Markup:
    # The fragment is our own template, rendered with autoescaping: already safe HTML.
    return Markup(env.get_template(name).render(dict(context)))  # noqa: S704  # nosec B704


def cached_url_for(endpoint: str, **values: Hashable) -> str:
    """``url_for`` for templates, each URL built once per process: building one costs about
    20 µs, a page builds a dozen or more, and they are the same on every request. Relative
    endpoints, ``_external`` and the like, and unhashable values go to ``url_for`` itself."""
    if endpoint.startswith(".") or any(key.startswith("_") for key in values):
        return url_for(endpoint, **values)
    if not has_request_context():
        return url_for(endpoint, **values)
    try:
        key = tuple(sorted(values.items()))
        return _url(current_app._get_current_object(), request.script_root, endpoint, key)
    except TypeError:  # an unhashable value
        return url_for(endpoint, **values)


@lru_cache(maxsize=4096)
def _url(_app: Flask, _script_root: str, endpoint: str, values: tuple) -> str:
    return url_for(endpoint, **dict(values))


def init_app(app: Flask) -> None:
    """Register the filters."""
    app.add_template_filter(dose, "dose")
    app.add_template_filter(signed, "signed")
    app.add_template_filter(long_date, "long_date")
    app.add_template_filter(short_date, "short_date")
    app.add_template_filter(local_day, "local_day")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(time_ago, "time_ago")
    app.add_template_filter(urgent_text, "urgent_text")
    app.add_template_global(band_for, "band_for")
    app.add_template_global(fragment, "fragment")
    app.jinja_env.globals["url_for"] = cached_url_for
