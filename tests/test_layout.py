"""The page frame (issue 15 items 4-6): a compact header whose links fold into a "Menu"
<details>, "I need help now" on every patient page but the urgent one, patient times in the
patient's own zone, keyboard-reachable table wraps, and colours that hold up in dark mode."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Alert, Role, User
from tests.conftest import login_as
from tests.helpers import patient_today

ROOT = Path(__file__).resolve().parent.parent
HELP_LINK = '<a class="help-now" href="/help">I need help now</a>'
SEIZURE = {"red_flags": "seizure", "submission_id": "5" * 32}


def header(page: str) -> str:
    return page[page.index('<header class="site-header') : page.index("</header>")]


def menu(page: str) -> str:
    """The folded navigation: everything inside the header's "Menu" <details>."""
    match = re.search(r'<details class="menu">(.*?)</details>', header(page), re.S)
    assert match, "no Menu <details> in the header"
    return match.group(1)


@pytest.mark.parametrize(
    ("role", "home", "links", "absent"),
    [
        (
            Role.PATIENT,
            "/today",
            ["Today", "Log my day", "History", "Progress", "Change password"],
            ["Two-step login", "Patients", "Accounts"],
        ),
        (
            Role.CLINICIAN,
            "/clinician/patients",
            ["Patients", "Alerts", "Change password", "Two-step login"],
            ["Today", "Accounts", "I need help now"],
        ),
        (
            Role.ADMIN,
            "/admin/accounts",
            ["Accounts", "Audit trail", "Change password", "Two-step login"],
            ["Patients", "Today", "I need help now"],
        ),
    ],
)
def test_each_role_gets_every_link_folded_into_one_menu(
    client, make_user, role, home, links, absent
):
    login_as(client, make_user(role))
    page = client.get(home).get_data(as_text=True)
    folded = menu(page)
    # The disclosure works without JavaScript: a real <summary> named "Menu".
    assert re.search(r"<summary>.*Menu.*</summary>", folded)
    assert '<nav aria-label="Main">' in folded
    for link in links:
        assert re.search(rf">{link}(</a>| <span)", folded), link
    for link in absent:
        assert f">{link}<" not in header(page), link
    # Logging out stays a POST form with its CSRF token, inside the menu.
    assert 'action="/logout"' in folded
    assert 'name="csrf_token"' in folded
    assert ">Log out</button>" in folded
    # The page loads the menu's script as a static file (the CSP allows no inline code).
    assert '<script src="/static/js/nav.js" defer></script>' in page
    assert "<script>" not in page
    assert 'style="' not in page


def test_only_a_patients_header_sticks_to_the_top(client, make_user):
    login_as(client, make_user(Role.PATIENT))
    assert '<header class="site-header sticky">' in client.get("/today").get_data(as_text=True)
    login_as(client, make_user(Role.CLINICIAN))
    page = client.get("/clinician/patients").get_data(as_text=True)
    assert '<header class="site-header">' in page


