"""The STT public surface matches livekit-plugins-soniox 1.8.9 (the seed): names and defaults."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents import stt as agents_stt
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import soniox

from livekit.plugins.soniox import stt as stt_module

MISSING = object()

# (field, default) in declaration order, as the seed lists them.
SEED_DATACLASSES: dict[str, list[tuple[str, Any]]] = {
    "ContextGeneralItem": [("key", MISSING), ("value", MISSING)],
    "ContextTranslationTerm": [("source", MISSING), ("target", MISSING)],
    "ContextObject": [
        ("general", None),
        ("text", None),
        ("terms", None),
        ("translation_terms", None),
    ],
    "TranslationConfig": [
        ("type", MISSING),
        ("target_language", None),
        ("language_a", None),
        ("language_b", None),
    ],
    "STTOptions": [
        ("model", "stt-rt-v4"),
        ("language_hints", None),
        ("language_hints_strict", False),
        ("context", None),
        ("num_channels", 1),
        ("sample_rate", 16000),
        ("enable_speaker_diarization", False),
        ("enable_language_identification", True),
        ("max_endpoint_delay_ms", 500),
        ("client_reference_id", None),
        ("translation", None),
    ],
}


@pytest.mark.parametrize("name", sorted(SEED_DATACLASSES))
def test_dataclass_fields_and_defaults(name: str) -> None:
    cls = getattr(soniox, name)
    assert getattr(stt_module, name) is cls
    assert dataclasses.is_dataclass(cls)
    fields = dataclasses.fields(cls)
    seed = SEED_DATACLASSES[name]
    # Seed fields come first and in order (positional use keeps working); additions follow.
    assert [f.name for f in fields[: len(seed)]] == [n for n, _ in seed]
    for f, (_, default) in zip(fields, seed, strict=False):
        actual = MISSING if f.default is dataclasses.MISSING else f.default
        assert actual == default, f"{name}.{f.name}"
    for f in fields[len(seed) :]:
        assert f.default is not dataclasses.MISSING, f"added field {name}.{f.name} needs a default"


def _params(func: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(func).parameters)


def test_stt_constructor() -> None:
    params = _params(soniox.STT.__init__)
    assert list(params) == ["self", "api_key", "base_url", "http_session", "params"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert params["api_key"].default is None
    assert params["base_url"].default == "wss://stt-rt.soniox.com/transcribe-websocket"
    assert params["http_session"].default is None
    assert params["params"].default is None


def test_stt_stream_signature() -> None:
    params = _params(soniox.STT.stream)
    assert list(params) == ["self", "language", "conn_options"]
    assert params["language"].default is NOT_GIVEN
    assert params["conn_options"].default == DEFAULT_API_CONNECT_OPTIONS


def test_stt_properties_and_stream_class() -> None:
    assert isinstance(inspect.getattr_static(soniox.STT, "model"), property)
    assert isinstance(inspect.getattr_static(soniox.STT, "provider"), property)
    assert soniox.STT(api_key="k").provider == "Soniox"
    assert issubclass(soniox.SpeechStream, agents_stt.SpeechStream)
    assert stt_module.BASE_URL == "wss://stt-rt.soniox.com/transcribe-websocket"
