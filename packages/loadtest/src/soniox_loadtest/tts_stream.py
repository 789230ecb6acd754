"""What one TTS stream's server frames mean: pure bookkeeping, no sockets and no gevent.

A stream is healthy when its audio ends with ``audio_end: true`` and is followed by
``terminated``; anything else (an error frame, ``terminated`` without ``audio_end``, audio after
the end, a lost connection) is a failure with a short reason that groups well in locust's
failure table.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any


def sample_width(audio_format: str) -> int | None:
    """Bytes per sample of a raw format (``pcm_s16le``, ``mulaw``, ...); None when compressed.

    Our own reading of Soniox's format names, so this module needs nothing from the mock.
    """
    if audio_format in ("mulaw", "alaw", "pcm_mulaw", "pcm_alaw", "pcm_s8", "pcm_u8"):
        return 1
    if not audio_format.startswith("pcm_") or not audio_format.endswith(("le", "be")):
        return None
    kind_bits = audio_format[len("pcm_") : -2]  # s16, u24, f32, ...
    if kind_bits[:1] not in ("s", "u", "f") or not kind_bits[1:].isdigit():
        return None
    bits = int(kind_bits[1:])
    return bits // 8 if bits in (16, 24, 32, 64) else None


def bytes_per_second(audio_format: str, sample_rate: int) -> int | None:
    """Bytes per second of mono audio, or None for compressed formats (size says nothing)."""
    width = sample_width(audio_format)
    return width * sample_rate if width else None


class StreamFailure(Exception):
    """A stream that did not end well; ``code`` is Soniox's error_code when it sent one."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code

    @property
    def label(self) -> str:
        """How this failure is counted: the error code, or a short name for the way it broke."""
        return str(self.code) if self.code is not None else str(self).split(":", 1)[0]

    @classmethod
    def from_error_frame(cls, frame: dict[str, Any]) -> StreamFailure:
        """A Soniox error frame (TTS or STT) as a failure counted by its error_code."""
        code = _as_int(frame.get("error_code"))
        kind = frame.get("error_type") or "error"
        return cls(f"{code} {kind}: {frame.get('error_message', '')}", code)


@dataclass(frozen=True)
class ConnectionLost:
    """Put in every open stream's inbox when the shared socket dies under it."""

    reason: str
    code: int | None = None  # error_code of a connection-level error frame, if one came


class TTSStreamState:
    """Feed it the frames for one stream_id; it knows when the stream is over and how it went."""

    def __init__(self, stream_id: str, sent_at: float, bytes_per_s: int | None) -> None:
        self.stream_id = stream_id
        self.sent_at = sent_at  # when the first text was sent: the TTFA clock starts here
        self.bytes_per_s = bytes_per_s
        self.first_audio_at: float | None = None
        self.ended_at: float | None = None
        self.audio_bytes = 0
        self.audio_frames = 0
        self.audio_end = False
        self.cancelled = False
        self.failure: StreamFailure | None = None

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    def on_frame(self, frame: dict[str, Any], now: float) -> None:
        """One decoded server frame addressed to this stream."""
        if self.done:
            return
        if "error_code" in frame:
            self._fail(StreamFailure.from_error_frame(frame))
            # The server follows an error with terminated; the stream is over for us either way.
            self.ended_at = now
            return
        audio = frame.get("audio")
        if isinstance(audio, str) and audio:
            self._on_audio(audio, now)
        if frame.get("audio_end") is True:
            self.audio_end = True
        if frame.get("terminated") is True:
            if not self.audio_end and not self.cancelled:
                self._fail(StreamFailure("terminated without audio_end"))
            self.ended_at = now

    def on_connection_lost(self, lost: ConnectionLost, now: float) -> None:
        if not self.done:
            self._fail(StreamFailure(f"connection lost: {lost.reason}", lost.code))
            self.ended_at = now

    def on_timeout(self, now: float) -> None:
        self.fail_now(StreamFailure("timeout: no terminated in time"), now)

    def fail_now(self, failure: StreamFailure, now: float) -> None:
        """End the stream here with ``failure`` (unless it already ended)."""
        if not self.done:
            self._fail(failure)
            self.ended_at = now

    def _on_audio(self, audio: str, now: float) -> None:
        if self.audio_end:
            self._fail(StreamFailure("audio after audio_end"))
            return
        try:
            size = len(base64.b64decode(audio, validate=True))
        except (binascii.Error, ValueError):
            self._fail(StreamFailure("invalid base64 audio"))
            return
        if self.first_audio_at is None:
            self.first_audio_at = now
        self.audio_bytes += size
        self.audio_frames += 1

    def _fail(self, failure: StreamFailure) -> None:
        if self.failure is None:  # the first thing that went wrong is the one worth reporting
            self.failure = failure

    @property
    def ttfa_ms(self) -> float | None:
        if self.first_audio_at is None:
            return None
        return (self.first_audio_at - self.sent_at) * 1000.0

    @property
    def total_ms(self) -> float:
        end = self.ended_at if self.ended_at is not None else self.sent_at
        return (end - self.sent_at) * 1000.0

    @property
    def audio_seconds(self) -> float | None:
        if not self.bytes_per_s:
            return None
        return self.audio_bytes / self.bytes_per_s

    @property
    def real_time_factor(self) -> float | None:
        """Wall time spent per second of audio produced (below 1 is faster than real time)."""
        seconds = self.audio_seconds
        if not seconds:
            return None
        return (self.total_ms / 1000.0) / seconds


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
