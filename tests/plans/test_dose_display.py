"""Every dose a page shows is one the clinician typed (DESIGN non-negotiable 1).

The guard walks every page either role can reach that shows a dose, on days across the plan
(before it, on each step, through a dated hold and a hold until reviewed, whose new dates are
shown before they are saved, and after the last step),
and reads each number shown as a dose: cells of dose columns, dose elements, dose fields,
"N mg" text (attributes included), time-of-day parts, the CSV export and the PDF report text.
Each must be one of the doses the clinician typed (totals and split parts); every steps-table
row must show the typed dose of the step starting on its date. Signed change facts (−2.5 mg),
percentages and lengths in days are facts about typed steps and are not read as doses.
"""

import csv
import io
import re
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest
import time_machine

from taper.extensions import db
from taper.models import TaperPlan
from tests.conftest import login_as
from tests.helpers import fill_log, plan_form, version_of
from tests.plans.timeline_posts import confirmed

TYPED = [
    (date(2026, 3, 1), "12.5", {"morning": "5", "bedtime": "7.5"}, "Take with food"),
    (date(2026, 3, 8), "11.25", {}, ""),  # across the US daylight-saving change
    (date(2026, 3, 29), "10", {}, ""),  # across the UK change
    (date(2026, 4, 19), "0", {}, "Stopped"),
]
TOTALS = {Decimal(total) for _, total, _, _ in TYPED}
TYPED_DOSES = TOTALS | {Decimal(part) for _, _, parts, _ in TYPED for part in parts.values()}
# Each typed step by its start date as pages print it: "1 Mar 2026" and "2026-03-01".
STEP_ON = {
    **{f"{start.day} {start:%b %Y}": (Decimal(total), parts) for start, total, parts, _ in TYPED},
    **{start.isoformat(): (Decimal(total), parts) for start, total, parts, _ in TYPED},
}

