"""The drill's patients: a plain HTTP client that keeps its own cookies (the production
cookies are Secure, and the drill talks plain http to 127.0.0.1), fills the real forms it is
served, and sends a request that failed (a dead server, a 5xx) to the other server with the
very same form, submission id and all: that is the idempotency under test."""

from __future__ import annotations

import http.client
import random
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie

URGENT_SENT = "Your care team has been alerted."
TIMEOUT = 15
RETRIES = 8


class Unacknowledged(Exception):
    """No server acknowledged a request after every retry."""


@dataclass
class Response:
    status: int
    location: str
    body: str
    server: int


@dataclass
class Tally:
    """What the client saw, for the summary and the checks (shared by every thread)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter = field(default_factory=Counter)
    logs: set = field(default_factory=set)  # acknowledged daily-log submission ids
    flagged_logs: set = field(default_factory=set)  # ... of those, the ones with a red flag
    reports: set = field(default_factory=set)  # acknowledged "I need help now" submission ids
    resent: set = field(default_factory=set)  # POSTs sent again after a failure, acknowledged
    errors: list = field(default_factory=list)

    def add(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[name] += amount

    def keep(self, bucket: str, submission: str) -> None:
        with self.lock:
            getattr(self, bucket).add(submission)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


class FormParser(HTMLParser):
    """Every POST form of a page: its inputs, textareas and named buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "form" and attrs.get("method", "").lower() == "post":
            self._form = {"fields": [], "buttons": []}
            self.forms.append(self._form)
        elif self._form is not None and tag in ("input", "textarea") and attrs.get("name"):
            self._form["fields"].append(dict(attrs, tag=tag))
        elif self._form is not None and tag == "button" and attrs.get("name"):
            self._form["buttons"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def parse_form(page: str, having: str) -> dict:
    """The page's POST form with a field named ``having`` (the page also has, e.g., the
    sign-out form)."""
    parser = FormParser()
    parser.feed(page)
    for form in parser.forms:
        if any(f["name"] == having for f in form["fields"]):
            return form
    raise AssertionError(f"no form with {having} on the page")


def fill_log(page: str, rng: random.Random, flag: str | None) -> list[tuple[str, str]]:
    """A daily log as a patient fills it: every hidden field as served, low scores, the dose
    taken as scheduled, no alcohol, seven hours' sleep; ``flag`` ticked when given."""
    form = parse_form(page, "submission_id")
    body: list[tuple[str, str]] = []
    radios: dict[str, list[str]] = {}
    for f in form["fields"]:
        kind = f.get("type", "text")
        if kind == "hidden":
            body.append((f["name"], f.get("value", "")))
        elif kind == "radio":
            radios.setdefault(f["name"], []).append(f.get("value", ""))
        elif kind == "checkbox" and f["name"] == "red_flags" and f.get("value") == flag:
            body.append(("red_flags", flag))
        elif f["name"] == "sleep_hours":
            body.append(("sleep_hours", "7"))
    for name, values in radios.items():
        if name == "red_flags_when":
            if flag:
                body.append((name, "now"))
        elif set(values) == {"yes", "no"}:
            body.append((name, "no" if name == "substances" else "yes"))
        else:
            body.append((name, rng.choice(values[:2])))
    return body


def fill_help(page: str, flag: str) -> list[tuple[str, str]]:
    """ "I need help now": the red-flag button pressed, "happening now"."""
    form = parse_form(page, "submission_id")
    body = [(f["name"], f.get("value", "")) for f in form["fields"] if f.get("type") == "hidden"]
    assert any(b.get("value") == flag for b in form["buttons"]), "no such red-flag button"
    return [*body, ("red_flags_when", "now"), ("red_flags", flag), ("note", "")]


class Browser:
    """One patient's device: its cookies, kept by hand, sent to whichever server answers."""

    def __init__(self, bases: list[str], tally: Tally) -> None:
        self.hosts = [urllib.parse.urlsplit(base).netloc for base in bases]
        self.cookies: dict[str, str] = {}
        self.tally = tally

    def request(self, method: str, path: str, body=None, first: int = 0) -> Response:
        """Send to server ``first``; on a dead connection or a 5xx, the same request again to
        the next server, and so on (a load balancer's retry, or the patient pressing again)."""
        encoded = urllib.parse.urlencode(body).encode() if body is not None else None
        for attempt in range(RETRIES):
            server = (first + attempt) % len(self.hosts)
            try:
                response = self._send(server, method, path, encoded)
            except (OSError, http.client.HTTPException) as error:
                self.tally.add(f"failed: {type(error).__name__}")
                time.sleep(0.05 * attempt)
                continue
            self.tally.add(f"{method} {response.status}")
            if response.status < 500:
                if attempt and method == "POST":
                    self.tally.add("POST resent to the other server and acknowledged")
                return response
            time.sleep(0.05 * attempt)
        raise Unacknowledged(f"{method} {path}")

    def _send(self, server: int, method: str, path: str, encoded: bytes | None) -> Response:
        connection = http.client.HTTPConnection(self.hosts[server], timeout=TIMEOUT)
        headers = {"Host": self.hosts[server]}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if encoded is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=encoded, headers=headers)
            raw = connection.getresponse()
            page = raw.read().decode("utf-8", "replace")
            self._keep_cookies(raw.msg.get_all("Set-Cookie") or [])
            location = urllib.parse.urlsplit(raw.getheader("Location", "")).path
            return Response(raw.status, location, page, server)
        finally:
            connection.close()

    def _keep_cookies(self, headers: list[str]) -> None:
        for header in headers:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    def login(self, email: str, password: str, first: int = 0) -> None:
        page = self.request("GET", "/login", first=first).body
        body = [(f["name"], f.get("value", "")) for f in parse_form(page, "password")["fields"]]
        body = [(k, v) for k, v in body if k not in ("email", "password")]
        body += [("email", email), ("password", password)]
        response = self.request("POST", "/login", body, first=first)
        assert response.status == 302, f"login of {email}: {response.status}"


