"""TTS clients that misbehave: they stop reading, send too much, or meet a failing encoder."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mock_soniox.testing.common import wait_for_count
from mock_soniox.testing.leaks import mock_allocations
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.tts import (
    NonReadingClient,
    TtsClient,
    assert_error_end,
    assert_normal_end,
    audio_of,
    open_tts,
    stream_config,
)
from mock_soniox.tts.config import BITRATES, SAMPLE_RATES, UNSUPPORTED_FORMATS
from mock_soniox.tts.encoder import StreamEncoder

LONG_TEXT = "A sentence that goes on for a while, as replies do. " * 96  # ~5,000 characters


async def open_silent_clients(url: str) -> list[NonReadingClient]:
    """Five connections, five long pcm_f32le streams each, none of them ever read."""
    clients = [await NonReadingClient.connect(url) for _ in range(5)]
    for c, client in enumerate(clients):
        for s in range(5):
            sid = f"c{c}s{s}"
            await client.send(stream_config(sid, audio_format="pcm_f32le", sample_rate=48000))
            await client.send({"stream_id": sid, "text": LONG_TEXT[:4990], "text_end": True})
    return clients


async def test_a_client_that_stops_reading_is_cut_off(mock_soniox: MockSoniox) -> None:
    # send_timeout_s: 10 s -> 100 ms; streams do not idle out while the client sends them.
    mock_soniox.configure(time_scale=0.01, tts_stream_idle_timeout_s=1000.0)
    journal = mock_soniox.journal
    clients = await open_silent_clients(mock_soniox.tts_url)
    try:
        cut = await wait_for_count(journal, lambda e: e.kind == "send_timeout", 5, within=30)
        assert len({e.conn_id for e in cut}) == 5
        await wait_for_count(journal, lambda e: e.kind == "closed", 5, within=30)
        assert mock_soniox.connections() == []
    finally:
        for client in clients:
            client.close()


async def test_memory_stays_bounded_and_the_stream_cap_holds_while_sends_block(
    mock_soniox: MockSoniox,
) -> None:
    # Sends may block for as long as they like; only the 2-minute cap (1.2 s here) ends streams.
    mock_soniox.configure(
        time_scale=0.01, send_timeout_s=100_000.0, tts_stream_idle_timeout_s=1000.0
    )
    journal = mock_soniox.journal
    with mock_allocations() as held:
        clients = await open_silent_clients(mock_soniox.tts_url)
        try:
            capped = await wait_for_count(
                journal,
                lambda e: e.kind == "error" and "maximum duration" in str(e.data),
                25,
                within=30,
            )
            assert len({e.stream_id for e in capped}) == 25
            held_while_blocked = held()
        finally:
            for client in clients:
                client.close()
    # 25 streams of ~5 minutes of 48 kHz float audio each would be ~2.9 GB if made up front.
    assert held_while_blocked < 64 * 2**20, f"the mock holds {held_while_blocked / 2**20:.0f} MB"


@pytest.mark.parametrize(
    ("audio_format", "sample_rate", "bitrate"),
    [
        (fmt, rate, bitrate)
        for fmt, rates in SAMPLE_RATES.items()
        if fmt not in UNSUPPORTED_FORMATS
        for rate in rates
        for bitrate in BITRATES.get(fmt, (None,))
    ],
)
async def test_every_accepted_format_rate_and_bitrate_produces_audio(
    tts_client: TtsClient, audio_format: str, sample_rate: int, bitrate: int | None
) -> None:
    await tts_client.start("s", audio_format=audio_format, sample_rate=sample_rate, bitrate=bitrate)
    frames = await tts_client.until_terminated("s")
    assert_normal_end(frames)
    assert len(audio_of(frames)) > 100


async def test_a_failing_producer_ends_its_stream_and_frees_its_slot(
    tts_client: TtsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: StreamEncoder, speech: object) -> list[object]:
        raise RuntimeError("encoder exploded")

    with monkeypatch.context() as patch:
        patch.setattr(StreamEncoder, "chunks", broken)
        await tts_client.start("bad")
        assert_error_end(await tts_client.until_terminated("bad"), 500, "internal_error")
    await tts_client.start("good")  # the slot is free again, the connection healthy
    assert_normal_end(await tts_client.until_terminated("good"))


async def test_text_past_the_pending_cap_is_refused(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(tts_max_pending_chars=6000)
    client = await open_tts(http, mock_soniox.tts_url)
    await client.send(**stream_config("s", audio_format="mp3"))  # mp3 waits for text_end
    await client.send(stream_id="s", text=LONG_TEXT[:4000])
    await client.send(stream_id="s", text=LONG_TEXT[:4000])
    error = assert_error_end(await client.until_terminated("s"), 400, "invalid_request")
    assert "limit 6000 characters" in error["error_message"]


async def test_a_megabyte_stream_id_is_not_echoed(
    mock_soniox: MockSoniox, tts_client: TtsClient
) -> None:
    await tts_client.send(stream_id="x" * 2**20, text="hi")
    replies = await tts_client.until_closed()
    assert len(json.dumps(replies)) < 1000
    assert replies[0]["error_message"].startswith("stream_id must be between 1 and 256")
    [entry] = mock_soniox.journal.client_frames(endpoint="tts")
    assert entry.stream_id is None and len(json.dumps(entry.data)) < 4000


@pytest.mark.parametrize("frame", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
async def test_json_nested_too_deep_is_a_400(tts_client: TtsClient, frame: str) -> None:
    await tts_client.ws.send_str(frame)
    assert (await tts_client.receive())["error_code"] == 400


async def test_a_deep_ignored_field_does_not_break_the_journal(
    mock_soniox: MockSoniox, tts_client: TtsClient, http: aiohttp.ClientSession
) -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"x": deep}
    await tts_client.start("s", extra=deep)
    await tts_client.until_terminated("s")
    async with http.get(mock_soniox.admin_url + "/journal") as resp:
        assert resp.status == 200
        assert "nested too deep" in await resp.text()


@pytest.mark.parametrize(
    "frame",
    [
        '{"api_key": "sk-live-123", "stream_id": ',  # not valid JSON
        '["api_key", {"api_key": "sk-live-123"}]',  # not an object
        '{"stream_id": "s", "model": "m", "nested": {"deeper": {"api_key": "sk-live-123"}}}',
        '{"stream_id": "s", "model": "m", "note": "Authorization: Bearer sk-live-123"}',
    ],
)
async def test_keys_never_reach_the_journal(
    mock_soniox: MockSoniox, tts_client: TtsClient, http: aiohttp.ClientSession, frame: str
) -> None:
    await tts_client.ws.send_str(frame)
    await tts_client.receive()
    async with http.get(mock_soniox.admin_url + "/journal") as resp:
        journal = await resp.text()
    assert "sk-live-123" not in journal
    assert "REDACTED" in journal


async def test_a_key_in_a_stream_id_never_reaches_the_journal(
    mock_soniox: MockSoniox, tts_client: TtsClient, http: aiohttp.ClientSession
) -> None:
    """Audio frames are journaled on a fast path; the id the client chose is still redacted."""
    stream_id = "api_key=sk-live-123"
    await tts_client.start(stream_id, text="Hello there.")
    frames = await tts_client.until_terminated(stream_id)
    assert any(frame.get("audio_end") for frame in frames)
    async with http.get(mock_soniox.admin_url + "/journal?kind=audio") as resp:
        journal = await resp.text()
    assert json.loads(journal)["entries"], "the audio frames are journaled"
    assert "sk-live-123" not in journal
    assert "REDACTED" in journal
