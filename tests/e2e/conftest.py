"""Browser tests: the real app on a local port, driven in Debian's Chromium by Playwright.

Run with ``make e2e`` (installs Chromium and axe-core if missing). Never ``playwright install``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from taper import create_app
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
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
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
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": True, "SMTP_PORT": mailbox.port}
        )
        with app.app_context():
            upgrade()
            accounts.create_user(
                None, email=ADMIN_EMAIL, name="Ari Admin", role=Role.ADMIN, password=PASSWORD
            )
            db.session.commit()
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


@pytest.fixture
def new_page(browser, live_server):
    """Pages in fresh browser contexts (separate people); phone size with ``phone=True``."""
    contexts = []

    def make(*, phone: bool = False):
        viewport = {"width": 360, "height": 740} if phone else {"width": 1280, "height": 900}
        # bypass_csp lets the test inject axe-core; the app's own pages never run inline code.
        context = browser.new_context(
            base_url=live_server, viewport=viewport, bypass_csp=True, accept_downloads=True
        )
        context.set_default_timeout(10_000)
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
