"""Speech for the built fixtures: espeak-ng words and the transcript model of what was said.

``speak`` joins utterances word by word, so every word's true start and end in the audio is known;
the pieces it returns are the tokens the simulated service (``fixture_stt``) will send.
"""

from __future__ import annotations

import functools
import math
import re
import subprocess
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

RATE = 16_000
CHUNK_MS = 120  # the client sends 120 ms of audio per frame, like the official examples
WORD_GAP_MS = 30
RECORDED_AT = "2026-11-20T10:00:00Z"  # every fixture's header, so reruns are byte-identical
SOURCE = "make_fixtures.py (espeak-ng speech, simulated service)"

Pcm = npt.NDArray[np.int16]
SOX_S16_MONO = ("-e", "signed-integer", "-b", "16", "-c", "1", "-")

VOICES = {"en": "en-us", "en-f": "en-us+f3", "en-m2": "en-gb-x-rp", "es": "es"}
MISHEARD = {
    "there": "their",
    "to": "two",
    "weather": "whether",
    "right": "write",
    "see": "sea",
    "hear": "here",
    "for": "four",
    "know": "no",
    "week": "weak",
    "new": "knew",
    "by": "buy",
    "mail": "male",
    "one": "won",
    "our": "hour",
}


# --- Speech ---


@functools.cache
def synth(word: str, voice: str, speed: int = 200, rate: int = RATE) -> Pcm:
    """One word from espeak-ng, resampled to ``rate`` Hz mono s16le, silence trimmed off both
    ends."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word],
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [*("sox", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(rate)), *SOX_S16_MONO],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 500)
    if loud.size == 0:
        return pcm[:0]
    return pcm[max(0, loud[0] - 32) : loud[-1] + 32].copy()


def silence(ms: float, rate: int = RATE) -> Pcm:
    return np.zeros(int(rate * ms / 1000), dtype=np.int16)


def ms_of(samples: int, rate: int = RATE) -> int:
    return round(samples * 1000 / rate)


# --- Transcript model ---


@dataclass
class Utterance:
    text: str
    voice: str = "en"
    language: str = "en"
    speaker: str = "1"
    translation: str | None = None
    pause_ms: int = 700  # silence before it
    finalize_after_word: int | None = None  # the client sends finalize after this word (0-based)


@dataclass
class Piece:
    """One token the service will send for spoken audio."""

    text: str
    start_ms: int
    end_ms: int
    word: int  # global word index
    utt: int
    speaker: str
    language: str
    revisable: str | None = None  # what the service first (wrongly) hears, on the word's 1st piece
    punct: bool = False


@dataclass
class Spoken:
    audio: Pcm
    pieces: list[Piece]
    utt_spans: list[tuple[int, int]]  # (start_ms, end_ms) per utterance
    word_ends: list[int]
    finalize_at: list[int] = field(default_factory=list)  # audio clock of client finalizes


_VOWELS = "aeiouyáéíóúü"


def split_word(core: str) -> list[str]:
    """Sub-word pieces, roughly by syllable, the way BPE tokens look (short words stay whole)."""
    if len(core) <= 5:
        return [core]
    parts = re.findall(rf"[^{_VOWELS}]*[{_VOWELS}]+[^{_VOWELS}]?", core, flags=re.IGNORECASE)
    rest = core[len("".join(parts)) :]
    if not parts:
        return [core]
    parts[-1] += rest
    merged: list[str] = []
    for part in parts:
        if merged and (len(part) < 3 or len(merged[-1]) < 3):
            merged[-1] += part
        else:
            merged.append(part)
    return merged


def speak(utterances: list[Utterance], lead_ms: int, tail_ms: int, seed: int) -> Spoken:
    chunks: list[Pcm] = [silence(lead_ms)]
    cursor = ms_of(chunks[0].size)
    pieces: list[Piece] = []
    spans: list[tuple[int, int]] = []
    word_ends: list[int] = []
    finalize_at: list[int] = []
    word_index = 0
    first_in_stream = True
    for u_index, utt in enumerate(utterances):
        if u_index:
            chunks.append(silence(utt.pause_ms))
            cursor += ms_of(chunks[-1].size)
        utt_start = cursor
        words = utt.text.split()
        for w_index, word in enumerate(words):
            match = re.match(r"^(.*?)([.,?!]*)$", word)
            assert match is not None
            core, punct = match.group(1), match.group(2)
            pcm = synth(core.lower(), VOICES[utt.voice])
            start = cursor
            chunks.append(pcm)
            cursor += ms_of(pcm.size)
            end = cursor
            parts = split_word(core)
            total_chars = sum(len(p) for p in parts)
            t = float(start)
            for p_index, part in enumerate(parts):
                span = (end - start) * len(part) / total_chars
                text = part if (p_index or first_in_stream) else " " + part
                revisable = None
                if p_index == 0 and (
                    core.lower() in MISHEARD or (word_index % 5 == 2 and len(core) > 3)
                ):
                    wrong = MISHEARD.get(core.lower(), core[:-1])
                    revisable = wrong if first_in_stream else " " + wrong
                pieces.append(
                    Piece(
                        text,
                        round(t),
                        round(t + span),
                        word_index,
                        u_index,
                        utt.speaker,
                        utt.language,
                        revisable,
                    )
                )
                t += span
            if punct:
                pieces.append(
                    Piece(
                        punct,
                        end,
                        end + 20,
                        word_index,
                        u_index,
                        utt.speaker,
                        utt.language,
                        punct=True,
                    )
                )
            first_in_stream = False
            word_ends.append(end)
            word_index += 1
            if utt.finalize_after_word == w_index:
                # The client finalizes at the first chunk boundary after this word.
                finalize_at.append(math.ceil((end + 1) / CHUNK_MS) * CHUNK_MS)
            if w_index < len(words) - 1:
                chunks.append(silence(WORD_GAP_MS))
                cursor += ms_of(chunks[-1].size)
        spans.append((utt_start, cursor))
    chunks.append(silence(tail_ms))
    audio = np.concatenate(chunks).astype(np.int16)
    # A faint noise floor, as every real recording has (also keeps fixtures distinguishable).
    rng = np.random.default_rng(seed)
    noise = rng.integers(-3, 4, size=audio.size, dtype=np.int16)
    audio = np.clip(audio.astype(np.int32) + noise, -32768, 32767).astype(np.int16)
    return Spoken(audio, pieces, spans, word_ends, finalize_at)
