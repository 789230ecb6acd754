"""Helpers for tests of the STT endpoint: test audio, a raw aiohttp client and frame checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from ..audio import Samples, encode
from .common import BEARER
from .target import Target

RATE = 16000
CHUNK_MS = 120
LK_CONFIG: dict[str, Any] = {
    "model": "stt-rt-v5",
    "audio_format": "pcm_s16le",
    "num_channels": 1,
    "enable_endpoint_detection": True,
    "sample_rate": RATE,
    "language_hints": None,
    "language_hints_strict": False,
    "context": None,
    "enable_speaker_diarization": False,
    "enable_language_identification": True,
    "client_reference_id": None,
    "max_endpoint_delay_ms": 2000,
}
BASIC_CONFIG: dict[str, Any] = {
    "model": "stt-rt-v5",
    "audio_format": "pcm_s16le",
    "sample_rate": RATE,
    "num_channels": 1,
}


def tone(ms: int, rate: int = RATE, amplitude: float = 0.3) -> Samples:
    t = np.arange(rate * ms // 1000) / rate
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def silence(ms: int, rate: int = RATE) -> Samples:
    return np.zeros(rate * ms // 1000, np.float32)


def speech(*parts: tuple[str, int], rate: int = RATE) -> Samples:
    """``("tone", 900), ("silence", 1200), ...`` as one signal."""
    return np.concatenate(
        [tone(ms, rate) if kind == "tone" else silence(ms, rate) for kind, ms in parts]
    )


def pcm16(samples: Samples) -> bytes:
    return encode("pcm_s16le", samples)


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@dataclass
class Transcript:
    """Everything the server sent on one connection."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None

    @property
    def results(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "error_code" not in f and not f.get("finished")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.frames if "error_code" in f]

    @property
    def finals(self) -> list[dict[str, Any]]:
        return [t for f in self.results for t in f["tokens"] if t["is_final"]]

    def final_text(self, *, markers: bool = True) -> str:
        return "".join(
            t["text"]
            for t in self.finals
            if markers or not (t["text"].startswith("<") and t["text"].endswith(">"))
        )


async def connect(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect(url, headers=BEARER if headers is None else headers)


async def read_all(ws: aiohttp.ClientWebSocketResponse, wait_s: float = 10.0) -> Transcript:
    """Every frame until the server closes (each receive bounded by ``wait_s``)."""
    out = Transcript()
    while True:
        msg = await ws.receive(timeout=wait_s)
        if msg.type == aiohttp.WSMsgType.TEXT:
            out.frames.append(json.loads(msg.data))
            continue
        break
    out.close_code = ws.close_code
    return out


async def run_session(
    http: aiohttp.ClientSession,
    url: str,
    config: dict[str, Any],
    audio: bytes,
    *,
    chunk_bytes: int = RATE * 2 * CHUNK_MS // 1000,
    controls: Sequence[str] = ("",),
    headers: dict[str, str] | None = None,
) -> Transcript:
    """Config, audio in chunks, then ``controls`` (default: finish), and read to the close.

    ``headers`` default to the test key's.
    """
    ws = await connect(http, url, headers)
    await ws.send_str(json.dumps(config))
    for chunk in chunks(audio, chunk_bytes):
        await ws.send_bytes(chunk)
    for control in controls:
        await ws.send_str(control)
    transcript = await read_all(ws)
    await ws.close()
    return transcript


def check_result_invariants(transcript: Transcript) -> None:
    """What every client relies on: tokens always present, counters monotonic and ordered."""
    last_final = last_total = 0
    for frame in transcript.results:
        assert isinstance(frame["tokens"], list)
        assert frame["final_audio_proc_ms"] >= last_final
        assert frame["total_audio_proc_ms"] >= last_total
        assert frame["final_audio_proc_ms"] <= frame["total_audio_proc_ms"]
        last_final, last_total = frame["final_audio_proc_ms"], frame["total_audio_proc_ms"]
        seen_non_final = False
        for token in frame["tokens"]:
            assert "text" in token and "is_final" in token
            if not token["is_final"]:
                seen_non_final = True
            else:
                assert not seen_non_final, "finals come before the non-final tail"


async def session_error(
    target: Target, frames: Sequence[str | bytes], headers: dict[str, str] | None = None
) -> Transcript:
    """Send ``frames`` as they are; the session, which must end in one published-shape error.

    The error is the last frame, shaped as the STT reference shows it (``tokens: []`` first,
    then code, type, message, the docs link for its type and a request id), then a 1000 close.
    ``headers`` default to the target's key.
    """
    async with target.session() as http:
        ws = await connect(http, target.stt_url, target.headers if headers is None else headers)
        for frame in frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        out = await read_all(ws)
    assert out.close_code == 1000
    assert len(out.errors) == 1 and out.frames[-1] is out.errors[0]
    error = out.errors[0]
    assert list(error) == [
        "tokens",
        "error_code",
        "error_type",
        "error_message",
        "more_info",
        "request_id",
    ]
    assert error["tokens"] == []
    assert error["more_info"].endswith("#" + error["error_type"].replace("_", "-"))
    return out
