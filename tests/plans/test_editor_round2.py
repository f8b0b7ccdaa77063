"""Issue 15 item 7: a 10-step plan written in two page loads (open the editor, save), rows
added and checked in place, date help that only ever moves dates, no reason asked of a new
plan, a crossover said before it happens, and the editor's pages fit for a keyboard."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from taper.extensions import db
from taper.models import Role, TaperPlan
from tests.conftest import login_as
from tests.helpers import patient_today, plan_form, row_counts, version_of

DOSES = ["20", "18", "16", "14", "12", "10", "8", "6", "4", "2"]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def value_of(page: str, field_id: str) -> str | None:
    """The value an input is drawn with (None when the page has no such input)."""
    tag = re.search(rf'<input[^>]*id="{re.escape(field_id)}"[^>]*>', page)
    if tag is None:
        return None
    found = re.search(r'value="([^"]*)"', tag.group(0))
    return found.group(1) if found else ""


def ten_steps(patient):
    first = patient_today(patient) + timedelta(days=1)
    return [
        (first + timedelta(days=7 * i), dose, {}, f"Week {i + 1}") for i, dose in enumerate(DOSES)
    ]


class Counted:
    """A test client that counts the requests a person's browser would make as page loads."""

    def __init__(self, client) -> None:
        self.client, self.loads = client, 0

    def get(self, *args, **kwargs):
        self.loads += 1
        return self.client.get(*args, **kwargs)

    def post(self, *args, **kwargs):
        self.loads += 1
        return self.client.post(*args, **kwargs)


# --- two page loads for a 10-step plan ------------------------------------------------------


def test_a_ten_step_plan_is_written_in_two_page_loads(client, app, clinician, patient):
    """Open the editor, type all ten steps, save: two requests, and the plan has ten steps."""
    login_as(client, clinician)
    browser = Counted(client)
    url = f"/clinician/patients/{patient.id}/plans/new"
    editor = browser.get(url)
    assert editor.status_code == 200
    page = editor.text
    for row in range(10):  # ten empty rows to type into, no more needed
        assert value_of(page, f"steps-{row}-start") == ""
        assert value_of(page, f"steps-{row}-total") == ""
    saved = browser.post(url, data=plan_form(ten_steps(patient)))
    assert saved.status_code == 302, flat(saved.text)[-1500:]
    assert browser.loads == 2
    with app.app_context():
        plan = db.session.scalars(select(TaperPlan)).one()
        steps = plan.current_revision.steps
        assert [s.total for s in steps] == [Decimal(dose) for dose in DOSES]
        assert [s.note for s in steps] == [f"Week {i}" for i in range(1, 11)]


def test_blank_rows_are_ignored_on_save(client, app, clinician, patient):
    login_as(client, clinician)
    data = plan_form(ten_steps(patient)[:3])
    for row in range(3, 10):  # the rows left empty, as the browser posts them
        data.update({f"steps-{row}-{name}": "" for name in ("start", "total", "note")})
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 302
    with app.app_context():
        assert len(db.session.scalars(select(TaperPlan)).one().current_revision.steps) == 3


def test_the_reviser_starts_with_the_steps_and_empty_rows(
    client, app, clinician, patient, active_plan
):
    login_as(client, clinician)
    page = client.get(f"/clinician/plans/{active_plan}/edit").text
    assert value_of(page, "steps-2-total") == "5"  # the plan's three steps
    for row in (3, 4, 5):
        assert value_of(page, f"steps-{row}-total") == ""
    assert value_of(page, "steps-6-total") is None
    assert 'id="reason"' in page  # a revision says why


def test_a_new_plan_asks_no_reason_and_saves_without_one(client, app, clinician, patient):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/plans/new").text
    assert "Reason for this change" not in page
    assert 'name="reason"' not in page


# --- "Add more steps" without JavaScript keeps the place -----------------------------------


def test_add_rows_without_javascript_comes_back_at_the_first_new_row(client, clinician, patient):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    page = client.get(url).text
    # The button posts to the editor with the first new row's anchor: the browser opens the
    # answer there, not at the top.
    button = re.search(r'<input[^>]*name="add_rows"[^>]*>', page).group(0)
    assert f'formaction="{url}#step-11"' in button
    data = plan_form(ten_steps(patient))
    data["add_rows"] = "Add more steps"
    answer = client.post(url, data=data).text
    assert '<fieldset class="step-row" id="step-11">' in answer
    assert '<fieldset class="step-row" id="step-13">' in answer
    assert value_of(answer, "steps-10-total") == ""
    assert value_of(answer, "steps-9-total") == "2"  # everything typed is kept
    button = re.search(r'<input[^>]*name="add_rows"[^>]*>', answer).group(0)
    assert f'formaction="{url}#step-14"' in button


