"""Helpers for the TTS tests: run a synthesis, read the mock's journal, wait for its events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

import aiohttp
from livekit.agents import APIConnectOptions, tts
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
from livekit.plugins import soniox

from livekit.plugins.soniox._tts_pool import TTSConnection
from livekit.plugins.soniox._tts_soniox import RunSettings
from mock_soniox.journal import JournalEntry
from mock_soniox.testing.pytest_plugin import MockSoniox

MS_PER_CHAR = 60.0  # the mock's synthetic speech at speed 1.0
FAST = APIConnectOptions(max_retry=3, retry_interval=0.1, timeout=5.0)


def fault_url(mock: MockSoniox, *specs: str) -> str:
    query = "&".join(f"fault={quote(s, safe=':=,')}" for s in specs)
    return f"{mock.tts_url}?{query}" if query else mock.tts_url


@contextlib.asynccontextmanager
async def make_tts(mock: MockSoniox, *faults: str, **kwargs: Any) -> AsyncIterator[soniox.TTS]:
    t = soniox.TTS(api_key="test-key", websocket_url=fault_url(mock, *faults), **kwargs)
    try:
        yield t
    finally:
        await t.aclose()


@dataclass
class Heard:
    """What livekit received from one stream."""

    frames: int = 0
    samples: int = 0
    sample_rate: int = 0
    pcm: bytearray = field(default_factory=bytearray)
    words: list[str] = field(default_factory=list)
    request_ids: set[str] = field(default_factory=set)
    final_frames: int = 0

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.samples / self.sample_rate if self.sample_rate else 0.0

    @property
    def transcript(self) -> str:
        return "".join(self.words)

    def summary(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "duration_ms": round(self.duration_ms),
            "sample_rate": self.sample_rate,
            "final_frames": self.final_frames,
            "transcript": self.transcript,
        }

    def add(self, ev: tts.SynthesizedAudio) -> None:
        self.frames += 1
        self.samples += ev.frame.samples_per_channel
        self.sample_rate = ev.frame.sample_rate
        self.pcm += ev.frame.data.tobytes()
        self.request_ids.add(ev.request_id)
        self.final_frames += int(ev.is_final)
        for word in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, []):
            self.words.append(str(word))


async def collect(stream: tts.SynthesizeStream | tts.ChunkedStream) -> Heard:
    """Every frame until the stream ends (a stream that never ends fails the test)."""
    heard = Heard()
    async with asyncio.timeout(30):
        async for ev in stream:
            heard.add(ev)
    return heard


async def speak(
    t: soniox.TTS, text: str | list[str], conn_options: APIConnectOptions = FAST
) -> Heard:
    """Push ``text`` (pieces in order), end the input, and hear the stream out."""
    async with t.stream(conn_options=conn_options) as stream:
        for piece in [text] if isinstance(text, str) else text:
            stream.push_text(piece)
        stream.end_input()
        return await collect(stream)


def expected_ms(text: str) -> float:
    """How long the mock speaks ``text`` (every character, spaces included)."""
    return len(text) * MS_PER_CHAR


def words_of(text: str) -> list[str]:
    return re.findall(r"\S+", text)


class JournalWatch:
    """Await a condition on the mock's journal (it records from the server's thread)."""

    def __init__(self, mock: MockSoniox) -> None:
        self._mock = mock
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._unsubscribe = mock.journal.subscribe(self._on_entry)

    def _on_entry(self, entry: JournalEntry) -> None:
        with contextlib.suppress(RuntimeError):  # the test's loop may already be closed
            self._loop.call_soon_threadsafe(self._changed.set)

    async def until(
        self, predicate: Callable[[list[JournalEntry]], bool], within_s: float = 5.0
    ) -> list[JournalEntry]:
        async with asyncio.timeout(within_s):
            while True:
                self._changed.clear()
                entries = tts_entries(self._mock)
                if predicate(entries):
                    return entries
                await self._changed.wait()

    def close(self) -> None:
        self._unsubscribe()


@contextlib.asynccontextmanager
async def watch(mock: MockSoniox) -> AsyncIterator[JournalWatch]:
    w = JournalWatch(mock)
    try:
        yield w
    finally:
        w.close()


def tts_entries(mock: MockSoniox) -> list[JournalEntry]:
    return [e for e in mock.journal.entries() if e.endpoint == "tts"]


def count(entries: list[JournalEntry], direction: str, kind: str) -> int:
    return sum(1 for e in entries if e.direction == direction and e.kind == kind)


def connections(entries: list[JournalEntry]) -> list[str]:
    return sorted({e.conn_id for e in entries if e.kind == "open"})


def max_concurrent_streams(entries: list[JournalEntry]) -> dict[str, int]:
    """Per connection, the most streams the mock held at once (config .. terminated)."""
    active: dict[str, set[str]] = {}
    peak: dict[str, int] = {}
    for e in entries:
        streams = active.setdefault(e.conn_id, set())
        if e.direction == "c2s" and e.kind == "config" and e.stream_id:
            streams.add(e.stream_id)
        elif e.direction == "s2c" and e.kind == "terminated" and e.stream_id:
            streams.discard(e.stream_id)
        peak[e.conn_id] = max(peak.get(e.conn_id, 0), len(streams))
    return peak


def sent_frames(entries: list[JournalEntry]) -> list[dict[str, Any]]:
    """The client's frames with stream ids renamed s1, s2... in order of appearance."""
    names: dict[str, str] = {}
    conns: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for e in entries:
        if e.direction != "c2s" or e.kind == "keep_alive":
            continue
        data = dict(e.data) if isinstance(e.data, dict) else {"raw": e.data}
        if "stream_id" in data:
            data["stream_id"] = names.setdefault(data["stream_id"], f"s{len(names) + 1}")
        conn = conns.setdefault(e.conn_id, f"c{len(conns) + 1}")
        out.append({"conn": conn, "kind": e.kind, **data})
    return out


