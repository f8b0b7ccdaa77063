"""What a signed-in, audited page costs before it does any work of its own, in-process:
the floor under issue 18's targets. python bench/floor.py --url DATABASE_URL [--n 1500]

``DATABASE_URL`` is a PostgreSQL database seeded with ``flask seed-scale`` (as for
``bench/pages.py``); the first patient signs in. Three throwaway routes are added to the app
in this script only (never to the app itself), each returning one word:

- ``signed in``: the app's own sign-in path (session cookie, Flask-Login's user loader
  through the ORM, the idle-timeout hooks), no statement of its own, no audit row;
- ``raw, 2 statements``: the same cookie, but the user and its session version read with
  psycopg on a pooled connection, the audit row inserted and committed the same way;
- ``raw, 1 statement``: the user read and the audit row inserted in one statement (a CTE).

beside ``/ping`` and ``/today`` in the same run, as CPU milliseconds per request (best of 3).
The audit rows it adds say ``bench.floor``.
"""

from __future__ import annotations

import argparse
import logging
import time

from pages import PAGES, _app, _people, _sign_in

USER = 'SELECT id FROM "user" WHERE id = %s AND active AND session_version = %s'
AUDIT = (
    "INSERT INTO audit_event (at, actor_id, action, object_type, object_id, patient_id) "
    "VALUES (now(), %s, 'bench.floor', 'user', %s, %s)"
)
BOTH = (
    'WITH u AS (SELECT id FROM "user" WHERE id = %s AND active AND session_version = %s), '
    "a AS (INSERT INTO audit_event (at, actor_id, action, object_type, object_id, patient_id) "
    "SELECT now(), id, 'bench.floor', 'user', id, id FROM u RETURNING 1) "
    "SELECT u.id, (SELECT count(*) FROM a) FROM u"
)


def _add_routes(app) -> None:
    from flask import Response, session
    from flask_login import current_user

    from taper import access
    from taper.extensions import db

    access.PUBLIC_ENDPOINTS = access.PUBLIC_ENDPOINTS | {"floor_raw2", "floor_raw1"}

    def identity() -> tuple[int, int]:
        user_id, _, version = session["_user_id"].partition(":")
        return int(user_id), int(version)

    def raw(statements) -> Response:
        pooled = db.engine.raw_connection()
        try:
            found = statements(pooled.driver_connection, *identity())
            pooled.driver_connection.commit()
        finally:
            pooled.close()
        return Response(f"ok {found}", content_type="text/plain")

    def two(connection, user_id: int, version: int) -> int:
        (found,) = connection.execute(USER, (user_id, version)).fetchone()
        connection.execute(AUDIT, (found, found, found))
        return found

    def one(connection, user_id: int, version: int) -> int:
        return connection.execute(BOTH, (user_id, version)).fetchone()[0]

    app.add_url_rule(
        "/floor/signed-in",
        "floor_signed_in",
        lambda: Response(f"ok {current_user.id}", content_type="text/plain"),
    )
    app.add_url_rule("/floor/raw2", "floor_raw2", lambda: raw(two))
    app.add_url_rule("/floor/raw1", "floor_raw1", lambda: raw(one))


def _cpu_ms(client, path: str, n: int) -> float:
    for _ in range(50):
        client.get(path).close()
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for _ in range(n):
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code}")
            response.close()
        best = min(best, (time.thread_time() - started) / n * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--n", type=int, default=1500)
    args = parser.parse_args()
    app = _app(args.url)
    _add_routes(app)
    signed_in, anonymous = app.test_client(), app.test_client()
    _sign_in(signed_in, _people(app)["patient"][0])
    logging.disable(logging.INFO)  # the access line of every request is not the subject
    rows = [
        ("/ping (the baseline)", anonymous, "/ping"),
        ("signed in (Flask-Login, ORM user)", signed_in, "/floor/signed-in"),
        ("raw, 2 statements + commit", signed_in, "/floor/raw2"),
        ("raw, 1 statement + commit", signed_in, "/floor/raw1"),
        ("patient Today", signed_in, PAGES["today"][1]),
    ]
    for name, client, path in rows:
        print(f"{name:36} {_cpu_ms(client, path, args.n):6.3f} ms CPU per request")


if __name__ == "__main__":
    main()
