"""TTS faults from the mock: what fails, what is replayed, and that nothing is lost or repeated."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import APIConnectOptions, APIStatusError, APITimeoutError
from tests.tts_helpers import (
    FAST,
    collect,
    connections,
    count,
    expected_ms,
    make_tts,
    speak,
    stream_errors,
    tts_entries,
    watch,
    words_of,
)

from mock_soniox.testing.pytest_plugin import MockSoniox

LONG = (
    "The first sentence sets the scene. The second one carries on for a while. "
    "A third adds some detail to the story. The fourth turns it around. "
    "And the fifth brings everything to a quiet end."
)
NO_RETRY = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=5.0)


def assert_heard_once(heard_words: list[str], heard_ms: float, text: str) -> None:
    """Every word exactly once, in order, and the audio as long as the text takes to say."""
    assert [w.strip() for w in heard_words] == words_of(text)
    assert heard_ms == pytest.approx(expected_ms(text), abs=150)


async def test_drop_mid_stream_replays_without_gap_or_repeat(mock_soniox: MockSoniox) -> None:
    # paced output (1 s of mock time = 20 ms here), so the drop lands while audio is flowing
    mock_soniox.configure(time_scale=0.02)
    async with make_tts(mock_soniox, "drop:after_ms=900,times=1", return_timestamps=True) as t:
        heard = await speak(t, LONG)
    entries = tts_entries(mock_soniox)
    assert len(connections(entries)) == 2
    assert count(entries, "event", "abort") == 1
    assert count(entries, "s2c", "audio") > 0
    assert_heard_once(heard.words, heard.duration_ms, LONG)
    assert len(heard.request_ids) == 1  # one attempt: the replay happened inside it


@pytest.mark.parametrize("after_frames", [2, 3, 4])
async def test_drop_between_sentences_replays_the_rest(
    mock_soniox: MockSoniox, after_frames: int
) -> None:
    async with make_tts(
        mock_soniox, f"drop:after_frames={after_frames},times=1", return_timestamps=True
    ) as t:
        heard = await speak(t, LONG)
    assert len(connections(tts_entries(mock_soniox))) == 2
    assert_heard_once(heard.words, heard.duration_ms, LONG)


async def test_terminated_without_audio_end_is_not_heard_twice(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "no_audio_end:stream=1,times=1", return_timestamps=True) as t:
        heard = await speak(t, LONG)
    assert_heard_once(heard.words, heard.duration_ms, LONG)


async def test_terminated_without_audio_is_retried(mock_soniox: MockSoniox) -> None:
    # terminated right away, nothing spoken: the whole text goes again on a new stream
    async with make_tts(mock_soniox, "error:code=503,stream=1,times=1") as t:
        heard = await speak(t, "Short and sweet.")
    assert heard.duration_ms == pytest.approx(expected_ms("Short and sweet."), abs=60)
    assert count(tts_entries(mock_soniox), "c2s", "config") == 2


async def test_rate_limited_stream_is_retried(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "error:code=429,stream=1", return_timestamps=True) as t:
        heard = await speak(t, LONG)
    errors = stream_errors(tts_entries(mock_soniox))
    # text already on the wire when the 429 came back is answered "not found": harmless
    assert [e["error_code"] for e in errors if "not found" not in e["error_message"]] == [429]
    assert_heard_once(heard.words, heard.duration_ms, LONG)


async def test_service_idle_timeout_408_loses_nothing(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(tts_stream_idle_timeout_s=0.3)
    async with (
        make_tts(mock_soniox, return_timestamps=True) as t,
        watch(mock_soniox) as journal,
        t.stream(conn_options=FAST) as stream,
    ):
        stream.push_text("Before the pause. ")
        await journal.until(lambda e: len(stream_errors(e)) == 1)  # the service's 408
        stream.push_text("After the pause.")
        stream.end_input()
        heard = await collect(stream)
    errors = stream_errors(tts_entries(mock_soniox))
    assert [e["error_code"] for e in errors if "not found" not in e["error_message"]] == [408]
    assert_heard_once(heard.words, heard.duration_ms, "Before the pause. After the pause.")


@pytest.mark.parametrize(
    ("code", "message"),
    [(400, "Invalid request."), (401, "Incorrect API key"), (402, "balance exhausted")],
)
async def test_client_errors_are_not_retried_and_carry_the_message(
    mock_soniox: MockSoniox, code: int, message: str
) -> None:
    async with make_tts(mock_soniox, f"error:code={code},stream=1") as t:
        failing = t.stream(conn_options=FAST)
        failing.push_text("This one fails.")
        failing.end_input()
        with pytest.raises(APIStatusError) as info:
            await collect(failing)
        await failing.aclose()
        ok = await speak(t, "This one works.")  # same connection, next stream
    assert info.value.status_code == code
    assert message in info.value.message
    assert not info.value.retryable
    assert count(tts_entries(mock_soniox), "c2s", "config") == 2
    assert len(connections(tts_entries(mock_soniox))) == 1
    assert ok.duration_ms == pytest.approx(expected_ms("This one works."), abs=60)


async def test_per_stream_error_leaves_the_other_streams_alone(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "error:code=400,stream=2") as t, watch(mock_soniox) as j:
        streams = [t.stream(conn_options=FAST) for _ in range(3)]
        for i, stream in enumerate(streams):
            stream.push_text(f"Stream {i} speaks. ")
            configs = i + 1  # one at a time, so "stream=2" is this list's second stream
            await j.until(lambda e: count(e, "c2s", "config") == configs)  # noqa: B023
        for stream in streams:
            stream.end_input()
        results = await asyncio.gather(*(collect(s) for s in streams), return_exceptions=True)
        for stream in streams:
            await stream.aclose()
    assert isinstance(results[1], APIStatusError)
    for i in (0, 2):
        heard = results[i]
        assert not isinstance(heard, BaseException)
        assert heard.duration_ms == pytest.approx(expected_ms(f"Stream {i} speaks. "), abs=60)


async def test_connection_error_fails_over_to_a_new_connection(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "conn_error:code=500,times=1") as t:
        heard = await speak(t, "Recovered after a server fault.")
    entries = tts_entries(mock_soniox)
    assert len(connections(entries)) == 2
    assert heard.duration_ms == pytest.approx(
        expected_ms("Recovered after a server fault."), abs=60
    )


async def test_connection_level_auth_error_is_final(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "conn_error:code=401") as t:
        with pytest.raises(APIStatusError) as info:
            await speak(t, "Nobody hears this.")
    assert info.value.status_code == 401
    assert not info.value.retryable


async def test_refused_handshake_is_reported_with_its_status(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "refuse:status=402") as t:
        with pytest.raises(APIStatusError) as info:
            await speak(t, "Nobody hears this.", NO_RETRY)
    assert info.value.status_code == 402


async def test_refused_handshake_503_is_retried(mock_soniox: MockSoniox) -> None:
    async with make_tts(mock_soniox, "refuse:status=503,times=1") as t:
        heard = await speak(t, "Second time lucky.")
    assert heard.duration_ms == pytest.approx(expected_ms("Second time lucky."), abs=60)


async def test_close_1001_is_read_as_a_connection_loss(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(time_scale=0.02)
    async with make_tts(mock_soniox, "close:code=1001,after_ms=900,times=1") as t:
        heard = await speak(t, LONG)
    assert len(connections(tts_entries(mock_soniox))) == 2
    assert heard.duration_ms == pytest.approx(expected_ms(LONG), abs=150)


async def test_a_silent_service_fails_the_stream_instead_of_hanging(
    mock_soniox: MockSoniox,
) -> None:
    options = APIConnectOptions(max_retry=0, retry_interval=0.1, timeout=0.5)
    async with make_tts(mock_soniox, "stall:after_frames=1") as t:
        with pytest.raises(APITimeoutError):
            async with asyncio.timeout(10):
                await speak(t, "Into the void.", options)
