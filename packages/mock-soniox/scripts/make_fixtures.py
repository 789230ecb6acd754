#!/usr/bin/env python3
"""Regenerate the bundled fixture library (packages/mock-soniox/src/mock_soniox/library/).

Nobody can reach the real Soniox service from here, so the "recordings" are built: real speech
from espeak-ng, synthesised word by word so every word's true start and end in the audio is known,
and server frames shaped the way the service shapes them (sub-word tokens with leading spaces,
non-final tokens that get revised, confidences, ``<end>`` after endpoints, ``<fin>`` after a
finalize, speakers, languages, one-way translation). Every server frame carries the client audio
clock at which it was sent, like a fixture captured by ``mock-soniox record``.

Needs espeak-ng and sox (``apt-get install -y espeak-ng sox``); CI does not: the outputs are
committed. Deterministic: running it twice gives byte-identical files (``recorded_at`` is the
fixed RECORDED_AT).

    uv run python packages/mock-soniox/scripts/make_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import base64
import functools
import math
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mock_soniox.fixtures.library import LIBRARY_DIR
from mock_soniox.fixtures.writer import FixtureWriter

RATE = 16_000
CHUNK_MS = 120  # the client sends 120 ms of audio per frame, like the official examples
CHUNK_BYTES = RATE * 2 * CHUNK_MS // 1000
WORD_GAP_MS = 30
HEARD_LAG_MS = 160  # a piece shows up (non-final) this long after it was spoken
FINAL_LAG_MS = 720  # a word becomes final this long after it was spoken, if no endpoint came
ENDPOINT_DELAY_MS = 500  # silence after an utterance before the service sends <end>
SERVER_LATENCY_MS = 55.0  # wall-clock delay of a server frame after the audio that caused it
RECORDED_AT = "2026-11-20T10:00:00Z"

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
def synth(word: str, voice: str, speed: int = 200) -> Pcm:
    """One word from espeak-ng, resampled to 16 kHz mono s16le, silence trimmed off both ends."""
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", word],
        capture_output=True,
        check=True,
    ).stdout
    raw = subprocess.run(
        [*("sox", "-D", "-t", "wav", "-", "-t", "raw", "-r", str(RATE)), *SOX_S16_MONO],
        input=wav,
        capture_output=True,
        check=True,
    ).stdout
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 500)
    if loud.size == 0:
        return pcm[:0]
    return pcm[max(0, loud[0] - 32) : loud[-1] + 32].copy()


def silence(ms: float) -> Pcm:
    return np.zeros(int(RATE * ms / 1000), dtype=np.int16)


def ms_of(samples: int) -> int:
    return round(samples * 1000 / RATE)


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


# --- The simulated service ---


class SttService:
    """Turns the spoken truth into result frames the way the service sends them over time."""

    def __init__(
        self, spoken: Spoken, utterances: list[Utterance], config: dict[str, Any], seed: int
    ) -> None:
        self.spoken = spoken
        self.utts = utterances
        self.config = config
        self.rng = random.Random(seed)
        self.final_count = 0  # pieces already sent as final
        self.final_ms = 0
        self.endpointed: set[int] = set()
        self.translated_final: set[int] = set()
        self.last_tail: list[dict[str, Any]] = []
        self.last_sent_at = 0
        self.diarize = bool(config.get("enable_speaker_diarization"))
        self.lid = bool(config.get("enable_language_identification"))
        self.endpoints = bool(config.get("enable_endpoint_detection"))
        translation = config.get("translation") or {}
        self.target = translation.get("target_language") if translation else None
        self.delay = min(ENDPOINT_DELAY_MS, int(config.get("max_endpoint_delay_ms") or 2000))
        self.first_translation = True
        self.confidence: dict[tuple[int, bool], float] = {}

    def token(self, piece: Piece, final: bool, text: str | None = None) -> dict[str, Any]:
        index = self.spoken.pieces.index(piece)
        key = (index, final)
        if key not in self.confidence:
            low, high = (0.86, 0.99) if final else (0.42, 0.86)
            self.confidence[key] = round(self.rng.uniform(low, high), 2)
        tok: dict[str, Any] = {
            "text": piece.text if text is None else text,
            "start_ms": piece.start_ms,
            "end_ms": piece.end_ms,
            "confidence": self.confidence[key],
            "is_final": final,
        }
        if self.diarize:
            tok["speaker"] = piece.speaker
        if self.lid or self.target:
            tok["language"] = piece.language
        if self.target:
            tok["translation_status"] = "original" if piece.language != self.target else "none"
        return tok

    def translation_tokens(self, utt: int, final: bool, fraction: float) -> list[dict[str, Any]]:
        text = self.utts[utt].translation
        if not self.target or not text:
            return []
        words = text.split()
        count = len(words) if final else int(len(words) * fraction)
        out = []
        for i, word in enumerate(words[:count]):
            lead = "" if (self.first_translation and i == 0) else " "
            out.append(
                {
                    "text": lead + word,
                    "is_final": final,
                    "language": self.target,
                    "translation_status": "translation",
                    "source_language": self.utts[utt].language,
                }
            )
        if final and out:
            self.first_translation = False
        return out

    def finalize_upto(self, upto: int, clock: int) -> list[dict[str, Any]]:
        """Make every piece spoken before ``upto`` final (with its utterance's translation)."""
        tokens: list[dict[str, Any]] = []
        pieces = self.spoken.pieces
        while self.final_count < len(pieces) and pieces[self.final_count].start_ms < upto:
            piece = pieces[self.final_count]
            tokens.append(self.token(piece, True))
            self.final_count += 1
            last_of_utt = (
                self.final_count == len(pieces) or pieces[self.final_count].utt != piece.utt
            )
            if last_of_utt and piece.utt not in self.translated_final:
                self.translated_final.add(piece.utt)
                tokens.extend(self.translation_tokens(piece.utt, True, 1.0))
        if tokens:
            self.final_ms = max(self.final_ms, min(clock, tokens_end(tokens)))
        return tokens

    def tail(self, clock: int) -> list[dict[str, Any]]:
        pieces = self.spoken.pieces
        heard = [p for p in pieces[self.final_count :] if p.end_ms + HEARD_LAG_MS <= clock]
        tail: list[dict[str, Any]] = []
        for word in sorted({p.word for p in heard}):
            group = [p for p in heard if p.word == word]
            speech = [p for p in group if not p.punct]
            first = speech[0] if speech else None
            # A word is misheard at first, and corrected once the next word gives context.
            misheard = (
                first is not None
                and first.revisable is not None
                and not any(p.word > word for p in heard)
            )
            if misheard and first is not None and first.revisable is not None:
                wrong = self.token(first, False, first.revisable)
                wrong["end_ms"] = speech[-1].end_ms
                tail.append(wrong)
                tail.extend(self.token(p, False) for p in group if p.punct)
            else:
                tail.extend(self.token(p, False) for p in group)
        # Translation follows the speech in chunks, before the sentence ends.
        for utt in sorted({p.utt for p in heard}):
            if utt in self.translated_final:
                continue
            words = [p for p in pieces if p.utt == utt]
            fraction = sum(1 for p in words if p.end_ms + HEARD_LAG_MS <= clock) / len(words)
            if fraction >= 0.5:
                tail.extend(self.translation_tokens(utt, False, fraction))
        return tail

    def result(
        self, clock: int, finals: list[dict[str, Any]], tail: list[dict[str, Any]]
    ) -> dict[str, Any]:
        self.last_tail = tail
        self.last_sent_at = clock
        return {
            "tokens": finals + tail,
            "final_audio_proc_ms": self.final_ms,
            "total_audio_proc_ms": clock,
        }

    def on_chunk(self, clock: int) -> dict[str, Any] | None:
        finals: list[dict[str, Any]] = []
        pieces = self.spoken.pieces
        # Endpoint: the utterance ended and enough silence followed.
        if self.endpoints:
            for utt, (_, end) in enumerate(self.spoken.utt_spans):
                if utt not in self.endpointed and end + self.delay <= clock:
                    self.endpointed.add(utt)
                    closing = self.finalize_upto(end + 1, clock)
                    # An endpoint may come with nothing new to finalize; the marker still follows.
                    finals.extend(closing)
                    finals.append({"text": "<end>", "is_final": True})
                    self.final_ms = max(self.final_ms, end + self.delay - 120)
        # Words long enough in the past become final even mid-utterance.
        while self.final_count < len(pieces):
            piece = pieces[self.final_count]
            word_end = self.spoken.word_ends[piece.word]
            if word_end + FINAL_LAG_MS > clock:
                break
            finals.extend(self.finalize_upto(word_end + 1, clock))
        tail = self.tail(clock)
        if finals or tail != self.last_tail or clock - self.last_sent_at >= 960:
            return self.result(clock, finals, tail)
        return None

    def on_finalize(self, clock: int) -> dict[str, Any]:
        finals = self.finalize_upto(clock, clock)
        finals.append({"text": "<fin>", "is_final": True})
        self.final_ms = clock
        return self.result(clock, finals, [])

    def on_finish(self, clock: int) -> list[dict[str, Any]]:
        finals = self.finalize_upto(clock + 1, clock)
        self.final_ms = clock
        out = [self.result(clock, finals, [])] if finals else []
        out.append(
            {
                "tokens": [],
                "final_audio_proc_ms": clock,
                "total_audio_proc_ms": clock,
                "finished": True,
            }
        )
        return out


def tokens_end(tokens: list[dict[str, Any]]) -> int:
    return max((int(t["end_ms"]) for t in tokens if "end_ms" in t), default=0)


def stt_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model": "stt-rt-v4",
        "audio_format": "pcm_s16le",
        "num_channels": 1,
        "enable_endpoint_detection": True,
        "sample_rate": RATE,
        "language_hints": ["en"],
        "enable_speaker_diarization": False,
        "enable_language_identification": True,
        "max_endpoint_delay_ms": 1000,
    }
    config.update(overrides)
    return config


