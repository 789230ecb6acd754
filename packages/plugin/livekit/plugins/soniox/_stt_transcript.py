"""Soniox token frames -> LiveKit SpeechEvents: a pure state machine, no I/O.

Final tokens accumulate into the open utterance until an endpoint (``<end>``), a manual
finalization (``<fin>``) or the end of the session closes it with FINAL_TRANSCRIPT and
END_OF_SPEECH. The non-final tail of each frame replaces the previous one. In translation mode an
utterance closed by a marker waits for its translation, which the service may send after the
marker, so the final event carries both the source and the target text.
"""

from __future__ import annotations

import dataclasses
import functools
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


class Summary:
    """An utterance's tokens summarised one at a time: text, times, confidence, the language and
    speaker with the most characters, and the words (a token with leading whitespace, or one after
    a token that ends a word, starts a new word).

    Interim results run on every frame: the assembler keeps the summary of the utterance's final
    tokens and extends a copy with the frame's non-final tail, so a frame costs its tail, not the
    whole utterance so far.
    """

    __slots__ = (
        "_confidence_n",
        "_confidence_sum",
        "_end",
        "_ends_word",
        "_group",
        "_has_status",
        "_languages",
        "_pieces",
        "_speakers",
        "_start",
        "_tokens",
        "_translated",
        "_words",
        "has_text",
        "offset",
    )

    def __init__(self, offset: float) -> None:
        self.offset = offset  # the stream's start_time_offset, for word timings
        self._tokens: list[Token] = []
        self._pieces: list[str] = []
        self._languages: dict[str, int] = {}
        self._speakers: dict[str, int] = {}
        self._words: list[TimedString] = []
        self._group: list[Token] = []  # the tokens of the word still open
        self._translated: list[Token] = []
        self._start: float | None = None
        self._end: float | None = None
        self._confidence_sum = 0.0
        self._confidence_n = 0
        self._has_status = False
        self._ends_word = False
        self.has_text = False  # some token is more than whitespace

    def copy(self) -> Summary:
        other = Summary.__new__(Summary)
        other.offset = self.offset
        other._tokens = self._tokens.copy()
        other._pieces = self._pieces.copy()
        other._languages = self._languages.copy()
        other._speakers = self._speakers.copy()
        other._words = self._words.copy()
        other._group = self._group.copy()
        other._translated = self._translated.copy()
        other._start = self._start
        other._end = self._end
        other._confidence_sum = self._confidence_sum
        other._confidence_n = self._confidence_n
        other._has_status = self._has_status
        other._ends_word = self._ends_word
        other.has_text = self.has_text
        return other

    def word_ended(self) -> None:
        """The last token ends a word (a reconnect): the next one starts a new word."""
        self._ends_word = True

    def add(self, token: Token) -> None:
        self._tokens.append(token)
        if not self.has_text and token.text.strip():
            self.has_text = True
        if token.translation_status:
            self._has_status = True
            if token.translation_status == "translation":
                self._translated.append(token)
                return
        text = token.text
        if text[:1].isspace() or self._ends_word:
            if self._group and (word := _word(self._group, self.offset)) is not None:
                self._words.append(word)
            self._group = [token]
            self._pieces.append(text if text[:1].isspace() else " " + text)
        else:
            self._group.append(token)
            self._pieces.append(text)
        self._ends_word = token.ends_word
        if token.start is not None and (self._start is None or token.start < self._start):
            self._start = token.start
        if token.end is not None and (self._end is None or token.end > self._end):
            self._end = token.end
        if token.confidence is not None:
            self._confidence_sum += token.confidence
            self._confidence_n += 1
        _add_weight(self._languages, token.language, text)
        _add_weight(self._speakers, token.speaker, text)

    def speech_data(self, *, fallback_language: str) -> stt.SpeechData:
        words = self._words.copy()  # the summary may go on growing
        if self._group and (word := _word(self._group, self.offset)) is not None:
            words.append(word)
        language = _dominant(self._languages) or fallback_language
        text = "".join(self._pieces).strip()
        source: tuple[list[str], list[str]] | None = None
        target: tuple[list[str], list[str]] | None = None
        if self._has_status:
            source = _runs(t for t in self._tokens if not t.is_translation)
        translated = self._translated
        if translated:
            target = _runs(translated)
            text = _join(translated)
            target_languages: dict[str, int] = {}
            for token in translated:
                _add_weight(target_languages, token.language, token.text)
            language = _dominant(target_languages) or language
        offset = self.offset
        return stt.SpeechData(
            language=language_code(language),
            text=text,
            start_time=offset if self._start is None else self._start,
            end_time=offset if self._end is None else self._end,
            confidence=self._confidence_sum / self._confidence_n if self._confidence_n else 0.0,
            speaker_id=_dominant(self._speakers),
            words=words,
            source_languages=[language_code(x) for x in source[0]] if source else None,
            source_texts=source[1] if source else None,
            target_languages=[language_code(x) for x in target[0]] if target else None,
            target_texts=target[1] if target else None,
        )