def test_the_editor_loads_its_script_and_style_without_inline_code(client, clinician, patient):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/plans/new").text
    assert '<script src="/static/js/plan.js" defer></script>' in page
    assert 'href="/static/css/plan.css"' in page
    assert "<script>" not in page
    assert "style=" not in page
    form = re.search(r'<form method="post" novalidate id="plan-editor"[^>]*>', page).group(0)
    assert f'data-check-url="/clinician/patients/{patient.id}/plans/new/check"' in form
    assert 'id="check-result" role="status" aria-live="polite"' in page
    script = client.get("/static/js/plan.js")
    assert script.status_code == 200
    script.close()


# --- date help: only dates move ------------------------------------------------------------


def _fill(client, url, data, days="7"):
    data = {**data, "step_days": days, "fill_dates": "Fill the start dates"}
    return client.post(url, data=data)


def test_fill_dates_moves_only_dates_of_the_typed_steps(client, app, clinician, patient):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    first = patient_today(patient) + timedelta(days=2)
    data = plan_form(
        [
            (first, "20", {"morning": "10", "bedtime": "10"}, "Start"),
            ("", "17.50", {}, ""),
            (
                "2030-01-01",
                "",
                {},
                "No dose typed yet",
            ),  # its date is replaced, its dose stays blank
            ("", "", {}, ""),  # an empty row stays empty
            ("", "0", {}, "Stop"),
        ]
    )
    response = _fill(client, url, data, "14")
    page = response.text
    assert response.status_code == 200
    expected = {0: first, 1: first + timedelta(days=14), 2: first + timedelta(days=28)}
    expected[4] = first + timedelta(days=42)
    for row, day in expected.items():
        assert value_of(page, f"steps-{row}-start") == day.isoformat()
    assert value_of(page, "steps-3-start") == ""
    # Every dose, split and note exactly as typed (or blank): nothing filled in.
    assert value_of(page, "steps-0-total") == "20"
    assert value_of(page, "steps-0-morning") == "10"
    assert value_of(page, "steps-0-bedtime") == "10"
    assert value_of(page, "steps-0-midday") == ""
    assert value_of(page, "steps-1-total") == "17.50"
    assert value_of(page, "steps-2-total") == ""
    assert value_of(page, "steps-3-total") == ""
    assert value_of(page, "steps-4-total") == "0"
    for row in range(5):
        for part in ("morning", "midday", "evening") if row else ():
            assert value_of(page, f"steps-{row}-{part}") == ""
    assert "No dose typed yet</textarea>" in page
    assert "Start dates filled in, 14 days apart." in page
    assert row_counts(app, TaperPlan) == (0,)  # nothing saved


def test_fill_dates_with_only_the_first_step_typed_dates_every_row_below(
    client, clinician, patient
):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    page = client.get(url).text
    assert 'id="step_days"' in page
    assert 'value="Fill the start dates"' in page
    first = patient_today(patient) + timedelta(days=1)
    data = plan_form([(first, "", {}, "")] + [("", "", {}, "")] * 9)
    page = _fill(client, url, data, "10").text
    for row in range(10):
        assert value_of(page, f"steps-{row}-start") == (first + timedelta(10 * row)).isoformat()
        assert value_of(page, f"steps-{row}-total") == ""  # never a dose


@pytest.mark.parametrize(
    ("first", "days", "field", "message"),
    [
        ("2027-01-04", "", "step_days", "Enter how many days each step lasts, 1 to 365."),
        ("2027-01-04", "0", "step_days", "Enter how many days each step lasts"),
        ("2027-01-04", "7.5", "step_days", "Enter how many days each step lasts"),
        ("2027-01-04", "٧", "step_days", "Enter how many days each step lasts"),
        ("", "7", "steps-0-start", "Type this step's start date"),
        ("4/1/2027", "7", "steps-0-start", "Type this step's start date"),
    ],
)
def test_fill_dates_refuses_what_it_cannot_use_beside_the_field(
    client, app, clinician, patient, first, days, field, message
):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    data = plan_form([(first, "10", {}, ""), ("", "8", {}, "")])
    response = _fill(client, url, data, days)
    assert response.status_code == 400
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', response.text)
    assert error
    assert message in html.unescape(error.group(1))
    assert value_of(response.text, "steps-1-start") == ""  # nothing filled
    assert value_of(response.text, "steps-1-total") == "8"
    assert row_counts(app, TaperPlan) == (0,)


