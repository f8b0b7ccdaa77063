"""In-process micro-benchmarks: chart render (30/365/1,000 days, fresh and reused figure),
CIWA-B scoring and alert rules over a year of logs. Each figure is also shown as a ratio to a
bare baseline measured in the same run (building the same data as plain tuples).

    python bench/micro.py
"""

from __future__ import annotations

import random
import sys
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
    lines = ["| what | ms per call | × baseline |", "|---|---:|---:|"]
    lines += [f"| {name} | {ms:.2f} | {ms / base:.0f} |" for name, ms, base in rows]
    table = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "micro.md").write_text(
        "## In-process micro-benchmarks\n\nBaseline: building the same data as plain tuples "
        "(charts) or dicts (scoring, rules) in the same run.\n\n" + table
    )
    print(table)


if __name__ == "__main__":
    main()