def make_stt(
    name: str,
    utterances: list[Utterance],
    config: dict[str, Any],
    *,
    notes: str,
    lead_ms: int,
    seed: int,
    keepalive_every_ms: int = 0,
) -> FixtureWriter:
    spoken = speak(utterances, lead_ms, tail_ms=1100, seed=seed)
    service = SttService(spoken, utterances, config, seed)
    writer = FixtureWriter(
        name,
        "stt",
        model=config["model"],
        notes=notes,
        source="make_fixtures.py (espeak-ng speech, simulated service)",
        recorded_at=RECORDED_AT,
    )
    writer.set_audio_format("pcm_s16le", RATE, 1)
    writer.add_json("c2s", 8.0, config, audio_ms=0.0)
    pcm = spoken.audio.tobytes()
    t0 = 10.0
    clock = 0
    last_keepalive = 0
    for offset in range(0, len(pcm), CHUNK_BYTES):
        chunk = pcm[offset : offset + CHUNK_BYTES]
        clock += len(chunk) // 2 * 1000 // RATE
        writer.add_binary("c2s", t0 + clock, chunk, audio_ms=clock)
        result = service.on_chunk(clock)
        if result is not None:
            writer.add_json("s2c", t0 + clock + SERVER_LATENCY_MS, result, audio_ms=clock)
        if keepalive_every_ms and clock - last_keepalive >= keepalive_every_ms:
            last_keepalive = clock
            writer.add_text("c2s", t0 + clock + 2, '{"type": "keepalive"}', audio_ms=clock)
        if clock in spoken.finalize_at:
            writer.add_text("c2s", t0 + clock + 3, '{"type": "finalize"}', audio_ms=clock)
            writer.add_json(
                "s2c",
                t0 + clock + 3 + SERVER_LATENCY_MS,
                service.on_finalize(clock),
                audio_ms=clock,
            )
    end = t0 + clock + 5
    writer.add_text("c2s", end, "", audio_ms=clock)
    for i, frame in enumerate(service.on_finish(clock)):
        writer.add_json("s2c", end + SERVER_LATENCY_MS + 5 * i, frame, audio_ms=clock)
    writer.add_close("s2c", end + SERVER_LATENCY_MS + 20, 1000)
    return writer


