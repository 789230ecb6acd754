"""The simulated STT service: result frames over time for spoken audio, and the STT fixtures."""

from __future__ import annotations

import random
from typing import Any

from fixture_speech import CHUNK_MS, RATE, RECORDED_AT, SOURCE, Piece, Spoken, Utterance, speak

from mock_soniox.fixtures.writer import FixtureWriter

CHUNK_BYTES = RATE * 2 * CHUNK_MS // 1000
HEARD_LAG_MS = 160  # a piece shows up (non-final) this long after it was spoken
FINAL_LAG_MS = 720  # a word becomes final this long after it was spoken, if no endpoint came
ENDPOINT_DELAY_MS = 500  # silence after an utterance before the service sends <end>
SERVER_LATENCY_MS = 55.0  # wall-clock delay of a server frame after the audio that caused it


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
        source=SOURCE,
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
