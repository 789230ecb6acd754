"""The synthetic transcript reads like Soniox: sub-word tokens with leading spaces, a sentence per
natural pause, and ``<end>`` once the silence after a sentence reaches the endpoint delay."""

from __future__ import annotations

from typing import Any

import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import (
    BASIC_CONFIG,
    LK_CONFIG,
    Transcript,
    check_result_invariants,
    pcm16,
    run_session,
    speech,
)
from mock_soniox.testing.target import Target, mock_target

# Three read sentences of three words, 0.35 s between sentences, then 3 s of silence.
WORD = [("tone", 320), ("silence", 150)]
SENTENCE = [("tone", 320), ("silence", 150), ("tone", 320), ("silence", 150), ("tone", 320)]
READ_SPEECH = pcm16(
    speech(*SENTENCE, ("silence", 350), *SENTENCE, ("silence", 350), *SENTENCE, ("silence", 3000))
)
SEED_CONFIG = {**LK_CONFIG, "model": "stt-rt-v4", "max_endpoint_delay_ms": 500}


async def transcribe(
    target: Target | MockSoniox, config: dict[str, Any], audio: bytes
) -> Transcript:
    if isinstance(target, MockSoniox):
        target = mock_target(target.stt_url, target.tts_url)
    async with target.session() as http:
        out = await run_session(http, target.stt_url, config, audio, headers=target.headers)
    check_result_invariants(out)
    return out


def sentences(out: Transcript) -> list[str]:
    return [s for s in out.final_text().split("<end>") if s]


@pytest.mark.parametrize(
    "config", [pytest.param(LK_CONFIG, id="pypi-plugin"), pytest.param(SEED_CONFIG, id="seed")]
)
async def test_read_speech_gets_one_final_per_sentence(
    soniox_target: Target, config: dict[str, Any]
) -> None:
    out = await transcribe(soniox_target, config, READ_SPEECH)
    said = sentences(out)
    assert len(said) == 3, out.final_text()
    for index, sentence in enumerate(said):
        assert sentence.endswith(".")
        body = sentence if index == 0 else sentence[1:]
        assert (index == 0) != sentence.startswith(" ")  # only the session's first word has none
        assert body[0].isupper() and len(body.rstrip(".").split(" ")) == 3


async def test_every_word_but_the_first_has_its_leading_space(soniox_target: Target) -> None:
    out = await transcribe(soniox_target, LK_CONFIG, READ_SPEECH)
    spoken = [t for t in out.finals if t["text"] not in ("<end>", ".")]
    assert not spoken[0]["text"].startswith(" ")
    word_starts = [t for t in spoken[1:] if t["text"].startswith(" ")]
    assert len(word_starts) == 8  # nine words in all
    # Sub-word pieces: some words are split, and a piece never starts a word mid-way.
    assert len(spoken) > 9
    assert all(t["text"].strip() == t["text"].lstrip(" ") for t in spoken)


async def test_sentences_split_without_endpoint_detection(soniox_target: Target) -> None:
    out = await transcribe(soniox_target, BASIC_CONFIG, READ_SPEECH)
    text = out.final_text()
    assert "<end>" not in text
    assert text.count(".") == 3
    assert [s.strip()[0].isupper() for s in text.split(".") if s.strip()] == [True] * 3


@pytest.mark.mock_only(reason="the mock's endpoint delay setting")
async def test_endpoint_delay_is_bounded_by_max_endpoint_delay(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_endpoint_delay_ms=2500)
    config = {**LK_CONFIG, "max_endpoint_delay_ms": 1000}
    out = await transcribe(mock_soniox, config, pcm16(speech(("tone", 600), ("silence", 3000))))
    [end_frame] = [f for f in out.results if any(t["text"] == "<end>" for t in f["tokens"])]
    assert end_frame["total_audio_proc_ms"] == 600 + 1000


@pytest.mark.parametrize(("sensitivity", "silence_ms"), [(0.0, 300), (1.0, 150), (-1.0, 450)])
async def test_endpoint_sensitivity_shortens_the_delay(
    soniox_target: Target, sensitivity: float, silence_ms: int
) -> None:
    config = {**LK_CONFIG, "endpoint_sensitivity": sensitivity}
    out = await transcribe(soniox_target, config, pcm16(speech(("tone", 600), ("silence", 2000))))
    [end_frame] = [f for f in out.results if any(t["text"] == "<end>" for t in f["tokens"])]
    assert end_frame["total_audio_proc_ms"] == 600 + silence_ms


async def test_a_pause_shorter_than_the_delay_does_not_end_the_utterance(
    soniox_target: Target,
) -> None:
    audio = pcm16(speech(*SENTENCE, ("silence", 200), *SENTENCE, ("silence", 2000)))
    out = await transcribe(soniox_target, LK_CONFIG, audio)
    assert out.final_text().count("<end>") == 1


@pytest.mark.mock_only(reason="the mock's processing lag setting")
async def test_processing_lag_keeps_results_behind_the_audio(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_processing_lag_ms=480)
    audio = pcm16(speech(*SENTENCE, ("silence", 2000)))
    out = await transcribe(mock_soniox, LK_CONFIG, audio)
    audio_ms = 3 * 320 + 2 * 150 + 2000
    totals = [f["total_audio_proc_ms"] for f in out.results]
    assert max(totals) <= audio_ms - 480
    assert out.frames[-1]["total_audio_proc_ms"] == audio_ms  # the finish catches up
    assert out.final_text().count("<end>") == 1
