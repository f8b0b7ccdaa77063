"""Load benchmark: seed a database, start gunicorn (2 workers), drive each page with wrk from a
second process for a bounded time, and report requests/s and latency as ratios to a bare
endpoint of the same app measured in the same run, with SQL queries per page.

    python bench/run.py --db sqlite|postgresql [--patients 1000] [--days 365] [--seconds 5]
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
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV = ROOT / ".venv" / "bin"
PASSWORD = "bench-password-long-enough"
PG_BASE = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


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


@contextmanager
def gunicorn(env: dict, port: int):
    process = subprocess.Popen(
        [
            str(VENV / "gunicorn"),
            "--no-control-socket",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "taper:create_app()",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


def login(base: str, email: str) -> tuple[str, str]:
    """Log in like a browser; return the session cookie and a CSRF token for that session."""
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
    page = opener.open(f"{base}/today").read().decode() if "patient" in email else ""
    token = re.search(r'name="csrf_token" value="([^"]+)"', page) if page else None
    cookie = next(c for c in jar if c.name == "taper_session")
    return f"taper_session={cookie.value}", token.group(1) if token else ""


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


def query_counts(db_url: str, users: dict) -> dict[str, int]:
    """SQL statements per page, counted in-process on the same database."""
    from sqlalchemy import event

    from taper import create_app
    from taper.extensions import db
    from taper.models import find_user_by_email

    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "TESTING": True})
    counts = {}
    with app.app_context():
        people = {k: find_user_by_email(v) for k, v in users.items()}
        identities = {k: (u.get_id(), u.id) for k, u in people.items()}
        engine = db.engine
    client = app.test_client()
    pages = {
        "patient Today": ("patient", "/today"),
        "patient chart": ("patient", "/charts/{patient}/progress.png"),
        "overview (1,000 patients)": ("clinician", "/clinician/patients"),
        "overview (100 patients)": ("small_clinician", "/clinician/patients"),
        "alert inbox": ("clinician", "/clinician/alerts"),
    }
    for name, (who, url) in pages.items():
        identity, _ = identities[who]
        with client.session_transaction() as session:
            session.clear()
            session.update(
                {
                    "_user_id": identity,
                    "login_at": time.time(),
                    "seen_at": time.time(),
                    "auth_at": time.time(),
                }
            )
        statements: list[str] = []

        def count(*_args, statements=statements):
            statements.append(1)

        event.listen(engine, "before_cursor_execute", count)
        client.get(url.format(patient=identities["patient"][1]))
        event.remove(engine, "before_cursor_execute", count)
        counts[name] = len(statements)
    with app.app_context():
        db.engine.dispose()
    return counts


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
        )
        seeded = seed(env, patients, days)
        large, small = seeded["large"], seeded["small"]
        results: list[tuple[str, dict]] = []
        with gunicorn(env, 8731) as base:
            patient_cookie, _ = login(base, large["patient"])
            clinician_cookie, _ = login(base, large["clinician"])
            small_cookie, _ = login(base, small["clinician"])
            with urllib.request.urlopen(base + "/login") as page:  # noqa: S310
                login_token = re.search(r'value="([^"]+)"', page.read().decode()).group(1)
            cases = [
                ("baseline: bare endpoint (/ping)", f"{base}/ping", "", None),
                ("patient Today", f"{base}/today", patient_cookie, None),
                (
                    "daily-log submit",
                    f"{base}/log",
                    patient_cookie,
                    _log_body(base, patient_cookie),
                ),
                (
                    "patient chart, cached",
                    f"{base}/charts/PATIENT/progress.png",
                    patient_cookie,
                    None,
                ),
                ("overview (1,000 patients)", f"{base}/clinician/patients", clinician_cookie, None),
                ("overview (100 patients)", f"{base}/clinician/patients", small_cookie, None),
                ("alert inbox", f"{base}/clinician/alerts", clinician_cookie, None),
            ]
            patient_id = _patient_id(base, patient_cookie)
            for name, url, cookie, body in cases:
                url = url.replace("PATIENT", str(patient_id))
                results.append((name, wrk(url, seconds, cookie, body)))
            del login_token
        # Login is CPU-bound by design (Argon2id), and the cold chart needs the cache off.
        cold_env = dict(env, CHART_CACHE="0")
        with gunicorn(cold_env, 8732) as base:
            patient_cookie, _ = login(base, large["patient"])
            jar_page = urllib.request.urlopen(base + "/login")  # noqa: S310
            cookie = jar_page.headers.get("Set-Cookie", "").split(";")[0]
            token = re.search(
                r'name="csrf_token" type="hidden" value="([^"]+)"', jar_page.read().decode()
            ).group(1)
            results.append(
                (
                    "patient chart, cold (cache off)",
                    wrk(f"{base}/charts/{patient_id}/progress.png", seconds, patient_cookie),
                )
            )
            body = urllib.parse.urlencode(
                {"email": large["patient"], "password": PASSWORD, "csrf_token": token}
            )
            results.append(
                ("login (Argon2id)", wrk(f"{base}/login", seconds, cookie, body, connections=2))
            )
        queries = query_counts(
            db_url,
            {
                "patient": large["patient"],
                "clinician": large["clinician"],
                "small_clinician": small["clinician"],
            },
        )
    return _table(kind, patients, days, seconds, seeded, results, queries)


def _patient_id(base: str, cookie: str) -> int:
    request = urllib.request.Request(f"{base}/progress", headers={"Cookie": cookie})
    page = urllib.request.urlopen(request).read().decode()  # noqa: S310
    return int(re.search(r"/charts/(\d+)/progress", page).group(1))


def _log_body(base: str, cookie: str) -> str:
    """The daily log as the form page asks it (its day, CSRF token and one dose question per
    plan in force), every answer filled in; report.lua swaps in a fresh submission id."""
    from taper.domain.instrument import CIWA_B

    request = urllib.request.Request(f"{base}/log", headers={"Cookie": cookie})
    page = urllib.request.urlopen(request).read().decode()  # noqa: S310
    fields = {item.key: "1" for item in CIWA_B.patient_items}
    fields.update(
        {
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
            "day": re.search(r'name="day" value="([0-9-]+)"', page).group(1),
            "sleep_hours": "7",
            "substances": "no",
            # A typical note, so the submit pays for the red-flag screen as a patient's does.
            "note": "Slept badly again, a bit shaky this morning but no fits. Better by lunch.",
            "submission_id": "SUBMISSION",
        }
    )
    for plan_id, shown in re.findall(r'name="shown_([0-9]+)" value="([^"]*)"', page):
        fields.update({f"shown_{plan_id}": shown, f"took_{plan_id}": "yes"})
    return urllib.parse.urlencode(fields)


def _table(kind, patients, days, seconds, seeded, results, queries) -> str:
    baseline = results[0][1]["rps"]
    lines = [
        f"## {kind}: {patients} patients × {days} days, wrk {seconds} s per row, "
        f"gunicorn 2 sync workers",
        "",
        f"Seeded in {seeded['large']['seconds']} s (+{seeded['small']['seconds']} s for the "
        f"100-patient clinician). Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        "| page | req/s | × baseline | p50 ms | p95 ms | p99 ms | errors | SQL queries |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        key = name.split(",")[0] if name.startswith("patient chart") else name
        q = queries.get(key, queries.get(name, ""))
        lines.append(
            f"| {name} | {r['rps']:.0f} | {r['rps'] / baseline:.2f} | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['errors']} | {q} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: `make bench` installs it (apt-get install wrk)")
    table = run(args.db, args.patients, args.days, args.seconds)
    out = ROOT / "bench" / "results" / f"load-{args.db}.md"
    out.write_text(table)
    print(table)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