# --- TTS ---


def tts_stream(text: str, voice: str) -> tuple[Pcm, dict[str, list[Any]]]:
    """A sentence's audio and per-character (start, end) seconds, spaces spanning the gaps."""
    lead, gap = 40, 70
    chunks = [silence(lead)]
    cursor = ms_of(chunks[0].size)
    chars: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    words = text.split(" ")
    for i, word in enumerate(words):
        core = re.sub(r"[.,?!]", "", word)
        pcm = synth(core.lower(), voice)
        start, end = cursor, cursor + ms_of(pcm.size)
        step = (end - start) / len(word)
        for j, ch in enumerate(word):
            chars.append(ch)
            starts.append(round((start + j * step) / 1000, 3))
            ends.append(round((start + (j + 1) * step) / 1000, 3))
        chunks.append(pcm)
        cursor = end
        if i < len(words) - 1:
            chunks.append(silence(gap))
            chars.append(" ")
            starts.append(round(cursor / 1000, 3))
            cursor += gap
            ends.append(round(cursor / 1000, 3))
    chunks.append(silence(120))
    audio = np.concatenate(chunks).astype(np.int16)
    return audio, {"characters": chars, "start": starts, "end": ends}


def tts_frames(
    stream_id: str, config: dict[str, Any], text: str, voice: str, t_start: float
) -> list[tuple[float, str, dict[str, Any]]]:
    """(t_ms, dir, frame) for one stream: config, text, text_end, audio chunks, terminated."""
    audio, marks = tts_stream(text, voice)
    frames: list[tuple[float, str, dict[str, Any]]] = [
        (t_start, "c2s", {"stream_id": stream_id, **config}),
        (t_start + 1, "c2s", {"text": text, "text_end": False, "stream_id": stream_id}),
        (t_start + 2, "c2s", {"text": "", "text_end": True, "stream_id": stream_id}),
    ]
    chunk_ms = 200
    per_chunk = RATE * chunk_ms // 1000
    count = math.ceil(audio.size / per_chunk)
    t = t_start + 2 + 150  # time to first audio
    for i in range(count):
        lo, hi = i * chunk_ms / 1000, (i + 1) * chunk_ms / 1000
        last = i == count - 1
        picked = [k for k, s in enumerate(marks["start"]) if lo <= s < hi or (last and s >= lo)]
        frame: dict[str, Any] = {
            "stream_id": stream_id,
            "audio": base64.b64encode(
                audio[i * per_chunk : (i + 1) * per_chunk].tobytes()
            ).decode(),
            "audio_end": last,
        }
        if config.get("return_timestamps") and picked:
            frame["timestamps"] = {
                "characters": [marks["characters"][k] for k in picked],
                "character_start_times_seconds": [marks["start"][k] for k in picked],
                "character_end_times_seconds": [marks["end"][k] for k in picked],
            }
        frames.append((t, "s2c", frame))
        t += chunk_ms / 4  # generated four times faster than real time
    frames.append((t + 5, "s2c", {"stream_id": stream_id, "terminated": True}))
    return frames