def test_fill_dates_works_when_revising_and_saves_nothing(
    client, app, clinician, patient, active_plan
):
    login_as(client, clinician)
    url = f"/clinician/plans/{active_plan}/edit"
    today = patient_today(patient)
    rows = [
        (today - timedelta(days=20), "10", {}, ""),
        (today - timedelta(days=3), "7.5", {}, "Smaller step"),
        (today + timedelta(days=11), "5", {}, ""),
    ]
    version = version_of(app, active_plan)
    data = plan_form(rows, reason="Faster", version=version)
    page = _fill(client, url, data, "21").text
    assert value_of(page, "steps-1-start") == (today + timedelta(days=1)).isoformat()
    assert value_of(page, "steps-2-start") == (today + timedelta(days=22)).isoformat()
    assert [value_of(page, f"steps-{r}-total") for r in range(3)] == ["10", "7.5", "5"]
    assert version_of(app, active_plan) == version


# --- "Check the steps" in place: JSON -------------------------------------------------------


def test_check_answers_json_with_each_problem_by_field_id(client, app, clinician, patient):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new/check"
    first = patient_today(patient) + timedelta(days=1)
    data = plan_form(
        [
            (first, "20", {}, ""),
            ("2027-02-30", "15", {}, ""),
            (first + timedelta(days=30), "abc", {}, ""),
            (first + timedelta(days=40), "10", {"morning": "4", "bedtime": "4"}, ""),
            (first + timedelta(days=50), "90", {}, ""),
            ("", "", {}, ""),
        ]
    )
    response = client.post(url, data=data, headers={"Accept": "application/json"})
    assert response.status_code == 200
    answer = response.json
    assert answer["ok"] is False
    assert "real date" in answer["fields"]["steps-1-start"]
    assert "steps-2-total" in answer["fields"]
    assert "steps-3-total" in answer["fields"]  # the parts must add up to the total
    assert answer["confirm"]["steps-4-confirm_dose"]["total"] == "90"
    assert "above the usual maximum" in answer["confirm"]["steps-4-confirm_dose"]["message"]
    assert "steps-5-start" not in answer["fields"]  # the empty row is ignored
    assert answer["steps"] == 5
    assert row_counts(app, TaperPlan) == (0,)

    # The same check as the page's own, without JavaScript.
    page = client.post(
        f"/clinician/patients/{patient.id}/plans/new", data={**data, "check": "Check"}
    ).text
    for field_id, message in answer["fields"].items():
        assert message in re.search(rf'id="{field_id}-error">([^<]*)<', page).group(1)


def test_check_of_good_steps_is_ok(client, app, clinician, patient, active_plan):
    login_as(client, clinician)
    data = plan_form(ten_steps(patient))
    new = client.post(f"/clinician/patients/{patient.id}/plans/new/check", data=data)
    assert new.json == {"ok": True, "steps": 10, "fields": {}, "confirm": {}, "general": []}
    revised = client.post(f"/clinician/plans/{active_plan}/edit/check", data=data)
    assert revised.json["ok"] is True


def test_check_says_when_no_step_is_typed_and_when_there_are_too_many_rows(
    client, clinician, patient
):
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new/check"
    empty = client.post(url, data=plan_form([("", "", {}, "")]))
    assert empty.json["ok"] is False
    assert empty.json["general"] == ["Add at least one step."]
    first = patient_today(patient)
    many = plan_form([(first + timedelta(days=i), "1", {}, "") for i in range(121)])
    too_many = client.post(url, data=many)
    assert too_many.json["ok"] is False
    assert "at most 60 steps" in too_many.json["general"][0]


@pytest.mark.parametrize("who", ["patient", "outsider", "admin"])
def test_check_is_only_for_the_patients_care_team(
    client, make_user, clinician, patient, active_plan, who
):
    if who == "patient":
        user = patient
    elif who == "outsider":
        user = make_user(Role.CLINICIAN, name="Dr Olu Outsider")
    else:
        user = make_user(Role.ADMIN)
    login_as(client, user)
    data = plan_form(ten_steps(patient))
    for url in (
        f"/clinician/patients/{patient.id}/plans/new/check",
        f"/clinician/plans/{active_plan}/edit/check",
    ):
        response = client.post(url, data=data, headers={"Accept": "application/json"})
        assert response.status_code in (403, 404), (url, response.status_code)
        assert "steps-" not in response.text


