"""Where a TTS stream's audio comes from, and how it is cut into wire chunks.

A :class:`TtsSource` turns text into :class:`Speech` (float samples plus per-character timings,
and for recorded speech the recorded chunking and cadence as :class:`Cue` s).
``MockState.tts_source_factory(conn, config)`` picks the source for each stream, so recorded
fixtures can replace the default :class:`SyntheticSource` when their text matches.
"""

from __future__ import annotations

import base64
import bisect
import functools
import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import soundfile as sf

from .audio import RAW_FORMATS, Samples, encode, wav_header
from .settings import Settings
from .tts_config import BITRATES, StreamConfig

if TYPE_CHECKING:
    from .connection import Connection


@dataclass(frozen=True)
class Cue:
    """A recorded chunk: it starts ``audio_s`` into the speech's samples and went out ``at_s``
    seconds (unscaled) after the recorded stream's text_end (or first text, when its audio
    began before text_end); the handler counts that from when its first text is ready."""

    audio_s: float
    at_s: float


@dataclass
class Speech:
    """Spoken audio for some text: mono float32 samples and one timing per character.

    Times are seconds from the start of these samples; ``characters`` concatenated is the text.
    ``cues`` (recorded speech only; the first at ``audio_s`` 0) make the stream send one chunk
    per cue at the recorded time instead of pacing ``tts_chunk_ms`` chunks itself.
    """

    samples: Samples
    sample_rate: int
    characters: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    ends: list[float] = field(default_factory=list)
    cues: list[Cue] | None = None

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class TtsSource(Protocol):
    """Speech for one stream's text.

    ``streaming`` True lets the stream speak each complete sentence before ``text_end``; a
    source that must see the whole text first (e.g. a recording matched on it) sets it False.
    """

    @property
    def streaming(self) -> bool: ...

    def synthesize(self, text: str) -> Speech: ...


TtsSourceFactory = Callable[["Connection", StreamConfig], TtsSource]


class SyntheticSource:
    """Deterministic speech-like audio: a voiced pulse per letter, silence between words.

    Each character lasts ``tts_ms_per_char / speed`` (rounded to whole samples); the same
    (voice, text, seed, rate, speed) always gives the same samples, so STT of this audio finds
    words where the text has them. Letters are drawn from a small per-voice table of pre-rendered
    sounds, so speaking costs a table lookup, not synthesis: hundreds of streams stay cheap.
    """

    streaming = True

    def __init__(self, config: StreamConfig, settings: Settings) -> None:
        self.sample_rate = config.sample_rate
        char_s = settings.tts_ms_per_char / 1000.0 / config.speed
        self.char_samples = max(1, round(char_s * self.sample_rate))
        self.char_s = self.char_samples / self.sample_rate
        pitch_hz = 100.0 + zlib.crc32(config.voice.encode()) % 120  # a stable pitch per voice
        self.table = _letter_sounds(pitch_hz, self.sample_rate, self.char_samples, settings.seed)

    def synthesize(self, text: str) -> Speech:
        chars = list(text)
        rows = np.fromiter((_sound_row(c) for c in chars), dtype=np.intp, count=len(chars))
        samples = self.table[rows].reshape(-1)
        starts = [round(i * self.char_s, 4) for i in range(len(chars))]
        ends = [round((i + 1) * self.char_s, 4) for i in range(len(chars))]
        return Speech(samples, self.sample_rate, chars, starts, ends)


_VARIANTS = 8  # sounds per letter class
_SILENT_ROW = 2 * _VARIANTS


def _sound_row(char: str) -> int:
    """Vowels use rows 0-7, other letters and digits 8-15, everything else is silent."""
    if not char.isalnum():
        return _SILENT_ROW
    variant = (ord(char.lower()) * 7) % _VARIANTS
    return variant if char.lower() in "aeiouy" else _VARIANTS + variant


@functools.lru_cache(maxsize=64)
def _letter_sounds(pitch_hz: float, rate: int, length: int, seed: int) -> Samples:
    """Rows of one character's audio each: voiced tones, tones with noise, and silence."""
    t = np.arange(length, dtype=np.float64) / rate
    envelope = np.sin(np.pi * (np.arange(length) + 0.5) / length) ** 0.5
    rng = np.random.default_rng((seed, int(pitch_hz)))
    rows = np.zeros((2 * _VARIANTS + 1, length), dtype=np.float32)
    for v in range(_VARIANTS):
        phase = 2 * np.pi * pitch_hz * (1.0 + 0.08 * np.sin(v * 1.7)) * t
        tone = 0.6 * np.sin(phase) + 0.25 * np.sin(2 * phase) + 0.15 * np.sin(3 * phase)
        noise = rng.standard_normal(length)
        rows[v] = 0.4 * tone * envelope
        rows[_VARIANTS + v] = 0.4 * (0.5 * tone + 0.3 * noise) * envelope
    return rows


def synthetic_source_factory(conn: Connection, config: StreamConfig) -> TtsSource:
    """The default: synthetic speech for every stream."""
    return SyntheticSource(config, conn.settings)


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
    return round(1.0 - (config.bitrate - low) / (high - low), 3)


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