def test_nobody_logged_in_sees_no_menu_and_no_help_button(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'class="menu"' not in page
    assert "help-now" not in page
    assert 'class="brand" href="/login"' in page
    assert "<script" not in page  # the menu script only where there is a menu


def test_open_alert_count_shows_on_the_menu_button_and_the_alerts_link(
    client, patient, clinician, make_user
):
    login_as(client, patient)
    client.post("/help", data=SEIZURE)
    login_as(client, clinician)
    folded = menu(client.get("/clinician/patients").get_data(as_text=True))
    summary = folded[: folded.index("</summary>")]
    # Folded on a phone, the count is still in sight, in words for a screen reader.
    assert '<span class="count">1<span class="visually-hidden"> open alerts</span></span>' in (
        summary
    )
    assert 'Alerts <span class="count">1<span class="visually-hidden"> open</span>' in folded
    # Another clinician, with no patient of their own, sees no count.
    login_as(client, make_user(Role.CLINICIAN))
    page = client.get("/clinician/patients").get_data(as_text=True)
    assert 'class="count"' not in page


def test_help_button_is_in_the_bar_on_every_patient_page_but_the_urgent_one(
    client, patient, active_plan
):
    login_as(client, patient)
    for url in ("/today", "/log", "/history", "/progress", "/help", "/password"):
        page = client.get(url).get_data(as_text=True)
        assert HELP_LINK in header(page), url
    urgent = client.post("/help", data=SEIZURE)
    page = urgent.get_data(as_text=True)
    assert urgent.status_code == 200
    assert "Get urgent help now" in page
    # The urgent page is where the button leads: no second copy, no menu to get lost in.
    assert "help-now" not in page
    assert 'class="urgent-page"' in page
    assert "Back to Taper" in page


def test_patient_sees_when_the_care_team_saw_the_urgent_report_in_their_own_zone(
    client, app, patient, clinician, make_user
):
    login_as(client, patient)
    client.post("/help", data=SEIZURE)
    login_as(client, clinician)
    with app.app_context():
        alert = db.session.scalars(select(Alert)).one()
    client.post(f"/clinician/alerts/{alert.id}/acknowledge", data={"note": ""})
    with app.app_context():
        saved = db.session.get(Alert, alert.id)
        assert saved.acknowledged_at is not None
        saved.acknowledged_at = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
        db.session.commit()
    login_as(client, patient)  # America/New_York: UTC-5 in December
    page = client.get("/today").get_data(as_text=True)
    assert "Your care team saw your urgent report (3 Dec 2026, 09:05)." in page
    assert "UTC" not in page
    # The same moment for a patient in Sydney is the next morning there.
    with app.app_context():
        db.session.get(User, patient.id).timezone = "Australia/Sydney"
        db.session.commit()
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    assert "Your care team saw your urgent report (4 Dec 2026, 01:05)." in page


@pytest.mark.parametrize("url", ["/today", "/help"])
def test_patient_pages_in_this_frame_never_show_utc(client, patient, active_plan, url):
    login_as(client, patient)
    client.post("/help", data=SEIZURE)
    assert "UTC" not in client.get(url).get_data(as_text=True)


def test_todays_plan_table_scrolls_in_a_labelled_keyboard_region(client, patient, active_plan):
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    assert (
        '<div class="table-wrap" tabindex="0" role="region" aria-label="Whole diazepam plan">'
        in (page)
    )
    # The note wraps in its own column instead of running off the side.
    assert '<td class="note-cell">Smaller step</td>' in page
    assert '<th scope="col" class="note-cell">Note</th>' in page
    # No step is split, so no column of dashes takes room on a phone; a date keeps day and
    # month together.
    assert ">Split</th>" not in page
    day = patient_today(patient)
    assert re.search(r"<td>\d{1,2}\u00a0[A-Z][a-z]{2} \d{4}</td>", page), day


def test_todays_plan_table_shows_the_split_when_a_step_has_one(
    client, clinician, patient, write_plan
):
    day = patient_today(patient)
    login_as(client, clinician)
    write_plan(patient, [(day, "10", {"morning": "5", "bedtime": "5"}, "Half and half")])
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    assert '<th scope="col">Split</th>' in page
    assert "<td>Morning 5, Bedtime 5</td>" in page


def test_today_still_leads_with_todays_dose(client, patient, active_plan):
    login_as(client, patient)
    page = client.get("/today").get_data(as_text=True)
    main = page[page.index("<main") :]
    assert main.index("Your dose today") < main.index("Your whole plan")
    assert '<p class="dose-today"><strong>7.5 mg</strong> in total</p>' in main


# --- The stylesheet: dark mode, contrast, focus under the sticky bar -------------------------

CSS = (ROOT / "static" / "css" / "app.css").read_text()


def _props(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", block))


def _schemes() -> dict[str, dict[str, str]]:
    light = _props(CSS[CSS.index(":root {") : CSS.index("}", CSS.index(":root {"))])
    start = CSS.index("@media (prefers-color-scheme: dark)")
    dark = {**light, **_props(CSS[start : CSS.index("}\n}", start)])}
    return {"light": light, "dark": dark}


def _contrast(a: str, b: str) -> float:
    def lum(colour: str) -> float:
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


TEXT_PAIRS = [
    ("ink", "bg"), ("muted", "bg"), ("brand", "bg"), ("brand-dark", "bg"), ("danger", "bg"),
    ("ok", "bg"), ("ink", "panel"), ("muted", "panel"), ("brand", "panel"), ("ink", "field-bg"),
    ("primary-ink", "primary-bg"), ("primary-ink", "primary-bg-hover"),
    ("alarm-ink", "alarm-bg"), ("alarm-ink", "alarm-bg-hover"), ("header-ink", "header-bg"),
    ("danger-ink", "urgent-bg"), ("danger-ink", "bg"), ("ink", "urgent-bg"), ("ink", "danger-soft"),
    ("ink", "info-bg"), ("brand", "info-bg"), ("ink", "warn-bg"), ("warn-ink", "bg"),
    ("warn-ink", "warn-bg"), ("warn-ink", "panel"),
]  # fmt: skip
EDGE_PAIRS = [("danger-line", "bg"), ("field-line", "field-bg"), ("warn-line", "bg")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_colour_pair_is_readable_in_both_schemes(scheme):
    colours = _schemes()[scheme]
    for fg, bg in TEXT_PAIRS:
        ratio = _contrast(colours[fg], colours[bg])
        assert ratio >= 4.5, f"{scheme}: --{fg} on --{bg} is {ratio:.2f}:1"
    for fg, bg in EDGE_PAIRS:  # control edges and coloured borders (WCAG 1.4.11)
        ratio = _contrast(colours[fg], colours[bg])
        assert ratio >= 3, f"{scheme}: --{fg} on --{bg} is {ratio:.2f}:1"


def test_dark_mode_keeps_the_help_button_clearly_red():
    for colours in _schemes().values():
        red = colours["alarm-bg"]
        r, g, b = (int(red[i : i + 2], 16) for i in (1, 3, 5))
        assert r > 150, red
        assert max(g, b) < 60, red
    assert "color-scheme: light dark" in CSS


def test_stylesheet_keeps_focus_clear_of_the_sticky_bar_and_boxes_on_the_screen():
    assert re.search(r"html:has\(\.site-header\.sticky\) \{ scroll-padding-top:", CSS)
    assert "fieldset { min-width: 0; }" in CSS  # red-flag boxes shrink to a 360 px phone
    assert re.search(r"\.table-wrap \{[^}]*overflow-x: auto;", CSS)
    assert re.search(r"\.button \{[^}]*white-space: normal;", CSS)
    # No colour is typed outside the custom properties but the fixed white/black of the bar.
    body = CSS[CSS.index("* { box-sizing") :]
    stray = set(re.findall(r"#[0-9a-fA-F]{3,6}\b", body)) - {"#fff", "#000", "#073763"}
    assert not stray, stray


def test_the_menu_script_is_served(client):
    with client.get("/static/js/nav.js") as response:
        assert response.status_code == 200
        assert "matchMedia" in response.get_data(as_text=True)
