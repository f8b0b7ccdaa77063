"""Load benchmark: seed a database, start gunicorn with the project's own settings
(deploy/gunicorn.conf.py, BENCH_WORKERS sync workers, 2 by default), drive each page with wrk
from a second process for a bounded time after a short warm-up, and report requests/s and
latency as ratios to a bare endpoint of the same app measured in the same run, with SQL
queries per page, each beside issue 18's target (TARGETS) and whether it was met.

    python bench/run.py --db sqlite|postgresql [--patients 1000] [--days 365] [--seconds 5]

Writes bench/results/load-<db>.md (the latest run) and load-<db>-<YYYY-MM-DD>.md (the run's
UTC date; the three newest dates are kept per database).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
PASSWORD = "bench-password-long-enough"
PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEEP_DATED = 3  # dated results files kept per database
WARM_SECONDS = 1  # of wrk before each measured row, not counted


@dataclass(frozen=True)
class Target:
    """Issue 18: requests/s as a ratio to /ping in the same run, at least ``ratio``; and, where
    given, at most ``max_queries`` SQL statements per page."""

    ratio: float
    max_queries: int | None = None


# Issue 18's targets, by row key (see ROWS); the other rows have none.
TARGETS = {
    "today": Target(0.30),
    "log_form": Target(0.30),
    "log_submit": Target(0.20),
    "overview_large": Target(0.10, max_queries=5),
    "alerts": Target(0.10),
    "chart_cached": Target(0.30),
}

# Row key -> label; "{large}" and "{small}" are the two clinicians' patient counts.
ROWS = {
    "baseline": "baseline: bare endpoint (/ping)",
    "today": "patient Today",
    "log_form": "daily-log form (GET)",
    "chart_cached": "patient chart, cached",
    "overview_large": "overview ({large:,} patients)",
    "overview_small": "overview ({small:,} patients)",
    "alerts": "alert inbox",
    "log_submit": "daily-log submit (a second patient)",
    "chart_cold": "patient chart, cold (cache off)",
    "login": "login (Argon2id)",
}


# --- the pure parts: verdicts, the table, the results files --------------------------------


def verdict(key: str, ratio: float, queries: int | None, errors: int = 0) -> str:
    """ "met", "not met", or "–" for a row without a target. A row whose requests failed, or
    whose query target cannot be checked, is not met."""
    target = TARGETS.get(key)
    if target is None:
        return "–"
    ok = errors == 0 and ratio >= target.ratio
    if target.max_queries is not None:
        ok = ok and queries is not None and queries <= target.max_queries
    return "met" if ok else "not met"


def table(heading: list[str], rows: list[tuple[str, str, dict]], queries: dict) -> str:
    """The results as Markdown: ``heading`` lines, then one row per (key, label, wrk summary),
    the first being the baseline, then how many of TARGETS were met."""
    baseline = rows[0][2]["rps"]
    lines = [
        *heading,
        "",
        "| page | req/s | × baseline | target | met? | p50 ms | p95 ms | p99 ms | errors "
        "| SQL queries |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    met = 0
    for key, label, r in rows:
        ratio = r["rps"] / baseline if baseline else 0.0
        target = TARGETS.get(key)
        count = queries.get(key)
        shown = verdict(key, ratio, count, r["errors"])
        met += shown == "met"
        q = "–" if count is None else str(count)
        if target is not None and target.max_queries is not None:
            q += f" (≤ {target.max_queries})"
        lines.append(
            f"| {label} | {r['rps']:.0f} | {ratio:.2f} | "
            f"{'–' if target is None else f'≥ {target.ratio:.2f}'} | {shown} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | {q} |"
        )
    lines += ["", f"Targets met: {met} of {len(TARGETS)}"]
    return "\n".join(lines) + "\n"


def dated_name(kind: str, day: date) -> str:
    return f"load-{kind}-{day.isoformat()}.md"


def rotate(folder: Path, kind: str, keep: int = KEEP_DATED) -> list[Path]:
    """Delete all but the ``keep`` newest dated results files of database ``kind``; the other
    databases' files and the undated latest copy stay. Returns what was deleted."""
    pattern = re.compile(rf"load-{re.escape(kind)}-(\d{{4}}-\d{{2}}-\d{{2}})\.md")
    dated = []
    for path in folder.iterdir():
        found = pattern.fullmatch(path.name)
        if found:
            try:
                dated.append((date.fromisoformat(found.group(1)), path))
            except ValueError:
                continue  # not a real date: not ours
    dated.sort(reverse=True)
    old = [path for _, path in dated[keep:]]
    for path in old:
        path.unlink()
    return old