NUMBER = r"\d+(?:\.\d+)?"
NOT_AFTER = r"(?<![\d.,−+±-])"  # not part of another number, and unsigned (no change fact)
UNSIGNED = re.compile(rf"{NOT_AFTER}{NUMBER}(?![\d.])")
IN_UNIT = re.compile(rf"{NOT_AFTER}({NUMBER})\s*(?:mg|milligrams?)\b", re.I)
TIME_OF_DAY = re.compile(rf"\b(?:morning|midday|evening|bedtime)\b:?\s*({NUMBER})(?![\d.])", re.I)
DOSE_WORD = re.compile(rf"\b(?:doses?|took|taken?|scheduled)\b[:(\s]*({NUMBER})(?![\d.])", re.I)
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
DATE_OR_TIME = re.compile(rf"\d{{4}}-\d\d-\d\d|\b\d{{1,2}} {MONTH}(?: \d{{4}})?\b|\b\d\d:\d\d\b")
TAKEN_SCHEDULED = re.compile(rf"{NOT_AFTER}({NUMBER}) / ({NUMBER})(?![\d.])")
PDF_STEP = re.compile(rf"From (\d{{4}}-\d\d-\d\d): ({NUMBER}) mg a day(?: \(([^)]*)\))?")
# Columns whose cells are doses; their every unsigned number is read. "Change" and "Length"
# (the clinician's information facts) and "Days since change" never match.
DOSE_COLUMN = re.compile(r"dose|\(mg\)|split", re.I)
# Every number in these elements is a dose (dates aside); in a dose card, those in <strong>.
DOSE_CLASSES = {"dose-today", "split", "dose-card"}
DOSE_LABEL = re.compile(r"today|dose", re.I)  # a <dd> under such a <dt> shows a dose
DOSE_FIELD = re.compile(r"dose|^steps-\d+-(?:total|morning|midday|evening|bedtime)$")
TEXT_ATTRIBUTES = {"alt", "title", "aria-label", "placeholder", "content", "value"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class PageReader(HTMLParser):
    """What a page shows: text, text attributes, tables by column, dose elements and fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attribute_text: list[str] = []
        self.tables: list[dict] = []
        self.dose_elements: list[tuple[str, str]] = []  # (class, text) of dose elements
        self.definitions: list[tuple[str, str]] = []  # (<dt> text, <dd> text)
        self._dt: list[str] | None = None
        self._dd: list[str] | None = None
        self._label = ""
        self.fields: list[tuple[str, str]] = []  # (name, value) of dose inputs
        self._open: list[tuple[str, str]] = []  # (tag, its dose class or "")
        self._tables: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = set((attrs.get("class") or "").split())
        for name, value in attrs.items():
            if value and (name in TEXT_ATTRIBUTES or name.startswith("data-")):
                if not (tag == "input" and attrs.get("type") == "hidden"):
                    self.attribute_text.append(value)
        if tag == "input" and (
            "dose-input" in classes or DOSE_FIELD.search(attrs.get("name") or "")
        ):
            self.fields.append((attrs.get("name") or "", attrs.get("value") or ""))
        if tag == "table":
            self._tables.append({"head": [], "rows": [], "row": None, "cell": None, "thead": 0})
        elif self._tables:
            table = self._tables[-1]
            if tag == "thead":
                table["thead"] += 1
            elif tag == "tr":
                table["row"] = []
            elif tag in ("td", "th"):
                table["cell"] = []
        if tag == "dt":
            self._dt = []
        elif tag == "dd":
            self._dd = []
        if tag not in VOID:
            self._open.append((tag, min(classes & DOSE_CLASSES, default="")))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self._open:
            if self._open.pop()[0] == tag:
                break
        if tag == "dt" and self._dt is not None:
            self._label, self._dt = " ".join(self._dt), None
        elif tag == "dd" and self._dd is not None:
            self.definitions.append((self._label, " ".join(self._dd)))
            self._dd = None
        if not self._tables:
            return
        table = self._tables[-1]
        if tag in ("td", "th") and table["cell"] is not None:
            text = " ".join(table["cell"]).strip()
            if table["thead"]:
                table["head"].append(text)
            elif table["row"] is not None:
                table["row"].append(text)
            table["cell"] = None
        elif tag == "tr" and table["row"]:
            table["rows"].append(table["row"])
            table["row"] = None
        elif tag == "thead":
            table["thead"] -= 1
        elif tag == "table":
            self.tables.append(self._tables.pop())

    def handle_data(self, data):
        if any(tag in ("script", "style") for tag, _ in self._open):
            return
        data = data.replace("\xa0", " ")  # a no-break space ("1&nbsp;Mar 2026") reads as one
        self.text.append(data)
        if self._tables and self._tables[-1]["cell"] is not None:
            self._tables[-1]["cell"].append(data)
        for part in (self._dt, self._dd):
            if part is not None:
                part.append(data)
        dose_class = next((dose for _, dose in reversed(self._open) if dose), "")
        if dose_class and (
            dose_class != "dose-card" or any(tag == "strong" for tag, _ in self._open)
        ):
            self.dose_elements.append((dose_class, data))


def typed_step_problems(where: str, start: str, total: str, split: str | None) -> list[str]:
    """A shown step must be a typed step, with the typed total and (when shown) typed parts;
    one waiting for an open hold or pause to end shows no date, and a typed total."""
    if start == "Not set yet":
        shown = [Decimal(n) for n in UNSIGNED.findall(total)]
        if len(shown) == 1 and shown[0] in {typed for typed, _ in STEP_ON.values()}:
            return []
        return [f"{where}: a step waiting for its date shows {total!r}, never typed"]
    if start not in STEP_ON:
        return [f"{where}: a step from {start!r}, which the clinician did not type"]
    typed_total, typed_parts = STEP_ON[start]
    problems = []
    if [Decimal(n) for n in UNSIGNED.findall(total)] != [typed_total]:
        problems.append(f"{where}: step from {start} shows {total!r}, typed {typed_total}")
    if split is not None:
        shown = [Decimal(n) for n in UNSIGNED.findall(split)]
        if shown != [Decimal(v) for v in typed_parts.values()]:
            problems.append(f"{where}: step from {start} split {split!r}, typed {typed_parts}")
    return problems


def numbers(where: str, text: str) -> list[tuple[str, Decimal]]:
    """Every unsigned number in text that shows only doses, dates and times left out."""
    text = DATE_OR_TIME.sub(" (date) ", text)
    return [(f"{where} {text.strip()!r}", Decimal(n)) for n in UNSIGNED.findall(text)]


def text_doses(text: str) -> list[tuple[str, Decimal]]:
    """Doses in free text: 'N mg', time-of-day parts ('Morning 5', 'Bedtime: 7.5 mg') and
    numbers after a dose word ('took 10', 'scheduled 11.25', 'Dose 12.5')."""
    text = DATE_OR_TIME.sub(" (date) ", text)
    return [
        (f"'{m.group(0)}'", Decimal(m.group(1)))
        for pattern in (IN_UNIT, TIME_OF_DAY, DOSE_WORD)
        for m in pattern.finditer(text)
    ]


def html_doses(page: str) -> tuple[list[tuple[str, Decimal]], list[str]]:
    """Every number a page shows as a dose (where, value), and steps-table rows that differ
    from the typed step of their date."""
    reader = PageReader()
    reader.feed(page)
    reader.close()
    found: list[tuple[str, Decimal]] = []
    problems: list[str] = []
    for table in reader.tables:
        head = [h.lower() for h in table["head"]]
        for row in table["rows"]:
            for header, cell in zip(table["head"], row, strict=False):
                if DOSE_COLUMN.search(header):
                    found += numbers(f"{header}:", cell)
            total = next((i for i, h in enumerate(head) if "daily dose" in h), None)
            start = next((i for i, h in enumerate(head) if h in ("from", "starts")), None)
            if total is not None and start is not None and len(row) == len(head):
                split = row[head.index("split")] if "split" in head else None
                problems += typed_step_problems(f"table {head}", row[start], row[total], split)
    for dose_class, text in reader.dose_elements:
        found += numbers(f".{dose_class}", text)
    for label, text in reader.definitions:
        if DOSE_LABEL.search(label):
            found += numbers(f"{label}:", text)
    for name, value in reader.fields:
        found += [(f"field {name}={value!r}", Decimal(n)) for n in UNSIGNED.findall(value)]
        if value.strip() and not re.fullmatch(NUMBER, value.strip()):
            problems.append(f"dose field {name} holds {value!r}")
    found += text_doses(" ".join(reader.text))
    for value in reader.attribute_text:
        found += text_doses(value)
    return found, problems


def pdf_text(pdf: bytes) -> str:
    """The text the PDF draws: each text object (BT ... ET) of its content streams, a line each."""
    lines = []
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream.group(1))
        except zlib.error:
            continue
        for block in re.finditer(rb"(?m)^BT$(.*?)^ET$", content, re.S):
            strings = re.findall(rb"\(((?:\\.|[^\\)])*)\)", block.group(1), re.S)
            raw = b"".join(
                re.sub(
                    rb"\\([0-7]{1,3}|.)",
                    lambda m: (
                        bytes([int(m.group(1), 8)]) if m.group(1)[:1].isdigit() else m.group(1)
                    ),
                    s,
                )
                for s in strings
            )
            lines.append(raw.decode("latin-1"))
    return "\n".join(lines)


def pdf_doses(pdf: bytes) -> tuple[list[tuple[str, Decimal]], list[str]]:
    """Doses in the report's text: 'N mg', time-of-day parts, 'taken / scheduled' cells, and
    each 'From <date>: N mg a day (parts)' step line checked against the typed step."""
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    found = text_doses(text)
    for m in TAKEN_SCHEDULED.finditer(text):
        found += [(f"PDF '{m.group(0)}'", Decimal(m.group(i))) for i in (1, 2)]
    problems = []
    for m in PDF_STEP.finditer(text):
        problems += typed_step_problems("PDF", m.group(1), m.group(2), m.group(3) or "")
    if not PDF_STEP.search(text):
        problems.append(f"PDF: no step line found in {text[:300]!r}")
    return found, problems


def csv_doses(body: str) -> tuple[list[tuple[str, Decimal]], list[str]]:
    """Every value of the export's dose columns."""
    rows = list(csv.DictReader(io.StringIO(body)))
    found = []
    for row in rows:
        for column, value in row.items():
            if "dose" in column and value:
                found += [(f"CSV {column}={value!r}", Decimal(n)) for n in UNSIGNED.findall(value)]
    return found, []


def at(day: date):
    return time_machine.travel(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False)


def register_moved_dates(app, plan_id: int) -> None:
    """A hold moves dates, never doses or their order: the i-th step of every revision is the
    i-th typed step, so each moved date is registered as showing that typed step."""
    with app.app_context():
        steps = db.session.get(TaperPlan, plan_id).current_revision.steps
        assert len(steps) == len(TYPED)
        for step, (_, total, parts, _) in zip(steps, TYPED, strict=True):
            assert step.total == Decimal(total)
            for key in (
                f"{step.start_date.day} {step.start_date:%b %Y}",
                step.start_date.isoformat(),
            ):
                STEP_ON.setdefault(key, (Decimal(total), parts))
                assert STEP_ON[key] == (Decimal(total), parts), key


@pytest.fixture
def plan_id(client, app, clinician, patient, write_plan):
    """The typed plan, written (and saved again unchanged) before it starts."""
    with at(date(2026, 2, 20)):
        login_as(client, clinician)
        plan_id = write_plan(patient, TYPED)
        client.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(TYPED, reason="Same steps", version=version_of(app, plan_id)),
        )
    return plan_id