def make_tts(
    name: str,
    voice_name: str,
    espeak_voice: str,
    model: str,
    sentences: list[str],
    *,
    overlap: bool,
) -> FixtureWriter:
    config = {
        "model": model,
        "language": "en",
        "voice": voice_name,
        "audio_format": "pcm_s16le",
        "sample_rate": RATE,
        "speed": 1.0,
        "return_timestamps": True,
    }
    writer = FixtureWriter(
        name,
        "tts",
        model=model,
        notes=f"voice {voice_name} (espeak-ng {espeak_voice}); {len(sentences)} streams"
        + ("; the first two overlap on the socket" if overlap else ", one after another"),
        source="make_fixtures.py (espeak-ng speech, simulated service)",
        recorded_at=RECORDED_AT,
    )
    events: list[tuple[float, str, dict[str, Any]]] = []
    t = 5.0
    for i, sentence in enumerate(sentences, 1):
        frames = tts_frames(f"stream-{i}", config, sentence, espeak_voice, t)
        events.extend(frames)
        t = frames[1][0] + 80 if (overlap and i == 1) else frames[-1][0] + 40
    events.append((t + 10, "c2s", {"keep_alive": True}))
    events.sort(key=lambda e: e[0])
    for t_ms, direction, frame in events:
        writer.add_json("c2s" if direction == "c2s" else "s2c", t_ms, frame)
    writer.add_close("c2s", events[-1][0] + 20, 1000)
    return writer


# --- The library ---


