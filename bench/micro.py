"""In-process micro-benchmarks: chart render (30/365/1,000 days, fresh and reused figure),
CIWA-B scoring, alert rules over a year of logs and the note screen. Each figure is also shown
as a ratio to a bare baseline measured in the same run (building the same data as plain tuples;
for the note screen, splitting the same notes into lower-case words).

    python bench/micro.py
"""

from __future__ import annotations

import random
import sys
import time
import timeit
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from taper.charts.cache import ChartCache  # noqa: E402
from taper.charts.data import PlanSeries, ProgressData, SchedulePoint  # noqa: E402
from taper.charts.render import progress_chart, progress_figure  # noqa: E402
from taper.domain.alert_rules import DoseFacts, LogFacts, Thresholds, evaluate_log  # noqa: E402
from taper.domain.instrument import CIWA_B, parse_answers, total  # noqa: E402
from taper.domain.note_screen import load as load_note_screen  # noqa: E402
from taper.domain.note_screen import screen  # noqa: E402

# Daily-log notes as patients write them: most mention no red flag; some mention one,
# negated or not ("no fits", "I had a fit last night"), in English and Spanish.
PLAIN_NOTES = (
    "Slept badly, a bit shaky this morning but otherwise fine.",
    "Slept about five hours and woke up twice. Felt anxious in the afternoon but went for a "
    "walk and it helped. Appetite is better today.",
    "Headache most of the day, took paracetamol. Mood okay.",
    "Dormí mal y tuve mucha ansiedad por la tarde, pero hoy estoy mejor.",
    "Good day! Went to work, ate well, the tapering feels manageable this week.",
    "Muscle aches and sweating at night. Irritable with the kids.",
    "Hoy bien, sin novedades. Caminé media hora.",
    "Ringing in my ears again and the light feels too bright, otherwise ok.",
)
FLAG_NOTES = (
    "I had a fit last night and my heart was racing this morning.",
    "No seizures, no chest pain, I haven't fainted.",
    "Anoche me desmayé en el baño y esta mañana estaba muy confundida.",
    "My brother had seizures as a kid and I'm scared I might have one.",
)


def best_ms(statement, repeat: int = 5, number: int = 5) -> float:
    """The best of ``repeat`` runs of ``number`` calls, per call, in milliseconds."""
    return min(timeit.repeat(statement, repeat=repeat, number=number)) / number * 1000


