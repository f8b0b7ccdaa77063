"""A real SMTP server for tests (aiosmtpd) that keeps the messages it receives."""

from __future__ import annotations

import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from aiosmtpd.controller import Controller

# Ports handed out below Linux's ephemeral range (32768+), where outgoing connections (to
# PostgreSQL, Redis...) never take one between free_port() and the server that binds it.
PORTS = range(20000, 32768)
_given: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and that no other
    free_port() of this run gives: under pytest-xdist each worker draws from its own slice of
    PORTS (modules call this at import, in every worker), at random so runs side by side
    rarely meet. (random, not secrets: a port is no secret.)"""
    index, count = _worker()
    width = len(PORTS) // count
    mine = range(PORTS.start + index * width, PORTS.start + (index + 1) * width)
    for _ in range(200):
        port = random.choice(mine)  # noqa: S311  # nosec B311
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in {mine}")


def _worker() -> tuple[int, int]:
    """(this worker's index, how many workers): (0, 1) outside pytest-xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return (index, count) if index < count else (0, 1)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Mailbox:
    """aiosmtpd handler: keeps each envelope."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's name)
        self.messages.append(envelope)
        return "250 OK"


@contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    """Run an SMTP server on ``port`` for the duration of the block."""
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@contextmanager
def silent_server(port: int) -> Iterator[list]:
    """A server that takes connections and never says a word (a hung mail server); yields the
    list of connections it has taken."""
    import threading

    taken: list = []
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                taken.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield taken
    finally:
        stop.set()
        thread.join(2)
        for connection in taken:
            connection.close()
        listener.close()
