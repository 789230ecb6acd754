"""The STT session as a client sees it: results, endpoints, finalize, finish, translation."""

from __future__ import annotations

import itertools
import json

import aiohttp
import pytest

from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import (
    BASIC_CONFIG,
    LK_CONFIG,
    RATE,
    check_result_invariants,
    connect,
    pcm16,
    read_all,
    run_session,
    speech,
)
from mock_soniox.testing.target import Target

TWO_UTTERANCES = pcm16(speech(("tone", 900), ("silence", 1200), ("tone", 600), ("silence", 1200)))
AUDIO_MS = 900 + 1200 + 600 + 1200


async def test_livekit_style_session_gets_endpointed_utterances(mock_soniox: MockSoniox) -> None:
    config = {**LK_CONFIG, "enable_speaker_diarization": True}
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, config, TWO_UTTERANCES)

    check_result_invariants(out)
    assert out.close_code == 1000
    assert out.frames[-1] == {
        "tokens": [],
        "final_audio_proc_ms": AUDIO_MS,
        "total_audio_proc_ms": AUDIO_MS,
        "finished": True,
    }
    text = out.final_text()
    assert text.count("<end>") == 2
    first, second, _ = text.split("<end>")
    assert first[0].isupper() and first.endswith(".")
    # Every word after the session's first has its leading space, sentence starts included.
    assert second.startswith(" ") and second[1].isupper() and second.endswith(".")
    spoken = [t for t in out.finals if not t["text"].startswith("<")]
    assert all(t["language"] == "en" and t["speaker"] in ("1", "2") for t in spoken)
    assert all(0.0 <= t["confidence"] <= 1.0 for t in spoken)
    # Timings are true to the audio: the first utterance lies within the first tone.
    first_utterance = [t for t in spoken if t["end_ms"] <= 900]
    assert first_utterance[0]["start_ms"] == 0
    assert max(t["end_ms"] for t in first_utterance) == 900
    assert all(t["start_ms"] >= 2100 for t in spoken if t not in first_utterance)


async def test_final_tokens_are_sent_once_and_the_tail_is_resent_whole(
    soniox_target: Target,
) -> None:
    async with soniox_target.session() as http:
        out = await run_session(
            http, soniox_target.stt_url, LK_CONFIG, TWO_UTTERANCES, headers=soniox_target.headers
        )
    finals = [(t["text"], t.get("start_ms")) for t in out.finals if "start_ms" in t]
    assert len(finals) == len(set(finals)), "a final token was repeated"
    tails = [[t for t in f["tokens"] if not t["is_final"]] for f in out.results]
    # The tail is revised while a word grows, then replaced by the finals.
    assert any(tail for tail in tails)
    assert any(a and b and a != b for a, b in itertools.pairwise(tails))
    # Word-initial pieces carry the leading space, so the finals join into clean text.
    assert "  " not in out.final_text(markers=False)


