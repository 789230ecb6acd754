"""Constructor validation and the stream config message (a pure function)."""

from __future__ import annotations

import pytest
from livekit.plugins import soniox

from livekit.plugins.soniox.tts import WEBSOCKET_URL, _TTSOptions, stream_config


def test_missing_api_key_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONIOX_API_KEY", raising=False)
    with pytest.raises(ValueError, match="SONIOX_API_KEY"):
        soniox.TTS()


def test_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SONIOX_API_KEY", "env-key")
    t = soniox.TTS()
    assert t._opts.api_key == "env-key"
    assert "env-key" not in repr(t._opts)
    assert t.model == "tts-rt-v1-preview"
    assert t.provider == "Soniox"
    assert t.sample_rate == 24000
    assert t.num_channels == 1
    assert t.capabilities.streaming
    assert not t.capabilities.aligned_transcript


def test_url_env_overrides_the_default_but_not_an_explicit_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SONIOX_TTS_URL", "ws://127.0.0.1:1/tts-websocket")
    assert soniox.TTS(api_key="k")._opts.websocket_url == "ws://127.0.0.1:1/tts-websocket"
    explicit = soniox.TTS(api_key="k", websocket_url="ws://example/tts")
    assert explicit._opts.websocket_url == "ws://example/tts"
    monkeypatch.delenv("SONIOX_TTS_URL")
    assert soniox.TTS(api_key="k")._opts.websocket_url == WEBSOCKET_URL


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"audio_format": "ogg_vorbis"}, "audio_format"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"speed": 1.5}, "speed"),
        ({"speed": 0.5}, "speed"),
        ({"reduce_silence": True}, "reduce_silence"),
        ({"reduce_silence": True, "model": "tts-rt-v1"}, "reduce_silence"),
        ({"stream_idle_timeout": 0}, "stream_idle_timeout"),
    ],
)
def test_bad_options_are_refused_with_a_clear_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        soniox.TTS(api_key="k", **kwargs)  # type: ignore[arg-type]


def test_reduce_silence_is_accepted_where_the_model_supports_it() -> None:
    t = soniox.TTS(api_key="k", model="tts-rt-v2", reduce_silence=True)
    assert stream_config(t._opts)["reduce_silence"] is True


def test_return_timestamps_offers_an_aligned_transcript() -> None:
    assert soniox.TTS(api_key="k", return_timestamps=True).capabilities.aligned_transcript


def _opts(**overrides: object) -> _TTSOptions:
    base = {
        "model": "tts-rt-v1-preview",
        "language": "en",
        "voice": "Maya",
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
        "bitrate": None,
        "websocket_url": WEBSOCKET_URL,
        "api_key": "secret",
    }
    base.update(overrides)
    return _TTSOptions(**base)  # type: ignore[arg-type]


def test_stream_config_with_defaults() -> None:
    assert stream_config(_opts(), "s-1") == {
        "model": "tts-rt-v1-preview",
        "language": "en",
        "voice": "Maya",
        "audio_format": "pcm_s16le",
        "sample_rate": 24000,
        "speed": 1.0,
        "return_timestamps": True,
        "stream_id": "s-1",
    }


def test_stream_config_optional_fields_and_no_key() -> None:
    config = stream_config(
        _opts(
            audio_format="mp3",
            sample_rate=44100,
            bitrate=128000,
            speed=1.2,
            model="tts-rt-v2",
            reduce_silence=True,
        )
    )
    assert config["bitrate"] == 128000
    assert config["speed"] == 1.2
    assert config["reduce_silence"] is True
    assert "stream_id" not in config
    assert "secret" not in str(config)  # the key travels in the Authorization header only


def test_update_options_applies_to_new_streams_and_validates() -> None:
    t = soniox.TTS(api_key="k")
    t.update_options(voice="Adrian", language="es", model="tts-rt-v2", speed=1.1)
    assert (t._opts.voice, t._opts.language, t.model, t._opts.speed) == (
        "Adrian",
        "es",
        "tts-rt-v2",
        1.1,
    )
    with pytest.raises(ValueError, match="speed"):
        t.update_options(speed=3.0)
    assert t._opts.speed == 1.1
