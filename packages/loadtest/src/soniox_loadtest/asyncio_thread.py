"""An asyncio loop in a native OS thread, usable from greenlets of a gevent-patched process.

The thread is started with the unpatched ``start_new_thread`` so it is a real OS thread, and its
loop polls with the unpatched epoll selector (gevent's selector would park the loop on a gevent
hub, which in that thread has nothing to run and raises ``LoopExit``). Greenlets submit
coroutines with ``run_coroutine_threadsafe`` and wait for the result in the hub's threadpool, so
the wait blocks only the calling greenlet. The threadpool's size bounds how many greenlets can
wait at once: :meth:`AsyncioThread.reserve` grows it per user.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey

T = TypeVar("T")


class AsyncioThread:
    def __init__(self) -> None:
        selector_class = monkey.get_original("selectors", "DefaultSelector")
        self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop(selector_class())
        self._done: concurrent.futures.Future[None] = concurrent.futures.Future()
        start_new_thread = monkey.get_original("_thread", "start_new_thread")
        start_new_thread(self._run, ())

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self.loop.close()
            self._done.set_result(None)

    def reserve(self, waiters: int) -> None:
        """Let at least ``waiters`` greenlets wait on the loop at the same time."""
        pool = gevent.get_hub().threadpool
        if pool.maxsize < waiters:
            pool.maxsize = waiters

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run ``coro`` on the loop; block this greenlet (only) until it is done."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            # The pool thread only waits (it never raises), so cancelling below is quiet.
            gevent.get_hub().threadpool.spawn(_wait, future, timeout_s).get()
        except BaseException:
            future.cancel()  # a stopped user must not leave its coroutine running
            raise
        if not future.done():
            future.cancel()
            raise TimeoutError(f"coroutine still running after {timeout_s} s")
        return future.result()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the loop (after the caller closed what runs on it) and wait for the thread."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        gevent.get_hub().threadpool.spawn(_wait, self._done, timeout_s).get()


def _wait(future: concurrent.futures.Future[Any], timeout_s: float) -> None:
    concurrent.futures.wait([future], timeout=timeout_s)
