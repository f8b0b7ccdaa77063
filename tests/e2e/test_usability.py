"""Issue 15's "done when", measured in the browser: a full day's log on a phone in few taps,
axe-core clean on every page state at 360 and 1280 px and at 200 % text with every <details>
open (and nothing running off a phone's screen), a 10-step plan written in two page loads,
and screenshots of the pages a reviewer looks at (tests/e2e/artifacts/, git-ignored)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ARTIFACTS,
    AXE,
    DESKTOP,
    PHONE,
    WCAG_TAGS,
    log_in,
    new_context,
)
from tests.e2e.steps import add_patient, patient_today, set_password_from_link, write_active_plan

pytestmark = pytest.mark.e2e

MEDICATION = "lorazepam"
MAX_LOG_TAPS = 25
MAX_PLAN_PAGE_LOADS = 2
ANSWERS = (1, 0, 2)  # the symptom answers, in turn
SCORE = sum(ANSWERS[i % 3] for i in range(17))
BIG_TEXT = "html { font-size: 200% !important; }"


@dataclass
class Clinic:
    """A clinician, a patient on an active plan with yesterday logged, and the admin: each
    signed in once (their browser state is reused: no login per test)."""

    patient_id: int
    plan_id: int
    yesterday: date
    states: dict[str, dict] = field(default_factory=dict)  # who -> Playwright storage state

    @property
    def unlogged(self) -> date:
        """A day the patient may log and never does (the day before yesterday): its form
        always comes back empty."""
        return self.yesterday - timedelta(days=1)


@pytest.fixture(scope="module")
def clinic(browser, live_server, pages) -> Iterator[Clinic]:
    contexts = []

    def new_page(*, phone: bool = False):
        context = new_context(browser, live_server, pages, phone=phone)
        contexts.append(context)
        return context.new_page()

    admin = new_page()
    log_in(admin, ADMIN_EMAIL, PASSWORD)
    admin.get_by_label("Full name").fill("Dr Kay Usher")
    admin.get_by_label("Email").fill("usher@e2e.example.org")
    admin.get_by_label("Role").select_option("clinician")
    admin.get_by_role("button", name="Create account").click()
    clinician = new_page()
    set_password_from_link(clinician, admin.get_by_label("Set-password link").input_value())
    patient_link = add_patient(clinician, "Jo Rivers", "rivers@e2e.example.org")
    patient_id = int(re.search(r"/clinician/patients/(\d+)", clinician.url).group(1))
    today = patient_today()
    write_active_plan(
        clinician,
        MEDICATION,
        [
            (today - timedelta(days=6), "2"),
            (today + timedelta(days=8), "1.5"),
            (today + timedelta(days=22), "1"),
        ],
    )
    plan_id = int(re.search(r"/clinician/plans/(\d+)", clinician.url).group(1))
    patient = new_page(phone=True)
    set_password_from_link(patient, patient_link)
    yesterday = today - timedelta(days=1)
    patient.goto(f"/log?day={yesterday.isoformat()}")
    fill_the_log(
        patient,
        lambda locator: locator.click(),
        lambda locator, text: locator.fill(text),
        note="A quiet day at home.",
    )
    expect(patient.get_by_role("heading", name="Your day is saved")).to_be_visible()
    clinic = Clinic(patient_id=patient_id, plan_id=plan_id, yesterday=yesterday)
    for who, page in (("admin", admin), ("clinician", clinician), ("patient", patient)):
        clinic.states[who] = page.context.storage_state()
    yield clinic
    for context in contexts:
        context.close()


@pytest.fixture
def signed_in(browser, live_server, pages, clinic) -> Iterator[Callable]:
    """``signed_in("patient", phone=True)``: a page of that person, signed in already
    (``javascript=False``: with JavaScript off)."""
    contexts = []

    def make(who: str, *, phone: bool = False, javascript: bool = True):
        context = new_context(
            browser,
            live_server,
            pages,
            phone=phone,
            storage_state=clinic.states[who],
            java_script_enabled=javascript,
        )
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def fill_the_log(page, tap, type_in, *, note: str = "") -> None:
    """Answer the daily log as a person does: tap an answer for each symptom (mostly
    1, a few 0 and 2), "Yes" to each dose question, "No" to alcohol or sedatives, type the
    hours slept, and (optionally) a note; then save."""
    ones = page.get_by_role("radio", name=re.compile(r"^1\b"))
    expect(ones).to_have_count(17)
    for index, radio_id in enumerate(ones.evaluate_all("radios => radios.map(r => r.id)")):
        score = ANSWERS[index % 3]
        tap(page.locator(f"#{radio_id.removesuffix('-1')}-{score}"))
    for question in page.get_by_role("group", name=re.compile("^Did you take your")).all():
        tap(question.get_by_role("radio", name="Yes", exact=True))
    tap(page.locator("#q-substances").get_by_role("radio", name="No", exact=True))
    type_in(page.get_by_label(re.compile("How many hours did you sleep")), "6.5")
    if note:
        type_in(page.get_by_label("Anything else to tell your care team? (optional)"), note)
    tap(page.get_by_role("button", name="Save my day"))


def test_a_full_days_log_on_a_phone_takes_few_taps(signed_in, capsys):
    """From Today to the confirmation, with the optional note: every tap, click or check is
    one tap, and typing in a field is one tap (to focus it) plus its key presses."""
    page = signed_in("patient", phone=True)
    page.goto("/today")
    counted = {"taps": 0, "keys": 0}

    def tap(locator) -> None:
        counted["taps"] += 1
        locator.click()

    def type_in(locator, text: str) -> None:
        tap(locator)
        counted["keys"] += len(text)
        page.keyboard.type(text)

    started = time.perf_counter()
    tap(page.get_by_role("link", name="Log my day").first)
    fill_the_log(page, tap, type_in, note="Shaky this morning, better by lunch.")
    expect(page.get_by_role("heading", name="Your day is saved")).to_be_visible()
    seconds = time.perf_counter() - started
    taps, keys = counted["taps"], counted["keys"]
    with capsys.disabled():
        print(f"\ndaily log (360x740): {taps} taps, {keys} key presses, {seconds:.1f} s")

    # The confirmation shows what was saved: the score, the dose answer, the sleep.
    expect(page.locator("#saved-score")).to_contain_text(f"{SCORE} out of")
    expect(page.locator(".saved-dose")).to_have_text("Took it as scheduled: 2 mg")
    expect(page.locator("#saved-sleep")).to_have_text("6.5 hours")
    assert taps <= MAX_LOG_TAPS, f"{taps} taps for a day's log (goal: at most {MAX_LOG_TAPS})"


# --- axe-core, and nothing off the screen, on every page state ------------------------------

# Each page state is loaded once, at 360 px, then checked at each size and text size in turn.
SIZES = (
    ("360px", PHONE, False),
    ("360px at 200% text", PHONE, True),
    ("1280px", DESKTOP, False),
    ("1280px at 200% text", DESKTOP, True),
)

OVERFLOW = """() => {
  const width = window.innerWidth;
  const scrollWidth = document.scrollingElement.scrollWidth;
  if (scrollWidth <= width + 1) return null;
  // Inside a scrolling region (a table's), unless positioned out of it.
  const scrolls = el => {
    if (['absolute', 'fixed'].includes(getComputedStyle(el).position)) return false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1 || scrolls(el)) continue;
    const cls = typeof el.className === 'string' && el.className.trim()
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls;
    out.push(`${name} (right ${Math.round(box.right)})`);
    if (out.length >= 5) break;
  }
  return `page ${scrollWidth}px wide on a ${width}px screen: ${out.join(', ')}`;
}"""


def check_page(page, phone: bool) -> list[str]:
    """axe-core's WCAG 2.2 A/AA violations, and on a phone anything wider than the screen
    (tables scroll inside their own region)."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    problems = [
        f"axe {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']][:4]}"
        for v in result["violations"]
    ]
    if phone:
        overflow = page.evaluate(OVERFLOW)
        if overflow:
            problems.append(f"runs off the screen: {overflow}")
    return problems