def speech_data(
    tokens: Sequence[Token], *, fallback_language: str, offset: float
) -> stt.SpeechData:
    """One utterance (or its current hypothesis) as SpeechData."""
    summary = Summary(offset)
    for token in tokens:
        summary.add(token)
    return summary.speech_data(fallback_language=fallback_language)


@functools.lru_cache(maxsize=256)
def language_code(language: str) -> LanguageCode:
    """livekit's normalised language code, made once per distinct code (not per event)."""
    return LanguageCode(language)


class TranscriptAssembler:
    """Feeds on token frames, yields SpeechEvents; one per stream, kept across reconnects."""

    def __init__(self, *, request_id: str = "", fallback_language: str = "", offset: float = 0.0):
        self.request_id = request_id
        self.fallback_language = fallback_language
        self.offset = offset  # the stream's start_time_offset, for word timings
        self.final_tokens = 0  # final non-marker tokens seen; the stream reports them as usage
        self._finals: list[Token] = []  # final tokens of the open utterance
        self._finals_summary: Summary | None = None  # of _finals, made when first needed
        self._tail: list[Token] = []  # the latest non-final tokens
        self._closing: list[Token] | None = None  # closed by a marker, awaiting its translation
        self._speaking = False
        self.saw_fin = False  # the last frame fed held a <fin> (the answer to a finalize)

    def feed(self, raw_tokens: Sequence[dict[str, Any]], time_base: float) -> list[stt.SpeechEvent]:
        """One result frame; ``time_base`` puts its session-relative times on the timeline."""
        events: list[stt.SpeechEvent] = []
        tail: list[Token] = []
        self.saw_fin = False
        changed = False
        for raw in raw_tokens:
            token = parse_token(raw, time_base)
            if token.is_marker:
                if token.is_final and token.text in (END_MARKER, FIN_MARKER):
                    closed = self._close_utterance()
                    self.saw_fin = self.saw_fin or token.text == FIN_MARKER
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
                if self._finals_summary is not None:
                    self._finals_summary.add(token)
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
            if self._finals_summary is not None:
                self._finals_summary.word_ended()
        return self._emit_closing() if self._closing is not None else []

    # --- internals ---

    def _summary_of_finals(self) -> Summary:
        summary = self._finals_summary
        if summary is None or summary.offset != self.offset:
            summary = Summary(self.offset)
            for token in self._finals:
                summary.add(token)
            self._finals_summary = summary
        return summary

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
        tail = self._tail
        if self._closing is not None:  # translation tail still belongs to the closing utterance
            tail = [t for t in tail if not t.is_translation]
        summary = self._summary_of_finals().copy()
        for token in tail:
            summary.add(token)
        if not summary.has_text:
            return []
        events = []
        if not self._speaking:
            self._speaking = True
            events.append(self._event(stt.SpeechEventType.START_OF_SPEECH))
        kind = (
            stt.SpeechEventType.INTERIM_TRANSCRIPT
            if tail
            else stt.SpeechEventType.PREFLIGHT_TRANSCRIPT
        )
        data = summary.speech_data(fallback_language=self.fallback_language)
        events.append(stt.SpeechEvent(type=kind, request_id=self.request_id, alternatives=[data]))
        return events

    def _close_utterance(self, *, wait_for_translation: bool = True) -> list[stt.SpeechEvent]:
        events = self._emit_closing() if self._closing is not None else []
        finals, self._finals = self._finals, []
        self._finals_summary = None
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
                    language=language_code(self.fallback_language),
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
        return stt.SpeechData(language=language_code(fallback_language), text="")
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