# (day, the typed dose in force that day, what happens first). The patient is in New York.
DAYS = [
    (date(2026, 2, 27), None, []),  # before the plan
    (date(2026, 3, 1), "12.5", [("log", "yes", "")]),
    (date(2026, 3, 3), "12.5", [("log", "yes", ""), ("log", "yes", "")]),  # a correction
    (date(2026, 3, 8), "11.25", []),  # the US clocks changed at 02:00
    # A dose deviation: the patient typed 10, which is also a typed step, so every dose shown
    # anywhere stays within what the clinician typed.
    (date(2026, 3, 10), "11.25", [("log", "no", "10")]),
    # The hold moves the later steps 8 days: 10 mg from 6 Apr, 0 mg from 27 Apr.
    (date(2026, 3, 25), "11.25", [("hold", "2026-04-05"), ("log", "yes", "")]),
    (date(2026, 3, 30), "11.25", [("log", "yes", "")]),  # held: 10 mg was due from 29 Mar
    (date(2026, 4, 6), "10", []),  # the day after the dated hold: the next typed step
    (date(2026, 4, 10), "10", [("hold", "")]),  # until reviewed
    (date(2026, 4, 12), "10", [("log", "yes", "")]),
    (date(2026, 4, 15), "10", [("release",)]),  # 0 mg is due on 27 Apr: nothing moves
    (date(2026, 4, 19), "10", [("log", "yes", "")]),  # the typed 0 mg date has moved on
    (date(2026, 5, 1), None, []),  # after the last step (0 mg): the patient has stopped
]