async def test_transcript_depends_on_audio_not_on_chunking(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        small = await run_session(
            http, mock_soniox.stt_url, LK_CONFIG, TWO_UTTERANCES, chunk_bytes=640
        )
        large = await run_session(
            http, mock_soniox.stt_url, LK_CONFIG, TWO_UTTERANCES, chunk_bytes=32000
        )
        other = await run_session(
            http,
            mock_soniox.stt_url,
            LK_CONFIG,
            pcm16(speech(("tone", 1300), ("silence", 1200))),
        )
    assert small.final_text() == large.final_text()
    assert small.final_text() != other.final_text()


@pytest.mark.parametrize(("max_delay", "expected_silence"), [(500, 500), (3000, 800)])
async def test_end_marker_honours_max_endpoint_delay(
    mock_soniox: MockSoniox, max_delay: int, expected_silence: int
) -> None:
    mock_soniox.configure(stt_endpoint_delay_ms=800)  # the bound shows above the 500 minimum
    config = {**LK_CONFIG, "max_endpoint_delay_ms": max_delay}
    audio = pcm16(speech(("tone", 600), ("silence", 3500)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, config, audio)
    [end_frame] = [f for f in out.results if any(t["text"] == "<end>" for t in f["tokens"])]
    # In audio time: the endpoint comes exactly that much silence after the speech.
    assert end_frame["total_audio_proc_ms"] == 600 + expected_silence
    assert end_frame["final_audio_proc_ms"] == end_frame["total_audio_proc_ms"]
    assert end_frame["tokens"][-1] == {"text": "<end>", "is_final": True}


async def test_endpoint_sensitivity_makes_endpoints_sooner(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_endpoint_delay_ms=800)
    config = {**LK_CONFIG, "endpoint_sensitivity": 1.0}
    audio = pcm16(speech(("tone", 600), ("silence", 2000)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, config, audio)
    [end_frame] = [f for f in out.results if any(t["text"] == "<end>" for t in f["tokens"])]
    assert end_frame["total_audio_proc_ms"] == 600 + 400


async def test_no_end_markers_without_endpoint_detection(soniox_target: Target) -> None:
    async with soniox_target.session() as http:
        out = await run_session(
            http, soniox_target.stt_url, BASIC_CONFIG, TWO_UTTERANCES, headers=soniox_target.headers
        )
    check_result_invariants(out)
    assert "<end>" not in out.final_text()
    assert out.final_text(markers=False)  # still transcribed
    # Language, speaker and translation fields appear only when asked for.
    assert all(
        set(t) <= {"text", "start_ms", "end_ms", "confidence", "is_final"} for t in out.finals
    )


async def test_finalize_makes_pending_tokens_final_then_fin(soniox_target: Target) -> None:
    audio = pcm16(speech(("tone", 700)))
    async with soniox_target.session() as http:
        ws = await connect(http, soniox_target.stt_url, soniox_target.headers)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        await ws.send_bytes(audio)
        await ws.send_str('{"type": "finalize"}')
        # Audio may continue after a finalize; a second finalize works too.
        await ws.send_bytes(audio)
        await ws.send_str('{"type":"finalize","trailing_silence_ms":300}')
        await ws.send_str("")
        out = await read_all(ws)
    check_result_invariants(out)
    fin_frames = [f for f in out.results if any(t["text"] == "<fin>" for t in f["tokens"])]
    assert len(fin_frames) == 2
    for frame, audio_end in zip(fin_frames, (700, 1400), strict=True):
        assert frame["tokens"][-1] == {"text": "<fin>", "is_final": True}
        assert all(t["is_final"] for t in frame["tokens"])
        assert frame["final_audio_proc_ms"] == frame["total_audio_proc_ms"] == audio_end
        spoken = [t for t in frame["tokens"] if t["text"] != "<fin>"]
        assert spoken and spoken[-1]["text"] == "."
    # Nothing was left non-final for the finish.
    assert out.frames[-1]["finished"] is True
    assert out.frames[-2] is fin_frames[1]


async def test_finish_finalizes_the_tail_before_finished(soniox_target: Target) -> None:
    audio = pcm16(speech(("tone", 500)))
    async with soniox_target.session() as http:
        out = await run_session(
            http, soniox_target.stt_url, BASIC_CONFIG, audio, headers=soniox_target.headers
        )
    last_result = out.results[-1]
    assert last_result["tokens"] and all(t["is_final"] for t in last_result["tokens"])
    assert "<fin>" not in out.final_text()
    assert out.final_text().endswith(".")
    assert out.frames[-1]["finished"] is True
    assert out.close_code == 1000


async def test_finish_without_audio(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, BASIC_CONFIG, b"")
    [error] = out.frames  # the published 400 for a stream that ends with no audio
    assert (error["error_code"], error["error_message"]) == (400, "No audio received.")
    assert out.close_code == 1000


async def test_keepalive_in_any_spelling_is_accepted(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    audio = pcm16(speech(("tone", 300)))
    async with soniox_target.session() as http:
        out = await run_session(
            http,
            soniox_target.stt_url,
            BASIC_CONFIG,
            audio,
            controls=('{"type":"keepalive"}', '{ "type" :\n "keepalive" }', ""),
            headers=soniox_target.headers,
        )
    assert not out.errors
    assert out.frames[-1]["finished"] is True
    if mock_behind_target is None:
        return  # the live service has no journal to ask how it read them
    kinds = [e.kind for e in mock_behind_target.journal.client_frames(endpoint="stt")]
    assert kinds.count("keepalive") == 2
    assert kinds[0] == "config" and kinds[-1] == "finish"


@pytest.mark.mock_only(reason="stt_empty_binary_finishes is a mock setting")
async def test_empty_binary_frame_is_ignored_when_configured(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_empty_binary_finishes=False)
    audio = pcm16(speech(("tone", 240)))
    async with aiohttp.ClientSession() as http:
        ws = await connect(http, mock_soniox.stt_url)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        await ws.send_bytes(b"")
        await ws.send_bytes(audio)
        await ws.send_str("")
        out = await read_all(ws)
    assert not out.errors
    assert out.frames[-1]["total_audio_proc_ms"] == 240


async def test_empty_binary_frame_can_finish(
    soniox_target: Target, mock_behind_target: MockSoniox | None
) -> None:
    if mock_behind_target is not None:
        mock_behind_target.configure(stt_empty_binary_finishes=True)  # the default, made sure
    audio = pcm16(speech(("tone", 240)))
    async with soniox_target.session() as http:
        ws = await connect(http, soniox_target.stt_url, soniox_target.headers)
        await ws.send_str(json.dumps(BASIC_CONFIG))
        await ws.send_bytes(audio)
        await ws.send_bytes(b"")
        out = await read_all(ws)
    assert out.frames[-1]["finished"] is True
    assert out.close_code == 1000


async def test_one_way_translation_tokens(soniox_target: Target) -> None:
    config = {
        **LK_CONFIG,
        "language_hints": ["en"],
        "translation": {"type": "one_way", "target_language": "es"},
    }
    async with soniox_target.session() as http:
        out = await run_session(
            http, soniox_target.stt_url, config, TWO_UTTERANCES, headers=soniox_target.headers
        )
    check_result_invariants(out)
    originals = [t for t in out.finals if t.get("translation_status") == "original"]
    translations = [t for t in out.finals if t.get("translation_status") == "translation"]
    assert originals and translations
    assert all(t["language"] == "en" and "start_ms" in t for t in originals)
    for token in translations:
        assert token["language"] == "es" and token["source_language"] == "en"
        assert "start_ms" not in token and "end_ms" not in token and "confidence" not in token
    # Within a frame, translations follow the originals they translate, markers close it.
    for frame in out.results:
        statuses = [t.get("translation_status", "marker") for t in frame["tokens"] if t["is_final"]]
        assert statuses == sorted(statuses, key=["original", "translation", "marker"].index)


async def test_two_way_translation_in_a_third_language_is_not_translated(
    mock_soniox: MockSoniox,
) -> None:
    config = {
        **BASIC_CONFIG,
        "language_hints": ["fr"],
        "translation": {"type": "two_way", "language_a": "en", "language_b": "es"},
    }
    audio = pcm16(speech(("tone", 600)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, config, audio)
    spoken = list(out.finals)
    assert spoken and all(t["translation_status"] == "none" for t in spoken)
    assert all(t["language"] == "fr" for t in spoken)


async def test_two_way_translation_targets_the_other_language(mock_soniox: MockSoniox) -> None:
    config = {
        **BASIC_CONFIG,
        "translation": {"type": "two_way", "language_a": "de", "language_b": "en"},
    }
    audio = pcm16(speech(("tone", 600)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(http, mock_soniox.stt_url, config, audio)
    translations = [t for t in out.finals if t.get("translation_status") == "translation"]
    assert translations
    assert all(t["language"] == "en" and t["source_language"] == "de" for t in translations)


async def test_results_arrive_every_result_interval(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(stt_result_interval_ms=240)
    audio = pcm16(speech(("silence", 960)))
    async with aiohttp.ClientSession() as http:
        out = await run_session(
            http, mock_soniox.stt_url, BASIC_CONFIG, audio, chunk_bytes=RATE * 2 * 20 // 1000
        )
    totals = [f["total_audio_proc_ms"] for f in out.results]
    assert totals == [240, 480, 720, 960]
