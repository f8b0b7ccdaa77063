"""Charts drawn at the size they are shown (issue 15, item 11): each layout's PNG has the
pixels its <picture> promises (2x for sharp screens), text is 12 CSS px or more where it is
shown, bands are named, days without a log are gaps, the legend names a red flag only when
there is one, and no label (the last date above all) is cut off."""

import math
import struct
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from taper.charts import cache
from taper.charts.data import HeatmapData
from taper.charts.render import (
    LAYOUTS,
    heatmap_chart,
    heatmap_figure,
    progress_chart,
    progress_figure,
)
from taper.models import Role
from tests.charts.pictures import chart, srcset
from tests.charts.test_render import DATA, DAYS, plan, series
from tests.conftest import login_as
from tests.helpers import fill_log, patient_today

PNG = b"\x89PNG\r\n\x1a\n"
NARROWEST_SHOWN = 320 - 32  # a 320 px phone, less the page's padding
MEDIA = {"wide": "(min-width: 60rem)", "medium": "(min-width: 45rem)"}
HEAT = HeatmapData(
    days=tuple(DAYS[:30]),
    items=("Irritable", "Sleep not restful", "Heart racing") * 5 + ("Tired", "Anxious"),
    values=tuple(tuple(None if d % 6 == 0 else (i + d) % 5 for d in range(30)) for i in range(17)),
    dose_changes=(DAYS[14],),
    sleep=tuple((d, 6) for d in DAYS[:30]),
)


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.charts.clear()


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG)
    return struct.unpack(">II", data[16:24])


def texts(fig):
    """Every visible, non-empty text the figure draws, with its size in CSS px (pt at 72 dpi)."""
    fig.canvas.draw()
    found = fig.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_visible())
    return [t for t in found if t.get_text().strip()]


def check_picture(client, picture, heat=False, fetch=("wide", "medium", "narrow")):
    """Each source and the img: the URLs give PNGs of exactly the promised size at 1x and 2x
    (fetched for the layouts in ``fetch``; rendering them all is slow)."""
    sources = {s["media"]: s for s in picture["sources"]}
    assert list(sources) == [MEDIA["wide"], MEDIA["medium"]]  # widest first: the first match wins
    candidates = [(s, srcset(s["srcset"])) for s in picture["sources"]]
    img = picture["img"]
    candidates.append((img, {"1x": img["src"], **srcset(img["srcset"])}))
    for (attrs, urls), name in zip(candidates, ("wide", "medium", "narrow"), strict=True):
        layout = LAYOUTS[name]
        height = layout.heat_height if heat else layout.height
        assert (int(attrs["width"]), int(attrs["height"])) == (layout.width, height)
        assert sorted(urls) == ["1x", "2x"]
        for density, url in urls.items():
            assert f"size={name}" in url
            if name not in fetch:
                continue
            response = client.get(url)
            assert response.status_code == 200, url
            factor = int(density[0])
            assert png_size(response.data) == (layout.width * factor, height * factor), url


def test_patient_page_shows_charts_drawn_at_each_layouts_size(client, patient, active_plan):
    login_as(client, patient)
    client.post("/log", data=fill_log(client, patient_today(patient), score=1))
    page = client.get("/progress").get_data(as_text=True)
    assert "css/charts.css" in page
    check_picture(client, chart(page, "progress"))


def test_clinician_page_shows_both_charts_at_each_layouts_size(
    client, clinician, patient, active_plan
):
    login_as(client, clinician)
    page = client.get(f"/clinician/patients/{patient.id}/progress?range=90").get_data(as_text=True)
    check_picture(client, chart(page, "progress"))
    check_picture(client, chart(page, "symptoms"), heat=True, fetch=("narrow",))
    assert 'tabindex="0" role="region" aria-label="Symptoms and sleep by day' in page


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_text_is_at_least_12_css_px_where_each_layout_is_shown(name):
    """Medium and wide are only shown where the page has their full width; narrow is shrunk
    only on a phone narrower than 360 px, and still 12 px at 320."""
    layout = LAYOUTS[name]
    shown = min(layout.width, NARROWEST_SHOWN) if name == "narrow" else layout.width
    crossover = replace(DATA, plans=(*DATA.plans, series(plan(plan_id=2, medication="x"))))
    for fig in (
        progress_figure(DATA, layout),
        progress_figure(replace(crossover, simple=True), layout),
        heatmap_figure(HEAT, layout),
    ):
        sizes = [t.get_fontsize() * shown / layout.width for t in texts(fig)]
        assert min(sizes) >= 12, (name, min(sizes))


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_no_text_is_cut_off_and_the_last_date_is_shown(name):
    layout = LAYOUTS[name]
    for data in (DATA, replace(DATA, end=DAYS[-1] + timedelta(days=40))):
        fig = progress_figure(data, layout)
        renderer = fig.canvas.get_renderer()
        for text in texts(fig):
            box = text.get_window_extent(renderer)
            where = (name, text.get_text())
            assert box.x0 >= -0.5, where
            assert box.x1 <= fig.bbox.x1 + 0.5, where
            assert box.y0 >= -0.5, where
            assert box.y1 <= fig.bbox.y1 + 0.5, where
        labels = fig.axes[1].get_xticklabels()
        assert labels[-1].get_text() == f"{data.end.day} {data.end:%b}"
        assert labels[-1].get_horizontalalignment() == "right"
    heat = heatmap_figure(HEAT, layout)
    labels = heat.axes[1].get_xticklabels()
    assert labels[-1].get_text() == f"{HEAT.days[-1].day} {HEAT.days[-1]:%b}"
    box = labels[-1].get_window_extent(heat.canvas.get_renderer())
    assert box.x1 <= heat.bbox.x1


