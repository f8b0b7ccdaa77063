"""Request ids, structured logs and request timings for /metrics (issue 16).

- Every request gets an id: the caller's ``X-Request-ID`` when it is 1-64 characters of
  ``[A-Za-z0-9._-]`` (a proxy's or load balancer's, so one request can be followed through
  every hop), else a new random one. It is echoed in the response's ``X-Request-ID`` and on
  every log line written while the request runs.
- ``LOG_FORMAT=json``: every log line is one JSON object on stderr (time, level, logger,
  message, request_id, endpoint; the per-request access line adds method, path, status and
  duration). ``text``: one plain line each, the same fields.
- One access line per request, written without the query string or any form field: the path
  shows the URL's ids, any other URL part (a set-password token) only as its placeholder.
  Nothing in a form, and so no health data, ever reaches a log line from here.
- Request latency by endpoint (the route's name, never the raw path: ids would make a new
  series per patient) and status class, a Prometheus histogram (``taper.services.metrics``
  renders it; with ``PROMETHEUS_MULTIPROC_DIR`` set, gunicorn's workers share it).

Logging is set up once per process, however many apps ``create_app`` makes (tests make many):
one handler on the root logger, marked as ours, whose format follows the latest app."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from datetime import UTC, datetime

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import Histogram

REQUEST_ID_HEADER = "X-Request-ID"
_GOOD_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_ID_PART = re.compile(r"<int:([A-Za-z_][A-Za-z0-9_]*)>")
access_log = logging.getLogger("taper.access")

REQUEST_LATENCY = Histogram(
    "taper_request_duration_seconds",
    "Time to answer a request, by endpoint (the route's name) and status class.",
    ["endpoint", "status"],
)


def request_id() -> str | None:
    """This request's id (None outside a request)."""
    return g.get("request_id") if has_request_context() else None


def _context() -> dict[str, str | None]:
    if not has_request_context():
        return {"request_id": None, "endpoint": None}
    return {"request_id": g.get("request_id"), "endpoint": request.endpoint}


ACCESS_FIELDS = ("method", "path", "status", "duration")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: newlines in a message stay inside its string."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(),
        }
        line.update({f: getattr(record, f) for f in ACCESS_FIELDS if hasattr(record, f)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """A plain line with the request id, for `make run` and the tests."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = _context()
        text = super().format(record)
        return f"{text} request_id={context['request_id']}" if context["request_id"] else text


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a test's capture, a redirect)."""

    taper = True  # marks the one handler of ours on the root logger

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass  # always the current stderr


def _our_handler() -> logging.Handler | None:
    return next((h for h in logging.root.handlers if getattr(h, "taper", False)), None)


def configure_logging(app: Flask) -> None:
    """The root logger's one handler of ours (stderr), in this app's format. In text mode a
    process that already logs somewhere else (pytest, a host's own setup) logs there only."""
    wants_json = app.config["LOG_FORMAT"] == "json"
    handler = _our_handler()
    if not wants_json and any(h is not handler for h in logging.root.handlers):
        if handler is not None:
            logging.root.removeHandler(handler)
        return
    if handler is None:
        handler = StderrHandler()
        logging.root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if wants_json else TextFormatter())
    logging.root.setLevel(app.config["LOG_LEVEL"].upper())


def _begin() -> None:
    """Before anything else in the request: its id and its clock."""
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    good = _GOOD_REQUEST_ID.fullmatch(incoming) is not None
    g.request_id = incoming if good else secrets.token_hex(16)
    g.request_started = time.perf_counter()


def logged_path() -> str:
    """The path with its ids, other URL parts as their placeholders (a token stays out)."""
    rule = request.url_rule
    if rule is None:
        return "(no route)"
    ids = request.view_args or {}
    return _ID_PART.sub(lambda part: str(ids.get(part.group(1), part.group(0))), rule.rule)


def _finish(response: Response) -> Response:
    """After everything else: echo the id, time the request, write its access line."""
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.get("request_started")
    duration = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint or "(no route)"
    status_class = f"{response.status_code // 100}xx"
    REQUEST_LATENCY.labels(endpoint=endpoint, status=status_class).observe(duration)
    path = logged_path()
    access_log.info(
        "%s %s %s %s %.1fms",
        request.method,
        endpoint,
        path,
        response.status_code,
        duration * 1000,
        extra={
            "method": request.method,
            "path": path,
            "status": response.status_code,
            "duration": round(duration, 6),
        },
    )
    return response


def init_app(app: Flask) -> None:
    """Wire logging, request ids and request timings into the app (called before every
    other hook is registered, so the id exists for them and the timing covers them)."""
    configure_logging(app)
    # First of all the request hooks, even those of extensions bound earlier (CSRF, the
    # limiter), so a request they refuse has its id and timing too.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.after_request(_finish)


# A long download (a care team's export) tells the process manager it is still making
# progress: gunicorn's sync workers are replaced when a request runs past GUNICORN_TIMEOUT
# without a word, and deploy/gunicorn.conf.py sets this to the worker's own heartbeat.
_heartbeat = None


def set_heartbeat(beat) -> None:
    """The function ``still_working`` calls (gunicorn's ``worker.notify``); None: nothing."""
    global _heartbeat
    _heartbeat = beat


def still_working() -> None:
    """A step of a long request is done and the next begins: not stuck, keep it alive."""
    if _heartbeat is not None:
        _heartbeat()
