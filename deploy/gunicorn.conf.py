"""gunicorn settings for Taper: `gunicorn -c deploy/gunicorn.conf.py 'taper:create_app()'`.

Read from the environment (the systemd unit's EnvironmentFile, or the shell):

- TAPER_BIND: address to listen on (default 127.0.0.1:8000: behind a TLS proxy on one host).
- WEB_CONCURRENCY: worker processes (default 2 x cores + 1).
- GUNICORN_TIMEOUT: seconds a request may take before its worker is replaced (default 30).
- GUNICORN_MAX_REQUESTS: requests a worker serves before it is replaced (default 5000, 0 never;
  the benchmark uses 0, since at thousands of requests a second it would measure restarts).
- FORWARDED_ALLOW_IPS: proxies whose X-Forwarded-Proto gunicorn believes (default 127.0.0.1).
  The app itself trusts X-Forwarded-For/-Proto only through PROXY_COUNT.
- PROMETHEUS_MULTIPROC_DIR: where the workers keep their metrics; a fresh private folder is
  made when unset, so /metrics adds up every worker.
- GUNICORN_ACCESS_LOG: empty (default: none; the app logs every request itself, without
  secrets), "-" for stdout, or a file.
- TAPER_WARM_NOTE_SCREEN: 1 (default) builds the note screen once in the master before the
  workers fork, so no patient's first note waits for it (about 2 s per process otherwise);
  0 starts faster.

Sync workers, not threads: the work is CPU-bound (Argon2id at login, chart rendering) and
`--threads 4` halved chart throughput and doubled tail latency when measured here
(measured on these machines). Slow clients are the TLS proxy's job, which buffers them.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile

bind = [os.environ.get("TAPER_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 2
# A worker is replaced now and then, so a slow leak never grows for ever; the jitter keeps
# the workers from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# Load the app once in the master (migrations must already have run: workers that each
# built the app on a fresh database used to race); workers share its memory.
preload_app = True
# gunicorn 27 otherwise makes a control socket under the home folder, which a service user
# may not have.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No access log of gunicorn's own by default: the app writes one JSON line per request
# (logger taper.access, with the request id) in which a set-password link's token is replaced
# by "<token>"; gunicorn's %(U)s would write the token itself. GUNICORN_ACCESS_LOG=- (or a
# file) turns it on, without query strings.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms "%({x-request-id}o)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

_metrics_dir_made = ""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Set before the app is imported (preload): prometheus-client picks its mode on import.
    _metrics_dir_made = tempfile.mkdtemp(prefix="taper-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir_made


def on_starting(server) -> None:
    """Before the app loads: warm the note screen so it is shared by every worker."""
    if os.environ.get("TAPER_WARM_NOTE_SCREEN", "1") != "0":
        from taper.domain import note_screen

        note_screen.load(os.environ.get("RED_FLAG_PHRASES_FILE") or None)


def post_fork(server, worker) -> None:
    """Each worker opens its own database connections: never reuse the master's. A long
    download (a care team's export) beats the worker's heartbeat as it goes, so only a
    request that makes no progress for GUNICORN_TIMEOUT seconds is cut off."""
    from taper import observability
    from taper.extensions import db

    observability.set_heartbeat(worker.notify)

    app = getattr(server.app, "callable", None)
    if app is not None:
        with app.app_context():
            db.engine.dispose(close=False)


def child_exit(server, worker) -> None:
    """A worker that exits leaves its live gauges behind unless marked dead."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    """The metrics folder made above holds nothing worth keeping once every worker is gone."""
    if _metrics_dir_made:
        shutil.rmtree(_metrics_dir_made, ignore_errors=True)