def build(out: Path) -> list[Path]:
    writers = [
        make_stt(
            "stt-en-single-speaker",
            [
                Utterance("Hello there, thanks for calling."),
                Utterance("I want to check the weather.", pause_ms=800),
                Utterance("Will it rain today?", pause_ms=800),
            ],
            stt_config(),
            notes="English, one speaker, three utterances, endpoint detection, keepalives.",
            lead_ms=300,
            seed=1,
            keepalive_every_ms=5000,
        ),
        make_stt(
            "stt-en-two-speakers",
            [
                Utterance("Good morning, how can I help you?", voice="en", speaker="1"),
                Utterance("My order never arrived.", voice="en-f", speaker="2", pause_ms=800),
                Utterance("Let me check.", voice="en", speaker="1", pause_ms=800),
                Utterance("Thank you so much.", voice="en-f", speaker="2", pause_ms=800),
            ],
            stt_config(enable_speaker_diarization=True),
            notes="Two speakers (two espeak-ng voices), diarization on.",
            lead_ms=360,
            seed=2,
        ),
        make_stt(
            "stt-en-es-mixed",
            [
                Utterance("Can we switch to Spanish now?", voice="en", language="en"),
                Utterance(
                    "Claro que si, hablemos en espanol.", voice="es", language="es", pause_ms=800
                ),
                Utterance("Perfect, thank you.", voice="en", language="en", pause_ms=800),
            ],
            stt_config(language_hints=["en", "es"]),
            notes="English and Spanish in one session, language identification on.",
            lead_ms=420,
            seed=3,
        ),
        make_stt(
            "stt-en-translation-es",
            [
                Utterance("Good morning everyone.", translation="Buenos dias a todos."),
                Utterance(
                    "The meeting starts at nine.",
                    translation="La reunion empieza a las nueve.",
                    pause_ms=800,
                ),
            ],
            stt_config(translation={"type": "one_way", "target_language": "es"}),
            notes="One-way translation en -> es: spoken tokens are 'original', translations follow"
            " without timings.",
            lead_ms=480,
            seed=4,
        ),
        make_stt(
            "stt-en-finalize",
            [
                Utterance(
                    "Please transfer me to the billing department right away.",
                    finalize_after_word=3,
                ),
                Utterance("Okay.", pause_ms=800),
            ],
            stt_config(),
            notes="The client sends finalize mid-utterance (after 'to'): finals plus <fin>,"
            " then the rest of the utterance and <end>.",
            lead_ms=540,
            seed=5,
        ),
        make_stt(
            "stt-en-long",
            [
                Utterance(
                    "Welcome to the quarterly review of our customer support team.", speaker="1"
                ),
                Utterance("First, let us look at the numbers from last month.", speaker="1"),
                Utterance("We answered more calls than ever before.", speaker="1"),
                Utterance("That is great news for everyone.", voice="en-f", speaker="2"),
                Utterance("What was the average waiting time?", voice="en-f", speaker="2"),
                Utterance("It dropped to just under two minutes.", speaker="1"),
                Utterance("Did the customers notice the change?", voice="en-f", speaker="2"),
                Utterance("Yes, the survey scores went up by ten points.", speaker="1"),
                Utterance("I think that is the right call.", voice="en-f", speaker="2"),
                Utterance("Thank you all for coming today.", speaker="1"),
            ],
            stt_config(enable_speaker_diarization=True),
            notes="A long meeting (over 30 s), two speakers, many endpoints.",
            lead_ms=600,
            seed=6,
            keepalive_every_ms=5000,
        ),
        make_tts(
            "tts-maya",
            "Maya",
            "en-us+f3",
            "tts-rt-v2",
            ["Hello! How can I help you today?", "Your order has shipped.", "Goodbye."],
            overlap=True,
        ),
        make_tts(
            "tts-adrian",
            "Adrian",
            "en-us",
            "tts-rt-v2",
            ["Welcome back.", "The weather is sunny and warm.", "See you soon."],
            overlap=False,
        ),
    ]
    if out.exists():
        for path in out.iterdir():
            if path.suffix in (".jsonl", ".wav", ".raw", ".bin"):
                path.unlink()
    return [w.write(out) for w in writers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=LIBRARY_DIR, help="output directory")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y espeak-ng sox", file=sys.stderr)
            return 2
    paths = build(args.out)
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    for path in paths:
        print(path)
    print(f"library: {len(paths)} fixtures, {total / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
