"""Snapshots of the normalised event stream for every bundled STT fixture of the mock.

Each fixture is replayed by the mock (picked with ``client_reference_id="fixture:NAME"``) while
the plugin streams the fixture's own audio with the recorded options and finalize points.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from livekit import rtc
from livekit.agents.stt import SpeechEvent, SpeechEventType
from livekit.plugins import soniox
from syrupy.assertion import SnapshotAssertion

from mock_soniox.fixtures.library import Library
from mock_soniox.fixtures.model import Fixture
from mock_soniox.testing.pytest_plugin import MockSoniox

from .test_stt_stream import FAST_RETRY, KEY, normalise

LIBRARY = Library.load()
STT_FIXTURES = LIBRARY.names("stt")


def options_of(fixture: Fixture) -> soniox.STTOptions:
    config: dict[str, Any] = next(f.json for f in fixture.frames if f.dir == "c2s" and f.json)
    translation = config.get("translation")
    return soniox.STTOptions(
        model=config["model"],
        language_hints=config.get("language_hints"),
        sample_rate=config["sample_rate"],
        num_channels=config["num_channels"],
        enable_speaker_diarization=bool(config.get("enable_speaker_diarization")),
        enable_language_identification=bool(config.get("enable_language_identification")),
        max_endpoint_delay_ms=config.get("max_endpoint_delay_ms") or 500,
        translation=soniox.TranslationConfig(**translation) if translation else None,
        client_reference_id=f"fixture:{fixture.name}",
    )


async def replay(
    fixture: Fixture, opts: soniox.STTOptions, url: str, session: aiohttp.ClientSession
) -> list[SpeechEvent]:
    stt = soniox.STT(api_key=KEY, base_url=url, http_session=session, params=opts)
    async with stt.stream(conn_options=FAST_RETRY) as stream:
        for frame in fixture.frames:
            if frame.dir != "c2s":
                continue
            if frame.kind == "binary":
                pcm = fixture.audio_of(frame)
                samples = len(pcm) // (2 * opts.num_channels)
                stream.push_frame(rtc.AudioFrame(pcm, opts.sample_rate, opts.num_channels, samples))
            elif isinstance(frame.json, dict) and frame.json.get("type") == "finalize":
                stream.flush()
        stream.end_input()
        return [ev async for ev in stream]


@pytest.mark.skipif(not STT_FIXTURES, reason="the mock has no bundled STT fixtures")
@pytest.mark.parametrize("name", STT_FIXTURES)
async def test_fixture_event_stream(
    mock_soniox: MockSoniox,
    http_session: aiohttp.ClientSession,
    snapshot: SnapshotAssertion,
    name: str,
) -> None:
    fixture = LIBRARY.get(name)
    assert fixture is not None
    events = await asyncio.wait_for(
        replay(fixture, options_of(fixture), mock_soniox.stt_url, http_session), 20
    )
    picked = mock_soniox.journal.select(kind="fixture")
    assert picked and picked[0].data["name"] == name
    kinds = [e.type for e in events]
    assert (
        SpeechEventType.FINAL_TRANSCRIPT in kinds and kinds[-1] == SpeechEventType.RECOGNITION_USAGE
    )
    assert kinds.count(SpeechEventType.START_OF_SPEECH) == kinds.count(
        SpeechEventType.END_OF_SPEECH
    )
    # Interim hypotheses are many and verbose: snapshot how many, and every other event whole.
    normalised: list[dict[str, Any]] = []
    interims = 0
    for item, event in zip(normalise(events), events, strict=True):
        if event.type in (SpeechEventType.INTERIM_TRANSCRIPT, SpeechEventType.PREFLIGHT_TRANSCRIPT):
            interims += 1
            continue
        if interims:
            normalised.append({"interim_or_preflight": interims})
            interims = 0
        if event.alternatives and event.alternatives[0].source_texts:
            alt = event.alternatives[0]
            item["source"] = list(zip(alt.source_languages or [], alt.source_texts or []))  # noqa: B905
            item["target"] = list(zip(alt.target_languages or [], alt.target_texts or []))  # noqa: B905
        normalised.append(item)
    assert normalised == snapshot
