"""Real AgentSessions (livekit-agents 1.8.9) with our Soniox STT/TTS against the in-process mock.

The caller is the two-turn fixture ("What is the weather like today?", 3.5 s of silence, "Thank
you, goodbye."), played at 2x real time with replies played out at the same speed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from mock_soniox.agents import OfflineSession, TurnMode
from mock_soniox.agents.pytest_plugin import StartOfflineAgent, offline_agent

__all__ = ["offline_agent"]  # the fixture, opted into by importing it

TURN_1 = "What is the weather like today?"
TURN_2 = "Thank you, goodbye."
SPEED = 2.0
LONG_REPLY = " ".join(["It will be sunny in the morning and cloudy in the afternoon."] * 6)


BAD_LOG_TEXT = (
    "Unclosed client session",
    "Unclosed connection",
    "Task exception was never retrieved",
)


@pytest.fixture(autouse=True)
async def clean_run(caplog: pytest.LogCaptureFixture) -> AsyncIterator[list[dict[str, Any]]]:
    """Fail a test whose run logged an error, a traceback, an unclosed aiohttp session or an
    unretrieved task exception (they surface at garbage collection, so collect first)."""
    caplog.set_level(logging.WARNING)
    loop = asyncio.get_running_loop()
    unhandled: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
    try:
        yield unhandled
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    bad = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR
        or r.exc_info
        or any(text in r.getMessage() for text in BAD_LOG_TEXT)
        or "Traceback" in r.getMessage()
    ]
    bad += [str(c.get("message")) for c in unhandled]
    assert not bad, "the run logged:\n" + "\n".join(bad)


def _loud(pcm: bytes) -> bool:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    return bool(samples.size) and float(np.sqrt(np.mean(samples * samples))) > 100.0


async def _start(offline_agent: StartOfflineAgent, turn: TurnMode, **kw: Any) -> OfflineSession:
    return await offline_agent(turn=turn, speed=SPEED, **kw)


@pytest.mark.parametrize("turn", ["stt", "vad"])
async def test_agent_hears_each_turn_and_answers_it_with_audio(
    offline_agent: StartOfflineAgent, turn: TurnMode
) -> None:
    call = await _start(offline_agent, turn, llm=lambda text: f"You said {text}")

    replies = await call.wait_for_replies(2, timeout_s=30)

    assert [t.text for t in call.user_transcripts] == [TURN_1, TURN_2]
    assert [c.user_text for c in call.llm.calls] == [TURN_1, TURN_2]  # type: ignore[attr-defined]
    for reply in replies:
        assert not reply.interrupted
        assert reply.played_s == pytest.approx(reply.pushed_s)
        assert reply.pushed_s > 0.5
        assert _loud(reply.heard_pcm)
    # each reply starts after its turn ended, and before the caller speaks again
    timings = call.turn_timings()
    assert [t.user_speech_end_s for t in timings] == [s.end_s for s in call.audio_in.spans]
    assert all(0 < t.latency_s < 3.0 for t in timings)


@pytest.mark.parametrize("turn", ["stt", "vad"])
async def test_caller_speaking_over_the_reply_interrupts_it(
    offline_agent: StartOfflineAgent, turn: TurnMode
) -> None:
    call = await _start(offline_agent, turn, llm=[LONG_REPLY, "Goodbye!"])

    replies = await call.wait_for_replies(2, timeout_s=30)

    first, second = replies[:2]
    assert first.interrupted
    assert first.played_s < first.pushed_s
    # it stopped soon after the caller started speaking again (within 3 s of their audio)
    turn_2_start = call.audio_in.loop_time_of(call.audio_in.spans[1].start_s)
    assert first.ended_at is not None
    assert 0 < (first.ended_at - turn_2_start) * SPEED < 3.0
    assert not second.interrupted
    assert call.user_transcripts[-1].text == TURN_2


async def test_push_to_talk_commit_resolves_promptly(offline_agent: StartOfflineAgent) -> None:
    call = await _start(offline_agent, "manual", llm=["Sunny all day."])
    # the caller releases the button as they stop speaking, before the service's endpoint
    await asyncio.wait_for(call.audio_in.wait_for_position(call.audio_in.spans[0].end_s), 10)

    started = time.monotonic()
    transcript = await asyncio.wait_for(call.session.commit_user_turn(), 5)

    assert time.monotonic() - started < 1.0
    assert transcript == TURN_1
    replies = await call.wait_for_replies(1, timeout_s=10)
    assert _loud(replies[0].heard_pcm)


async def test_push_to_talk_after_the_endpoint_resolves_promptly(
    offline_agent: StartOfflineAgent,
) -> None:
    call = await _start(offline_agent, "manual", llm=["Sunny all day."])
    await call.wait_for_transcripts(1, timeout_s=10)  # everything is final: flush closes nothing

    started = time.monotonic()
    transcript = await asyncio.wait_for(call.session.commit_user_turn(), 5)

    assert transcript == TURN_1
    assert time.monotonic() - started < 1.0


async def test_manual_turns_get_no_reply_until_committed(offline_agent: StartOfflineAgent) -> None:
    call = await _start(offline_agent, "manual", llm=["Sunny all day."])

    await call.wait_for_transcripts(2, timeout_s=15)

    assert call.replies == []
    assert call.llm.calls == []  # type: ignore[attr-defined]


async def test_aclose_returns_promptly(offline_agent: StartOfflineAgent) -> None:
    call = await offline_agent(turn="stt", speed=SPEED, llm=["Sunny all day."])
    await call.wait_for_replies(1, timeout_s=30)

    started = time.monotonic()
    await asyncio.wait_for(call.session.aclose(), 10)

    assert time.monotonic() - started < 1.0
