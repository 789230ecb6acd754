"""Randomized fault schedules from the mock's grammar (issue 14): whatever goes wrong, and when,
the caller gets the same words at the same times (STT) or the same audio with no sentence twice
or skipped (TTS), only livekit ``APIError``s, and nothing left running.

Seeded and derandomized: the same examples on every run, about half a minute in all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livekit.agents import APIConnectOptions, APIError
from livekit.agents.stt import SpeechEvent, SpeechEventType

from mock_soniox.testing.pytest_plugin import MockSoniox

from .conftest import other_tasks, speech_like_audio
from .test_stt_faults import assert_same_words
from .test_stt_stream import make_stt, run_stream
from .test_tts_faults import LONG, assert_heard_once
from .tts_helpers import make_tts, speak

E = SpeechEventType
AUDIO = speech_like_audio(utterances=3)  # about 4.5 s, three endpoints
AUDIO_MS = 4400
RETRIES = APIConnectOptions(max_retry=6, retry_interval=0.01, timeout=5.0)
PROPERTY = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# One fault per connection, drawn from the mock's grammar. after_frames counts the config, so
# small values land right after the handshake or in the middle of re-sent audio.
stt_fault = st.one_of(
    st.builds("drop:after_ms={}".format, st.integers(0, AUDIO_MS)),
    st.builds("drop:after_frames={}".format, st.integers(1, 30)),
    st.just("drop"),
    st.builds("close:code=1011,after_ms={}".format, st.integers(0, AUDIO_MS)),
    st.builds(
        "error:code={},after_ms={}".format,
        st.sampled_from([408, 429, 500, 503]),
        st.integers(0, AUDIO_MS),
    ),
    st.builds("refuse:status={}".format, st.sampled_from([429, 500, 503])),
    st.builds("stall:after_ms={}".format, st.integers(0, AUDIO_MS)),
)

_baseline: list[SpeechEvent] = []


def _synthetic_only(mock: MockSoniox) -> None:
    """A fresh mock that transcribes synthetically: a session that begins with re-sent audio
    must not be taken for one of the recorded fixtures (the audio matcher can pick one)."""
    mock.reset()
    mock.configure(fixtures_match_audio=False)


def once(spec: str) -> str:
    """The spec for the first connection that carries it only."""
    return f"{spec}{',' if ':' in spec else ':'}times=1"


async def _stt_baseline(mock: MockSoniox, session: aiohttp.ClientSession) -> list[SpeechEvent]:
    if not _baseline:
        _synthetic_only(mock)
        _baseline.extend(await asyncio.wait_for(run_stream(make_stt(mock, session), AUDIO), 10))
    return _baseline


@PROPERTY
@given(schedule=st.lists(stt_fault, min_size=1, max_size=4))
async def test_stt_survives_any_fault_schedule(
    mock_soniox: MockSoniox, http_session: aiohttp.ClientSession, schedule: list[str]
) -> None:
    expected = await _stt_baseline(mock_soniox, http_session)
    _synthetic_only(mock_soniox)
    stt = make_stt(mock_soniox, http_session)
    stt._heartbeat_s = 0.2  # a stalled socket is noticed in a fraction of a second
    upcoming = list(schedule)
    errors: list[Any] = []

    def arm_next(error: Any = None) -> None:
        if error is not None:
            errors.append(error)
        if upcoming:  # the next connection (and only it) gets the next fault
            mock_soniox.faults.add(once(upcoming.pop(0)))

    arm_next()
    stt.on("error", arm_next)
    events = await asyncio.wait_for(run_stream(stt, AUDIO, RETRIES), 30)
    assert all(isinstance(e.error, APIError) and e.recoverable for e in errors)
    # Every word once, in order, at the same time, in final transcripts. (Where a drop lands in
    # an endpoint's silence, the new session may not hear that endpoint: two utterances can
    # then arrive as one final. The words and their times are the same.)
    assert_same_words(events, expected)
    kinds = [e.type for e in events]
    assert kinds.count(E.FINAL_TRANSCRIPT) == kinds.count(E.END_OF_SPEECH) >= 1
    assert not other_tasks()


tts_fault = st.one_of(
    st.builds("drop:after_frames={}".format, st.integers(1, 8)),
    st.builds("close:code=1011,after_frames={}".format, st.integers(1, 8)),
    st.builds(
        "error:code={},stream={}".format, st.sampled_from([408, 429, 500, 503]), st.integers(1, 3)
    ),
    st.builds("no_audio_end:stream={}".format, st.integers(1, 3)),
    st.builds("conn_error:code=503,after_ms={}".format, st.integers(0, 300)),
)


@PROPERTY
@given(schedule=st.lists(tts_fault, min_size=1, max_size=2))
async def test_tts_survives_any_fault_schedule(
    mock_soniox: MockSoniox, schedule: list[str]
) -> None:
    mock_soniox.reset()
    mock_soniox.configure(time_scale=0.01)  # paced a little, so faults land while audio flows
    specs = [once(spec) for spec in schedule]  # the first connection only
    async with make_tts(mock_soniox, *specs, return_timestamps=True) as t:
        heard = await asyncio.wait_for(speak(t, LONG), 30)
    assert_heard_once(heard.words, heard.duration_ms, LONG)  # nothing twice, nothing skipped
    assert not other_tasks()
