"""CPU seconds spent by the server under test: the `kasacare serve` process tree and, on
PostgreSQL, the backends serving its database. Read from /proc (Linux); elsewhere the figure
is left out. CPU per request does not depend on how the requests contended with each other or
with whatever else the machine ran, so it complements the throughput figures."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from kasacare.kit.db import create_db_engine

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    return (PROC / "self" / "stat").exists()


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is the state; ppid is fields[1]; utime, stime are fields[11], fields[12]
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents[int(entry.name)] = stat[0]
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return tree


def _postgres_backends(database_url: str) -> set[int]:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return set()
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                int(pid)
                for pid in connection.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            }
    finally:
        engine.dispose()


def snapshot(server_pid: int, database_url: str) -> dict[int, float]:
    """CPU seconds so far of every process serving the benchmark, by pid."""
    pids = _tree(server_pid) | _postgres_backends(database_url)
    seconds = {}
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            seconds[pid] = stat[1]
    return seconds


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
