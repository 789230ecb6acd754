"""``start_eagerly``: a coroutine run synchronously until it has to wait, then by a task."""

from __future__ import annotations

import asyncio

import pytest

from livekit.plugins.soniox._eager import start_eagerly


async def test_a_coroutine_that_never_waits_finishes_in_the_call() -> None:
    done: list[str] = []

    async def work() -> None:
        done.append("ran")

    assert start_eagerly(work()) is None
    assert done == ["ran"]


async def test_a_coroutine_that_waits_is_finished_by_a_task() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def work() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield in between is handed through too
        steps.append("after")

    task = start_eagerly(work())
    assert task is not None
    assert steps == ["before"]  # ran synchronously up to the wait
    gate.set_result("woken")
    await task
    assert steps == ["before", "woken", "after"]


async def test_an_error_before_the_first_wait_reaches_the_caller() -> None:
    async def work() -> None:
        raise ConnectionResetError("closing")

    with pytest.raises(ConnectionResetError):
        start_eagerly(work())


async def test_an_error_after_the_wait_ends_the_task() -> None:
    async def work() -> None:
        await asyncio.sleep(0)
        raise ConnectionResetError("lost")

    task = start_eagerly(work())
    assert task is not None
    with pytest.raises(ConnectionResetError):
        await task


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    cleaned: list[str] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("finally")

    task = start_eagerly(work())
    assert task is not None
    await asyncio.sleep(0)  # the task takes over the wait
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"]