def test_severity_bands_are_named_on_the_chart():
    fig = progress_figure(DATA, LAYOUTS["wide"])
    names = [t.get_text() for t in fig.axes[1].texts if (t.get_gid() or "").startswith("band-")]
    assert names == ["mild", "moderate", "severe", "very severe"]
    narrow = progress_figure(DATA, LAYOUTS["narrow"])
    assert "very\nsevere" in [t.get_text() for t in narrow.axes[1].texts]


def test_days_without_a_log_are_gaps_not_a_line_across():
    logged = [d for i, d in enumerate(DAYS) if i not in (5, 6, 20)]
    data = replace(DATA, scores=tuple((d, 10) for d in logged))
    (line,) = [a for a in progress_figure(data).axes[1].lines if a.get_gid() == "score"]
    ys = list(line.get_ydata())
    assert sum(1 for y in ys if math.isnan(y)) == 2  # one gap for days 5-6, one for day 20
    xs = list(line.get_xdata())
    for i in range(len(xs) - 1):
        if not (math.isnan(ys[i]) or math.isnan(ys[i + 1])):
            assert xs[i + 1] - xs[i] == 1  # a segment only ever joins consecutive days
    every_day = replace(DATA, scores=tuple((d, 10) for d in DAYS))
    (line,) = [a for a in progress_figure(every_day).axes[1].lines if a.get_gid() == "score"]
    assert not any(math.isnan(y) for y in line.get_ydata())


def test_red_flag_is_in_the_legend_only_when_the_range_has_one():
    def legend(data):
        fig = progress_figure(data)
        (found,) = [a for a in fig.axes[0].get_children() if a.get_gid() == "dose-legend"]
        return [t.get_text() for t in found.get_texts()]

    assert "Red flag" in legend(DATA)
    assert "Red flag" not in legend(replace(DATA, red_flag_days=()))
    assert "Symptom score" in legend(replace(DATA, red_flag_days=()))


def test_same_data_same_bytes_and_each_size_and_density_its_own(client, patient, active_plan):
    login_as(client, patient)
    base = f"/charts/{patient.id}/progress.png"
    first = client.get(f"{base}?size=medium&scale=2").data
    assert client.get(f"{base}?size=medium&scale=2").data == first
    assert (cache.charts.hits, cache.charts.misses) == (1, 1)
    assert png_size(first) == (1280, 840)
    others = {client.get(f"{base}?size={s}").data for s in LAYOUTS}
    assert len(others | {first}) == 4
    # Anything else: the viewer's default (narrow for the patient) at 1x, never an error.
    for query in (
        "size=huge&scale=3",
        "size=&scale=x",
        "scale=0.5",
        "size=NARROW",
        "size=../wide",
        "size=" + "w" * 5000,
        "size=%E2%80%AEwide&scale=%EF%BC%92",  # a right-to-left mark; a full-width 2
    ):
        response = client.get(f"{base}?{query}")
        assert response.status_code == 200, query
        assert png_size(response.data) == (328, 440), query
    twice = client.get(f"{base}?size=narrow&size=wide&scale=2&scale=9")
    assert png_size(twice.data) == (656, 880)  # the first of each
    svg = client.get(f"/charts/{patient.id}/progress.svg?size=wide&scale=2")
    assert svg.data.startswith(b"<?xml")
    assert b'width="920pt"' in svg.data[:2000] or b'width="920' in svg.data[:2000]


def test_clinicians_default_is_wide_and_sizes_keep_the_access_checks(
    client, clinician, patient, active_plan, make_user
):
    login_as(client, clinician)
    response = client.get(f"/charts/{patient.id}/symptoms.png?size=narrow&scale=2")
    assert png_size(response.data) == (656, 1120)
    assert png_size(client.get(f"/charts/{patient.id}/progress.png").data) == (920, 460)
    login_as(client, make_user(Role.CLINICIAN))
    for url in (
        f"/charts/{patient.id}/progress.png?size=wide&scale=2",
        f"/charts/{patient.id}/symptoms.png?size=narrow",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert not response.data.startswith(PNG)


def test_renders_are_deterministic():
    """Same data, same bytes (the content-hash cache relies on it), the reused figure too."""
    layout = LAYOUTS["narrow"]
    first = progress_chart(DATA, "png", layout, 2)
    progress_chart(replace(DATA, red_flag_days=()), "png", layout, 2)  # another in between
    assert progress_chart(DATA, "png", layout, 2) == first
    assert heatmap_chart(HEAT, "png", layout) == heatmap_chart(HEAT, "png", layout)


def test_until_reviewed_is_labelled_where_there_is_room():
    """On a phone the label would hide the latest days: the dashes stay, the caption says."""
    steps = ((DAYS[0], "2"), (DAYS[10], "1"))
    shown = series(plan(tuple((d, Decimal(v)) for d, v in steps)))
    data = replace(DATA, plans=(shown,))
    for name, labelled in (("narrow", False), ("medium", True), ("wide", True)):
        fig = progress_figure(data, LAYOUTS[name])
        dashed = [a for a in fig.axes[0].lines if a.get_gid() == "until-reviewed-0"]
        assert len(dashed) == 1
        assert ("until reviewed" in [t.get_text() for t in fig.axes[0].texts]) is labelled
