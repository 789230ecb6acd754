"""Helpers for tests of the TTS endpoint: stream configs, a raw aiohttp client and frame checks."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import aiohttp

from .common import BEARER

TEXT = "Hello there. How are you today?"
# The config the bundled ``tts-maya`` fixture was recorded with: its texts replay the recording.
MAYA: dict[str, Any] = {
    "model": "tts-rt-v2",
    "language": "en",
    "voice": "Maya",
    "audio_format": "pcm_s16le",
    "sample_rate": 16000,
    "return_timestamps": True,
}


def stream_config(stream_id: str = "s1", **fields: Any) -> dict[str, Any]:
    """A stream's start message; ``fields`` override, and a field set to None is left out."""
    config: dict[str, Any] = {
        "stream_id": stream_id,
        "model": "tts-rt-v2",
        "language": "en",
        "voice": "Synthetic-Test",  # no recorded fixture uses it: synthetic audio
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
    }
    config.update(fields)
    return {k: v for k, v in config.items() if v is not None}


class TtsClient:
    """A raw client that sorts the server's frames by stream."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []  # everything received, in order
        self.by_stream: dict[str | None, list[dict[str, Any]]] = defaultdict(list)

    async def send(self, **msg: Any) -> None:
        await self.ws.send_str(json.dumps(msg))

    async def start(self, stream_id: str = "s1", text: str = TEXT, **fields: Any) -> None:
        """Open a stream (``stream_config`` with ``fields``) and send all its text."""
        await self.send(**stream_config(stream_id, **fields))
        await self.send(stream_id=stream_id, text=text, text_end=True)

    async def receive(self, wait_s: float = 5.0) -> dict[str, Any]:
        """The next frame, which must be text (JSON)."""
        msg = await self.ws.receive(timeout=wait_s)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return self._keep(json.loads(msg.data))

    async def until_terminated(self, stream_id: str, wait_s: float = 10.0) -> list[dict[str, Any]]:
        """The stream's frames up to and including its ``terminated``."""
        async with asyncio.timeout(wait_s):
            while not self.by_stream[stream_id] or not self.by_stream[stream_id][-1].get(
                "terminated"
            ):
                await self.receive()
        return self.by_stream[stream_id]

    async def until_closed(self, wait_s: float = 10.0) -> list[dict[str, Any]]:
        """The frames that arrive until the socket ends (then ``ws.close_code`` says how)."""
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(wait_s):
            while True:
                msg = await self.ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return frames
                frames.append(self._keep(json.loads(msg.data)))

    async def expect_close(self, wait_s: float = 5.0) -> int | None:
        """Read to the end of the socket; its close code."""
        await self.until_closed(wait_s)
        return self.ws.close_code

    def _keep(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.frames.append(frame)
        self.by_stream[frame.get("stream_id")].append(frame)
        return frame


async def open_tts(
    http: aiohttp.ClientSession,
    url: str,
    headers: Mapping[str, str] | None = BEARER,
    **kwargs: Any,
) -> TtsClient:
    """A :class:`TtsClient` on ``url`` (``headers=None``: no key, for legacy auth)."""
    return TtsClient(await http.ws_connect(url, headers=headers, **kwargs))


def audio_of(frames: list[dict[str, Any]]) -> bytes:
    """The audio the frames carry, decoded and joined."""
    return b"".join(base64.b64decode(f["audio"], validate=True) for f in frames if "audio" in f)


def characters_of(frames: list[dict[str, Any]]) -> str:
    """The characters the frames' timestamps carry, joined (empty without ``return_timestamps``)."""
    return "".join(c for f in frames for c in f.get("timestamps", {}).get("characters", []))


def assert_normal_end(frames: list[dict[str, Any]]) -> None:
    """Audio chunks, the last one with audio_end, then terminated; nothing else."""
    assert frames[-1] == {"stream_id": frames[-1]["stream_id"], "terminated": True}
    audio = frames[:-1]
    assert audio, "no audio before terminated"
    assert all("audio" in f and "error_code" not in f for f in audio)
    assert [f["audio_end"] for f in audio] == [False] * (len(audio) - 1) + [True]


def assert_error_end(frames: list[dict[str, Any]], code: int, error_type: str) -> dict[str, Any]:
    """An error for the stream, then its terminated; returns the error frame."""
    error, terminated = frames[-2], frames[-1]
    assert terminated == {"stream_id": error["stream_id"], "terminated": True}
    assert error["error_code"] == code, error
    assert error["error_type"] == error_type, error
    assert error["more_info"].endswith("#" + error_type.replace("_", "-"))
    assert error["request_id"]
    return error


class NonReadingClient:
    """A TTS websocket client that sends and never reads (aiohttp's own client always reads).

    Its socket's receive buffer is small, so the server's sends back up after a few frames.
    """

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    @classmethod
    async def connect(cls, url: str) -> NonReadingClient:
        host, _, rest = url.removeprefix("ws://").partition(":")
        port, _, path = rest.partition("/")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after a few frames
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET /{path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: {BEARER['Authorization']}\r\n\r\n".encode()
        )
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(writer)

    async def send(self, message: dict[str, Any]) -> None:
        """One masked text frame, as a client must send it."""
        payload = json.dumps(message).encode()
        size = len(payload)
        if size < 126:
            header = bytes([0x81, 0x80 | size])
        elif size < 65536:
            header = bytes([0x81, 0x80 | 126]) + struct.pack("!H", size)
        else:
            header = bytes([0x81, 0x80 | 127]) + struct.pack("!Q", size)
        mask = os.urandom(4)
        key = int.from_bytes((mask * (size // 4 + 1))[:size], "big")
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big")
        self.writer.write(header + mask + masked)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.transport.abort()