def write_results(folder: Path, kind: str, text: str, day: date) -> Path:
    """Write the run's table as the day's file (a second run that day replaces it) and as the
    latest copy, then keep the three newest days of that database."""
    folder.mkdir(parents=True, exist_ok=True)
    dated = folder / dated_name(kind, day)
    dated.write_text(text)
    (folder / f"load-{kind}.md").write_text(text)
    rotate(folder, kind)
    return dated


# --- seeding, people, gunicorn, wrk ---------------------------------------------------------


def flask(env: dict, *args: str) -> str:
    done = subprocess.run(
        [str(VENV / "flask"), "--app", "taper", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return done.stdout


def seed(env: dict, patients: int, days: int) -> dict:
    """One clinician with all the patients, one with a tenth of them (cost vs size)."""
    flask(env, "db", "upgrade")
    out = {}
    for name, count in (("large", patients), ("small", max(patients // 10, 1))):
        started = time.perf_counter()
        text = flask(
            env,
            "seed-scale",
            "--clinicians",
            "1",
            "--patients",
            str(count),
            "--days",
            str(days),
            "--seed",
            str(count),
        )
        found = re.search(r"'first_clinician': '([^']+)', 'first_patient': '([^']+)'", text)
        out[name] = {
            "clinician": found.group(1),
            "patient": found.group(2),
            "seconds": round(time.perf_counter() - started, 1),
            "patients": count,
        }
    return out


def vacuum(db_url: str) -> None:
    """On PostgreSQL, VACUUM (ANALYZE) the seeded tables, as autovacuum would soon after a bulk
    load on a deployed server: the planner then has the tables' statistics and index-only
    scans their visibility map. (Some machines run PostgreSQL with autovacuum off, this one
    included: without this, every run would measure a database no server would keep.)"""
    if not db_url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("VACUUM (ANALYZE)"))
    finally:
        engine.dispose()


def other_patient(session, clinician: str, patient: str) -> str:
    """The e-mail of another patient of ``clinician`` from the same seed-scale batch as
    ``patient`` (the one with the lowest id), for the daily-log submit: every submit adds a
    version of that patient's day, which must not slow the pages measured for ``patient``."""
    from sqlalchemy import select
    from sqlalchemy.orm import aliased

    from taper.models import CareTeamLink, Role, User

    tag = re.fullmatch(r"[^@]+-([0-9a-f]+)@scale\.example\.org", patient).group(1)
    doctor = aliased(User)
    found = session.scalars(
        select(User.email)
        .join(CareTeamLink, CareTeamLink.patient_id == User.id)
        .join(doctor, doctor.id == CareTeamLink.clinician_id)
        .where(
            doctor.email == clinician,
            User.role == Role.PATIENT,
            User.email.like(f"%-{tag}@scale.example.org"),
            User.email != patient,
        )
        .order_by(User.id)
        .limit(1)
    ).first()
    if found is None:
        raise SystemExit(f"no second patient of {clinician}: seed at least 2 patients")
    return found


def _submitter(db_url: str, large: dict) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return other_patient(session, large["clinician"], large["patient"])
    finally:
        engine.dispose()


def workers() -> int:
    return int(os.environ.get("BENCH_WORKERS", "2"))


@contextmanager
def gunicorn(env: dict, port: int):
    """gunicorn as deployed (deploy/gunicorn.conf.py: preloaded app, note screen built in the
    master before forking, post_fork, metrics folder), on 127.0.0.1:``port``. Its log (the
    app's line per request included, as in production) goes to a file, not the terminal, which
    could slow it; the file is kept, and named, only if it holds an error."""
    env = dict(
        env,
        TAPER_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY=str(workers()),
        GUNICORN_LOG_LEVEL="warning",
    )
    handle, name = tempfile.mkstemp(prefix=f"taper-bench-gunicorn-{port}-", suffix=".log")
    log = Path(name)
    with os.fdopen(handle, "w") as out:
        process = subprocess.Popen(
            [
                str(VENV / "gunicorn"),
                "-c",
                str(ROOT / "deploy" / "gunicorn.conf.py"),
                "taper:create_app()",
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-3000:]
                    raise SystemExit(f"gunicorn did not start on port {port}:\n{tail}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if re.search(r"Traceback| ERROR | 5\d\d [0-9.]+ms", log.read_text(errors="replace")):
            print(f"gunicorn logged errors: see {log}", file=sys.stderr)
        else:
            log.unlink()


def login(base: str, email: str) -> str:
    """Log in like a browser; return the session cookie."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    opener.open(
        f"{base}/login",
        data=urllib.parse.urlencode(
            {"email": email, "password": PASSWORD, "csrf_token": token}
        ).encode(),
    )
    cookie = next(c for c in jar if c.name == "taper_session")
    return f"taper_session={cookie.value}"


def wrk(
    url: str, seconds: int, cookie: str = "", body: str | None = None, connections: int = 8
) -> dict:
    env = dict(os.environ)
    if body is not None:
        env.update(BENCH_BODY=body, BENCH_METHOD="POST")
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(ROOT / "bench" / "report.lua"),
        url,
    ]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    return json.loads(out.split("BENCH_JSON ", 1)[1])


def measure(url: str, seconds: int, cookie: str = "", body=None, connections: int = 8) -> dict:
    """wrk on ``url`` after WARM_SECONDS of the same requests, unmeasured: each worker's first
    requests (templates, compiled statements, the chart cache, a worker just replaced after
    max_requests) do not land in the measured seconds."""
    wrk(url, WARM_SECONDS, cookie, body, connections)
    return wrk(url, seconds, cookie, body, connections)


# --- SQL statements per page, in-process ------------------------------------------------------


def _sign_in(client, identity: str) -> None:
    with client.session_transaction() as session:
        session.clear()
        now = time.time()
        session.update({"_user_id": identity, "login_at": now, "seen_at": now, "auth_at": now})


def _count(engine, client, url: str, form: dict | None) -> int:
    """Statements of one request, the second of two alike (the first warms, as wrk's does)."""
    from sqlalchemy import event

    statements: list[int] = []

    def count(*_args):
        statements.append(1)

    for attempt in range(2):
        if attempt:
            event.listen(engine, "before_cursor_execute", count)
        if form is None:
            response = client.get(url)
            ok = response.status_code == 200
        else:
            response = client.post(url, data=dict(form, submission_id=uuid.uuid4().hex))
            ok = response.status_code in (302, 303) and "/log/saved" in response.location
        response.close()
        if attempt:
            event.remove(engine, "before_cursor_execute", count)
        if not ok:
            raise SystemExit(f"counting queries: {url} answered {response.status_code}")
    return len(statements)


def query_counts(db_url: str, users: dict) -> dict[str, int]:
    """SQL statements per row (by key), counted in-process on the same database, CSRF off."""
    from taper import create_app
    from taper.extensions import db
    from taper.models import find_user_by_email

    pages = {
        "today": ("patient", "/today", None),
        "log_form": ("patient", "/log", None),
        "chart_cached": ("patient", "/charts/{patient}/progress.png", None),
        "overview_large": ("clinician", "/clinician/patients", None),
        "overview_small": ("small_clinician", "/clinician/patients", None),
        "alerts": ("clinician", "/clinician/alerts", None),
        "log_submit": ("submitter", "/log", "form"),
    }
    counts = {}
    for cache in (True, False):
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": db_url,
                "TESTING": True,
                "CHART_CACHE": cache,
                "LOG_LEVEL": "WARNING",  # no line per counted request on the terminal
            }
        )
        with app.app_context():
            people = {k: find_user_by_email(v) for k, v in users.items()}
            identities = {k: (u.get_id(), u.id) for k, u in people.items()}
            engine = db.engine
        client = app.test_client()
        chosen = pages if cache else {"chart_cold": pages["chart_cached"]}
        for key, (who, url, body) in chosen.items():
            _sign_in(client, identities[who][0])
            url = url.format(patient=identities["patient"][1])
            form = _log_fields(client.get(url).get_data(as_text=True)) if body else None
            counts[key] = _count(engine, client, url, form)
        with app.app_context():
            db.engine.dispose()
    return counts


def _log_fields(page: str) -> dict:
    """The daily log as the form page asks it (its day, CSRF token if any, one dose question
    per plan in force), every answer filled in, a typical note; no submission id."""
    from taper.domain.instrument import CIWA_B

    fields = {item.key: "1" for item in CIWA_B.patient_items}
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token:
        fields["csrf_token"] = token.group(1)
    fields.update(
        {
            "day": re.search(r'name="day" value="([0-9-]+)"', page).group(1),
            "sleep_hours": "7",
            "substances": "no",
            # A typical note, so the submit pays for the red-flag screen as a patient's does.
            "note": "Slept badly again, a bit shaky this morning but no fits. Better by lunch.",
        }
    )
    for plan_id, shown in re.findall(r'name="shown_([0-9]+)" value="([^"]*)"', page):
        fields.update({f"shown_{plan_id}": shown, f"took_{plan_id}": "yes"})
    return fields


def _log_body(base: str, cookie: str) -> str:
    """The form body for wrk; report.lua swaps in a fresh submission id for SUBMISSION."""
    request = urllib.request.Request(f"{base}/log", headers={"Cookie": cookie})
    page = urllib.request.urlopen(request).read().decode()  # noqa: S310
    return urllib.parse.urlencode(dict(_log_fields(page), submission_id="SUBMISSION"))


def _patient_id(base: str, cookie: str) -> int:
    request = urllib.request.Request(f"{base}/progress", headers={"Cookie": cookie})
    page = urllib.request.urlopen(request).read().decode()  # noqa: S310
    return int(re.search(r"/charts/(\d+)/progress", page).group(1))


# --- the run ----------------------------------------------------------------------------------


def fresh_db(kind: str):
    from tests.tools.databases import fresh_database

    return fresh_database(PG_BASE if kind == "postgresql" else None)


def run(kind: str, patients: int, days: int, seconds: int) -> str:
    with fresh_db(kind) as db_url:
        env = dict(
            os.environ,
            DATABASE_URL=db_url,
            TAPER_PASSWORD=PASSWORD,
            LOGIN_LIMIT_PER_IP="1000000 per minute",
            LOGIN_LIMIT_PER_ACCOUNT="1000000 per minute",
            TAPER_CONFIG="development",
            # As deployed: jobs run in their own process (`flask worker` or cron), not on a
            # timer inside each web worker, where the alert scan would share the measured CPU.
            JOBS_EMBEDDED="0",
            # Workers replaced every ~5,000 requests (the production leak guard) would, at
            # thousands of requests a second, measure restarts and cold caches instead.
            GUNICORN_MAX_REQUESTS="0",
        )
        seeded = seed(env, patients, days)
        vacuum(db_url)
        large, small = seeded["large"], seeded["small"]
        submitter = _submitter(db_url, large)
        labels = {
            k: v.format(large=large["patients"], small=small["patients"]) for k, v in ROWS.items()
        }
        rows: list[tuple[str, str, dict]] = []
        with gunicorn(env, 8731) as base:
            patient = login(base, large["patient"])
            clinician = login(base, large["clinician"])
            small_clinician = login(base, small["clinician"])
            submitter_cookie = login(base, submitter)
            patient_id = _patient_id(base, patient)
            cases = [
                ("baseline", f"{base}/ping", "", None),
                ("today", f"{base}/today", patient, None),
                ("log_form", f"{base}/log", patient, None),
                ("chart_cached", f"{base}/charts/{patient_id}/progress.png", patient, None),
                ("overview_large", f"{base}/clinician/patients", clinician, None),
                ("overview_small", f"{base}/clinician/patients", small_clinician, None),
                ("alerts", f"{base}/clinician/alerts", clinician, None),
                # Last, as another patient: its new versions of a day slow nothing measured.
                ("log_submit", f"{base}/log", submitter_cookie, _log_body(base, submitter_cookie)),
            ]
            for key, url, cookie, body in cases:
                rows.append((key, labels[key], measure(url, seconds, cookie, body)))
        # Login is CPU-bound by design (Argon2id), and the cold chart needs the cache off.
        with gunicorn(dict(env, CHART_CACHE="0"), 8732) as base:
            patient = login(base, large["patient"])
            chart = f"{base}/charts/{patient_id}/progress.png"
            rows.append(("chart_cold", labels["chart_cold"], measure(chart, seconds, patient)))
            page = urllib.request.urlopen(base + "/login")  # noqa: S310
            cookie = page.headers.get("Set-Cookie", "").split(";")[0]
            token = re.search(
                r'name="csrf_token" type="hidden" value="([^"]+)"', page.read().decode()
            ).group(1)
            body = urllib.parse.urlencode(
                {"email": large["patient"], "password": PASSWORD, "csrf_token": token}
            )
            rows.append(
                ("login", labels["login"], measure(f"{base}/login", seconds, cookie, body, 2))
            )
        queries = query_counts(
            db_url,
            {
                "patient": large["patient"],
                "submitter": submitter,
                "clinician": large["clinician"],
                "small_clinician": small["clinician"],
            },
        )
    heading = [
        f"## {kind}: {patients} patients × {days} days, wrk {seconds} s per row "
        f"(after {WARM_SECONDS} s unmeasured), gunicorn {workers()} sync workers "
        "(deploy/gunicorn.conf.py)",
        "",
        f"Seeded in {seeded['large']['seconds']} s (+{seeded['small']['seconds']} s for the "
        f"{small['patients']}-patient clinician). Measured {datetime.now(UTC):%Y-%m-%d %H:%M} "
        "UTC. Targets (issue 18): req/s as a ratio to /ping, and SQL queries where shown "
        "in brackets; the daily-log submit is sent as a second patient of the same clinician.",
    ]
    return table(heading, rows, queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench` installs it (apt-get install wrk)")
    if args.patients < 2:
        sys.exit("--patients: at least 2 (the daily-log submit is sent as a second patient)")
    started = datetime.now(UTC).date()
    text = run(args.db, args.patients, args.days, args.seconds)
    write_results(RESULTS, args.db, text, started)
    print(text)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
