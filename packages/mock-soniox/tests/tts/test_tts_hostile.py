"""TTS clients that misbehave: they stop reading, send too much, or hit a failing encoder."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mock_soniox.testing.leaks import mock_allocations
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.tts.config import BITRATES, SAMPLE_RATES, UNSUPPORTED_FORMATS
from mock_soniox.tts.encoder import StreamEncoder

KEY = "test-key"
BEARER = {"Authorization": f"Bearer {KEY}"}
LONG_TEXT = "A sentence that goes on for a while, as replies do. " * 96  # ~5,000 characters


def config(stream_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "stream_id": stream_id,
        "model": "tts-rt-v2",
        "language": "en",
        "voice": "Synthetic-Test",
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
        **fields,
    }


class SilentClient:
    """A websocket client that sends and never reads: its socket's receive buffer fills up."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str) -> SilentClient:
        host, _, rest = url.removeprefix("ws://").partition(":")
        port, _, path = rest.partition("/")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a few frames
        sock.connect((host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {KEY}\r\n\r\n".encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    async def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        size = len(payload)
        header = bytes([0x81]) + (
            bytes([0x80 | size])
            if size < 126
            else bytes([0x80 | 126]) + struct.pack("!H", size)
            if size < 65536
            else bytes([0x80 | 127]) + struct.pack("!Q", size)
        )
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.transport.abort()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_silent_clients(url: str) -> list[SilentClient]:
    """Five connections, five long pcm_f32le streams each, none of them ever read."""
    clients = [await SilentClient.connect(url) for _ in range(5)]
    for c, client in enumerate(clients):
        for s in range(5):
            sid = f"c{c}s{s}"
            await client.send(config(sid, audio_format="pcm_f32le", sample_rate=48000))
            await client.send({"stream_id": sid, "text": LONG_TEXT[:4990], "text_end": True})
    return clients


async def test_a_client_that_stops_reading_is_cut_off(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(time_scale=0.01)  # send_timeout_s: 10 s -> 100 ms
    clients = await open_silent_clients(mock_soniox.tts_url)
    journal = mock_soniox.journal
    try:
        cut: set[str] = set()
        while len(cut) < len(clients):
            entry = await journal.wait_for(
                lambda e: e.kind == "send_timeout" and e.conn_id not in cut, within=30
            )
            cut.add(entry.conn_id)
        for conn_id in cut:
            await journal.wait_for(
                lambda e, conn=conn_id: e.kind == "closed" and e.conn_id == conn, within=30
            )
        assert mock_soniox.connections() == []
    finally:
        for client in clients:
            client.close()


async def test_memory_stays_bounded_and_the_stream_cap_holds_while_sends_block(
    mock_soniox: MockSoniox,
) -> None:
    # Sends may block for as long as they like; only the 2-minute cap (1.2 s here) ends streams.
    mock_soniox.configure(time_scale=0.01, send_timeout_s=100_000.0)
    journal = mock_soniox.journal
    with mock_allocations() as held:
        clients = await open_silent_clients(mock_soniox.tts_url)
        try:
            capped: set[str | None] = set()
            while len(capped) < 25:
                entry = await journal.wait_for(
                    lambda e: (
                        e.kind == "error"
                        and e.direction == "s2c"
                        and e.stream_id not in capped
                        and "maximum duration" in str(e.data)
                    ),
                    within=30,
                )
                capped.add(entry.stream_id)
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
    mock_soniox: MockSoniox,
    http: aiohttp.ClientSession,
    audio_format: str,
    sample_rate: int,
    bitrate: int | None,
) -> None:
    extra = {} if bitrate is None else {"bitrate": bitrate}
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_json(config("s", audio_format=audio_format, sample_rate=sample_rate, **extra))
        await ws.send_json({"stream_id": "s", "text": "Hello there.", "text_end": True})
        frames = [json.loads(m.data) async for m in _until_terminated(ws)]
    assert not [f for f in frames if "error_code" in f]
    audio = b"".join(base64.b64decode(f["audio"]) for f in frames if "audio" in f)
    assert len(audio) > 100
    assert any(f.get("audio_end") for f in frames)


async def test_a_failing_producer_ends_its_stream_and_frees_its_slot(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: StreamEncoder, speech: object) -> list[object]:
        raise RuntimeError("encoder exploded")

    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        with monkeypatch.context() as patch:
            patch.setattr(StreamEncoder, "chunks", broken)
            await ws.send_json(config("bad"))
            await ws.send_json({"stream_id": "bad", "text": "Hello.", "text_end": True})
            frames = [json.loads(m.data) async for m in _until_terminated(ws)]
        assert frames[-2]["error_code"] == 500 and frames[-1] == {
            "stream_id": "bad",
            "terminated": True,
        }
        await ws.send_json(config("good"))  # the slot is free again, the connection healthy
        await ws.send_json({"stream_id": "good", "text": "Hello.", "text_end": True})
        frames = [json.loads(m.data) async for m in _until_terminated(ws)]
        assert any(f.get("audio_end") for f in frames)


async def test_text_past_the_pending_cap_is_refused(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(tts_max_pending_chars=6000)
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_json(config("s", audio_format="mp3"))  # waits for text_end: all pending
        await ws.send_json({"stream_id": "s", "text": LONG_TEXT[:4000]})
        await ws.send_json({"stream_id": "s", "text": LONG_TEXT[:4000]})
        frames = [json.loads(m.data) async for m in _until_terminated(ws)]
    assert frames[-2]["error_code"] == 400
    assert "limit 6000 characters" in frames[-2]["error_message"]


async def test_a_megabyte_stream_id_is_not_echoed(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_json({"stream_id": "x" * 2**20, "text": "hi"})
        replies = [m async for m in ws if m.type == aiohttp.WSMsgType.TEXT]
    assert sum(len(m.data) for m in replies) < 1000
    assert json.loads(replies[0].data)["error_message"].startswith("stream_id must be between")
    [entry] = mock_soniox.journal.client_frames(endpoint="tts")
    assert entry.stream_id is None and len(json.dumps(entry.data)) < 4000


@pytest.mark.parametrize("frame", ["[" * 5000 + "]" * 5000, '{"a":' * 5000 + "1" + "}" * 5000])
async def test_json_nested_too_deep_is_a_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, frame: str
) -> None:
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_str(frame)
        reply = json.loads((await ws.receive(timeout=10)).data)
    assert reply["error_code"] == 400


async def test_a_deep_ignored_field_does_not_break_the_journal(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"x": deep}
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_json(config("s", extra=deep))
        await ws.send_json({"stream_id": "s", "text": "Hi.", "text_end": True})
        [m async for m in _until_terminated(ws)]
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
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, frame: str
) -> None:
    async with http.ws_connect(
        mock_soniox.tts_url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_str(frame)
        await ws.receive(timeout=10)
    async with http.get(mock_soniox.admin_url + "/journal") as resp:
        journal = await resp.text()
    assert "sk-live-123" not in journal
    assert "REDACTED" in journal


async def _until_terminated(
    ws: aiohttp.ClientWebSocketResponse,
) -> AsyncIterator[aiohttp.WSMessage]:
    async with asyncio.timeout(20):
        async for msg in ws:
            yield msg
            if msg.type == aiohttp.WSMsgType.TEXT and json.loads(msg.data).get("terminated"):
                return