def chart_data(days: int, rng: random.Random) -> ProgressData:
    start = date(2026, 1, 1)
    every = 14
    steps = tuple(
        (start + timedelta(days=every * i), Decimal("20") - Decimal("0.5") * i)
        for i in range(days // every + 1)
    )
    day_list = [start + timedelta(days=i) for i in range(days)]
    plan = PlanSeries(
        plan_id=1,
        medication="diazepam",
        schedule=tuple(SchedulePoint(d, v, "active") for d, v in steps),
        line_end=day_list[-1],
        holds=((day_list[days // 3], day_list[days // 3 + 5], "hold", False),),
        taken=tuple((d, steps[min(i // every, len(steps) - 1)][1]) for i, d in enumerate(day_list)),
    )
    return ProgressData(
        start=start,
        end=day_list[-1],
        plans=(plan,),
        scores=tuple((d, rng.randint(5, 40)) for d in day_list),
        red_flag_days=(day_list[days // 2],),
    )


def main() -> None:
    rng = random.Random(1)
    rows = []
    for days in (30, 365, 1000):
        data = chart_data(days, rng)
        baseline = best_ms(lambda data=data: tuple(tuple(x) for x in data.scores))

        def fresh(data=data):
            import io

            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(progress_figure(data)).print_png(io.BytesIO())

        progress_chart(data)  # warm fonts and the reused figure
        cache = ChartCache()
        cache.get_or_render(data.cache_key("png"), lambda data=data: progress_chart(data))
        rows += [
            (f"chart {days} days, new figure each time", best_ms(fresh), baseline),
            (
                f"chart {days} days, reused figure (cache miss)",
                best_ms(lambda data=data: progress_chart(data)),
                baseline,
            ),
            (
                f"chart {days} days, from the cache (key + lookup)",
                best_ms(
                    lambda data=data, cache=cache: cache.get_or_render(
                        data.cache_key("png"), lambda: b""
                    ),
                    number=200,
                ),
                baseline,
            ),
        ]
    year = [{item.key: str(rng.randint(0, 4)) for item in CIWA_B.patient_items} for _ in range(365)]
    baseline = best_ms(lambda: [dict(a) for a in year], number=20)
    rows.append(
        (
            "CIWA-B scoring, 365 logs",
            best_ms(lambda: [total(parse_answers(CIWA_B, a)) for a in year], number=20),
            baseline,
        )
    )
    start = date(2026, 1, 1)
    facts = [
        LogFacts(
            start + timedelta(days=i),
            rng.randint(5, 45),
            (),
            (DoseFacts(1, "diazepam", "mg", Decimal("10"), Decimal("10")),),
        )
        for i in range(365)
    ]
    th = Thresholds()
    rows.append(
        (
            "alert rules, each of 365 logs against its history",
            best_ms(
                lambda: [
                    evaluate_log(f, facts[max(0, i - 30) : i], start + timedelta(days=i - 5), th)
                    for i, f in enumerate(facts)
                ],
                number=3,
            ),
            baseline,
        )
    )
    screen_rows, screen_text = note_screen_rows()
    rows += screen_rows
    submit_rows, submit_text = log_submit_rows()
    rows += submit_rows
    screen_text += submit_text
    lines = ["| what | ms per call | × baseline |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {ms:.2f} | {ms / base:.0f} |"
        if ms / base >= 10
        else f"| {name} | {ms:.2f} | {ms / base:.2f} |"
        for name, ms, base in rows
    ]
    table = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "micro.md").write_text(
        "## In-process micro-benchmarks\n\nBaseline: building the same data as plain tuples "
        "(charts) or dicts (scoring, rules), or splitting the same notes into lower-case words "
        "(note screen), in the same run.\n\n" + table + "\n" + screen_text
    )
    print(table)
    print(screen_text)


def note_screen_rows() -> tuple[list[tuple[str, float, float]], str]:
    """The note screen: 100 notes a call (four in five without a red-flag word), then notes
    with red-flag words only; and notes screened per second."""
    started = time.perf_counter()
    load_note_screen()  # imports spaCy and medspaCy and builds the pipeline, once per process
    loaded = time.perf_counter() - started
    typical = (PLAIN_NOTES * 10 + FLAG_NOTES * 5)[:100]
    flagged = FLAG_NOTES * 25
    rows = []
    per_second = {}
    for name, notes in (("typical", typical), ("with red-flag words", flagged)):
        [screen(note) for note in notes]  # warm the caches
        baseline = best_ms(lambda notes=notes: [note.lower().split() for note in notes])
        ms = best_ms(lambda notes=notes: [screen(note) for note in notes])
        rows.append((f"note screen, 100 notes ({name})", ms, baseline))
        per_second[name] = len(notes) / ms * 1000
    text = (
        f"Note screen: {per_second['typical']:,.0f} typical notes screened per second "
        f"({1000 / per_second['typical']:.3f} ms a note), "
        f"{per_second['with red-flag words']:,.0f} per second for notes with red-flag words "
        f"({1000 / per_second['with red-flag words']:.3f} ms a note); "
        f"loading it (spaCy, medspaCy, the rules) took {loaded:.1f} s once per process.\n"
    )
    return rows, text


def log_submit_rows() -> tuple[list[tuple[str, float, float]], str]:
    """The daily-log submit in-process (test client, SQLite file, demo data), with a typical
    note, screened as in production and with the screen switched off (the submit's cost before
    the screen existed) in the same run: the screen must add under 10 %."""
    import tempfile
    import uuid

    from pages import log_body  # bench/pages.py: this folder is first on sys.path

    from taper import create_app
    from taper.extensions import db
    from taper.seed import demo
    from taper.services import logs

    folder = tempfile.mkdtemp(prefix="taper-bench-")
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/bench.db", "WTF_CSRF_ENABLED": False}
    )
    with app.app_context():
        db.create_all()
        demo.seed_demo()
        db.session.commit()
    client = app.test_client()
    client.post("/login", data={"email": "pat@example.org", "password": demo.DEMO_PASSWORD})
    form = log_body(client, note=PLAIN_NOTES[1])

    def submit():
        response = client.post("/log", data=dict(form, submission_id=uuid.uuid4().hex))
        assert response.status_code == 302, response.status_code  # noqa: S101

    screened = logs.screen_note
    submit()  # loads the screen and warms every cache
    best = {"off": float("inf"), "on": float("inf")}
    for _ in range(7):  # alternate, so both see the same machine; keep the best of each
        for mode in ("off", "on"):
            logs.screen_note = (lambda *_texts: logs.Screened("")) if mode == "off" else screened
            try:
                best[mode] = min(best[mode], best_ms(submit, repeat=1, number=10))
            finally:
                logs.screen_note = screened
    unscreened, ms = best["off"], best["on"]
    rows = [
        ("daily-log submit, note not screened (before)", unscreened, unscreened),
        ("daily-log submit, note screened", ms, unscreened),
    ]
    text = (
        f"Daily-log submit with a typical note: {ms:.2f} ms screened against {unscreened:.2f} ms "
        f"without the screen ({(ms / unscreened - 1) * 100:+.1f} %; the budget is +10 %).\n"
    )
    return rows, text


if __name__ == "__main__":
    main()
