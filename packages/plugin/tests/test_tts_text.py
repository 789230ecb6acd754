"""Sentence splitting, timestamps, audio conversion and replay bookkeeping (pure parts)."""

from __future__ import annotations

import numpy as np
import pytest

from livekit.plugins.soniox._tts_audio import RawToPcm16, pcm_bytes, pcm_seconds
from livekit.plugins.soniox._tts_replay import StreamLedger
from livekit.plugins.soniox._tts_text import (
    CharTiming,
    SentenceSplitter,
    WordGrouper,
    parse_timestamps,
)


def split_all(pieces: list[str]) -> list[str]:
    splitter = SentenceSplitter()
    out: list[str] = []
    for piece in pieces:
        out += splitter.push(piece)
    return out + splitter.flush()


def test_sentences_go_out_as_soon_as_they_are_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Hello there") == []
    assert splitter.push(".") == []  # could still be "there.5" or "there..."
    assert splitter.push(" How") == ["Hello there. "]
    assert splitter.push(" are you?\nFine") == ["How are you?\n"]
    assert splitter.flush() == ["Fine"]
    assert splitter.flush() == []


def test_token_streams_split_like_whole_text() -> None:
    text = 'He said "Stop!" Then Dr. Smith left, e.g. at 3.30 p.m. yesterday. Ok… fine?! Yes'
    tokens = [text[i : i + 3] for i in range(0, len(text), 3)]
    expected = split_all([text])
    assert split_all(tokens) == expected
    assert "".join(expected) == text
    assert expected[0] == 'He said "Stop!" '
    assert expected[1].startswith("Then Dr. Smith left, e.g. at 3.30")


def test_whitespace_only_sentences_are_not_sent_and_nothing_is_lost() -> None:
    assert split_all(["  ", "\n\n", " "]) == []
    assert "".join(split_all(["A.  \n\n B. ", " C"])) == "A.  \n\n B.  C"


def test_long_text_is_cut_below_the_message_limit() -> None:
    splitter = SentenceSplitter(max_chars=20)
    words = "word " * 30
    out = splitter.push(words) + splitter.flush()
    assert all(len(s) <= 20 for s in out)
    assert "".join(out) == words


def test_timestamps_parse_and_group_into_words() -> None:
    chars = parse_timestamps(
        {
            "characters": list("Hi yo"),
            "character_start_times_seconds": [0.0, 0.1, 0.2, 0.3, 0.4],
            "character_end_times_seconds": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    grouper = WordGrouper()
    words = grouper.push(chars) + grouper.flush()
    assert [(w.text, w.start, w.end) for w in words] == [("Hi ", 0.0, 0.2), ("yo", 0.3, 0.5)]
    assert parse_timestamps({"characters": ["a"], "character_start_times_seconds": []}) == []
    assert parse_timestamps(None) == []


@pytest.mark.parametrize(
    ("fmt", "data", "expected"),
    [
        ("pcm_s16le", b"\x01\x00\xff\x7f", [1, 32767]),
        ("pcm_f32le", np.array([0.5, -1.0], dtype="<f4").tobytes(), [16383, -32767]),
        ("pcm_mulaw", bytes([0xFF, 0x00]), [0, -32124]),
        ("pcm_alaw", bytes([0xD5, 0x55]), [8, -8]),
    ],
)
def test_raw_formats_become_16_bit_pcm(fmt: str, data: bytes, expected: list[int]) -> None:
    conv = RawToPcm16(fmt)
    # fed one byte at a time: partial samples carry over between chunks
    out = b"".join(conv.feed(data[i : i + 1]) for i in range(len(data)))
    assert np.frombuffer(out, dtype="<i2").tolist() == expected


def test_pcm_arithmetic() -> None:
    assert pcm_seconds(48000, 24000) == 1.0
    assert pcm_bytes(0.5, 24000) == 24000
    assert pcm_bytes(-1.0, 24000) == 0


def timings(text: str, char_s: float = 0.1) -> list[CharTiming]:
    return [CharTiming(c, i * char_s, (i + 1) * char_s) for i, c in enumerate(text)]


def test_ledger_knows_which_sentences_were_heard_in_full() -> None:
    ledger = StreamLedger(["Ab. ", "Cd. ", "Ef."])
    ledger.add_timings(timings("Ab. Cd. Ef."))
    assert ledger.completed() == 0
    ledger.emitted_s = 0.3  # "Ab." ends at 0.3
    assert ledger.completed() == 1
    ledger.emitted_s = 0.55  # halfway into "Cd."
    plan = ledger.replay_plan()
    assert plan.sentences == ["Cd. ", "Ef."]
    assert plan.align
    assert plan.skip_s == pytest.approx(0.15)  # "C" started at 0.4
    ledger.emitted_s = 1.1
    assert ledger.completed() == 3
    assert ledger.replay_plan().sentences == []


def test_ledger_replays_from_the_start_between_sentences() -> None:
    ledger = StreamLedger(["Ab. ", "Cd."])
    ledger.add_timings(timings("Ab. Cd."))
    ledger.emitted_s = 0.35  # inside the space after "Ab."
    plan = ledger.replay_plan()
    assert (plan.sentences, plan.skip_s) == (["Cd."], 0.0)


def test_ledger_without_timestamps_skips_what_was_emitted() -> None:
    ledger = StreamLedger(["Ab. ", "Cd."])
    ledger.emitted_s = 0.25
    plan = ledger.replay_plan()
    assert plan.sentences == ["Ab. ", "Cd."]
    assert plan.skip_s == 0.25
    assert not plan.align


def test_ledger_counts_dropped_audio_as_heard() -> None:
    ledger = StreamLedger(["Ab. ", "Cd."])
    ledger.add_timings(timings("Ab. Cd."))
    ledger.dropped_s = 0.3
    ledger.emitted_s = 0.1
    assert ledger.position_s == pytest.approx(0.4)
    assert ledger.completed() == 1


def test_ledger_knows_whether_timed_text_ends_a_word() -> None:
    ledger = StreamLedger(["Ab cd. ", "Ef."])
    assert not ledger.timed_text_ends_a_word()
    ledger.add_timings(timings("A"))
    assert not ledger.timed_text_ends_a_word()
    ledger.add_timings(timings("b"))
    assert ledger.timed_text_ends_a_word()
    ledger.add_timings(timings(" cd. Ef."))
    assert ledger.timed_text_ends_a_word()
