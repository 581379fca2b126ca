"""The per-worker listening sockets of `kasacare serve --workers N` (`kit.listeners`), on real
sockets: what the supervisor hands its workers, how the kernel spreads connections among
them, and that asyncio turns Nagle's algorithm off on what they accept."""

from __future__ import annotations

import asyncio
import pickle
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from multiprocessing.reduction import ForkingPickler

import pytest
from uvicorn.config import STARTUP_FAILURE

from kasacare.kit.listeners import (
    WorkerListener,
    balanced_listeners_supported,
    bind_supervisor_listener,
    bind_worker_listener,
)

pytestmark = pytest.mark.skipif(
    not balanced_listeners_supported(), reason="SO_REUSEPORT balancing is Linux's"
)


def as_worker_gets_it(listener: WorkerListener) -> socket.socket:
    """What a worker process finds when the supervisor sends it `listener` (multiprocessing
    pickles the arguments of a spawned process with `ForkingPickler`)."""
    unpickled: socket.socket = pickle.loads(ForkingPickler.dumps(listener))  # noqa: S301
    return unpickled


@contextmanager
def supervisor_with_workers(count: int) -> Iterator[tuple[WorkerListener, list[socket.socket]]]:
    with ExitStack() as stack:
        supervisor = stack.enter_context(bind_supervisor_listener("127.0.0.1", 0))
        workers = [stack.enter_context(as_worker_gets_it(supervisor)) for _ in range(count)]
        for worker in workers:
            worker.listen(64)
            worker.setblocking(False)
        yield supervisor, workers


def test_each_worker_gets_a_listener_of_its_own_on_the_supervisors_address() -> None:
    with supervisor_with_workers(2) as (supervisor, workers):
        first, second = workers
        assert first.fileno() != second.fileno() != supervisor.fileno()
        for worker in workers:
            assert worker.getsockname() == supervisor.getsockname()
            assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
            assert worker.proto == socket.IPPROTO_TCP
        # The supervisor's own socket only holds the address: it never listens.
        assert supervisor.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 0


def test_the_kernel_spreads_new_connections_among_the_workers_listeners() -> None:
    connections = 64
    with supervisor_with_workers(2) as (supervisor, workers), ExitStack() as clients:
        for _ in range(connections):
            clients.enter_context(socket.create_connection(supervisor.getsockname()[:2]))
        accepted = [0, 0]
        for index, worker in enumerate(workers):
            while True:
                try:
                    connection, _ = worker.accept()
                except BlockingIOError:
                    break
                connection.close()
                accepted[index] += 1
    # Every connection reached a worker (none waits on the supervisor's socket), and both
    # workers got some: all 64 on one of two would have a chance of 2**-63.
    assert sum(accepted) == connections
    assert min(accepted) > 0


def _nodelay_of_accepted(listener: socket.socket) -> int:
    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            result = await asyncio.wait_for(seen, 30)
            writer.close()
            return result

    return asyncio.run(main())


def test_connections_a_worker_accepts_send_without_nagle_delay() -> None:
    with bind_supervisor_listener("127.0.0.1", 0) as supervisor:
        assert _nodelay_of_accepted(as_worker_gets_it(supervisor)) != 0
    # The control: a listener made the way uvicorn's supervisor makes its one shared socket
    # (protocol 0) leaves Nagle's algorithm on in what asyncio accepts from it.
    shared = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    shared.bind(("127.0.0.1", 0))
    assert _nodelay_of_accepted(shared) == 0


def test_a_worker_that_cannot_bind_exits_as_a_failed_start() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))  # without SO_REUSEPORT: nobody may share it
        taken.listen(1)
        with pytest.raises(SystemExit) as exit_:
            bind_worker_listener(socket.AF_INET, "127.0.0.1", taken.getsockname()[1])
    # uvicorn's supervisor stops on this code instead of restarting the worker forever.
    assert exit_.value.code == STARTUP_FAILURE


def test_a_supervisor_whose_address_is_taken_exits_as_a_failed_start() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(SystemExit) as exit_:
            bind_supervisor_listener("127.0.0.1", taken.getsockname()[1])
    assert exit_.value.code == STARTUP_FAILURE
