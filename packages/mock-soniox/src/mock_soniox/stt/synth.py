"""A deterministic synthetic transcript derived from the audio itself.

Speech is found by energy in 10 ms frames. Voiced stretches become words (split at short gaps or
after ``MAX_WORD_MS``), each word gets a stable placeholder chosen by a hash of its timings, and
tokens go through the service's lifecycle: a non-final tail that is revised while audio arrives,
then finals once the audio is ``FINAL_LAG_MS`` past the word. Tokens read like Soniox's: sub-word
pieces, every word after the first of the session with its leading space. A pause of
``SENTENCE_PAUSE_MS`` ends a sentence (a full stop; the next word is capitalised); with endpoint
detection on, ``<end>`` follows once the silence reaches the endpoint delay (the
``stt_endpoint_delay_ms`` setting, shortened by ``endpoint_sensitivity``, never more than
``max_endpoint_delay_ms``), so read speech gets one final per sentence. Same audio in, same
transcript out, whatever the chunking (the partial tail may differ; the finals do not).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..audio import Samples
from ..protocol import END_TOKEN, FIN_TOKEN
from .config import SttConfig

FRAME_MS = 10
VAD_THRESHOLD_RMS = 0.01  # about -40 dBFS
WORD_GAP_MS = 120  # silence that ends a word
MAX_WORD_MS = 400  # a longer voiced stretch is split into several words
MIN_WORD_MS = 60  # shorter blips are dropped (they may show briefly as non-final)
FINAL_LAG_MS = 360  # a word becomes final once this much audio follows it
SENTENCE_PAUSE_MS = 250  # silence that ends a sentence (read speech pauses 0.3-0.5 s)
ENDPOINT_DELAY_MS = 300  # the default of Settings.stt_endpoint_delay_ms


# Placeholder words, pre-split into sub-word pieces the way the service's tokens are.
VOCABULARY: tuple[tuple[str, ...], ...] = (
    ("hel", "lo"),
    ("world",),
    ("mock",),
    ("trans", "cript"),
    ("speech",),
    ("au", "dio"),
    ("sig", "nal"),
    ("sam", "ple"),
    ("to", "ken"),
    ("stream",),
    ("mo", "del"),
    ("voice",),
    ("ech", "o"),
    ("rhy", "thm"),
    ("pat", "tern"),
    ("qui", "et"),
    ("tone",),
    ("wave",),
    ("sound",),
    ("mea", "sure"),
    ("frame",),
    ("pla", "ce", "hol", "der"),
    ("so", "ni", "ox"),
    ("syn", "the", "tic"),
    ("ti", "ming"),
    ("word",),
    ("sen", "tence"),
    ("lis", "ten"),
    ("ans", "wer"),
    ("ques", "tion"),
    ("bright",),
    ("ri", "ver"),
)
TRANSLATION_VOCABULARY: tuple[str, ...] = (
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "vita",
    "sonus",
    "vox",
    "verbum",
    "unda",
    "tempus",
    "signum",
)


def _hash(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass
class Word:
    start_ms: int
    end_ms: int
    voiced_ms: int = 0
    first_in_utterance: bool = False  # first of its sentence: capitalised
    speaker: str = "1"
    first_in_session: bool = False  # the only word without a leading space
    sentence_end: bool = False  # a full stop follows it


@dataclass
class _Utterance:
    """The sentence being spoken."""

    start_ms: int
    speaker: str
    words_final: int = 0  # final words since the sentence began
    words_started: int = 0
    last_end_ms: int = 0


@dataclass
class SyntheticSource:
    """The default :class:`~mock_soniox.stt.ResultSource`: tokens invented from the audio."""

    config: SttConfig
    result_interval_ms: int = 120
    seed: int = 0
    endpoint_delay_ms: int = ENDPOINT_DELAY_MS
    processing_lag_ms: int = 0
    _carry: Samples = field(default_factory=lambda: np.zeros(0, np.float32))
    _carry_rate: int = 0
    _processed_ms: int = 0  # end of the last analysed 10 ms frame
    _next_result_ms: int = 0
    _final_ms: int = 0
    _total_ms: int = 0
    _pending: list[Word] = field(default_factory=list)  # complete words, not final yet
    _current: Word | None = None  # the word still growing
    _silence_ms: int = 0
    _utterance: _Utterance | None = None
    _words_seen: int = 0  # words started this session
    _since_endpoint: bool = False  # words since the last <end>
    _lagging: Samples = field(default_factory=lambda: np.zeros(0, np.float32))
    # Finals not yet sent: spoken tokens, then their translations, then markers.
    _final_spoken: list[dict[str, Any]] = field(default_factory=list)
    _final_translated: list[dict[str, Any]] = field(default_factory=list)
    _final_markers: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._next_result_ms = self.result_interval_ms
        cfg = self.config
        silence = self.endpoint_delay_ms * (1.0 - 0.5 * cfg.endpoint_sensitivity)
        self.endpoint_silence_ms = int(min(cfg.max_endpoint_delay_ms, silence))
        self.spoken_language = self._spoken_language()
        self.translation_target = self._translation_target()

    # --- ResultSource ---

    def on_audio(self, pcm: Samples, sample_rate: int, audio_ms: float) -> list[dict[str, Any]]:
        lag_ms = self.processing_lag_ms
        if lag_ms > 0:  # analyse only the audio older than the lag; the rest waits
            pcm = np.concatenate((self._lagging, pcm)) if self._lagging.size else pcm
            keep = min(pcm.size, sample_rate * lag_ms // 1000)
            pcm, self._lagging = pcm[: pcm.size - keep], pcm[pcm.size - keep :].copy()
            audio_ms = max(0.0, audio_ms - lag_ms)
        frames = self._analyse(pcm, sample_rate)
        total = max(int(audio_ms), self._total_ms)
        if total >= self._next_result_ms:
            self._promote_finals()
            frames.append(self._result(total))
            step = self.result_interval_ms
            self._next_result_ms = (total // step + 1) * step
        return frames

    def on_finalize(self, audio_ms: float) -> list[dict[str, Any]]:
        frames = self._catch_up()
        self._close_utterance()
        self._final_markers.append({"text": FIN_TOKEN, "is_final": True})
        return [*frames, self._result(max(int(audio_ms), self._total_ms), everything_final=True)]

    def on_finish(self, audio_ms: float) -> list[dict[str, Any]]:
        frames = self._catch_up()
        self._close_utterance()
        if not (self._final_spoken or self._final_translated or self._final_markers):
            return frames
        return [*frames, self._result(max(int(audio_ms), self._total_ms), everything_final=True)]

    def _analyse(self, pcm: Samples, sample_rate: int) -> list[dict[str, Any]]:
        """Run the detector over ``pcm``; a result frame for each endpoint it completes."""
        frames: list[dict[str, Any]] = []
        for frame_end_ms, voiced in self._frames(pcm, sample_rate):
            self._processed_ms = frame_end_ms
            if self._step(frame_end_ms, voiced):
                frames.append(self._result(frame_end_ms, everything_final=True))
        return frames

    def _catch_up(self) -> list[dict[str, Any]]:
        """Finalize and finish see all audio: analyse what the processing lag held back."""
        pending, self._lagging = self._lagging, np.zeros(0, np.float32)
        if not pending.size or not self._carry_rate:
            return []
        return self._analyse(pending, self._carry_rate)

    # --- speech detection ---

    def _frames(self, pcm: Samples, sample_rate: int) -> list[tuple[int, bool]]:
        """(end ms, voiced) for every complete 10 ms frame; a partial frame waits for more."""
        if sample_rate != self._carry_rate:
            self._carry = np.zeros(0, np.float32)
            self._carry_rate = sample_rate
        samples = np.concatenate((self._carry, pcm)) if self._carry.size else pcm
        per_frame = max(1, sample_rate * FRAME_MS // 1000)
        count = samples.size // per_frame
        self._carry = samples[count * per_frame :].copy()
        if count == 0:
            return []
        blocks = samples[: count * per_frame].reshape(count, per_frame).astype(np.float64)
        rms = np.sqrt(np.mean(blocks * blocks, axis=1))
        start = self._processed_ms
        return [
            (start + (i + 1) * FRAME_MS, bool(level >= VAD_THRESHOLD_RMS))
            for i, level in enumerate(rms)
        ]

    def _step(self, end_ms: int, voiced: bool) -> bool:
        """Advance one frame; True when it completed an endpoint."""
        start_ms = end_ms - FRAME_MS
        if voiced:
            self._silence_ms = 0
            word = self._current
            if word is not None and end_ms - word.start_ms > MAX_WORD_MS:
                self._complete_current()
                word = None
            if word is None:
                word = self._new_word(start_ms)
                self._current = word
            word.end_ms = end_ms
            word.voiced_ms += FRAME_MS
            return False
        self._silence_ms += FRAME_MS
        if self._current is not None and self._silence_ms >= WORD_GAP_MS:
            self._complete_current()
        if self._utterance is not None and self._silence_ms >= SENTENCE_PAUSE_MS:
            self._end_sentence()
        if (
            self.config.enable_endpoint_detection
            and self._since_endpoint
            and self._silence_ms >= self.endpoint_silence_ms
        ):
            self._close_utterance()
            self._final_markers.append({"text": END_TOKEN, "is_final": True})
            self._since_endpoint = False
            return True
        return False

    def _end_sentence(self) -> None:
        """A pause long enough to end the sentence: a full stop after its last word."""
        self._complete_current()
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return
        if self._pending:
            self._pending[-1].sentence_end = True
        elif utterance.words_final:  # every word already final: the stop goes out alone
            self._final_spoken.extend(self._punctuation(utterance.last_end_ms, utterance.speaker))

    def _new_word(self, start_ms: int) -> Word:
        utterance = self._utterance
        if utterance is None:
            speaker = str(_hash(self.seed, "speaker", start_ms) % 2 + 1)
            utterance = self._utterance = _Utterance(start_ms, speaker)
        word = Word(
            start_ms,
            start_ms,
            first_in_utterance=utterance.words_started == 0,
            speaker=utterance.speaker,
            first_in_session=self._words_seen == 0,
        )
        utterance.words_started += 1
        self._words_seen += 1
        return word

    def _complete_current(self) -> None:
        word, self._current = self._current, None
        if word is None:
            return
        if word.voiced_ms >= MIN_WORD_MS:
            self._pending.append(word)
            self._since_endpoint = True
            return
        # A blip is no word: it neither starts a sentence nor takes the session's first word.
        self._words_seen -= 1
        utterance = self._utterance
        if utterance is not None:
            utterance.words_started -= 1
            if utterance.words_started == 0:
                self._utterance = None

    # --- finals ---

    def _promote_finals(self) -> None:
        """Complete words far enough behind the audio become final, in order."""
        while self._pending and self._pending[0].end_ms + FINAL_LAG_MS <= self._processed_ms:
            self._finalize_word(self._pending.pop(0))

    def _finalize_word(self, word: Word) -> None:
        self._final_spoken.extend(self._tokens(word, final=True))
        self._final_translated.extend(self._translation_tokens(word, final=True))
        utterance = self._utterance
        if utterance is not None and word.start_ms >= utterance.start_ms:
            utterance.words_final += 1
            utterance.last_end_ms = word.end_ms

    def _close_utterance(self) -> None:
        """Endpoint, finalize or finish: everything pending becomes final, with punctuation."""
        self._complete_current()
        for word in self._pending:
            self._finalize_word(word)
        self._pending = []
        utterance, self._utterance = self._utterance, None
        if utterance is not None and utterance.words_final:
            self._final_spoken.extend(self._punctuation(utterance.last_end_ms, utterance.speaker))
        self._silence_ms = 0

    # --- tokens ---

    def _result(self, total_ms: int, *, everything_final: bool = False) -> dict[str, Any]:
        tail: list[dict[str, Any]] = []
        tail_translated: list[dict[str, Any]] = []
        if not everything_final:
            growing = [self._current] if self._current is not None else []
            for word in self._pending + growing:
                tail.extend(self._tokens(word, final=False))
                tail_translated.extend(self._translation_tokens(word, final=False))
        total_ms = max(total_ms, self._total_ms)
        if everything_final:
            final_ms = total_ms
        elif self._pending or self._current is not None:
            first = self._pending[0] if self._pending else self._current
            assert first is not None
            final_ms = first.start_ms
        else:
            final_ms = self._processed_ms
        final_ms = min(max(final_ms, self._final_ms), total_ms)
        self._final_ms, self._total_ms = final_ms, total_ms
        tokens = (
            self._final_spoken
            + self._final_translated
            + self._final_markers
            + tail
            + tail_translated
        )
        self._final_spoken, self._final_translated, self._final_markers = [], [], []
        return {"tokens": tokens, "final_audio_proc_ms": final_ms, "total_audio_proc_ms": total_ms}

    def _tokens(self, word: Word, *, final: bool) -> list[dict[str, Any]]:
        pieces = list(VOCABULARY[_hash(self.seed, word.start_ms, word.end_ms) % len(VOCABULARY)])
        if word.first_in_utterance:
            pieces[0] = pieces[0].capitalize()
        if not word.first_in_session:
            pieces[0] = " " + pieces[0]
        weights = [len(p.strip()) for p in pieces]
        span = word.end_ms - word.start_ms
        tokens: list[dict[str, Any]] = []
        at = word.start_ms
        for index, piece in enumerate(pieces):
            end = (
                word.end_ms
                if index == len(pieces) - 1
                else word.start_ms + span * sum(weights[: index + 1]) // sum(weights)
            )
            confidence = self._confidence(word, index, final)
            tokens.append(self._spoken(piece, at, end, confidence, final, word.speaker))
            at = end
        if word.sentence_end:
            tokens.append(self._spoken(".", word.end_ms, word.end_ms, 0.99, final, word.speaker))
        return tokens

    def _confidence(self, word: Word, index: int, final: bool) -> float:
        unit = _hash(self.seed, "confidence", word.start_ms, index) % 1000 / 1000
        return round(0.85 + 0.14 * unit if final else 0.55 + 0.3 * unit, 2)

    def _punctuation(self, at_ms: int, speaker: str) -> list[dict[str, Any]]:
        return [self._spoken(".", at_ms, at_ms, 0.99, True, speaker)]

    def _spoken(
        self, text: str, start: int, end: int, confidence: float, final: bool, speaker: str
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "text": text,
            "start_ms": start,
            "end_ms": end,
            "confidence": confidence,
            "is_final": final,
        }
        cfg = self.config
        if cfg.enable_speaker_diarization:
            token["speaker"] = speaker
        if cfg.enable_language_identification or cfg.translation is not None:
            token["language"] = self.spoken_language
        if cfg.translation is not None:
            token["translation_status"] = (
                "original" if self.translation_target is not None else "none"
            )
        return token

    def _translation_tokens(self, word: Word, final: bool) -> list[dict[str, Any]]:
        target = self.translation_target
        if target is None:
            return []
        text = TRANSLATION_VOCABULARY[
            _hash(self.seed, "translation", word.start_ms, word.end_ms)
            % len(TRANSLATION_VOCABULARY)
        ]
        text = text.capitalize() if word.first_in_utterance else text
        text = text if word.first_in_session else " " + text
        return [
            {
                "text": text,
                "is_final": final,
                "language": target,
                "translation_status": "translation",
                "source_language": self.spoken_language,
            }
        ]

    # --- languages ---

    def _spoken_language(self) -> str:
        cfg = self.config
        if cfg.language_hints:
            return cfg.language_hints[0]
        if cfg.translation is not None and cfg.translation.type == "two_way":
            return cfg.translation.language_a or "en"
        return "en"

    def _translation_target(self) -> str | None:
        tr = self.config.translation
        spoken = self.spoken_language
        if tr is None:
            return None
        if tr.type == "one_way":
            return tr.target_language if tr.target_language != spoken else None
        if spoken == tr.language_a:
            return tr.language_b
        if spoken == tr.language_b:
            return tr.language_a
        return None
