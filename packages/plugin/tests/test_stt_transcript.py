"""Token frames -> SpeechEvents (pure state machine), with frames shaped like protocol §8.1/§8.2."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.agents.stt import SpeechData, SpeechEvent, SpeechEventType

from livekit.plugins.soniox._stt_transcript import (
    Summary,
    Token,
    TranscriptAssembler,
    merge_speech_data,
    speech_data,
)

E = SpeechEventType


def tok(text: str, start: int | None = None, end: int | None = None, **kw: Any) -> dict[str, Any]:
    token: dict[str, Any] = {"text": text, "is_final": kw.pop("final", False)}
    if start is not None:
        token.update(start_ms=start, end_ms=end, confidence=kw.pop("confidence", 0.9))
    token.update(kw)
    return token


def fin(text: str, start: int | None = None, end: int | None = None, **kw: Any) -> dict[str, Any]:
    return tok(text, start, end, final=True, **kw)


END = {"text": "<end>", "is_final": True}
FIN = {"text": "<fin>", "is_final": True}


def kinds(events: list[SpeechEvent]) -> list[E]:
    return [e.type for e in events]


def text(event: SpeechEvent) -> str:
    return event.alternatives[0].text


def test_typical_session_8_1() -> None:
    asm = TranscriptAssembler(request_id="r1", fallback_language="en")
    spk = {"speaker": "1", "language": "en"}
    ev1 = asm.feed([tok("How", 120, 300, **spk)], 0.0)
    assert kinds(ev1) == [E.START_OF_SPEECH, E.INTERIM_TRANSCRIPT]
    assert text(ev1[1]) == "How"

    ev2 = asm.feed([tok("How", 120, 300, **spk), tok(" are", 360, 480, **spk)], 0.0)
    assert kinds(ev2) == [E.INTERIM_TRANSCRIPT] and text(ev2[0]) == "How are"

    ev3 = asm.feed(
        [fin("How", 120, 300, **spk), fin(" are", 360, 480, **spk), tok(" you", 540, 700, **spk)],
        0.0,
    )
    assert kinds(ev3) == [E.INTERIM_TRANSCRIPT] and text(ev3[0]) == "How are you"

    ev4 = asm.feed([fin(" you", 540, 700, **spk), fin("?", 700, 720, **spk), END], 0.0)
    assert kinds(ev4) == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    final = ev4[0].alternatives[0]
    assert final.text == "How are you?"
    assert (final.start_time, final.end_time) == (0.12, 0.72)
    assert final.speaker_id == "1" and final.language == "en"
    assert [str(w) for w in final.words or []] == ["How", "are", "you?"]
    assert [(w.start_time, w.end_time) for w in final.words or []] == [
        (0.12, 0.3),
        (0.36, 0.48),
        (0.54, 0.72),
    ]
    assert all(e.request_id == "r1" for e in ev1 + ev2 + ev3 + ev4)

    assert asm.feed([], 0.0) == []  # progress-only frame

    ev5 = asm.feed([fin("Thanks", 2100, 2400, **spk), fin(".", 2400, 2420, **spk), FIN], 0.0)
    assert kinds(ev5) == [E.START_OF_SPEECH, E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    assert text(ev5[1]) == "Thanks."
    assert asm.finish() == []
    assert asm.final_tokens == 6


def test_all_final_frame_is_preflight() -> None:
    asm = TranscriptAssembler()
    events = asm.feed([fin("Hello", 0, 200), fin(" there", 200, 400)], 0.0)
    assert kinds(events) == [E.START_OF_SPEECH, E.PREFLIGHT_TRANSCRIPT]
    assert text(events[1]) == "Hello there"


def test_finals_accumulate_until_the_endpoint() -> None:
    asm = TranscriptAssembler()
    asm.feed([fin("One", 0, 100), tok(" two", 100, 200)], 0.0)
    events = asm.feed([fin(" two", 100, 200), tok(" three", 200, 300)], 0.0)
    assert text(events[0]) == "One two three"
    events = asm.feed([fin(" three", 200, 300), END], 0.0)
    assert kinds(events) == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    assert text(events[0]) == "One two three"


def test_empty_endpoint_after_retracted_tokens_ends_speech_without_final() -> None:
    asm = TranscriptAssembler()
    asm.feed([tok("Uh", 0, 100)], 0.0)
    assert kinds(asm.feed([END], 0.0)) == [E.END_OF_SPEECH]
    assert asm.feed([END], 0.0) == []  # nothing open: nothing to end


def test_time_base_shifts_every_time_and_word_offset_is_recorded() -> None:
    asm = TranscriptAssembler(offset=1.0)
    events = asm.feed([fin("Hi", 100, 300), END], 11.0)
    data = events[1].alternatives[0]
    assert (data.start_time, data.end_time) == (11.1, 11.3)
    assert data.words is not None and data.words[0].start_time_offset == 1.0


def test_session_end_flushes_pending_finals_and_drops_the_tail() -> None:
    asm = TranscriptAssembler()
    asm.feed([fin("Kept", 0, 100), tok(" maybe", 100, 200)], 0.0)
    events = asm.finish()
    assert kinds(events) == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    assert text(events[0]) == "Kept"


def test_connection_lost_keeps_finals_for_the_next_session() -> None:
    asm = TranscriptAssembler()
    asm.feed([fin("Before", 0, 400), tok(" the", 400, 500)], 0.0)
    assert asm.connection_lost() == []
    # The new session starts at 0.4 s of the stream (its audio was re-sent from there).
    events = asm.feed([fin(" the", 0, 100), fin(" gap", 100, 300), END], 0.4)
    assert text(events[0]) == "Before the gap"
    assert [w.start_time for w in events[0].alternatives[0].words or []] == [0.0, 0.4, 0.5]


def test_dominant_language_and_speaker_by_characters() -> None:
    asm = TranscriptAssembler(fallback_language="xx")
    events = asm.feed(
        [
            fin("Hola", 0, 100, language="es", speaker="2"),
            fin(" and a long english part", 100, 900, language="en", speaker="1"),
            END,
        ],
        0.0,
    )
    data = events[1].alternatives[0]
    assert data.language == "en" and data.speaker_id == "1"
    assert abs(data.confidence - 0.9) < 1e-9


def test_fallback_language_without_identification() -> None:
    events = TranscriptAssembler(fallback_language="de").feed([fin("Hallo", 0, 100), END], 0.0)
    assert events[1].alternatives[0].language == "de"


def test_unknown_markers_are_ignored() -> None:
    asm = TranscriptAssembler()
    events = asm.feed([{"text": "<docroot>", "is_final": True}, fin("Hi", 0, 100)], 0.0)
    assert text(events[-1]) == "Hi"


ORIG: dict[str, Any] = {"language": "en", "translation_status": "original"}
TRANS: dict[str, Any] = {
    "language": "es",
    "translation_status": "translation",
    "source_language": "en",
}


def test_translation_fragment_8_2() -> None:
    asm = TranscriptAssembler()
    events = asm.feed(
        [
            fin("Good", 200, 420, **ORIG),
            fin(" morning", 420, 800, **ORIG),
            fin("Buenos", **TRANS),
            tok(" días", **TRANS),
        ],
        0.0,
    )
    assert kinds(events) == [E.START_OF_SPEECH, E.INTERIM_TRANSCRIPT]
    data = events[1].alternatives[0]
    assert data.text == "Buenos días" and data.language == "es"
    assert data.source_texts == ["Good morning"] and data.source_languages == ["en"]
    events = asm.feed([fin(" días", **TRANS), END], 0.0)
    assert kinds(events) == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    data = events[0].alternatives[0]
    assert data.text == "Buenos días"
    assert data.target_texts == ["Buenos días"] and data.target_languages == ["es"]
    assert data.source_texts == ["Good morning"]
    assert (data.start_time, data.end_time) == (0.2, 0.8)


def test_translation_arriving_after_the_endpoint_joins_its_utterance() -> None:
    asm = TranscriptAssembler()
    asm.feed([fin("Good", 200, 420, **ORIG), fin(" night", 420, 800, **ORIG)], 0.0)
    assert asm.feed([END], 0.0) == []  # waits for the translation
    events = asm.feed([tok("Buenas", **TRANS)], 0.0)
    assert E.FINAL_TRANSCRIPT not in kinds(events)
    events = asm.feed([fin("Buenas", **TRANS), fin(" noches", **TRANS)], 0.0)
    assert kinds(events) == [E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    data = events[0].alternatives[0]
    assert data.text == "Buenas noches" and data.source_texts == ["Good night"]


def test_new_speech_releases_a_waiting_translation() -> None:
    asm = TranscriptAssembler()
    assert kinds(asm.feed([fin("Yes", 0, 300, **ORIG), END], 0.0)) == [E.START_OF_SPEECH]
    events = asm.feed([tok("Next", 1000, 1200, **ORIG)], 0.0)
    assert kinds(events) == [
        E.FINAL_TRANSCRIPT,
        E.END_OF_SPEECH,
        E.START_OF_SPEECH,
        E.INTERIM_TRANSCRIPT,
    ]
    assert events[0].alternatives[0].source_texts == ["Yes"]


def test_untranslated_speech_closes_at_once_in_two_way_mode() -> None:
    none = {"language": "fr", "translation_status": "none"}
    events = TranscriptAssembler().feed([fin("Oui", 0, 300, **none), END], 0.0)
    assert kinds(events) == [E.START_OF_SPEECH, E.FINAL_TRANSCRIPT, E.END_OF_SPEECH]
    assert text(events[1]) == "Oui" and events[1].alternatives[0].target_texts is None


def test_merge_for_recognize() -> None:
    asm = TranscriptAssembler()
    first = asm.feed([fin("One", 0, 100), END], 0.0)[1].alternatives[0]
    second = asm.feed([fin("Two", 500, 700), END], 0.0)[1].alternatives[0]
    merged = merge_speech_data([first, second], fallback_language="en")
    assert merged.text == "One Two"
    assert (merged.start_time, merged.end_time) == (0.0, 0.7)
    assert [str(w) for w in merged.words or []] == ["One", "Two"]
    assert merge_speech_data([], fallback_language="en").text == ""


def test_first_word_of_a_new_session_is_not_glued_to_the_last_final() -> None:
    asm = TranscriptAssembler()
    asm.feed([fin("Hello", 0, 300)], 0.0)
    asm.connection_lost()
    events = asm.feed([fin("world", 0, 300), END], 0.3)  # a session's first token has no space
    assert text(events[0]) == "Hello world"
    assert [str(w) for w in events[0].alternatives[0].words or []] == ["Hello", "world"]


# --- the incremental summary behind interim results ---

_TOKENS = st.builds(
    Token,
    text=st.sampled_from(["Hel", "lo", " world", " ", ".", " 你", "好", "", " U.S."]),
    is_final=st.just(True),
    start=st.one_of(st.none(), st.floats(0, 10)),
    end=st.one_of(st.none(), st.floats(0, 10)),
    confidence=st.one_of(st.none(), st.floats(0, 1)),
    speaker=st.sampled_from([None, "1", "2"]),
    language=st.sampled_from([None, "en", "zh", "english"]),
    translation_status=st.sampled_from([None, None, "original", "translation", "none"]),
    ends_word=st.booleans(),
)


def _described(data: SpeechData) -> tuple[Any, ...]:
    """Everything in SpeechData, the words' timings included (TimedString compares as text)."""
    words = [
        (str(w), w.start_time, w.end_time, w.confidence, w.start_time_offset, w.speaker_id)
        for w in data.words or []
    ]
    return (data, words)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(tokens=st.lists(_TOKENS, max_size=12), cut=st.integers(0, 12), offset=st.floats(0, 5))
def test_a_summary_extended_from_a_copy_equals_one_made_from_scratch(
    tokens: list[Token], cut: int, offset: float
) -> None:
    prefix = Summary(offset)
    for token in tokens[:cut]:
        prefix.add(token)
    extended = prefix.copy()
    for token in tokens[cut:]:
        extended.add(token)
    whole = speech_data(tokens, fallback_language="en", offset=offset)
    assert _described(extended.speech_data(fallback_language="en")) == _described(whole)
    assert extended.has_text == any(t.text.strip() for t in tokens)
    # The prefix is untouched by what its copy was given.
    alone = speech_data(tokens[:cut], fallback_language="en", offset=offset)
    assert _described(prefix.speech_data(fallback_language="en")) == _described(alone)
