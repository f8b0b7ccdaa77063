"""The suite runs on several pytest-xdist workers at once (``make test`` passes ``-n 2``):
each worker's databases, roles and SMTP ports must never meet another's."""

from __future__ import annotations

import re
import socket

import pytest

from tests.tools import smtp
from tests.tools.databases import PREFIX, STALE_ROLE, may_clear, worker_tag


@pytest.fixture
def as_worker(monkeypatch):
    """Pretend to be pytest-xdist worker ``gwN`` of ``count``."""

    def become(worker: str | None, count: int = 2) -> None:
        if worker is None:
            monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
            monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
        else:
            monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
            monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))

    return become


def test_names_made_by_a_worker_say_which_worker(as_worker):
    as_worker("gw1")
    assert worker_tag() == "gw1_"
    as_worker(None)
    assert worker_tag() == ""


@pytest.mark.parametrize(
    ("role", "mine", "cleared"),
    [
        (f"{PREFIX}gw0_0123456789ab_owner", "gw0_", True),  # its own, from a killed run
        (f"{PREFIX}gw1_0123456789ab_app", "gw0_", False),  # maybe this run's other worker
        (f"{PREFIX}0123456789ab_owner", "gw1_", True),  # a plain run's
        (f"{PREFIX}gw1_0123456789ab_app", "", True),  # a plain run clears every stale one
    ],
)
def test_a_worker_clears_only_its_own_and_untagged_stale_roles(role, mine, cleared):
    assert re.fullmatch(STALE_ROLE, role)
    assert may_clear(role, mine) is cleared


def test_workers_draw_smtp_ports_from_their_own_slices_below_the_ephemeral_range(as_worker):
    drawn = {}
    for worker in ("gw0", "gw1"):
        as_worker(worker)
        drawn[worker] = {smtp.free_port() for _ in range(20)}
    assert len(drawn["gw0"]) == len(drawn["gw1"]) == 20  # never the same port twice
    assert max(drawn["gw0"]) < min(drawn["gw1"])
    assert max(drawn["gw1"]) < 32768  # Linux hands out 32768 and up to outgoing connections


def test_a_drawn_port_is_free_to_listen_on(as_worker):
    as_worker(None)
    port = smtp.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen(1)
