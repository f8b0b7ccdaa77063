"""Browser tests: the real app on a local port, driven in Debian's Chromium by Playwright.

Run with ``make e2e`` (installs Chromium, poppler's pdftoppm, axe-core and the Nu HTML
Checker if missing). Never ``playwright install``.

Every HTML page the journeys load (each main-frame document, form posts sent back with their
errors too) is kept under tests/e2e/artifacts/html/, and at the end of the session the Nu HTML
Checker (vnu-jar, offline, with java) checks them all at once: any error fails the run.
Screenshots for reviewers go to tests/e2e/artifacts/ too (git-ignored, CI artifacts).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from taper import create_app
from taper.domain import note_screen
from taper.extensions import db
from taper.models import Role
from taper.services import accounts
from tests.conftest import PASSWORD
from tests.tools.databases import fresh_database
from tests.tools.smtp import Mailbox, free_port, smtp_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HERE = Path(__file__).resolve().parent
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
VNU = HERE / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
JAVA = shutil.which("java") or "/usr/bin/java"
ARTIFACTS = HERE / "artifacts"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ADMIN_EMAIL = "admin@e2e.example.org"


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server for the app's e-mails."""
    port = free_port()
    with smtp_server(port) as box:
        box.port = port
        yield box


@pytest.fixture(scope="session")
def live_server(mailbox) -> Iterator[str]:
    """The app, migrated and with an admin account, served on 127.0.0.1 in a thread, on a
    fresh database: PostgreSQL when TEST_DATABASE_URL names one, else a SQLite file."""
    with fresh_database(os.environ.get("TEST_DATABASE_URL")) as url:
        # New accounts on UTC (steps.patient_today): with the clinic's default zone, New York,
        # the tests' "today" and the patient's differed from 00:00 to 05:00 UTC.
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "WTF_CSRF_ENABLED": True,
                "SMTP_PORT": mailbox.port,
                "DEFAULT_TIMEZONE": "UTC",
            }
        )
        with app.app_context():
            upgrade()
            accounts.create_user(
                None, email=ADMIN_EMAIL, name="Ari Admin", role=Role.ADMIN, password=PASSWORD
            )
            db.session.commit()
        # The note screening loads its phrase rules on first use (seconds on a busy runner):
        # load them now, so no click waits on it.
        note_screen.screen("A quiet day at home.")
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            with app.app_context():
                db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "run `make e2e`: it installs Debian's chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Pages:
    """The HTML of every page the browser loads, one file each, checked at the end."""

    def __init__(self, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.urls: dict[str, str] = {}  # file name -> the page's url
        self.seen: set[str] = set()  # the pages kept, but for their tokens
        self.missed: list[str] = []

    def keep(self, response, context=None) -> None:
        """A context's ``response`` handler: keep main-frame HTML documents answered 200.
        A GET the page navigated away from before its body was read is fetched again in the
        same context (same cookies)."""
        request = response.request
        if request.resource_type != "document" or response.status != 200:
            return
        if response.frame.parent_frame is not None:
            return
        if not response.headers.get("content-type", "").startswith("text/html"):
            return
        try:
            html = response.text()
        except PlaywrightError:  # navigated away before its body could be read
            html = self._again(response, context)
            if html is None:
                self.missed.append(response.url)
                return
        # The same page again (but for its CSRF token or submission id) is checked once.
        same = hashlib.sha256(re.sub(r"[\w.-]{32,}", "", html).encode()).hexdigest()
        if same in self.seen:
            return
        self.seen.add(same)
        path = re.sub(r"[^A-Za-z0-9]+", "-", response.url.split("//", 1)[-1].split("/", 1)[-1])
        name = f"{len(self.urls) + 1:03d}-{request.method.lower()}-{path.strip('-')[:60]}.html"
        (self.folder / name).write_text(html, encoding="utf-8")
        self.urls[name] = f"{request.method} {response.url}"

    @staticmethod
    def _again(response, context) -> str | None:
        if context is None or response.request.method != "GET":
            return None
        try:
            again = context.request.get(response.url, max_redirects=0)
        except PlaywrightError:
            return None
        return again.text() if again.status == 200 else None

    def check(self) -> list[str]:
        """The Nu HTML Checker's errors over every page kept, as "url: line: message"."""
        if not self.urls:
            return []
        assert VNU.exists(), "run `make e2e`: it installs vnu-jar into tests/e2e/node_modules"
        files = sorted(str(self.folder / name) for name in self.urls)
        run = subprocess.run(  # noqa: S603 (java on our own files)
            [JAVA, "-jar", str(VNU), "--errors-only", "--format", "json", "--exit-zero-always"]
            + files,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        report = run.stderr.strip() or run.stdout.strip()
        (self.folder.parent / "vnu.json").write_text(report + "\n", encoding="utf-8")
        messages = json.loads(report)["messages"] if report else []
        errors = []
        for m in messages:
            if m.get("type") not in ("error", "non-document-error"):
                continue
            name = Path(m.get("url", "").removeprefix("file:")).name
            errors.append(f"{self.urls.get(name, name)}: line {m.get('lastLine')}: {m['message']}")
        return errors


@pytest.fixture(scope="session")
def pages(request) -> Iterator[Pages]:
    """Keeps every page the journeys load; at the end, one Nu HTML Checker run over them."""
    kept = Pages(ARTIFACTS / "html")
    yield kept
    errors = kept.check()
    missed = (
        f" (navigated away from before they were read: {', '.join(kept.missed)})"
        if kept.missed
        else ""
    )
    report(request.config, f"Nu HTML Checker: {len(kept.urls)} pages{missed}, {len(errors)} errors")
    if errors:
        pytest.fail("invalid HTML (tests/e2e/artifacts/vnu.json):\n" + "\n".join(errors))


def report(config, line: str) -> None:
    """A line in the test run's output, with or without ``-s`` (CI shows it)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print("\n" + line)


PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}


def new_context(browser, base_url: str, pages: Pages, *, phone: bool = False, **options):
    """A fresh browser context (one person), phone-sized with ``phone=True``; every HTML page
    it loads is kept for the Nu HTML Checker. ``options``: e.g. ``storage_state`` to come
    back signed in without logging in again (logins per account are rate-limited)."""
    # bypass_csp lets the test inject axe-core; the app's own pages never run inline code.
    context = browser.new_context(
        base_url=base_url,
        viewport=PHONE if phone else DESKTOP,
        bypass_csp=True,
        accept_downloads=True,
        **options,
    )
    context.set_default_timeout(10_000)
    context.on("response", lambda response: pages.keep(response, context))
    return context


@pytest.fixture
def new_page(browser, live_server, pages):
    """Pages in fresh browser contexts (separate people); phone size with ``phone=True``.
    Every HTML page they load is kept for the Nu HTML Checker."""
    contexts = []

    def make(*, phone: bool = False):
        context = new_context(browser, live_server, pages, phone=phone)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def assert_accessible(page) -> None:
    """Run axe-core on the page and fail on any WCAG 2.2 A/AA violation."""
    assert AXE.exists(), "run `make e2e`: it installs axe-core into tests/e2e/node_modules"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS
    )
    problems = [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]
    assert not problems, f"{page.url}: " + json.dumps(problems, indent=1)


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
