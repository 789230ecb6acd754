"""Audio codecs the mock needs: raw PCM variants, G.711 mu-law/A-law and WAV headers.

Samples are float32 in [-1, 1], mono, as numpy arrays. The STT side decodes client audio to run
its audio clock and find speech; the TTS side encodes synthetic or recorded speech.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PcmFormat:
    """A raw sample format: byte width, signedness or float, byte order."""

    width: int
    kind: str  # "s" signed int, "u" unsigned int, "f" float, "mulaw", "alaw"
    big_endian: bool = False


RAW_FORMATS: dict[str, PcmFormat] = {
    "pcm_s8": PcmFormat(1, "s"),
    "pcm_u8": PcmFormat(1, "u"),
    "mulaw": PcmFormat(1, "mulaw"),
    "alaw": PcmFormat(1, "alaw"),
    **{
        f"pcm_{kind}{bits}{order}": PcmFormat(bits // 8, kind, order == "be")
        for kind in ("s", "u")
        for bits in (16, 24, 32)
        for order in ("le", "be")
    },
    **{
        f"pcm_f{bits}{order}": PcmFormat(bits // 8, "f", order == "be")
        for bits in (32, 64)
        for order in ("le", "be")
    },
}
# The TTS API spells the G.711 formats with a pcm_ prefix.
RAW_FORMATS["pcm_mulaw"] = RAW_FORMATS["mulaw"]
RAW_FORMATS["pcm_alaw"] = RAW_FORMATS["alaw"]


def bytes_per_second(fmt: str, sample_rate: int, channels: int) -> int:
    return RAW_FORMATS[fmt].width * sample_rate * channels


def decode(fmt: str, data: bytes, channels: int = 1) -> Samples:
    """Raw bytes to mono float samples (channels are averaged; a partial frame is ignored)."""
    spec = RAW_FORMATS[fmt]
    usable = len(data) - len(data) % (spec.width * channels)
    raw = data[:usable]
    if spec.kind == "mulaw":
        values = _mulaw_decode(np.frombuffer(raw, dtype=np.uint8))
    elif spec.kind == "alaw":
        values = _alaw_decode(np.frombuffer(raw, dtype=np.uint8))
    elif spec.width == 3:
        values = _decode_24(raw, spec)
    else:
        order = ">" if spec.big_endian else "<"
        dtype = np.dtype(f"{order}{'i' if spec.kind == 's' else spec.kind}{spec.width}")
        ints = np.frombuffer(raw, dtype=dtype)
        if spec.kind == "f":
            values = ints.astype(np.float32)
        elif spec.kind == "s":
            values = (ints.astype(np.float64) / float(2 ** (8 * spec.width - 1))).astype(np.float32)
        else:
            half = float(2 ** (8 * spec.width - 1))
            values = ((ints.astype(np.float64) - half) / half).astype(np.float32)
    if channels > 1:
        values = values.reshape(-1, channels).mean(axis=1).astype(np.float32)
    return values


def encode(fmt: str, samples: Samples) -> bytes:
    """Mono float samples to raw bytes (the TTS output formats and the common STT ones)."""
    spec = RAW_FORMATS[fmt]
    clipped = np.clip(samples, -1.0, 1.0)
    if spec.kind == "mulaw":
        return _mulaw_encode(clipped).tobytes()
    if spec.kind == "alaw":
        return _alaw_encode(clipped).tobytes()
    order = ">" if spec.big_endian else "<"
    if spec.kind == "f":
        return clipped.astype(f"{order}f{spec.width}").tobytes()
    if spec.kind == "s" and spec.width in (1, 2, 4):
        scale = float(2 ** (8 * spec.width - 1) - 1)
        return np.round(clipped * scale).astype(f"{order}i{spec.width}").tobytes()
    raise ValueError(f"encoding to {fmt} is not supported")


def _decode_24(raw: bytes, spec: PcmFormat) -> Samples:
    b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
    if spec.big_endian:
        b = b[:, ::-1]
    ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    if spec.kind == "s":
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        return (ints / float(1 << 23)).astype(np.float32)
    return ((ints - float(1 << 23)) / float(1 << 23)).astype(np.float32)


# --- G.711 (the classic segment tables, computed rather than tabulated) ---

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def _mulaw_encode(x: Samples) -> npt.NDArray[np.uint8]:
    pcm = np.round(x * 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    mag = np.minimum(np.abs(pcm), _MULAW_CLIP) + _MULAW_BIAS
    exponent = np.clip(np.floor(np.log2(mag)).astype(np.int32) - 7, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    out: npt.NDArray[np.uint8] = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)
    return out


def _mulaw_decode(u: npt.NDArray[np.uint8]) -> Samples:
    v = ~u.astype(np.int32) & 0xFF
    sign = v & 0x80
    exponent = (v >> 4) & 0x07
    mantissa = v & 0x0F
    mag = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    pcm = np.where(sign != 0, -mag, mag)
    return (pcm / 32768.0).astype(np.float32)


def _alaw_encode(x: Samples) -> npt.NDArray[np.uint8]:
    pcm = np.round(x * 32767).astype(np.int32) >> 3  # 13-bit magnitude domain
    sign = np.where(pcm >= 0, 0x80, 0)
    mag = np.minimum(np.where(pcm < 0, -pcm - 1, pcm), 0x0FFF)
    exponent = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    exponent = np.clip(exponent, 0, 7)
    mantissa = np.where(exponent == 0, mag >> 1, mag >> exponent) & 0x0F
    out: npt.NDArray[np.uint8] = ((sign | (exponent << 4) | mantissa) ^ 0x55).astype(np.uint8)
    return out


def _alaw_decode(a: npt.NDArray[np.uint8]) -> Samples:
    v = a.astype(np.int32) ^ 0x55
    sign = v & 0x80
    exponent = (v >> 4) & 0x07
    mantissa = v & 0x0F
    mag = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << (exponent - 1))
    pcm = np.where(sign != 0, mag, -mag)
    return (pcm / 32768.0).astype(np.float32)


# --- WAV ---

_WAV_PCM = 1
_WAV_FLOAT = 3
_WAV_ALAW = 6
_WAV_MULAW = 7


@dataclass(frozen=True)
class WavInfo:
    fmt: str  # a RAW_FORMATS name
    sample_rate: int
    channels: int
    data_offset: int  # bytes before the sample data


def wav_header(fmt: str, sample_rate: int, channels: int = 1, data_len: int = 0xFFFFFFFF) -> bytes:
    """A RIFF/WAVE header; the default length marks a stream of unknown size."""
    spec = RAW_FORMATS[fmt]
    tag = {"f": _WAV_FLOAT, "mulaw": _WAV_MULAW, "alaw": _WAV_ALAW}.get(spec.kind, _WAV_PCM)
    block = spec.width * channels
    riff_len = min(0xFFFFFFFF, 36 + data_len)
    return (
        b"RIFF"
        + struct.pack("<I", riff_len)
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, tag, channels, sample_rate, sample_rate * block, block, spec.width * 8
        )
        + b"data"
        + struct.pack("<I", data_len)
    )


def parse_wav_header(data: bytes) -> WavInfo | None:
    """The format of a WAV stream's start, or None when more bytes are needed or it is not WAV."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    info: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body = pos + 8
        if chunk_id == b"fmt ":
            if body + 16 > len(data):
                return None
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[body : body + 16])
            info = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if info is None:
                return None
            tag, channels, rate, bits = info
            fmt = _wav_format_name(tag, bits)
            return WavInfo(fmt, rate, channels, body)
        pos = body + size + (size & 1)
    return None


def _wav_format_name(tag: int, bits: int) -> str:
    if tag == _WAV_MULAW:
        return "mulaw"
    if tag == _WAV_ALAW:
        return "alaw"
    if tag == _WAV_FLOAT:
        return f"pcm_f{bits}le"
    if tag in (_WAV_PCM, 0xFFFE):
        return "pcm_u8" if bits == 8 else f"pcm_s{bits}le"
    raise ValueError(f"unsupported WAV format tag {tag}")
