"""Soniox token frames -> LiveKit SpeechEvents: a pure state machine, no I/O.

Final tokens accumulate into the open utterance until an endpoint (``<end>``), a manual
finalization (``<fin>``) or the end of the session closes it with FINAL_TRANSCRIPT and
END_OF_SPEECH. The non-final tail of each frame replaces the previous one. In translation mode an
utterance closed by a marker waits for its translation, which the service may send after the
marker, so the final event carries both the source and the target text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from livekit.agents import stt
from livekit.agents.language import LanguageCode
from livekit.agents.types import TimedString

END_MARKER = "<end>"
FIN_MARKER = "<fin>"


@dataclass(slots=True)
class Token:
    """One token, its times already on the stream's timeline (seconds); never changed once
    made (``dataclasses.replace`` makes a new one)."""

    text: str
    is_final: bool
    start: float | None = None
    end: float | None = None
    confidence: float | None = None
    speaker: str | None = None
    language: str | None = None
    translation_status: str | None = None
    ends_word: bool = False  # the last token before a reconnect: the next one starts a word

    @property
    def is_translation(self) -> bool:
        return self.translation_status == "translation"

    @property
    def is_marker(self) -> bool:
        return self.text.startswith("<") and self.text.endswith(">")


def parse_token(raw: dict[str, Any], time_base: float) -> Token:
    """A wire token; ``time_base`` (seconds) is added to its session-relative times."""
    start = raw.get("start_ms")
    end = raw.get("end_ms")
    speaker = raw.get("speaker")
    confidence = raw.get("confidence")
    return Token(
        text=str(raw.get("text", "")),
        is_final=bool(raw.get("is_final", False)),
        start=time_base + start / 1000.0 if isinstance(start, int | float) else None,
        end=time_base + end / 1000.0 if isinstance(end, int | float) else None,
        confidence=float(confidence) if isinstance(confidence, int | float) else None,
        speaker=str(speaker) if speaker is not None else None,
        language=raw.get("language") or None,
        translation_status=raw.get("translation_status") or None,
    )


def _pieces(tokens: Iterable[Token]) -> Iterable[tuple[Token, str]]:
    """Each token with its text, spaced after a token that ends a word."""
    ends_word = False
    for token in tokens:
        space = ends_word and not token.text[:1].isspace()
        yield token, " " + token.text if space else token.text
        ends_word = token.ends_word


def _join(tokens: Iterable[Token]) -> str:
    return "".join(text for _, text in _pieces(tokens)).strip()


def _runs(tokens: Iterable[Token]) -> tuple[list[str], list[str]]:
    """Consecutive same-language runs: (languages, texts)."""
    languages: list[str] = []
    texts: list[str] = []
    for token, text in _pieces(tokens):
        language = token.language or ""
        if languages and languages[-1] == language:
            texts[-1] += text
        else:
            languages.append(language)
            texts.append(text)
    stripped = [(lang, text.strip()) for lang, text in zip(languages, texts, strict=True)]
    kept = [(lang, text) for lang, text in stripped if text]
    return [lang for lang, _ in kept], [text for _, text in kept]


def _dominant(weights: dict[str, int]) -> str | None:
    """The key with the largest weight (ties: the first inserted)."""
    return max(weights, key=weights.__getitem__) if weights else None


def _add_weight(weights: dict[str, int], value: str | None, text: str) -> None:
    """Weigh ``value`` by the characters of ``text`` (at least 1)."""
    if value:
        weights[value] = weights.get(value, 0) + (len(text.strip()) or 1)


def _word(group: list[Token], offset: float) -> TimedString | None:
    """Sub-word tokens as one timed word (None if they hold only whitespace)."""
    text = "".join([t.text for t in group]).strip()
    if not text:
        return None
    start = end = confidence = None
    for t in group:
        if t.start is not None and (start is None or t.start < start):
            start = t.start
        if t.end is not None and (end is None or t.end > end):
            end = t.end
        if t.confidence is not None and (confidence is None or t.confidence < confidence):
            confidence = t.confidence
    return TimedString(
        text,
        start_time=0.0 if start is None else start,
        end_time=0.0 if end is None else end,
        confidence=0.0 if confidence is None else confidence,
        start_time_offset=offset,
        speaker_id=group[0].speaker,
    )


def speech_data(
    tokens: Sequence[Token], *, fallback_language: str, offset: float
) -> stt.SpeechData:
    """One utterance (or its current hypothesis) as SpeechData.

    Runs on every interim result, so the spoken tokens are summarised in one pass: text, times,
    confidence, the language and speaker with the most characters, and the words (a token with
    leading whitespace, or one after a token that ends a word, starts a new word).
    """
    pieces: list[str] = []
    languages: dict[str, int] = {}
    speakers: dict[str, int] = {}
    words: list[TimedString] = []
    group: list[Token] = []
    translated: list[Token] = []
    start = end = None
    confidence_sum, confidences = 0.0, 0
    has_status = ends_word = False
    for token in tokens:
        if token.translation_status:
            has_status = True
            if token.translation_status == "translation":
                translated.append(token)
                continue
        text = token.text
        if text[:1].isspace() or ends_word:
            if group and (word := _word(group, offset)) is not None:
                words.append(word)
            group = [token]
            pieces.append(text if text[:1].isspace() else " " + text)
        else:
            group.append(token)
            pieces.append(text)
        ends_word = token.ends_word
        if token.start is not None and (start is None or token.start < start):
            start = token.start
        if token.end is not None and (end is None or token.end > end):
            end = token.end
        if token.confidence is not None:
            confidence_sum += token.confidence
            confidences += 1
        _add_weight(languages, token.language, text)
        _add_weight(speakers, token.speaker, text)
    if group and (word := _word(group, offset)) is not None:
        words.append(word)
    language = _dominant(languages) or fallback_language
    text = "".join(pieces).strip()
    source: tuple[list[str], list[str]] | None = None
    target: tuple[list[str], list[str]] | None = None
    if has_status:
        source = _runs(t for t in tokens if not t.is_translation)
    if translated:
        target = _runs(translated)
        text = _join(translated)
        target_languages: dict[str, int] = {}
        for token in translated:
            _add_weight(target_languages, token.language, token.text)
        language = _dominant(target_languages) or language
    return stt.SpeechData(
        language=LanguageCode(language),
        text=text,
        start_time=offset if start is None else start,
        end_time=offset if end is None else end,
        confidence=confidence_sum / confidences if confidences else 0.0,
        speaker_id=_dominant(speakers),
        words=words,
        source_languages=[LanguageCode(x) for x in source[0]] if source else None,
        source_texts=source[1] if source else None,
        target_languages=[LanguageCode(x) for x in target[0]] if target else None,
        target_texts=target[1] if target else None,
    )


class TranscriptAssembler:
    """Feeds on token frames, yields SpeechEvents; one per stream, kept across reconnects."""

    def __init__(self, *, request_id: str = "", fallback_language: str = "", offset: float = 0.0):
        self.request_id = request_id
        self.fallback_language = fallback_language
        self.offset = offset  # the stream's start_time_offset, for word timings
        self.final_tokens = 0  # final non-marker tokens seen; the stream reports them as usage
        self._finals: list[Token] = []  # final tokens of the open utterance
        self._tail: list[Token] = []  # the latest non-final tokens
        self._closing: list[Token] | None = None  # closed by a marker, awaiting its translation
        self._speaking = False

    def feed(self, raw_tokens: Sequence[dict[str, Any]], time_base: float) -> list[stt.SpeechEvent]:
        """One result frame; ``time_base`` puts its session-relative times on the timeline."""
        events: list[stt.SpeechEvent] = []
        tail: list[Token] = []
        changed = False
        for raw in raw_tokens:
            token = parse_token(raw, time_base)
            if token.is_marker:
                if token.is_final and token.text in (END_MARKER, FIN_MARKER):
                    closed = self._close_utterance()
                    if token.text == FIN_MARKER and not self._answers_fin(closed):
                        # A flush() after the utterance already ended: its answer is still a
                        # final transcript (an empty one), or the caller waits for one in vain.
                        closed.append(self._empty_final())
                    events += closed
                continue  # other markers (e.g. <docroot>) carry nothing to show
            if self._closing is not None and not token.is_translation:
                events += self._emit_closing()  # new speech: the previous translation is over
            changed = True
            if not token.is_final:
                tail.append(token)
                continue
            self.final_tokens += 1
            if self._closing is not None:
                self._closing.append(token)
            else:
                self._finals.append(token)
        if self._tail and not tail:
            changed = True
        self._tail = tail
        if self._closing is not None and self._translation_complete():
            events += self._emit_closing()
        if changed:
            events += self._interim()
        return events

    def finish(self) -> list[stt.SpeechEvent]:
        """End of session (``finished``, an error, or the stream ending): deliver everything."""
        events = self._emit_closing() if self._closing is not None else []
        self._tail = [t for t in self._tail if t.is_final]
        return events + self._close_utterance(wait_for_translation=False)

    def connection_lost(self) -> list[stt.SpeechEvent]:
        """The socket dropped: the non-final tail is gone (its audio is re-sent); finals stay."""
        self._tail = []
        if self._finals:
            self._finals[-1] = dataclasses.replace(self._finals[-1], ends_word=True)
        return self._emit_closing() if self._closing is not None else []

    # --- internals ---

    def _open_tokens(self) -> list[Token]:
        tail = self._tail
        if self._closing is not None:  # translation tail still belongs to the closing utterance
            tail = [t for t in tail if not t.is_translation]
        return self._finals + tail

    def _translation_complete(self) -> bool:
        closing = self._closing or []
        if not any(t.translation_status == "original" for t in closing):
            return True
        has_translation = any(t.is_translation for t in closing)
        return has_translation and not any(t.is_translation for t in self._tail)

    def _event(self, kind: stt.SpeechEventType, tokens: Sequence[Token] = ()) -> stt.SpeechEvent:
        alternatives = (
            [speech_data(tokens, fallback_language=self.fallback_language, offset=self.offset)]
            if tokens
            else []
        )
        return stt.SpeechEvent(type=kind, request_id=self.request_id, alternatives=alternatives)

    def _interim(self) -> list[stt.SpeechEvent]:
        tokens = self._open_tokens()
        if not any(t.text.strip() for t in tokens):
            return []
        events = []
        if not self._speaking:
            self._speaking = True
            events.append(self._event(stt.SpeechEventType.START_OF_SPEECH))
        all_final = len(tokens) == len(self._finals)
        kind = (
            stt.SpeechEventType.PREFLIGHT_TRANSCRIPT
            if all_final
            else stt.SpeechEventType.INTERIM_TRANSCRIPT
        )
        events.append(self._event(kind, tokens))
        return events

    def _close_utterance(self, *, wait_for_translation: bool = True) -> list[stt.SpeechEvent]:
        events = self._emit_closing() if self._closing is not None else []
        finals, self._finals = self._finals, []
        if wait_for_translation and any(t.translation_status == "original" for t in finals):
            self._closing = finals
            if not self._speaking:
                self._speaking = True
                events.append(self._event(stt.SpeechEventType.START_OF_SPEECH))
            return events
        return events + self._final_events(finals)

    def _answers_fin(self, closed: Sequence[stt.SpeechEvent]) -> bool:
        """The events closing an utterance include its final, or it waits for a translation."""
        final = stt.SpeechEventType.FINAL_TRANSCRIPT
        return self._closing is not None or any(e.type == final for e in closed)

    def _empty_final(self) -> stt.SpeechEvent:
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=self.request_id,
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode(self.fallback_language),
                    text="",
                    start_time=self.offset,
                    end_time=self.offset,
                )
            ],
        )

    def _emit_closing(self) -> list[stt.SpeechEvent]:
        closing, self._closing = self._closing or [], None
        return self._final_events(closing)

    def _final_events(self, finals: Sequence[Token]) -> list[stt.SpeechEvent]:
        events = []
        if any(t.text.strip() for t in finals):
            if not self._speaking:
                events.append(self._event(stt.SpeechEventType.START_OF_SPEECH))
            events.append(self._event(stt.SpeechEventType.FINAL_TRANSCRIPT, finals))
            self._speaking = True
        if self._speaking:
            events.append(self._event(stt.SpeechEventType.END_OF_SPEECH))
            self._speaking = False
        return events


def merge_speech_data(items: Sequence[stt.SpeechData], *, fallback_language: str) -> stt.SpeechData:
    """Several final utterances as one result (``recognize()``)."""
    if not items:
        return stt.SpeechData(language=LanguageCode(fallback_language), text="")
    words = [w for item in items for w in item.words or []]
    confidences = [item.confidence for item in items]

    def joined(name: str) -> list[Any] | None:
        values = [v for item in items for v in getattr(item, name) or []]
        return values or None

    return stt.SpeechData(
        language=items[0].language,
        text=" ".join(item.text for item in items if item.text),
        start_time=items[0].start_time,
        end_time=items[-1].end_time,
        confidence=sum(confidences) / len(confidences),
        speaker_id=items[0].speaker_id,
        words=words or None,
        source_languages=joined("source_languages"),
        source_texts=joined("source_texts"),
        target_languages=joined("target_languages"),
        target_texts=joined("target_texts"),
    )
