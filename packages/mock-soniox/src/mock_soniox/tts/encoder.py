"""Encoding speech into the stream's output format and cutting it into audio frames."""

from __future__ import annotations

import base64
import bisect
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import RAW_FORMATS, Samples, encode, wav_header
from .config import BITRATES, StreamConfig
from .source import Cue, Speech

# --- Encoding and chunking ---

RAW_OUTPUT = {"pcm_s16le", "pcm_f32le", "pcm_mulaw", "pcm_alaw"}
STREAMABLE_FORMATS = RAW_OUTPUT | {"wav"}
# libsndfile container and subtype for each compressed format it can write.
COMPRESSED: dict[str, tuple[str, str]] = {
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
}


@dataclass
class Chunk:
    """One audio frame on the wire, with the characters that start inside it."""

    audio: bytes
    characters: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    duration_s: float = 0.0
    at_s: float | None = None  # when it is due (from its :class:`Cue`); None: the stream paces

    def frame(self, stream_id: str, audio_end: bool, timestamps: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stream_id": stream_id,
            "audio": base64.b64encode(self.audio).decode("ascii"),
            "audio_end": audio_end,
        }
        if timestamps:
            out["timestamps"] = {
                "characters": self.characters,
                "character_start_times_seconds": self.starts,
                "character_end_times_seconds": self.ends,
            }
        return out


class StreamEncoder:
    """Turns a stream's successive pieces of speech into chunks in the requested format.

    Raw PCM and WAV encode piece by piece (WAV: a streaming header before the first sample).
    Compressed formats encode a whole utterance at once, so the stream hands them all its text.
    """

    def __init__(self, config: StreamConfig, chunk_ms: int) -> None:
        self.config = config
        self.chunk_s = max(chunk_ms, 1) / 1000.0
        self.offset_s = 0.0  # stream time of the next sample (timestamps restart per stream)
        self.header_sent = False

    @property
    def streaming(self) -> bool:
        return self.config.audio_format in STREAMABLE_FORMATS

    @property
    def compressed(self) -> bool:
        return self.config.audio_format in COMPRESSED

    def chunks(self, speech: Speech) -> list[Chunk]:
        """Cut ``speech`` into chunks of about ``chunk_ms`` of audio each, or at its cues."""
        rate = speech.sample_rate
        total = len(speech.samples)
        due: list[float | None]
        if speech.cues:
            bounds, due = _cue_bounds(speech.cues, rate, total)
        else:
            step = max(1, round(self.chunk_s * rate))
            bounds = list(range(0, max(total, 1), step))
            due = [None] * len(bounds)
        n = len(bounds)
        pieces = [speech.samples[b:e] for b, e in zip(bounds, [*bounds[1:], total], strict=True)]
        out = [
            Chunk(b"", duration_s=len(p) / rate, at_s=at) for p, at in zip(pieces, due, strict=True)
        ]
        for char, start, end in zip(speech.characters, speech.starts, speech.ends, strict=True):
            i = min(bisect.bisect_right(bounds, int(start * rate)) - 1, n - 1)
            out[i].characters.append(char)
            out[i].starts.append(round(self.offset_s + start, 4))
            out[i].ends.append(round(self.offset_s + end, 4))
        fmt = self.config.audio_format
        if fmt in COMPRESSED:
            blobs = _split_bytes(self._compress(speech.samples), n)
        else:
            raw_fmt = "pcm_s16le" if fmt == "wav" else fmt
            data = encode(raw_fmt, speech.samples)  # once, then sliced: cheaper than per chunk
            width = RAW_FORMATS[raw_fmt].width
            blobs = [
                data[b * width : e * width]
                for b, e in zip(bounds, [*bounds[1:], total], strict=True)
            ]
            if fmt == "wav" and not self.header_sent:
                blobs[0] = wav_header("pcm_s16le", rate) + blobs[0]
        self.header_sent = True
        for chunk, blob in zip(out, blobs, strict=True):
            chunk.audio = blob
        self.offset_s += speech.duration_s
        return out

    def _compress(self, samples: Samples) -> bytes:
        container, subtype = COMPRESSED[self.config.audio_format]
        buffer = io.BytesIO()
        with sf.SoundFile(
            buffer,
            mode="w",
            samplerate=self.config.sample_rate,
            channels=1,
            format=container,
            subtype=subtype,
            compression_level=_compression_level(self.config),
        ) as out:
            out.write(samples)
        return buffer.getvalue()


def _cue_bounds(cues: list[Cue], rate: int, total: int) -> tuple[list[int], list[float | None]]:
    """First sample and due time of each cued chunk (cues past the audio's end are dropped)."""
    bounds = [0]
    due: list[float | None] = [cues[0].at_s]
    for cue in cues[1:]:
        start = round(cue.audio_s * rate)
        if bounds[-1] < start < total:
            bounds.append(start)
            due.append(cue.at_s)
    return bounds, due


def _compression_level(config: StreamConfig) -> float | None:
    """libsndfile takes a 0..1 compression level, not a bitrate: map the bitrate onto it."""
    allowed = BITRATES.get(config.audio_format)
    if not allowed or config.bitrate is None:
        return None
    low, high = allowed[0], allowed[-1]
    # libsndfile's MP3 encoder refuses exactly 1.0, so the lowest bitrate maps just below it.
    return round(0.99 * (high - config.bitrate) / (high - low), 3)


def _split_bytes(data: bytes, parts: int) -> list[bytes]:
    """``data`` in ``parts`` contiguous pieces (the first ones may be one byte longer)."""
    size, extra = divmod(len(data), parts)
    out, pos = [], 0
    for i in range(parts):
        n = size + (1 if i < extra else 0)
        out.append(data[pos : pos + n])
        pos += n
    return out


def silence(config: StreamConfig, seconds: float) -> Speech:
    return Speech(np.zeros(int(seconds * config.sample_rate), dtype=np.float32), config.sample_rate)