def check_every_size(page) -> list[str]:
    """The page as loaded, every <details> opened, at each size and at 200 % text."""
    page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    problems = []
    for size, viewport, big_text in SIZES:
        page.set_viewport_size(viewport)
        style = page.add_style_tag(content=BIG_TEXT) if big_text else None
        problems += [f"at {size}: {p}" for p in check_page(page, viewport == PHONE)]
        if style is not None:
            style.evaluate("element => element.remove()")
    return problems


def patient_states(clinic: Clinic) -> dict[str, Callable]:
    def log_with_errors(page):
        page.goto(f"/log?day={clinic.unlogged.isoformat()}")
        page.get_by_role("button", name="Save my day").click()
        expect(page.locator(".error-summary")).to_be_visible()

    def one_at_a_time(page):
        page.goto(f"/log?day={clinic.unlogged.isoformat()}")
        page.get_by_role("button", name="One question at a time").click()
        expect(page.get_by_role("button", name="Next")).to_be_visible()

    def urgent(page):
        page.goto("/help")
        page.get_by_role("button", name=re.compile("^Confusion")).first.click()
        expect(page.get_by_role("heading", name="Get urgent help now")).to_be_visible()

    return {
        "log (empty)": lambda page: page.goto(f"/log?day={clinic.unlogged.isoformat()}"),
        "log (with errors)": log_with_errors,
        "log (one question at a time)": one_at_a_time,
        "Today": lambda page: page.goto("/today"),
        "urgent page": urgent,
        "history": lambda page: page.goto("/history"),
        "a day's log": lambda page: page.goto(f"/history/{clinic.yesterday.isoformat()}"),
        "progress": lambda page: page.goto("/progress"),
        "my details (daily reminder)": lambda page: page.goto("/account/details"),
    }