def test_check_of_an_unknown_plan_is_404(client, clinician):
    login_as(client, clinician)
    assert client.post("/clinician/plans/999999/edit/check", data={}).status_code == 404
    assert client.post("/clinician/patients/999999/plans/new/check", data={}).status_code == 404


def test_check_refuses_get(client, clinician, patient):
    login_as(client, clinician)
    assert client.get(f"/clinician/patients/{patient.id}/plans/new/check").status_code == 405


@pytest.mark.app_config(WTF_CSRF_ENABLED=True)
def test_check_needs_the_csrf_token_in_its_header(client, clinician, patient):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/plans/new").text
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page).group(1)
    url = f"/clinician/patients/{patient.id}/plans/new/check"
    data = plan_form(ten_steps(patient))
    json = {"Accept": "application/json"}
    assert client.post(url, data=data, headers=json).status_code == 400
    answer = client.post(url, data=data, headers={**json, "X-CSRFToken": token})
    assert answer.status_code == 200
    assert answer.json["ok"] is True


# --- crossover, said before it happens --------------------------------------------------------


def test_activating_a_second_plan_says_it_makes_a_crossover(
    client, app, clinician, patient, write_plan
):
    login_as(client, clinician)
    first = patient_today(patient) - timedelta(days=3)
    write_plan(patient, [(first, "2", {}, "")], medication="lorazepam")
    page = flat(client.get(f"/clinician/patients/{patient.id}/plans/new").text)
    assert "Robin Patient already has an active lorazepam plan: this makes a crossover" in page
    draft = write_plan(patient, [(first, "10", {}, "")], activate=False)
    page = flat(client.get(f"/clinician/plans/{draft}").text)
    assert "Robin Patient already has an active lorazepam plan: this makes a crossover." in page
    notice, status_form = page.index('id="crossover"'), page.index('name="status"')
    assert notice < status_form  # said before the activate button
    # Once active, it is a crossover already: nothing more to say.
    client.post(
        f"/clinician/plans/{draft}/status",
        data={"status": "active", "version": str(version_of(app, draft))},
    )
    assert 'id="crossover"' not in client.get(f"/clinician/plans/{draft}").text


def test_no_crossover_notice_without_another_running_plan(
    client, app, clinician, patient, write_plan, make_user
):
    login_as(client, clinician)
    first = patient_today(patient) - timedelta(days=3)
    other = make_user(Role.PATIENT, name="Jo Other", clinicians=(clinician,))
    write_plan(other, [(first, "2", {}, "")], medication="lorazepam")  # someone else's
    write_plan(patient, [(first, "1", {}, "")], medication="oxazepam", activate=False)
    assert 'id="crossover"' not in client.get(f"/clinician/patients/{patient.id}/plans/new").text
    draft = write_plan(patient, [(first, "10", {}, "")], activate=False)
    assert 'id="crossover"' not in client.get(f"/clinician/plans/{draft}").text


# --- pages fit for a keyboard and the reader's clock --------------------------------------------


def test_the_steps_table_is_a_named_focusable_region_and_its_note_wraps(
    client, clinician, active_plan
):
    login_as(client, clinician)
    page = client.get(f"/clinician/plans/{active_plan}").text
    wrap = re.search(r'<div class="table-wrap steps-wrap"[^>]*>', page).group(0)
    assert 'tabindex="0"' in wrap
    assert 'role="region"' in wrap
    assert 'aria-label="Steps (changes and lengths are for information only)"' in wrap
    assert '<td class="note-cell">Smaller step</td>' in page
    assert 'href="/static/css/plan.css"' in page


def test_revision_times_are_the_readers_local_time(client, app, clinician, active_plan):
    with app.app_context():
        reader = db.session.get(type(clinician), clinician.id)
        reader.timezone = "Asia/Tokyo"
        db.session.commit()
        saved = db.session.get(TaperPlan, active_plan).current_revision.created_at
    login_as(client, clinician)
    page = client.get(f"/clinician/plans/{active_plan}/revisions").text
    assert " UTC" not in page
    from taper.templating import local_time

    assert local_time(saved, "Asia/Tokyo") in page


