"""What the dashboard reads from the admin API: per-connection detail, fixtures and their audio,
the fault grammar, the newest journal entries."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mock_soniox.faults import FaultSpecError, parse_fault
from mock_soniox.fixtures.library import Library
from mock_soniox.server import admin
from mock_soniox.state import MockState
from mock_soniox.testing.common import BEARER
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, CHUNK_MS, RATE, chunks
from mock_soniox.testing.tts import TtsClient, stream_config


async def get(http: aiohttp.ClientSession, url: str, expect: int = 200) -> Any:
    async with http.get(url) as resp:
        payload = await resp.json()
        assert resp.status == expect, payload
        return payload


async def test_an_stt_connection_shows_its_config_audio_and_last_result(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    fixture = Library.load().get("stt-en-finalize")
    assert fixture is not None
    url = mock_soniox.stt_url + "?fixture=stt-en-finalize"
    async with http.ws_connect(url, headers=BEARER) as ws:
        await ws.send_str(json.dumps({**BASIC_CONFIG, "model": "stt-rt-v4"}))
        # Up to the recording's result at 2880 ms and no further, so the result answers the last
        # chunk and the connection's state no longer changes while it is read twice below.
        audio = fixture.input_audio()[: RATE * 2 * 2880 // 1000]
        for chunk in chunks(audio, RATE * 2 * CHUNK_MS // 1000):
            await ws.send_bytes(chunk)
        result = await mock_soniox.journal.wait_for(
            lambda e: e.kind == "result" and e.data.get("total_audio_proc_ms", 0) >= 2880
        )
        (conn,) = mock_soniox.connections()
        assert conn["id"] == result.conn_id
        assert conn["config"] == {**BASIC_CONFIG, "model": "stt-rt-v4"}
        assert conn["audio_ms"] == 2880
        assert conn["match"] == "stt-en-finalize"
        assert conn["transcript"].startswith("Please transfer me")  # the finals so far
        assert conn["last_result"]["total_audio_proc_ms"] >= 2880
        assert conn["last_result"]["text"]
        assert conn == (await get(http, f"{mock_soniox.admin_url}/connections/{conn['id']}")) | {
            "age_ms": conn["age_ms"]
        }


async def test_a_tts_stream_shows_its_state_text_and_audio(
    mock_soniox: MockSoniox, tts_client: TtsClient
) -> None:
    await tts_client.send(**stream_config("s1"))
    await tts_client.send(stream_id="s1", text="Hello there. ", text_end=False)
    await mock_soniox.journal.wait_for(lambda e: e.kind == "audio" and e.direction == "s2c")
    (conn,) = mock_soniox.connections()
    (stream,) = conn["streams"]
    assert stream["stream_id"] == "s1"
    assert stream["text"] == "Hello there. "
    assert stream["text_chars"] == 13
    assert stream["audio_frames"] >= 1
    assert stream["audio_bytes"] > 0
    assert stream["state"] == "speaking"
    assert stream["match"] == "no match"  # no recording has the synthetic voice
    assert "config" not in conn  # STT only
    await tts_client.send(stream_id="s1", text="", text_end=True)
    await tts_client.until_terminated("s1")
    assert mock_soniox.connections()[0]["streams"] == []


async def test_fixtures_are_listed_with_urls_of_their_wavs(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    listed = (await get(http, mock_soniox.admin_url + "/fixtures"))["fixtures"]
    assert listed == mock_soniox.fixtures()
    by_name = {f["name"]: f for f in listed}
    stt = by_name["stt-en-finalize"]
    assert stt["endpoint"] == "stt"
    assert stt["transcript"]
    assert stt["duration_ms"] > 0
    assert [w["label"] for w in stt["wavs"]] == ["input"]
    tts = by_name["tts-maya"]
    assert [w["file"] for w in tts["wavs"]] == [
        "tts-maya.s1.wav",
        "tts-maya.s2.wav",
        "tts-maya.s3.wav",
    ]
    async with http.get(mock_soniox.base_url + tts["wavs"][0]["url"]) as resp:
        assert resp.status == 200
        assert resp.content_type == "audio/wav"
        body = await resp.read()
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"


async def test_fixture_audio_serves_only_declared_wav_side_files(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    base = mock_soniox.admin_url + "/fixtures"
    for path in (
        "/tts-maya/audio/tts-maya.jsonl",  # beside it, but not a side file
        "/tts-maya/audio/..%2Ftts-adrian.s1.wav",  # encoded slash
        "/tts-maya/audio/%2E%2E",
        "/tts-maya/audio/tts-adrian.s1.wav",  # another fixture's
        "/nope/audio/tts-maya.s1.wav",
    ):
        async with http.get(base + path) as resp:
            assert resp.status == 404, path
    async with http.get(mock_soniox.base_url + "/__admin/fixtures/../../etc/passwd") as resp:
        assert resp.status == 404
    state = mock_soniox_state(mock_soniox)
    for name, file in (
        ("tts-maya", "../tts-adrian.s1.wav"),
        ("tts-maya", "tts-maya.jsonl"),
        ("tts-maya", "/etc/passwd"),
        ("../library/tts-maya", "tts-maya.s1.wav"),
    ):
        with pytest.raises(admin.AdminError) as caught:
            admin.fixture_audio_path(state, name, file)
        assert caught.value.status == 404
    assert admin.fixture_audio_path(state, "tts-maya", "tts-maya.s1.wav").name == "tts-maya.s1.wav"


def mock_soniox_state(mock_soniox: MockSoniox) -> MockState:
    return mock_soniox._server.mock.state


async def test_the_fault_grammar_lists_every_fault_and_its_keys(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    grammar = await get(http, mock_soniox.admin_url + "/faults/grammar")
    assert grammar == mock_soniox.faults.grammar()
    assert grammar["faults"]["error"]["required"] == ["code"]
    assert "times" in grammar["common_keys"]
    for name, fault in grammar["faults"].items():  # a spec built from it parses
        values = {"code": "1011" if name == "close" else "500", "rtf": "2", "ms": "10"}
        spec = name + ":" + ",".join(f"{k}={values[k]}" for k in fault["required"])
        try:
            parse_fault(spec.rstrip(":"))
        except FaultSpecError as exc:  # pragma: no cover - the assertion says which
            raise AssertionError(f"{spec}: {exc}") from None


async def test_journal_limit_keeps_the_newest_entries(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    for i in range(5):
        mock_soniox.journal.record("stt-x", "stt", "event", "admin", {"i": i})
    body = await get(http, mock_soniox.admin_url + "/journal?limit=2")
    assert [e["data"]["i"] for e in body["entries"]] == [3, 4]
    bad = await get(http, mock_soniox.admin_url + "/journal?limit=0", expect=400)
    assert bad == {"error": "limit must be a positive integer"}