def clinician_states(clinic: Clinic) -> dict[str, Callable]:
    patient = f"/clinician/patients/{clinic.patient_id}"
    return {
        "patient page": lambda page: page.goto(patient),
        "history": lambda page: page.goto(f"{patient}/logs"),
        "a day's log": lambda page: page.goto(f"{patient}/logs/{clinic.yesterday.isoformat()}"),
        "progress": lambda page: page.goto(f"{patient}/progress"),
        "alert inbox": lambda page: page.goto("/clinician/alerts"),
        "plan page": lambda page: page.goto(f"/clinician/plans/{clinic.plan_id}"),
        "plan editor (new plan)": lambda page: page.goto(f"{patient}/plans/new"),
        "plan editor (revision)": lambda page: page.goto(f"/clinician/plans/{clinic.plan_id}/edit"),
    }


def admin_states(clinic: Clinic) -> dict[str, Callable]:
    return {
        "accounts": lambda page: page.goto("/admin/accounts"),
        "failed jobs": lambda page: page.goto("/admin/jobs"),
    }


def test_axe_finds_nothing_and_nothing_runs_off_the_screen(signed_in, clinic, capsys):
    """Each page state at 360 and 1280 px, each also at 200 % text, every <details> open."""
    failures: list[str] = []
    checked = 0
    for who, states in (
        ("patient", patient_states(clinic)),
        ("clinician", clinician_states(clinic)),
        ("admin", admin_states(clinic)),
    ):
        page = signed_in(who, phone=True)
        for name, open_state in states.items():
            page.set_viewport_size(PHONE)
            open_state(page)
            checked += len(SIZES)
            failures += [f"{who} {name} ({page.url}) {p}" for p in check_every_size(page)]
    with capsys.disabled():
        print(f"\naxe-core: {checked} page states, {len(failures)} problems")
    assert checked >= 60
    assert not failures, "\n".join(failures)


# --- a 10-step plan in two page loads -------------------------------------------------------


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_ten_step_plan_takes_two_page_loads(signed_in, clinic, capsys, javascript):
    """From the patient's page: open the editor (one load), type ten steps, save (one load,
    its redirect included). Every dose is typed. With JavaScript off too: the editor starts
    with enough rows."""
    page = signed_in("clinician", javascript=javascript)
    page.goto(f"/clinician/patients/{clinic.patient_id}")
    loads: list[str] = []
    page.on(
        "request",
        lambda request: (
            loads.append(f"{request.method} {request.url}")
            if request.is_navigation_request()
            and request.frame == page.main_frame
            and request.redirected_from is None
            else None
        ),
    )
    counted = {"clicks": 0, "keys": 0}

    def click(locator) -> None:
        counted["clicks"] += 1
        locator.click()

    def type_in(locator, text: str) -> None:
        click(locator)
        counted["keys"] += len(text)
        locator.press_sequentially(text)

    first = patient_today() + timedelta(days=30)
    doses = ["10", "9", "8", "7", "6", "5", "4", "3", "2", "1"]
    click(page.get_by_role("link", name="Write a new plan"))
    type_in(page.get_by_label("Medication"), "diazepam")
    for i, dose in enumerate(doses):
        step = page.get_by_role("group", name=f"Step {i + 1}", exact=True)
        expect(step).to_be_visible()
        start = step.get_by_label("Starts on")
        click(start)
        counted["keys"] += 1
        start.fill((first + timedelta(days=14 * i)).isoformat())  # a date picker: one entry
        type_in(step.get_by_label("Total daily dose (mg)"), dose)
    click(page.get_by_role("button", name="Save plan"))
    expect(page.get_by_role("heading", name=re.compile("^Diazepam plan", re.I))).to_be_visible()
    steps = page.get_by_role("table", name=re.compile("steps", re.I)).first.locator("tbody tr")
    expect(steps).to_have_count(10)
    with capsys.disabled():
        print(
            f"\n10-step plan ({'with' if javascript else 'without'} JavaScript): "
            f"{len(loads)} page loads, {counted['clicks']} clicks, "
            f"{counted['keys']} key presses ({', '.join(loads)})"
        )
    assert len(loads) <= MAX_PLAN_PAGE_LOADS, loads


