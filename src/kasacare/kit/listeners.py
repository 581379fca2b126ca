"""Listening sockets for `kasacare serve --workers N`: on Linux, one per worker process.

uvicorn's supervisor binds one socket and hands it to every worker, so all of them share one
accept queue; asyncio accepts every connection waiting when it wakes, and the worker that
wakes first takes a whole burst of them. Cameras keep their connections open, so the burst
stays unbalanced: measured (`make bench`), one worker of two served all 16 connections of the
ingest benchmark while the other sat idle. With `SO_REUSEPORT`, each worker listens on a
socket of its own bound to the same address, and the kernel spreads new connections among
them by a hash of their addresses. (uvicorn has no option for this yet: encode/uvicorn#2472.)

The worker sockets are made TCP explicitly: asyncio turns on `TCP_NODELAY` only for accepted
sockets whose listener says `IPPROTO_TCP`, and uvicorn's own shared socket says 0, which
leaves Nagle's algorithm delaying each response's body behind its head (Kludex/uvicorn#3149).

The supervisor sends each worker its sockets by pickling them: `WorkerListener` pickles as
"bind another socket to this address", so each worker, and each worker restarted after a
crash, binds its own. The supervisor's own socket stays bound without listening: it holds the
address (and the port, when 0 asked for any) and never takes a connection.
"""

from __future__ import annotations

import logging
import socket
import sys
from typing import Any

from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger("uvicorn.error")


def balanced_listeners_supported() -> bool:
    """Only Linux spreads connections among `SO_REUSEPORT` listeners (elsewhere the last one
    bound may take them all)."""
    return sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


class WorkerListener(socket.socket):
    """The supervisor's socket: bound, never listening; pickled, a worker's own listener."""

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (bind_worker_listener, (self.family, host, port))


def bind_supervisor_listener(host: str, port: int) -> WorkerListener:
    """Reserve `host:port` for the workers' listeners (`port` 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = WorkerListener(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        _bind(sock, host, port)
    except OSError as error:  # as uvicorn does for its own socket: one line, a failed start
        logger.error("cannot listen on %s:%d: %s", host, port, error)
        sock.close()
        sys.exit(STARTUP_FAILURE)
    bound_host, bound_port = sock.getsockname()[:2]
    logger.info(
        "Uvicorn running on http://%s:%d, one listener per worker (Press CTRL+C to quit)",
        bound_host,
        bound_port,
    )
    return sock


def bind_worker_listener(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    """In a worker: its own listener on the supervisor's address (asyncio listens on it)."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        _bind(sock, host, port)
    except OSError as error:
        # Unpickling runs before uvicorn's worker code: exit as a failed start, so the
        # supervisor stops instead of restarting a worker that cannot bind, forever.
        logger.error("worker cannot listen on %s:%d: %s", host, port, error)
        sock.close()
        sys.exit(STARTUP_FAILURE)
    return sock


def _bind(sock: socket.socket, host: str, port: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
