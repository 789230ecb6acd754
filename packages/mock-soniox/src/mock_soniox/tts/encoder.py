"""Encoding speech into the stream's output format and cutting it into audio frames."""

from __future__ import annotations

import base64
import bisect
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import soundfile as sf

from ..audio import RAW_FORMATS, encode, wav_header
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
    Compressed containers cannot be cut before they are complete, so their chunks come once the
    stream's speech is all there; :meth:`add` encodes it a piece at a time meanwhile, keeping
    compressed bytes and character times but never the samples, and :meth:`finish` cuts them.
    """

    def __init__(self, config: StreamConfig, chunk_ms: int) -> None:
        self.config = config
        self.chunk_s = max(chunk_ms, 1) / 1000.0
        self.offset_s = 0.0  # stream time of the next sample (timestamps restart per stream)
        self.header_sent = False
        self._compressed: _CompressedSpeech | None = None  # what add() encoded so far

    @property
    def streaming(self) -> bool:
        return self.config.audio_format in STREAMABLE_FORMATS

    @property
    def compressed(self) -> bool:
        return self.config.audio_format in COMPRESSED

    def chunks(self, speech: Speech) -> list[Chunk]:
        """Cut ``speech`` into chunks of about ``chunk_ms`` of audio each, or at its cues."""
        if self.compressed:
            self.add(speech)
            return self.finish(speech.cues)
        fmt = self.config.audio_format
        raw_fmt = "pcm_s16le" if fmt == "wav" else fmt
        data = encode(raw_fmt, speech.samples)  # once, then sliced: cheaper than per chunk
        width = RAW_FORMATS[raw_fmt].width
        out, bounds = self._layout(speech, len(speech.samples))
        for chunk, b, e in zip(out, bounds, [*bounds[1:], len(speech.samples)], strict=True):
            chunk.audio = data[b * width : e * width]
        if fmt == "wav" and not self.header_sent:
            out[0].audio = wav_header("pcm_s16le", speech.sample_rate) + out[0].audio
        self.header_sent = True
        self.offset_s += speech.duration_s
        return out

    def add(self, speech: Speech) -> None:
        """Compressed formats: encode ``speech`` after what was added before; no chunks yet."""
        if self._compressed is None:
            self._compressed = _CompressedSpeech(self.config, speech.sample_rate)
        self._compressed.add(speech)

    def finish(self, cues: list[Cue] | None = None) -> list[Chunk]:
        """The chunks of everything :meth:`add` encoded, its bytes spread across them."""
        done, self._compressed = self._compressed, None
        assert done is not None, "finish() without add()"
        data = done.close()
        timeline = done.timeline
        timeline.cues = cues
        out, _ = self._layout(timeline, done.samples)
        for chunk, blob in zip(out, _split_bytes(data, len(out)), strict=True):
            chunk.audio = blob
        self.header_sent = True
        self.offset_s += done.samples / timeline.sample_rate
        return out

    def _layout(self, speech: Speech, total: int) -> tuple[list[Chunk], list[int]]:
        """Empty chunks covering ``total`` samples (at ``chunk_ms`` or at the cues), each with the
        characters that start in it; and each chunk's first sample."""
        rate = speech.sample_rate
        due: list[float | None]
        if speech.cues:
            bounds, due = _cue_bounds(speech.cues, rate, total)
        else:
            step = max(1, round(self.chunk_s * rate))
            bounds = list(range(0, max(total, 1), step))
            due = [None] * len(bounds)
        ends = [*bounds[1:], total]
        out = [
            Chunk(b"", duration_s=(e - b) / rate, at_s=at)
            for b, e, at in zip(bounds, ends, due, strict=True)
        ]
        if not self.config.return_timestamps:
            return out, bounds  # the characters only ever go out as timestamps
        for char, start, end in zip(speech.characters, speech.starts, speech.ends, strict=True):
            i = min(bisect.bisect_right(bounds, int(start * rate)) - 1, len(out) - 1)
            out[i].characters.append(char)
            out[i].starts.append(round(self.offset_s + start, 4))
            out[i].ends.append(round(self.offset_s + end, 4))
        return out, bounds


class _CompressedSpeech:
    """Speech being encoded into a compressed container: its bytes and character times so far."""

    def __init__(self, config: StreamConfig, sample_rate: int) -> None:
        container, subtype = COMPRESSED[config.audio_format]
        self._buffer = io.BytesIO()
        self._file = sf.SoundFile(
            self._buffer,
            mode="w",
            samplerate=config.sample_rate,
            channels=1,
            format=container,
            subtype=subtype,
            compression_level=_compression_level(config),
        )
        self.samples = 0
        self.timeline = Speech(np.zeros(0, dtype=np.float32), sample_rate)  # times, no samples

    def add(self, speech: Speech) -> None:
        offset = self.samples / self.timeline.sample_rate
        self._file.write(speech.samples)
        self.samples += len(speech.samples)
        self.timeline.characters += speech.characters
        self.timeline.starts += [offset + t for t in speech.starts]
        self.timeline.ends += [offset + t for t in speech.ends]

    def close(self) -> bytes:
        self._file.close()
        return self._buffer.getvalue()


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
