"""The plugin with default options replays the mock's bundled recording for its configuration.

``tts-maya-default`` was recorded for what ``soniox.TTS()`` sends with no options (model
``tts-rt-v1-preview``, voice Maya, en, pcm_s16le at 24000 Hz), so a default agent saying one of
its replies hears recorded speech, not the mock's synthetic audio.
"""

from __future__ import annotations

import numpy as np
import pytest

from mock_soniox.fixtures.library import Library
from mock_soniox.fixtures.replay.events import EV_FIXTURE, EV_NO_MATCH
from mock_soniox.testing.pytest_plugin import MockSoniox

from .tts_helpers import make_tts, speak

FIXTURE = Library.load().get("tts-maya-default")
GREETING = "Hello! How can I help you today?"


@pytest.mark.parametrize(
    "pieces",
    [[GREETING], ["Hel", "lo! How", " can I he", "lp you today?"]],
    ids=["whole", "llm-tokens"],
)
async def test_default_tts_gets_the_recorded_audio(
    mock_soniox: MockSoniox, pieces: list[str]
) -> None:
    assert FIXTURE is not None
    stream = FIXTURE.tts_streams()[0]
    assert stream.audio_file is not None
    async with make_tts(mock_soniox) as t:  # every option at its default
        heard = await speak(t, pieces)
    assert heard.sample_rate == 24000
    got = np.frombuffer(bytes(heard.pcm), dtype="<i2").astype(np.int32)
    want = np.frombuffer(FIXTURE.side_payload(stream.audio_file), dtype="<i2").astype(np.int32)
    assert got.size >= want.size
    assert np.abs(got[: want.size] - want).max() <= 1  # the recording (float round trip)
    assert np.abs(got[want.size :]).max(initial=0) == 0  # then only the end's silence
    journal = mock_soniox.journal
    (event,) = journal.select(direction="event", kind=EV_FIXTURE)
    assert (event.data["name"], event.data["stream"]) == ("tts-maya-default", 1)
    assert not journal.select(direction="event", kind=EV_NO_MATCH)
