"""Where a hot page's time goes, in-process: mean milliseconds per request (best of a few
rounds, against `/ping` in the same run), and on request a cProfile of one page.

    python bench/pages.py --url DATABASE_URL [--page today] [--n 300] [--profile 40]

``DATABASE_URL`` is a database seeded with ``flask seed-scale`` (the load benchmark's data);
the first clinician and the first patient of that seeding are used. Nothing is written but the
audit rows each view adds, and the logs ``log-submit`` saves (a new day each time is not
needed: the same day's later submits are corrections).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = {
    "ping": ("", "/ping"),
    "today": ("patient", "/today"),
    "log-form": ("patient", "/log"),
    # Another patient: each submit is a new version of the day, which Today would then show.
    "log-submit": ("submitter", "/log"),
    "chart": ("patient", "/charts/{patient}/progress.png"),
    "overview": ("clinician", "/clinician/patients"),
    "alerts": ("clinician", "/clinician/alerts"),
}


def _app(url: str):
    from taper import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False, "JOBS_EMBEDDED": False},
        config_name="development",
    )


def _people(app) -> dict:
    from sqlalchemy import select

    from taper.extensions import db
    from taper.models import Role, User

    with app.app_context():
        out = {}
        for role, key, offset in (
            (Role.PATIENT, "patient", 0),
            (Role.PATIENT, "submitter", 1),
            (Role.CLINICIAN, "clinician", 0),
        ):
            user = db.session.scalars(
                select(User)
                .where(User.role == role, User.email.like("%@scale.example.org"))
                .order_by(User.id)
                .offset(offset)
                .limit(1)
            ).one()
            out[key] = (user.get_id(), user.id)
        return out


def _sign_in(client, identity: str) -> None:
    with client.session_transaction() as session:
        session.clear()
        now = time.time()
        session.update({"_user_id": identity, "login_at": now, "seen_at": now, "auth_at": now})


def log_body(
    client,
    note: str = "Slept badly again, a bit shaky this morning but no fits. Better by lunch.",
) -> dict:
    """A whole daily log for the signed-in patient's form (every dose taken as planned);
    bench/micro.py uses it too."""
    from taper.domain.instrument import CIWA_B

    page = client.get("/log").get_data(as_text=True)
    fields = {item.key: "1" for item in CIWA_B.patient_items}
    fields.update(
        day=re.search(r'name="day" value="([0-9-]+)"', page).group(1),
        sleep_hours="7",
        substances="no",
        note=note,
    )
    for plan_id, shown in re.findall(r'name="shown_([0-9]+)" value="([^"]*)"', page):
        fields.update({f"shown_{plan_id}": shown, f"took_{plan_id}": "yes"})
    return fields


def _request(client, page: str, url: str, body: dict | None):
    if body is None:
        response = client.get(url)
    else:
        response = client.post(url, data=dict(body, submission_id=uuid.uuid4().hex))
    if response.status_code not in (200, 302, 303):
        raise SystemExit(f"{page}: {response.status_code}")
    response.close()


# Where a request's CPU goes, by the package each function belongs to (its own time only).
SHARES = {
    "SQLAlchemy and psycopg": ("sqlalchemy", "psycopg", "flask_sqlalchemy"),
    "templates (Jinja, MarkupSafe, our templates)": ("jinja2", "markupsafe", "templates/"),
    "Flask, Werkzeug, sessions, login, limiter": (
        "flask",
        "werkzeug",
        "itsdangerous",
        "flask_login",
        "flask_limiter",
        "flask_wtf",
        "limits",
    ),
    "our code (taper/)": ("taper/",),
}


def _share_of(filename: str) -> str:
    for name, marks in SHARES.items():
        for mark in marks:
            if f"site-packages/{mark}" in filename or (
                mark.endswith("/") and f"/{mark}" in filename
            ):
                return name
    return "Python and the rest"


def split(profiler: cProfile.Profile) -> dict[str, float]:
    """Fractions of the profiled CPU time by SHARES (and the rest)."""
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    found: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.items():
        share = _share_of(filename)
        found[share] = found.get(share, 0.0) + own
    total = sum(found.values()) or 1.0
    return {name: value / total for name, value in sorted(found.items(), key=lambda i: -i[1])}


def measure(url: str, pages: list[str], n: int, rounds: int, profile: int) -> None:
    app = _app(url)
    people = _people(app)
    for page in pages:
        who, path = PAGES[page]
        client = app.test_client()
        if who:
            _sign_in(client, people[who][0])
        path = path.format(patient=people["patient"][1])
        body = log_body(client) if page == "log-submit" else None
        for _ in range(20):  # warm: imports, compiled statements, templates, the chart cache
            _request(client, page, path, body)
        best, cpu = float("inf"), float("inf")
        for _ in range(rounds):
            started, started_cpu = time.perf_counter(), time.thread_time()
            for _ in range(n):
                _request(client, page, path, body)
            best = min(best, (time.perf_counter() - started) / n * 1000)
            cpu = min(cpu, (time.thread_time() - started_cpu) / n * 1000)
        print(f"{page:12} {best:7.2f} ms per request, {cpu:5.2f} ms of it this process's CPU")
        profiler = cProfile.Profile(time.thread_time)  # CPU time, not time spent waiting
        profiler.enable()
        for _ in range(n):
            _request(client, page, path, body)
        profiler.disable()
        print(
            "             "
            + "; ".join(f"{name} {part:.0%}" for name, part in split(profiler).items())
        )
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                _request(client, page, path, body)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(profile)
            stats.sort_stats("tottime").print_stats(profile)
            print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--page", action="append", choices=sorted(PAGES))
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N functions")
    args = parser.parse_args()
    measure(args.url, args.page or list(PAGES), args.n, args.rounds, args.profile)


if __name__ == "__main__":
    main()
