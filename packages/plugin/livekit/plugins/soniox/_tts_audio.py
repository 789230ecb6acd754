"""Audio formats of the Soniox TTS and their conversion to 16-bit PCM for livekit.

Every stream's audio is turned into 16-bit mono PCM before it reaches livekit's AudioEmitter:
raw formats here, synchronously; containers and codecs through livekit's AudioStreamDecoder (one
per Soniox stream, since a decoder cannot continue across two encoded streams). Working in PCM
lets the plugin measure exactly how much audio it has emitted, which replay depends on.
"""

from __future__ import annotations

import numpy as np

RAW_FORMATS = frozenset({"pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"})
ENCODED_FORMATS: dict[str, str] = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "flac": "audio/flac",
    "aac": "audio/aac",
}
AUDIO_FORMATS = RAW_FORMATS | frozenset(ENCODED_FORMATS)
BYTES_PER_SAMPLE = 2  # what the plugin hands to livekit: s16le mono


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent.astype(np.int32)
    value = magnitude - 0x84
    return np.where(sign != 0, -value, value).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = a & 0x80
    exponent = ((a >> 4) & 0x07).astype(np.int32)
    mantissa = (a & 0x0F).astype(np.int32)
    value = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return np.where(sign != 0, value, -value).astype(np.int16)


_MULAW = _mulaw_table()
_ALAW = _alaw_table()


class RawToPcm16:
    """Converts one stream of raw samples to s16le, carrying partial samples across chunks."""

    def __init__(self, audio_format: str) -> None:
        if audio_format not in RAW_FORMATS:
            raise ValueError(f"not a raw audio format: {audio_format}")
        self._format = audio_format
        self._width = 4 if audio_format == "pcm_f32le" else 2 if audio_format == "pcm_s16le" else 1
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        data = self._carry + data
        usable = len(data) - len(data) % self._width
        data, self._carry = data[:usable], data[usable:]
        if not data:
            return b""
        if self._format == "pcm_s16le":
            return data
        if self._format == "pcm_f32le":
            floats = np.frombuffer(data, dtype="<f4")
            converted: bytes = (np.clip(floats, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
            return converted
        table = _MULAW if self._format == "pcm_mulaw" else _ALAW
        samples: bytes = table[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()
        return samples


def pcm_seconds(num_bytes: int, sample_rate: int) -> float:
    return num_bytes / (BYTES_PER_SAMPLE * sample_rate)


def pcm_bytes(seconds: float, sample_rate: int) -> int:
    """Whole samples in ``seconds`` of s16 mono audio, in bytes."""
    return max(0, round(seconds * sample_rate)) * BYTES_PER_SAMPLE
