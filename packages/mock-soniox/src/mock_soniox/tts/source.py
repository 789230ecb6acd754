"""Where a TTS stream's speech comes from: synthetic speech, or a fixture's (the seam)."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..audio import Samples
from ..settings import Settings
from .config import StreamConfig

if TYPE_CHECKING:
    from ..connection import Connection


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
