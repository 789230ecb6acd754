"""The public TTS surface matches the seed (livekit-plugins-soniox API) name for name."""

from __future__ import annotations

import inspect

from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, tts
from livekit.plugins import soniox

SEED_TTS_PARAMS = {
    "model": "tts-rt-v1-preview",
    "language": "en",
    "voice": "Maya",
    "audio_format": "pcm_s16le",
    "sample_rate": 24000,
    "bitrate": None,
    "api_key": None,
    "websocket_url": "wss://tts-rt.soniox.com/tts-websocket",
    "http_session": None,
}


def _params(fn: object) -> dict[str, inspect.Parameter]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    return {n: p for n, p in sig.parameters.items() if n != "self"}


def test_tts_constructor_has_every_seed_parameter_with_its_default() -> None:
    params = _params(soniox.TTS.__init__)
    for name, default in SEED_TTS_PARAMS.items():
        assert name in params, name
        assert params[name].default == default, name
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    # the seed's order comes first; additions only follow it
    assert list(params)[: len(SEED_TTS_PARAMS)] == list(SEED_TTS_PARAMS)
    assert all(p.default is not inspect.Parameter.empty for p in params.values())


def test_tts_methods_match_the_seed() -> None:
    assert issubclass(soniox.TTS, tts.TTS)
    for name in ("synthesize", "stream", "prewarm", "update_options", "aclose"):
        assert callable(getattr(soniox.TTS, name)), name
    assert list(_params(soniox.TTS.synthesize)) == ["text", "conn_options"]
    assert _params(soniox.TTS.synthesize)["conn_options"].default == DEFAULT_API_CONNECT_OPTIONS
    assert list(_params(soniox.TTS.stream)) == ["conn_options"]
    assert _params(soniox.TTS.stream)["conn_options"].default == DEFAULT_API_CONNECT_OPTIONS
    update = _params(soniox.TTS.update_options)
    assert {"model", "language", "voice"} <= set(update)
    assert inspect.iscoroutinefunction(soniox.TTS.aclose)
    assert isinstance(soniox.TTS.model, property)
    assert isinstance(soniox.TTS.provider, property)


def test_synthesize_stream_matches_the_seed() -> None:
    assert issubclass(soniox.SynthesizeStream, tts.SynthesizeStream)
    params = _params(soniox.SynthesizeStream.__init__)
    assert list(params) == ["tts", "conn_options"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert inspect.iscoroutinefunction(soniox.SynthesizeStream.aclose)
    assert "TTS" in soniox.__all__
    assert "SynthesizeStream" in soniox.__all__