def stream_errors(entries: list[JournalEntry]) -> list[Any]:
    return [e.data for e in entries if e.direction == "s2c" and e.kind == "error"]


class ScriptedWebSocket:
    """A websocket for driving a TTSConnection by hand: sends are recorded, replies are queued."""

    close_code: int | None = None

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self._sent_changed = asyncio.Event()
        self._incoming: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data))
        self._sent_changed.set()

    async def receive(self) -> aiohttp.WSMessage:
        return await self._incoming.get()

    async def close(self) -> bool:
        self.closed.set()
        return True

    def reply(self, msg: dict[str, Any]) -> None:
        """Deliver one server message to the connection's reader."""
        self._incoming.put_nowait(aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, json.dumps(msg), None))

    async def until_sent(
        self, predicate: Callable[[dict[str, Any]], bool], within_s: float = 1.0
    ) -> dict[str, Any]:
        """The first frame sent (so far or from now on) that matches ``predicate``."""
        async with asyncio.timeout(within_s):
            while True:
                self._sent_changed.clear()
                found = next((m for m in self.sent if predicate(m)), None)
                if found is not None:
                    return found
                await self._sent_changed.wait()


def connection_on(ws: Any) -> TTSConnection:
    """A lone TTSConnection (no pool) on a websocket the test provides."""
    return TTSConnection(
        cast(aiohttp.ClientWebSocketResponse, ws),
        max_streams=5,
        keepalive_interval_s=60.0,
        on_change=lambda _: None,
    )


def run_settings(**overrides: Any) -> RunSettings:
    """Settings for driving the runner or a Soniox stream by hand (the service's defaults)."""
    audio_format = overrides.pop("audio_format", "pcm_s16le")
    values: dict[str, Any] = {
        "config": {"model": "tts-rt-v1-preview", "audio_format": audio_format},
        "audio_format": audio_format,
        "sample_rate": 24000,
        "aligned_transcript": False,
        "stream_idle_timeout_s": 60.0,
        "max_stream_age_s": 90.0,
        "silence_timeout_s": 5.0,
        "acquire_timeout_s": 1.0,
        "retry_interval_s": 0.01,
    }
    return RunSettings(**{**values, **overrides})
