"""Run a coroutine synchronously as far as it goes without waiting.

aiohttp only offers ``async`` sends, yet an uncompressed websocket send waits for nothing unless
the socket's buffer is full. Driving the coroutine by hand lets a synchronous caller
(``push_frame``) write at once, without waking a task for every audio frame; a send that does
have to wait is finished by a task, as Python 3.12's eager tasks would (this runs on 3.11 too).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run ``coro`` until it first waits: None if it finished, else a task that finishes it.

    An exception raised before the first wait propagates to the caller.
    """
    try:
        first = coro.send(None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    return asyncio.create_task(_finish(coro, first), name="soniox-eager-send")


async def _finish(coro: Coroutine[Any, Any, None], first: Any) -> None:
    await _Resumed(coro, first)


class _Resumed:
    """Awaiting this continues a started coroutine, beginning with the value it yielded first
    (what ``yield from`` does after its first step)."""

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self._coro = coro
        self._first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self._coro, self._first
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: it goes into the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return
