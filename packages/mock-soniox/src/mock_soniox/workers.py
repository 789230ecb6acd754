"""``mock-soniox serve --workers N``: N server processes sharing one port, and their supervisor.

The supervisor (this process) reserves the port first, so ``--port 0`` still picks one free port
for all of them: it binds a socket with SO_REUSEPORT and never listens on it. Each worker is
``python -m mock_soniox serve`` with the same arguments, that port and ``--worker-of N``; it binds
with SO_REUSEPORT too, and the kernel spreads new connections over the listening workers. The
supervisor prints the URLs once every worker is ready, then waits. SIGINT or SIGTERM, or a worker
that exits on its own, stops them all: each gets SIGTERM (and closes its live sockets with 1001,
as a single server does), and one still running after :data:`STOP_TIMEOUT_S` is killed. Every
worker is reaped before the supervisor returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence

logger = logging.getLogger("mock_soniox")

READY = "WORKER"  # a worker's first line on stdout: "WORKER <pid>", once it serves
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound, non-listening SO_REUSEPORT socket holding ``host:port`` (0: a free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_command(argv: Sequence[str], port: int, workers: int) -> list[str]:
    """The command line of one worker: the supervisor's own ``serve`` arguments, made specific
    (later options win in argparse)."""
    return [
        sys.executable,
        "-m",
        "mock_soniox",
        *argv,
        "--port",
        str(port),
        "--worker-of",
        str(workers),
    ]


def _die_with_parent() -> None:
    """In a worker, before exec: SIGTERM when the supervisor dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


async def supervise(
    argv: Sequence[str],
    host: str,
    port: int,
    workers: int,
    announce: Callable[[int, list[int]], None],
) -> int:
    """Run ``workers`` workers of ``serve argv`` on ``host:port`` until a signal; exit status.

    ``announce(port, pids)`` prints the URLs once all of them serve.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with reserve_port(host, port) as reserved:
        port = reserved.getsockname()[1]
        env = {**os.environ, "MOCK_SONIOX_WORKERS": "1"}
        procs: list[asyncio.subprocess.Process] = []
        try:
            for _ in range(workers):
                procs.append(
                    await asyncio.create_subprocess_exec(
                        *worker_command(argv, port, workers),
                        stdout=asyncio.subprocess.PIPE,
                        env=env,
                        preexec_fn=_die_with_parent,
                    )
                )
            if not await _all_ready(procs, stop):
                return 0 if stop.is_set() else 1
            announce(port, [p.pid for p in procs])
            return await _watch(procs, stop)
        finally:
            await _stop_all(procs)


async def _all_ready(procs: list[asyncio.subprocess.Process], stop: asyncio.Event) -> bool:
    """Wait for every worker's ready line; False if one exits first, on a timeout or a signal."""

    async def all_ready() -> bool:
        for proc in procs:
            assert proc.stdout is not None
            line = (await proc.stdout.readline()).decode(errors="replace")
            if not line.startswith(READY):
                logger.error("worker %d exited before serving", proc.pid)
                return False
        return True

    waiting = asyncio.create_task(all_ready())
    stopped = asyncio.create_task(stop.wait())
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            await asyncio.wait({waiting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except TimeoutError:
        logger.error("the workers did not start within %g s", START_TIMEOUT_S)
    finally:
        for task in (waiting, stopped):
            task.cancel()
        await asyncio.gather(waiting, stopped, return_exceptions=True)
    return waiting.done() and not waiting.cancelled() and waiting.result()


async def _watch(procs: list[asyncio.subprocess.Process], stop: asyncio.Event) -> int:
    """Until a signal (0) or a worker exiting on its own (1)."""
    stopped = asyncio.create_task(stop.wait())
    exits = [asyncio.create_task(p.wait()) for p in procs]
    try:
        done, _ = await asyncio.wait({stopped, *exits}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopped, *exits):
            task.cancel()
        await asyncio.gather(stopped, *exits, return_exceptions=True)
    if stopped in done:
        logger.info("stopping %d workers", len(procs))
        return 0
    for proc in procs:
        if proc.returncode is not None:
            logger.error("worker %d exited with %d; stopping the others", proc.pid, proc.returncode)
    return 1


async def _stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    """SIGTERM to every live worker, SIGKILL to any still there after STOP_TIMEOUT_S; reap all."""
    for proc in procs:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await asyncio.gather(*(p.wait() for p in procs))
    except TimeoutError:
        for proc in procs:
            if proc.returncode is None:
                logger.error("worker %d ignored SIGTERM; killing it", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        await asyncio.gather(*(p.wait() for p in procs))