def test_every_state_of_the_editor_has_unique_ids_that_resolve(
    client, clinician, patient, active_plan
):
    from tests.test_forms_ids import id_problems

    login_as(client, clinician)
    new = f"/clinician/patients/{patient.id}/plans/new"
    first = patient_today(patient) + timedelta(days=1)
    spoilt = plan_form([(first, "90", {}, ""), ("2027-02-30", "abc", {"morning": "x"}, "")])
    states = {
        "new": client.get(new),
        "revise": client.get(f"/clinician/plans/{active_plan}/edit"),
        "add rows": client.post(new, data={**spoilt, "add_rows": "Add more steps"}),
        "check": client.post(new, data={**spoilt, "check": "Check"}),
        "fill refused": client.post(new, data={**spoilt, "fill_dates": "Fill", "step_days": "x"}),
        "save refused": client.post(new, data=spoilt),
    }
    for name, response in states.items():
        assert response.status_code in (200, 400), name
        assert id_problems(response.text) == [], name


def test_a_reason_posted_to_a_new_plan_is_ignored_not_refused(client, app, clinician, patient):
    """The new-plan editor has no reason field: a post carrying one (too long, even) saves."""
    login_as(client, clinician)
    data = plan_form(ten_steps(patient), reason="x" * 5000)
    response = client.post(f"/clinician/patients/{patient.id}/plans/new", data=data)
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalars(select(TaperPlan)).one().current_revision.reason == ""


NASTY = ["\x00", "9" * 400, "２０２７-01-04", "2027-01-04T00:00", "-1", "1e5", "🙂", " ", "0x10"]


@pytest.mark.parametrize("value", NASTY)
def test_nasty_input_to_the_date_help_and_the_check_is_never_a_500(
    client, app, clinician, patient, active_plan, value
):
    login_as(client, clinician)
    new = f"/clinician/patients/{patient.id}/plans/new"
    first = patient_today(patient) + timedelta(days=1)
    for field in ("step_days", "steps-0-start", "steps-1-total"):
        data = plan_form([(first, "10", {}, ""), ("", "8", {}, "")])
        data.update({"step_days": "7", field: value})
        filled = client.post(new, data={**data, "fill_dates": "Fill the start dates"})
        assert filled.status_code in (200, 400), (field, filled.status_code)
        for url in (f"{new}/check", f"/clinician/plans/{active_plan}/edit/check"):
            checked = client.post(url, data=data)
            assert checked.status_code == 200, (url, field)
            assert checked.is_json
    assert row_counts(app, TaperPlan) == (1,)  # only the active plan: nothing saved


def test_check_finds_what_the_form_itself_refuses_as_saving_would(client, clinician, patient):
    """A note too long or text that cannot be saved: the check says so beside the field, on
    the page and in the JSON, as saving would."""
    login_as(client, clinician)
    new = f"/clinician/patients/{patient.id}/plans/new"
    first = patient_today(patient) + timedelta(days=1)
    data = plan_form([(first, "10", {}, "x" * 2001), (first + timedelta(days=7), "8", {}, "a\x07")])
    answer = client.post(f"{new}/check", data=data).json
    assert answer["ok"] is False
    assert "2000" in answer["fields"]["steps-0-note"]
    assert "cannot be saved" in answer["fields"]["steps-1-note"]
    page = client.post(new, data={**data, "check": "Check"}).text
    assert "2000" in re.search(r'id="steps-0-note-error">([^<]*)<', page).group(1)
    assert "cannot be saved" in re.search(r'id="steps-1-note-error">([^<]*)<', page).group(1)
    assert "The check found problems" in page
    saved = client.post(new, data=data)
    assert saved.status_code == 400  # saving refuses the same


def test_enter_in_a_field_checks_the_steps_and_saves_nothing(client, app, clinician, patient):
    """A browser submits with a form's first submit button when Enter is pressed in a field:
    that button is a check (saves nothing), never "Add more steps" or "Save plan"."""
    login_as(client, clinician)
    url = f"/clinician/patients/{patient.id}/plans/new"
    page = client.get(url).text
    form = page[page.index('id="plan-editor"') :]
    first = re.search(r"<(?:button|input)\b[^>]*type=\"submit\"[^>]*>", form).group(0)
    assert 'name="check"' in first, first
    data = plan_form(ten_steps(patient)[:3])
    data["check"] = "y"  # what that button posts
    before = row_counts(app, TaperPlan)
    response = client.post(url, data=data)
    assert response.status_code == 200
    assert value_of(response.text, "steps-0-total") == DOSES[0]
    assert row_counts(app, TaperPlan) == before