def test_the_log_works_with_javascript_off(signed_in, clinic):
    """Progressive enhancement: the same taps save the day without JavaScript, and an empty
    post comes back with the error summary linking to each question."""
    page = signed_in("patient", phone=True, javascript=False)
    page.goto(f"/log?day={clinic.unlogged.isoformat()}")
    page.get_by_role("button", name="Save my day").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link").first).to_have_attribute("href", re.compile("^#"))
    page.goto(f"/log?day={patient_today().isoformat()}")
    fill_the_log(page, lambda locator: locator.click(), lambda locator, text: locator.fill(text))
    expect(page.get_by_role("heading", name="Your day is saved")).to_be_visible()


def test_one_question_at_a_time_moves_on_goes_back_and_never_hides_the_red_flags(signed_in, clinic):
    """One question at a time: a tap on an answer moves on (Back returns, the answer kept);
    the red-flag box stays on screen; going to it cancels the move on."""
    page = signed_in("patient", phone=True)
    page.goto(f"/log?day={clinic.unlogged.isoformat()}")
    page.get_by_role("button", name="One question at a time").click()
    first, second = page.locator("#q-irritable"), page.locator("#q-fatigued")
    expect(first).to_be_visible()
    expect(second).to_be_hidden()
    expect(page.locator("details.red-flag-box > summary")).to_be_visible()
    page.locator("#irritable-2").click()
    expect(second).to_be_visible()
    expect(first).to_be_hidden()
    page.get_by_role("button", name="Back").click()
    expect(first).to_be_visible()
    expect(page.locator("#irritable-2")).to_be_checked()
    # Answer, then go straight to the red-flag box: the page stays where the patient went.
    page.locator("#irritable-3").click()
    page.locator("details.red-flag-box > summary").click()
    page.wait_for_timeout(1200)
    expect(first).to_be_visible()
    expect(page.locator("details.red-flag-box")).to_have_attribute("open", "")
    expect(page.get_by_role("button", name="Send this now")).to_be_visible()


def test_one_question_at_a_time_enter_moves_on_and_never_saves_before_the_note(signed_in, clinic):
    """Enter in a question's field (here the hours of sleep) moves on to the next question,
    as Next does; it does not save the day before the note's screen has been seen."""
    page = signed_in("patient", phone=True)
    page.goto(f"/log?day={clinic.unlogged.isoformat()}")
    page.get_by_role("button", name="One question at a time").click()
    page.locator("#q-irritable").wait_for()
    while not page.locator("#q-sleep_hours").is_visible():
        page.get_by_role("button", name="Next").click()
    page.locator("#sleep_hours").fill("6")
    page.locator("#sleep_hours").press("Enter")
    expect(page.locator("#q-note")).to_be_visible()
    page.wait_for_timeout(500)  # time for a form submission to start, were one sent
    expect(page.locator("#q-sleep_hours")).to_be_hidden()
    assert page.url.endswith(f"/log?day={clinic.unlogged.isoformat()}")  # nothing sent
    expect(page.get_by_role("button", name="Save my day").last).to_be_visible()


# --- screenshots for reviewers --------------------------------------------------------------


def test_screenshots_of_the_log_today_urgent_chart_and_report(signed_in, clinic):
    """Saved under tests/e2e/artifacts/ at both sizes (overwritten each run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shots = []
    for size, viewport in (("360", PHONE), ("1280", DESKTOP)):
        page = signed_in("patient", phone=viewport == PHONE)
        states = patient_states(clinic)
        for name, state in (
            ("log", states["log (empty)"]),
            ("today", states["Today"]),
            ("urgent", states["urgent page"]),
            ("progress-chart", states["progress"]),
        ):
            state(page)
            if name == "progress-chart":
                page.wait_for_function(
                    "() => [...document.querySelectorAll('figure img')]"
                    ".every(i => i.complete && i.naturalWidth > 0)"
                )
            path = ARTIFACTS / f"{name}-{size}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

    # The visit report's first page, as the clinician downloads it.
    clinician = signed_in("clinician")
    clinician.goto(f"/clinician/patients/{clinic.patient_id}/progress")
    with clinician.expect_download() as download:
        clinician.get_by_role("link", name=re.compile("visit report", re.I)).first.click()
    pdf = ARTIFACTS / "visit-report.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "run `make e2e`: it installs poppler-utils (pdftoppm)"
    subprocess.run(  # noqa: S603 (our own file)
        [pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf)]
        + [str(ARTIFACTS / "visit-report-page1")],
        check=True,
        timeout=60,
    )
    shots.append(ARTIFACTS / "visit-report-page1.png")
    for path in shots:
        assert path.exists(), path
        assert path.stat().st_size > 2000, path
    (ARTIFACTS / "screenshots.json").write_text(json.dumps([p.name for p in shots], indent=1))
