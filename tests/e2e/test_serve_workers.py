"""`kasacare serve --workers 2` as a real process: every worker listens on a socket of its own
(`kit.listeners`), so the connections of many cameras reach both workers, where one shared
socket let the first worker to wake take a whole burst of them."""

from __future__ import annotations

import os
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from kasacare.kit.listeners import balanced_listeners_supported
from tests.databases import fresh_database
from tests.e2e.server import running_server, server_env

pytestmark = pytest.mark.skipif(
    not (balanced_listeners_supported() and sys.platform == "linux"),
    reason="per-worker listeners and /proc are Linux's",
)

LISTEN, ESTABLISHED = "0A", "01"


def _tcp_sockets(port: int) -> dict[int, str]:
    """Socket inode -> TCP state of the IPv4 sockets whose local port is `port`."""
    sockets = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port:
            sockets[int(fields[9])] = fields[3]
    return sockets


def _sockets_by_process(inodes: set[int]) -> dict[int, set[int]]:
    """pid -> which of these socket inodes it holds open."""
    held: dict[int, set[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        mine = {int(t[len("socket:[") : -1]) for t in targets if t.startswith("socket:[")}
        if mine & inodes:
            held[int(entry.name)] = mine & inodes
    return held


def test_two_workers_each_listen_and_share_the_cameras_connections(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as database_url:
        env = server_env(database_url, tmp_path)
        with running_server(env, tmp_path / "server.log", workers=2) as base:
            port = urlsplit(base).port
            assert port is not None
            with ExitStack() as stack:
                clients = [stack.enter_context(httpx.Client(base_url=base)) for _ in range(32)]
                for client in clients:  # each opens its keep-alive connection
                    assert client.get("/healthz").status_code == 200
                states = _tcp_sockets(port)
                holders = _sockets_by_process(set(states))
    listening = {pid for pid, held in holders.items() if any(states[i] == LISTEN for i in held)}
    serving = Counter(
        {
            pid: sum(states[i] == ESTABLISHED for i in held)
            for pid, held in holders.items()
            if pid != os.getpid()  # the client ends of the connections are ours
        }
    )
    # Two workers, each with a listener of its own (the supervisor's socket never listens)...
    assert len(listening) == 2
    # ...and both serve some of the 32 connections (all on one: a chance of 2**-31).
    assert sum(serving.values()) == 32
    assert set(+serving) == listening
