"""The mock's TTS endpoint, seen by a raw websocket client: streams, audio, errors and timers.

Timer tests run the server with ``time_scale=0.001``, so a 10 s timeout lasts 10 ms.
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import numpy as np
import pytest
import soundfile as sf

from mock_soniox.testing.common import with_faults
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.target import Target
from mock_soniox.testing.tts import (
    TEXT,
    TtsClient,
    assert_error_end,
    assert_normal_end,
    audio_of,
    open_tts,
    stream_config,
)

Connect = Callable[..., Awaitable[TtsClient]]


@pytest.fixture
async def connect(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> AsyncIterator[Connect]:
    """``await connect(**settings)``: configure the mock, then connect to the target (settings
    apply to new connections; the live service is as it is).

    Timers are long unless a test sets them, so scaled time cannot end what a test did not aim at.
    """
    async with soniox_target.session() as http:

        async def configured_client(**settings: Any) -> TtsClient:
            if mock_behind_target is not None:
                settings.setdefault("tts_connection_idle_timeout_s", 5000.0)
                settings.setdefault("tts_stream_idle_timeout_s", 1000.0)
                settings.setdefault("tts_stream_max_age_s", 10_000.0)
                mock_behind_target.configure(**settings)
            return await open_tts(http, soniox_target.tts_url, soniox_target.headers)

        yield configured_client


# --- The happy path ---


async def test_stream_speaks_text_in_pcm_s16le(tts_client: TtsClient) -> None:
    await tts_client.start("s1", TEXT)
    frames = await tts_client.until_terminated("s1")
    assert_normal_end(frames)
    samples = len(audio_of(frames)) // 2
    expected = len(TEXT) * 0.060 * 24000  # about 60 ms a character at speed 1.0
    assert expected <= samples <= expected + 0.05 * 24000


async def test_audio_is_speech_like_and_deterministic(tts_client: TtsClient) -> None:
    await tts_client.start("a", "Hello world.")
    await tts_client.start("b", "Hello world.")
    first = audio_of(await tts_client.until_terminated("a"))
    second = audio_of(await tts_client.until_terminated("b"))
    assert first == second
    pcm = np.frombuffer(first, dtype="<i2").astype(np.float64) / 32768
    per_char = int(0.060 * 24000)
    space = pcm[5 * per_char : 6 * per_char]  # the space between the words is quiet
    letter = pcm[1 * per_char : 2 * per_char]
    assert np.sqrt(np.mean(space**2)) < 0.01 < np.sqrt(np.mean(letter**2))


async def test_livekit_compact_messages(tts_client: TtsClient) -> None:
    """``text`` defaults to "" and ``text_end`` to false."""
    await tts_client.send(**stream_config("lk"))
    await tts_client.send(stream_id="lk", text="Hi.")
    await tts_client.send(stream_id="lk", text_end=True)
    assert_normal_end(await tts_client.until_terminated("lk"))


async def test_empty_stream_still_ends_with_audio_end(tts_client: TtsClient) -> None:
    await tts_client.send(**stream_config("e"))
    await tts_client.send(stream_id="e", text="", text_end=True)
    assert_normal_end(await tts_client.until_terminated("e"))


async def test_audio_starts_before_text_end_once_a_sentence_is_complete(
    tts_client: TtsClient,
) -> None:
    await tts_client.send(**stream_config("early"))
    await tts_client.send(stream_id="early", text="First sentence. And the")
    frame = await tts_client.receive()
    assert frame["stream_id"] == "early" and frame["audio_end"] is False
    await tts_client.send(stream_id="early", text=" rest", text_end=True)
    assert_normal_end(await tts_client.until_terminated("early"))


@pytest.mark.parametrize(("speed", "factor"), [(0.7, 1 / 0.7), (1.3, 1 / 1.3)])
async def test_speed_changes_the_length(tts_client: TtsClient, speed: float, factor: float) -> None:
    await tts_client.start("s", "Twenty characters ok", speed=speed)
    samples = len(audio_of(await tts_client.until_terminated("s"))) // 2
    expected = 20 * 0.060 * 24000 * factor
    assert expected - 24 <= samples <= expected + 0.05 * 24000


@pytest.mark.parametrize(
    ("audio_format", "sample_rate", "bytes_per_sample"),
    [
        ("pcm_s16le", 16000, 2),
        ("pcm_f32le", 48000, 4),
        ("pcm_mulaw", 8000, 1),
        ("pcm_alaw", 8000, 1),
    ],
)
async def test_raw_formats(
    tts_client: TtsClient, audio_format: str, sample_rate: int, bytes_per_sample: int
) -> None:
    await tts_client.start("s", "Hello.", audio_format=audio_format, sample_rate=sample_rate)
    data = audio_of(await tts_client.until_terminated("s"))
    expected = 6 * 0.060 * sample_rate * bytes_per_sample
    assert expected <= len(data) <= expected + 0.05 * sample_rate * bytes_per_sample


@pytest.mark.parametrize(
    ("audio_format", "sample_rate", "extra"),
    [
        ("wav", 24000, {}),
        ("flac", 44100, {}),
        ("mp3", 24000, {"bitrate": 64000}),
        ("opus", 48000, {"bitrate": 32000}),
    ],
)
async def test_container_formats_decode_to_the_right_length(
    tts_client: TtsClient, audio_format: str, sample_rate: int, extra: dict[str, Any]
) -> None:
    await tts_client.start("s", TEXT, audio_format=audio_format, sample_rate=sample_rate, **extra)
    frames = await tts_client.until_terminated("s")
    assert_normal_end(frames)
    samples, rate = sf.read(io.BytesIO(audio_of(frames)), dtype="float32")
    assert rate == sample_rate
    assert len(samples) / rate == pytest.approx(len(TEXT) * 0.060, abs=0.1)


async def test_timestamps_cover_the_text_and_match_the_audio(tts_client: TtsClient) -> None:
    await tts_client.start("t", TEXT, return_timestamps=True)
    frames = await tts_client.until_terminated("t")
    audio = frames[:-1]
    chars = [c for f in audio for c in f["timestamps"]["characters"]]
    starts = [s for f in audio for s in f["timestamps"]["character_start_times_seconds"]]
    ends = [e for f in audio for e in f["timestamps"]["character_end_times_seconds"]]
    assert "".join(chars) == TEXT
    assert starts[0] == 0.0 and starts == sorted(starts)
    assert all(s < e for s, e in zip(starts, ends, strict=True))
    duration = len(audio_of(frames)) / 2 / 24000
    assert ends[-1] == pytest.approx(duration, abs=0.05)
    # Each frame carries the characters that start inside its audio.
    elapsed = 0.0
    for frame in audio:
        length = len(base64.b64decode(frame["audio"])) / 2 / 24000
        for start in frame["timestamps"]["character_start_times_seconds"]:
            assert elapsed - 1e-3 <= start < elapsed + length + 1e-3
        elapsed += length


async def test_no_timestamps_unless_asked(tts_client: TtsClient) -> None:
    await tts_client.start("t", "Hi.")
    assert all("timestamps" not in f for f in await tts_client.until_terminated("t"))


async def test_streams_interleave_on_one_socket(connect: Connect) -> None:
    client = await connect(time_scale=0.001)
    ids = [f"s{i}" for i in range(5)]
    for stream_id in ids:
        await client.send(**stream_config(stream_id))
    for stream_id in ids:
        await client.send(stream_id=stream_id, text=TEXT * 3, text_end=True)
    for stream_id in ids:
        assert_normal_end(await client.until_terminated(stream_id))
    order = [f["stream_id"] for f in client.frames]
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > len(ids), "each stream's frames came as one block"


async def test_stream_id_is_reusable_after_terminated(tts_client: TtsClient) -> None:
    await tts_client.start("again", "One.")
    assert_normal_end(await tts_client.until_terminated("again"))
    tts_client.by_stream["again"].clear()
    await tts_client.start("again", "Two.")
    assert_normal_end(await tts_client.until_terminated("again"))


# --- cancel and keep_alive ---


async def test_cancel_gets_terminated_only(connect: Connect) -> None:
    client = await connect(time_scale=1.0)
    await client.send(**stream_config("c"))
    await client.send(stream_id="c", text="Hello there")  # no sentence end yet: nothing to say
    await client.send(stream_id="c", cancel=True)
    assert await client.until_terminated("c") == [{"stream_id": "c", "terminated": True}]


async def test_cancel_mid_audio_stops_the_audio(connect: Connect) -> None:
    client = await connect(time_scale=0.05)
    await client.send(**stream_config("c"))
    await client.send(stream_id="c", text=TEXT * 20, text_end=True)
    first = await client.receive()
    assert first["stream_id"] == "c" and "audio" in first
    await client.send(stream_id="c", cancel=True)
    frames = await client.until_terminated("c")
    assert all(f.get("audio_end") is False for f in frames[:-1])
    # Nothing more for "c" after its terminated: a later stream completes with no stray frame.
    await client.start("d", "Done.")
    assert_normal_end(await client.until_terminated("d"))
    assert client.by_stream["c"][-1] == {"stream_id": "c", "terminated": True}


async def test_keep_alive_is_silent_and_journaled(
    mock_behind_target: MockSoniox | None, tts_client: TtsClient
) -> None:
    await tts_client.send(keep_alive=True)
    await tts_client.start("k", "Hi.")
    frames = await tts_client.until_terminated("k")
    assert all(f["stream_id"] == "k" for f in frames)
    if mock_behind_target is None:
        return  # the live service has no journal
    kinds = [e.kind for e in mock_behind_target.journal.client_frames(endpoint="tts")]
    assert kinds == ["keep_alive", "config", "text_end"]


# --- Per-stream errors (the socket stays open) ---


@pytest.mark.parametrize(
    ("fields", "error_type", "message"),
    [
        ({"model": None}, "invalid_request", "Missing required field: model"),
        ({"voice": None}, "invalid_request", "Missing required field: voice"),
        ({"language": None}, "invalid_request", "Missing required field: language"),
        ({"audio_format": None}, "invalid_request", "Missing required field: audio_format"),
        ({"model": "tts-rt-v9"}, "model_not_available", "Invalid model specified."),
        ({"model": 7}, "invalid_request", "model must be a string."),
        ({"voice": "V" * 51}, "invalid_request", "voice must be between 1 and 50"),
        ({"language": ""}, "invalid_request", "language must be between 1 and 50"),
        ({"audio_format": "ogg"}, "invalid_request", "audio_format must be one of"),
        ({"audio_format": "aac"}, "invalid_request", "audio_format aac is not supported"),
        ({"sample_rate": 22050}, "invalid_request", "sample_rate for pcm_s16le must be one of"),
        (
            {"audio_format": "pcm_mulaw", "sample_rate": 16000},
            "invalid_request",
            "sample_rate for pcm_mulaw",
        ),
        ({"audio_format": "flac", "sample_rate": 8000}, "invalid_request", "sample_rate for flac"),
        ({"sample_rate": "24000"}, "invalid_request", "sample_rate must be an integer."),
        ({"bitrate": 64000}, "invalid_request", "bitrate is only supported for"),
        (
            {"audio_format": "opus", "bitrate": 320000},
            "invalid_request",
            "bitrate for opus must be one of",
        ),
        ({"speed": 1.5}, "invalid_request", "speed must be between 0.7 and 1.3"),
        ({"speed": 0.69}, "invalid_request", "speed must be between 0.7 and 1.3"),
        ({"speed": "fast"}, "invalid_request", "speed must be a number."),
        (
            {"model": "tts-rt-v1", "reduce_silence": True},
            "invalid_request",
            "reduce_silence is not supported by model tts-rt-v1",
        ),
        ({"return_timestamps": "yes"}, "invalid_request", "return_timestamps must be a boolean."),
        ({"client_reference_id": "r" * 257}, "invalid_request", "client_reference_id must be"),
    ],
)
async def test_bad_config_is_a_stream_error(
    tts_client: TtsClient, fields: dict[str, Any], error_type: str, message: str
) -> None:
    config = stream_config("bad")
    config.update(fields)
    await tts_client.send(**{k: v for k, v in config.items() if v is not None})
    error = assert_error_end(await tts_client.until_terminated("bad"), 400, error_type)
    assert error["error_message"].startswith(message)
    # The socket is still usable.
    await tts_client.start("good", "Hi.")
    assert_normal_end(await tts_client.until_terminated("good"))


async def test_null_optional_fields_mean_absent(tts_client: TtsClient) -> None:
    await tts_client.start(
        "n", "Hi.", sample_rate=None, speed=None, return_timestamps=None, reduce_silence=None
    )
    assert_normal_end(await tts_client.until_terminated("n"))


async def test_reduce_silence_on_a_model_that_supports_it(tts_client: TtsClient) -> None:
    await tts_client.start("r", "Hi.", model="tts-rt-v2", reduce_silence=True)
    assert_normal_end(await tts_client.until_terminated("r"))


async def test_long_stream_id_is_rejected(tts_client: TtsClient) -> None:
    long_id = "x" * 257
    await tts_client.send(**stream_config(long_id))
    error = assert_error_end(await tts_client.until_terminated(long_id), 400, "invalid_request")
    assert "stream_id must be between 1 and 256" in error["error_message"]


async def test_sixth_concurrent_stream_is_refused(tts_client: TtsClient) -> None:
    for i in range(5):
        await tts_client.send(**stream_config(f"s{i}"))
    await tts_client.send(**stream_config("s5"))
    error = assert_error_end(
        await tts_client.until_terminated("s5"), 400, "max_concurrent_streams_reached"
    )
    assert error["error_message"] == "Maximum number of concurrent streams (5) reached."
    for i in range(5):  # the five are unaffected
        await tts_client.send(stream_id=f"s{i}", text="Ok.", text_end=True)
    for i in range(5):
        assert_normal_end(await tts_client.until_terminated(f"s{i}"))


async def test_duplicate_active_stream_id(tts_client: TtsClient) -> None:
    await tts_client.send(**stream_config("dup"))
    await tts_client.send(**stream_config("dup"))
    assert_error_end(await tts_client.until_terminated("dup"), 400, "invalid_stream_state")


@pytest.mark.parametrize(
    "message",
    [
        {"text": "Hello."},
        {"text": "", "text_end": True},
        {"text_end": True},
        {"cancel": True},
    ],
)
async def test_unknown_stream(tts_client: TtsClient, message: dict[str, Any]) -> None:
    await tts_client.send(stream_id="ghost", **message)
    error = assert_error_end(await tts_client.until_terminated("ghost"), 400, "invalid_request")
    assert error["error_message"] == "Stream ghost not found. Send a start message first."


async def test_text_after_text_end(connect: Connect) -> None:
    client = await connect(time_scale=1.0)  # the first stream is still speaking
    await client.start("late", TEXT)
    await client.send(stream_id="late", text="More.")
    frames = await client.until_terminated("late")
    assert_error_end(frames, 400, "invalid_stream_state")
    assert frames[-2]["error_message"] == "Text received after text_end."


async def test_oversized_text(tts_client: TtsClient) -> None:
    await tts_client.send(**stream_config("big"))
    await tts_client.send(stream_id="big", text="a" * 5001)
    error = assert_error_end(await tts_client.until_terminated("big"), 400, "invalid_request")
    assert "5000" in error["error_message"]


async def test_text_at_the_limit_is_spoken(connect: Connect) -> None:
    client = await connect(tts_max_text_chars=50)
    await client.send(**stream_config("edge", audio_format="pcm_mulaw", sample_rate=8000))
    await client.send(stream_id="edge", text="a" * 50, text_end=True)
    assert_normal_end(await client.until_terminated("edge"))


# --- Timers (time_scale 0.001: seconds become milliseconds) ---


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_stream_idle_timeout(connect: Connect) -> None:
    client = await connect(time_scale=0.001, tts_stream_idle_timeout_s=10)
    await client.send(**stream_config("idle"))
    await client.send(stream_id="idle", text="Hello")
    error = assert_error_end(await client.until_terminated("idle"), 408, "request_timeout")
    assert error["error_message"] == "Request timeout"
    await client.start("next", "Still open.")
    assert_normal_end(await client.until_terminated("next"))


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_keep_alive_does_not_reset_the_stream_timer_but_keeps_the_socket(
    connect: Connect,
) -> None:
    client = await connect(
        time_scale=0.001,
        tts_stream_idle_timeout_s=30,
        tts_connection_idle_timeout_s=100,
    )
    await client.send(**stream_config("k"))

    async def keep_alive() -> None:
        while True:
            await client.send(keep_alive=True)
            await asyncio.sleep(0.01)

    pinger = asyncio.create_task(keep_alive())
    try:
        assert_error_end(await client.until_terminated("k"), 408, "request_timeout")
        # Far longer than the 100 ms connection idle timeout, kept alive by keep_alive alone.
        await asyncio.sleep(0.5)
        await client.start("after", "Hi.")
        assert_normal_end(await client.until_terminated("after"))
    finally:
        pinger.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pinger


async def test_text_resets_the_stream_timer(connect: Connect) -> None:
    client = await connect(
        time_scale=0.001,
        tts_stream_idle_timeout_s=200,
        tts_stream_max_age_s=10_000,
    )
    await client.send(**stream_config("busy"))
    for _ in range(10):  # 500 ms of text, every 50 ms, against a 200 ms timer
        await client.send(stream_id="busy", text="word ")
        await asyncio.sleep(0.05)
    await client.send(stream_id="busy", text_end=True)
    assert_normal_end(await client.until_terminated("busy"))


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_stream_max_age(connect: Connect) -> None:
    client = await connect(
        time_scale=0.001, tts_stream_idle_timeout_s=1000, tts_stream_max_age_s=60
    )
    await client.send(**stream_config("old"))
    await client.send(stream_id="old", text="Waiting")
    error = assert_error_end(await client.until_terminated("old"), 408, "request_timeout")
    assert "maximum duration" in error["error_message"]


@pytest.mark.mock_only(reason="timers shortened by the time scale")
async def test_connection_idle_timeout_closes_1001(connect: Connect) -> None:
    client = await connect(time_scale=0.001, tts_connection_idle_timeout_s=30)
    assert await client.expect_close() == 1001
    assert client.frames == []


async def test_active_stream_keeps_the_connection_open(connect: Connect) -> None:
    """The connection idle timer only runs while no stream is active."""
    client = await connect(
        time_scale=0.001,
        tts_connection_idle_timeout_s=20,
        tts_realtime_factor=0.1,
    )
    await client.start("long", TEXT)  # ~19 s of audio produced at 0.1x: ~190 ms here
    assert_normal_end(await client.until_terminated("long"))
    assert await client.expect_close() == 1001


# --- Connection-level errors (the socket closes) ---


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "Invalid message: not valid JSON."),
        ("[1, 2]", "Invalid message: expected a JSON object."),
        ('{"text": "Hello."}', "Missing required field: stream_id"),
    ],
)
async def test_bad_frames_close_the_connection(
    mock_soniox: MockSoniox, tts_client: TtsClient, payload: str, message: str
) -> None:
    await tts_client.ws.send_str(payload)
    frame = await tts_client.receive()
    assert "stream_id" not in frame
    assert frame["error_code"] == 400 and frame["error_message"] == message
    assert await tts_client.expect_close() == 1000


async def test_binary_frame_closes_the_connection(tts_client: TtsClient) -> None:
    await tts_client.ws.send_bytes(b"\x00\x01")
    frame = await tts_client.receive()
    assert frame["error_code"] == 400 and "Binary" in frame["error_message"]
    assert await tts_client.expect_close() == 1000


async def test_a_bad_connection_leaves_others_alone(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    good = await open_tts(http, mock_soniox.tts_url)
    bad = await open_tts(http, mock_soniox.tts_url)
    await good.send(**stream_config("g"))
    await bad.ws.send_str("{oops")
    assert await bad.expect_close() == 1000
    await good.send(stream_id="g", text="Fine.", text_end=True)
    assert_normal_end(await good.until_terminated("g"))
    await good.ws.close()


async def test_oversized_frame_closes_1009(mock_soniox: MockSoniox, connect: Connect) -> None:
    client = await connect(max_msg_size=1024)
    await client.send(stream_id="s", text="a" * 2000)
    assert await client.expect_close() == 1009
    entry = await mock_soniox.journal.wait_for(
        lambda e: e.direction == "c2s" and e.kind == "invalid"
    )
    assert entry.endpoint == "tts"


# --- Legacy auth: the key inside each stream's config ---


async def test_legacy_key_in_stream_config(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(api_keys=("legacy-s3cret",))
    client = await open_tts(http, mock_soniox.tts_url, headers=None)
    await client.send(**stream_config("a", api_key="legacy-s3cret"))
    await client.send(stream_id="a", text="Hi.", text_end=True)
    assert_normal_end(await client.until_terminated("a"))
    # Once authenticated, later streams may omit the key.
    await client.start("b", "Again.")
    assert_normal_end(await client.until_terminated("b"))
    assert "legacy-s3cret" not in repr(mock_soniox.journal.entries())


async def test_legacy_missing_or_wrong_key_is_a_stream_error(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(api_keys=("good",))
    client = await open_tts(http, mock_soniox.tts_url, headers=None)
    await client.send(**stream_config("none"))
    error = assert_error_end(await client.until_terminated("none"), 401, "unauthenticated")
    assert error["error_message"] == "Missing API key."
    await client.send(**stream_config("wrong", api_key="bad"))
    error = assert_error_end(await client.until_terminated("wrong"), 401, "unauthenticated")
    assert error["error_message"] == "Incorrect API key provided."
    await client.start("right", "Hi.", api_key="good")
    assert_normal_end(await client.until_terminated("right"))


async def test_key_in_header_and_config_is_rejected(tts_client: TtsClient) -> None:
    await tts_client.send(**stream_config("both", api_key="test-key"))
    error = assert_error_end(await tts_client.until_terminated("both"), 400, "invalid_request")
    assert error["error_message"] == "Send the API key in one place only."


async def test_legacy_connection_without_a_key_is_closed(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    """Keepalives do not authenticate: no valid config within the deadline -> 401 and close."""
    mock_soniox.configure(time_scale=0.001, tts_legacy_auth_timeout_s=20.0)
    client = await open_tts(http, mock_soniox.tts_url, headers=None)
    await client.send(keep_alive=True)
    frame = await client.receive()
    assert frame["error_code"] == 401 and "stream_id" not in frame
    assert await client.expect_close() == 1000


# --- Fault hooks (armed with ?fault= at the handshake) ---


async def test_fault_error_on_the_second_stream(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    client = await open_tts(http, with_faults(mock_soniox.tts_url, "error:code=402,stream=2"))
    await client.start("one", "Hi.")
    assert_normal_end(await client.until_terminated("one"))
    await client.start("two", "Hi.")
    frames = await client.until_terminated("two")
    assert len(frames) == 2
    assert_error_end(frames, 402, "organization_balance_exhausted")


async def test_fault_no_audio_end(mock_soniox: MockSoniox, http: aiohttp.ClientSession) -> None:
    client = await open_tts(http, with_faults(mock_soniox.tts_url, "no_audio_end:stream=1"))
    await client.start("s", TEXT)
    frames = await client.until_terminated("s")
    assert len(frames) > 1
    assert all(f.get("audio_end") is False for f in frames[:-1])


async def test_fault_slow_paces_audio_slower_than_real_time(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(time_scale=0.1, tts_time_to_first_audio_ms=0)
    client = await open_tts(http, with_faults(mock_soniox.tts_url, "slow:rtf=2,stream=1"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.start("s", "Hello world.")  # 0.72 s of audio: 1.44 s at rtf 2, scaled by 0.1
    assert_normal_end(await client.until_terminated("s"))
    # The last chunk leaves after all earlier audio was paced out (0.62 s of audio x 2 x 0.1).
    assert loop.time() - started >= 0.12