class Patient:
    """A patient logging days and, now and then, reporting a red flag."""

    def __init__(self, email: str, bases: list[str], tally: Tally, seed: int) -> None:
        self.email, self.tally = email, tally
        self.browser = Browser(bases, tally)
        self.rng = random.Random(seed)  # noqa: S311
        self.turn = seed

    def _next_server(self) -> int:
        self.turn += 1
        return self.turn % len(self.browser.hosts)

    def log_day(self, flag: str | None = None) -> None:
        """GET the form, fill it, POST it; acknowledged: saved, "already saved" or urgent."""
        page = self.browser.request("GET", "/log", first=self._next_server())
        assert page.status == 200, f"log form: {page.status} {page.location}"
        body = fill_log(page.body, self.rng, flag)
        submission = dict(body)["submission_id"]
        response = self.browser.request("POST", "/log", body, first=self._next_server())
        saved = response.status == 302 and response.location == "/log/saved"
        urgent = response.status == 200 and URGENT_SENT in response.body
        if not (urgent if flag else saved):
            self.tally.error(f"log POST: {response.status} {response.location}")
            return
        self.tally.keep("logs", submission)
        self.tally.add("logs acknowledged")
        if flag:
            self.tally.keep("flagged_logs", submission)

    def ask_for_help(self, flag: str) -> None:
        """ "I need help now": press a red flag; acknowledged: the urgent page says sent."""
        page = self.browser.request("GET", "/help", first=self._next_server())
        assert page.status == 200, f"help page: {page.status} {page.location}"
        body = fill_help(page.body, flag)
        response = self.browser.request("POST", "/help", body, first=self._next_server())
        if response.status != 200 or URGENT_SENT not in response.body:
            self.tally.error(f"help POST: {response.status} {response.location}")
            return
        self.tally.keep("reports", dict(body)["submission_id"])
        self.tally.add("red flags acknowledged (help)")

    def act(self, step: int) -> None:
        """One patient action: mostly plain logs; every 5th a log with a red flag ticked,
        every 7th "I need help now"."""
        if step % 7 == 6:
            self.ask_for_help(self.rng.choice(["confusion", "hallucinations"]))
        elif step % 5 == 4:
            self.log_day(self.rng.choice(["seizure", "suicidal"]))
        else:
            self.log_day()


def run_load(patients: list[Patient], seconds: float, stop: threading.Event) -> None:
    """Each patient in a thread of its own, acting until ``seconds`` pass or ``stop``."""
    deadline = time.monotonic() + seconds

    def loop(patient: Patient) -> None:
        step = 0
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                patient.act(step)
            except Exception as error:  # noqa: BLE001  (counted, and the drill fails on it)
                patient.tally.error(f"{patient.email}: {type(error).__name__}: {error}")
            step += 1

    threads = [threading.Thread(target=loop, args=(p,), daemon=True) for p in patients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