def test_no_page_shows_a_dose_the_clinician_did_not_type(client, app, patient, clinician, plan_id):
    problems: list[str] = []
    logged: list[date] = []
    revisions = 2

    def read_page(where, response):
        assert response.status_code == 200, (where, response.status_code)
        found, wrong = html_doses(response.get_data(as_text=True))
        problems.extend(f"{where}: {text}" for text in wrong)
        problems.extend(
            f"{where}: {t} is not a typed dose" for t, v in found if v not in TYPED_DOSES
        )

    def read(path: str, *, must_show=frozenset(), at_least_one=False, exactly=None):
        """Read one page's doses; note untyped ones, and pages missing the doses they show."""
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        if response.mimetype == "application/pdf":
            found, wrong = pdf_doses(response.data)
        elif response.mimetype == "text/csv":
            found, wrong = csv_doses(response.get_data(as_text=True))
        else:
            found, wrong = html_doses(response.get_data(as_text=True))
        where = f"{day} {path}"
        problems.extend(f"{where}: {text}" for text in wrong)
        problems.extend(
            f"{where}: {text} is not a typed dose"
            for text, value in found
            if value not in TYPED_DOSES
        )
        shown = {value for _, value in found}
        if not shown >= set(must_show):
            problems.append(f"{where}: expected {sorted(must_show)}, found {sorted(shown)}")
        if at_least_one and not shown:
            problems.append(f"{where}: no dose found on a page that shows one")
        if exactly is not None and shown != exactly:
            problems.append(f"{where}: expected exactly {sorted(exactly)}, found {sorted(shown)}")
        return found

    for day, in_force, actions in DAYS:
        now = {Decimal(in_force)} if in_force else set()
        with at(day):
            for action in actions:
                if action[0] == "log":
                    login_as(client, patient)
                    saved = client.post(
                        "/log", data=fill_log(client, day, took=action[1], dose_taken=action[2])
                    )
                    assert saved.status_code == 302, saved.get_data(as_text=True)
                    logged.append(day)
                else:
                    login_as(client, clinician)
                    version = version_of(app, plan_id)
                    if action[0] == "hold":
                        data = {"until": action[1], "reason": "Symptoms", "version": version}
                        url = f"/clinician/plans/{plan_id}/hold"
                    else:
                        data = {"reason": "Reviewed", "version": version}
                        url = f"/clinician/plans/{plan_id}/release-hold"
                    shown = client.post(url, data=data)  # the new dates first
                    read_page(f"{day} preview of {action[0]}", shown)
                    done = confirmed(client, url, patient, **data)
                    assert done.status_code == 302
                    assert version_of(app, plan_id) == version + 1, action
                    revisions += 1
                    register_moved_dates(app, plan_id)
            logs = bool(logged)

            login_as(client, patient)
            found = read("/today", must_show=TYPED_DOSES)  # the whole plan is on the page
            today = {v for where, v in found if where.startswith(".dose-today")}
            if today != now:
                problems.append(f"{day} /today: dose today {today}, typed {in_force}")
            read("/log", must_show=now)
            read("/history", at_least_one=logs)
            for d in sorted(set(logged)):
                read(f"/history/{d.isoformat()}", at_least_one=True)
            # The chart's numbers: the schedule in range (a step a hold keeps back is not drawn
            # at its old date), with the dose in force today among them.
            read("/progress", must_show=now)
            read("/progress?range=plan", must_show=now)
            read("/export.csv", at_least_one=logs)
            read("/help")
            read(f"/reports/{patient.id}.pdf", must_show=TOTALS)  # patients may download theirs

            login_as(client, clinician)
            base = f"/clinician/patients/{patient.id}"
            # The dose in force, nothing else (after the 0 mg step: "0 mg, stopped").
            stopped = in_force is None and day > TYPED[0][0]
            read("/clinician/patients", exactly={Decimal(0)} if stopped else now)
            read(base)
            read(f"/clinician/plans/{plan_id}", must_show=TYPED_DOSES | now)
            read(f"/clinician/plans/{plan_id}/revisions", must_show=TYPED_DOSES)
            read(f"/clinician/plans/{plan_id}/revisions?a=1&b={revisions}", must_show=TYPED_DOSES)
            read(f"/clinician/plans/{plan_id}/edit", must_show=TYPED_DOSES)
            read(f"{base}/plans/new", exactly=set())  # nothing typed, nothing shown
            read(f"{base}/logs", at_least_one=logs)
            for d in sorted(set(logged)):
                read(f"{base}/logs/{d.isoformat()}", at_least_one=True)
            read(f"{base}/progress", must_show=now)
            read(f"{base}/progress?range=plan", must_show=now)
            read("/clinician/alerts")
            read(f"{base}/assessments/new")
            read(f"{base}/alert-settings")
            read(f"/reports/{patient.id}.pdf", must_show=TOTALS)
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize(
    ("utc", "zone", "expected"),
    [
        # 23:30 UTC on 7 March is still 7 March in New York: the 12.5 mg step.
        (datetime(2026, 3, 7, 23, 30, tzinfo=UTC), "America/New_York", "12.5 mg"),
        # 07:30 UTC on 8 March is 03:30 EDT (after the 02:00 jump): the 11.25 mg step.
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), "America/New_York", "11.25 mg"),
        # 11:30 UTC on 7 March is already 8 March in Auckland.
        (datetime(2026, 3, 7, 11, 30, tzinfo=UTC), "Pacific/Auckland", "11.25 mg"),
        # UK clocks change on 29 March: 00:30 UTC is 01:30 BST on 29 March.
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "Europe/London", "10 mg"),
        (datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "Europe/London", "11.25 mg"),
    ],
)
def test_today_uses_the_patients_calendar_day(
    client, make_user, clinician, write_plan, utc, zone, expected
):
    patient = make_user(timezone=zone, clinicians=(clinician,))
    login_as(client, clinician)
    write_plan(patient, TYPED)
    with time_machine.travel(utc, tick=False):
        login_as(client, patient)
        page = client.get("/today").get_data(as_text=True)
    today = re.search(r'<p class="dose-today"><strong>(.*?)</strong>', page).group(1)
    assert today == expected


