"""Structured logs: with LOG_FORMAT=json every line on stderr is one JSON object; every
request has an id (the caller's when well-formed) echoed in X-Request-ID and on its lines;
one access line per request without query strings or form data; no health data at all."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest

from taper import create_app
from taper.observability import JsonFormatter, TextFormatter
from tests.conftest import PASSWORD, login_as, real_login
from tests.helpers import fill_log

pytestmark = pytest.mark.usefixtures("json_logs")
JSON = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}
NEW_ID = re.compile(r"[0-9a-f]{32}")


def lines(capsys) -> list[dict]:
    """Every line written to stderr so far, each parsed as JSON (fails on any other line)."""
    return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]


def access_lines(logged: list[dict]) -> list[dict]:
    return [line for line in logged if line["logger"] == "taper.access"]


def test_every_line_is_one_json_object_with_the_request_fields(server, capsys):
    client = server(**JSON).test_client()
    capsys.readouterr()
    response = client.post("/login", data={"email": "nobody@example.org", "password": "x\ny"})
    assert response.status_code == 200
    logged = lines(capsys)
    assert logged
    request_id = response.headers["X-Request-ID"]
    for line in logged:
        assert {"time", "level", "logger", "message", "request_id", "endpoint"} <= line.keys()
        assert line["request_id"] == request_id
        assert line["endpoint"] == "auth.login"
    (access,) = access_lines(logged)
    assert access["method"] == "POST"
    assert access["path"] == "/login"
    assert access["status"] == 200
    assert 0 < access["duration"] < 30
    assert any(line["level"] == "WARNING" for line in logged)  # the failed login


def test_a_well_formed_request_id_is_kept_and_echoed(server, capsys):
    client = server(**JSON).test_client()
    capsys.readouterr()
    response = client.get("/healthz", headers={"X-Request-ID": "lb-01.abc_DEF-123"})
    assert response.headers["X-Request-ID"] == "lb-01.abc_DEF-123"
    (access,) = access_lines(lines(capsys))
    assert access["request_id"] == "lb-01.abc_DEF-123"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "a" * 65,
        "has space",
        "semi;colon",
        "new\\nline",
        '"quoted"',
        "ümlaut",
        "../../etc/passwd",
        "<script>",
    ],
)
def test_a_junk_request_id_is_replaced(server, capsys, junk):
    client = server(**JSON).test_client()
    capsys.readouterr()
    response = client.get("/healthz", headers={"X-Request-ID": junk})
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])
    (access,) = access_lines(lines(capsys))
    assert access["request_id"] == response.headers["X-Request-ID"]


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5
    assert all(NEW_ID.fullmatch(value) for value in ids)


def test_a_refused_request_has_an_id_too(client):
    """Refused before any view (no session): the redirect to the login page."""
    response = client.get("/today")
    assert response.status_code == 302
    assert NEW_ID.fullmatch(response.headers["X-Request-ID"])


def test_the_access_line_has_the_ids_but_never_the_query_or_a_token(
    server, capsys, clinician, patient
):
    client = server(**JSON).test_client()
    login_as(client, clinician)
    capsys.readouterr()
    client.get(f"/clinician/patients/{patient.id}?q=SECRETQUERY")
    client.get("/set-password/SECRETTOKEN123")
    client.get("/no/such/page")
    text = capsys.readouterr().err
    logged = access_lines([json.loads(line) for line in text.splitlines()])
    assert [line["path"] for line in logged] == [
        f"/clinician/patients/{patient.id}",
        "/set-password/<token>",
        "(no route)",
    ]
    assert [line["status"] for line in logged][2] == 404
    assert "SECRETQUERY" not in text
    assert "SECRETTOKEN123" not in text


def test_no_health_data_or_email_in_the_logs(
    server, capsys, caplog, client, patient, active_plan, admin
):
    """A daily log with a distinctive note, red flags with a note from "I need help now",
    an e-mail address typed at login and in an admin form: none of it in any log output."""
    note = "Zebra-marmalade-4471 feels"
    help_note = "Quokka-tangerine-9902 scared"
    email = "distinct.person.5521@example.org"
    app = server(**JSON)
    web = app.test_client()
    capsys.readouterr()
    with caplog.at_level(logging.DEBUG):
        login_as(web, patient)
        assert web.post("/log", data=fill_log(web, note=note, flags=["seizure"])).status_code < 500
        sent = web.post(
            "/help",
            data={"red_flags": "chest_pain", "note": help_note, "submission_id": uuid.uuid4().hex},
        )
        assert "Get urgent help now" in sent.get_data(as_text=True)
        assert real_login(app.test_client(), email, "wrong password here").status_code == 200
        assert real_login(app.test_client(), patient.email, PASSWORD).status_code == 302
        login_as(web, admin)
        new = {"name": "Dr Kim Lee", "email": email, "role": "clinician", "timezone": "UTC"}
        assert web.post("/admin/accounts/new", data=new).status_code < 500
    output = capsys.readouterr().err + caplog.text
    assert access_lines(json.loads(line) for line in output.splitlines() if line[:1] == "{")
    for secret in (note, help_note, email, patient.email, patient.name, "Zebra", "Quokka"):
        assert secret not in output, secret
    for flag in ("seizure", "chest_pain", "chest pain"):
        assert flag not in output.lower(), flag


def test_logging_is_set_up_once_however_many_apps(server):
    for _ in range(3):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", **JSON})
    ours = [h for h in logging.root.handlers if getattr(h, "taper", False)]
    assert len(ours) == 1
    assert isinstance(ours[0].formatter, JsonFormatter)
    # Text, in a process that logs elsewhere already (pytest's handlers): there only.
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FORMAT": "text"})
    assert not [h for h in logging.root.handlers if getattr(h, "taper", False)]


def test_text_logs_go_to_stderr_when_nothing_else_logs(monkeypatch, capsys):
    monkeypatch.setattr(logging.root, "handlers", [])
    create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "LOG_FORMAT": "text"})
    (ours,) = logging.root.handlers
    assert isinstance(ours.formatter, TextFormatter)
    logging.getLogger("taper.test").warning("plain words")
    assert "WARNING taper.test plain words" in capsys.readouterr().err


def test_a_message_with_newlines_stays_on_one_line():
    record = logging.LogRecord("taper.x", logging.WARNING, __file__, 1, "a\nb\r\nc", (), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == "a\nb\r\nc"