def test_today_shows_split_note_and_next_change(client, clinician, patient, plan_id):
    with time_machine.travel(datetime(2026, 3, 3, 15, tzinfo=UTC), tick=False):
        login_as(client, patient)
        page = client.get("/today").get_data(as_text=True)
    assert "Morning: <strong>5 mg</strong>" in page
    assert "Bedtime: <strong>7.5 mg</strong>" in page
    assert "Take with food" in page
    assert "Next change: <strong>11.25 mg</strong> from Sunday 8 March 2026." in page


def test_change_notice_dates_are_in_the_patients_time_zone(
    client, app, clinician, patient, write_plan
):
    """Saved at 23:30 on 9 March in New York (03:30 UTC on the 10th): "on 9 Mar"."""
    late_evening = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    with time_machine.travel(late_evening, tick=False):
        login_as(client, clinician)
        plan_id = write_plan(patient, TYPED)
        changed = client.post(
            f"/clinician/plans/{plan_id}/edit",
            data=plan_form(TYPED, reason="Late change", version=version_of(app, plan_id)),
        )
        assert changed.status_code == 302
    with time_machine.travel(datetime(2026, 3, 10, 14, tzinfo=UTC), tick=False):
        login_as(client, patient)
        page = client.get("/today").text
    assert patient.timezone == "America/New_York"
    assert "on 9 Mar 2026, reason: Late change." in page
