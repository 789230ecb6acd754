"""The STT option layer: defaults, validation, and the config frame a session sends first."""

from __future__ import annotations

import json

import pytest
from livekit.plugins import soniox

from livekit.plugins.soniox._stt_config import build_config
from livekit.plugins.soniox.stt import BASE_URL


def test_defaults_match_the_seed() -> None:
    opts = soniox.STTOptions()
    assert opts.model == "stt-rt-v4"
    assert opts.max_endpoint_delay_ms == 500
    assert (opts.sample_rate, opts.num_channels) == (16000, 1)
    assert opts.enable_language_identification is True
    assert opts.enable_speaker_diarization is False
    assert opts.language_hints is None and opts.context is None and opts.translation is None


@pytest.mark.parametrize("delay", [499, 3001, 0, -1])
def test_max_endpoint_delay_outside_500_to_3000_is_refused(delay: int) -> None:
    with pytest.raises(ValueError, match="max_endpoint_delay_ms must be between 500 and 3000"):
        soniox.STTOptions(max_endpoint_delay_ms=delay)


@pytest.mark.parametrize("delay", [500, 3000])
def test_max_endpoint_delay_bounds_are_accepted(delay: int) -> None:
    assert soniox.STTOptions(max_endpoint_delay_ms=delay).max_endpoint_delay_ms == delay


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint_sensitivity": 1.5}, "endpoint_sensitivity"),
        ({"endpoint_latency_adjustment_level": 4}, "endpoint_latency_adjustment_level"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"num_channels": 0}, "num_channels"),
    ],
)
def test_other_ranges_are_checked(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        soniox.STTOptions(**kwargs)  # type: ignore[arg-type]


def test_translation_one_way_needs_a_target() -> None:
    with pytest.raises(ValueError, match="target_language is required"):
        soniox.TranslationConfig(type="one_way")


def test_translation_two_way_needs_both_languages() -> None:
    with pytest.raises(ValueError, match="language_a and language_b"):
        soniox.TranslationConfig(type="two_way", language_a="en")


def test_translation_type_is_checked() -> None:
    with pytest.raises(ValueError, match="one_way"):
        soniox.TranslationConfig(type="three_way", target_language="es")  # type: ignore[arg-type]


def test_missing_api_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONIOX_API_KEY", raising=False)
    with pytest.raises(ValueError, match="SONIOX_API_KEY"):
        soniox.STT()


def test_api_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SONIOX_API_KEY", "from-env")
    stt = soniox.STT()
    assert stt.model == "stt-rt-v4"
    assert stt.provider == "Soniox"


def test_stt_url_environment_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SONIOX_STT_URL", "ws://127.0.0.1:1/transcribe-websocket")
    assert soniox.STT(api_key="k")._base_url == "ws://127.0.0.1:1/transcribe-websocket"
    explicit = soniox.STT(api_key="k", base_url="ws://other/x")
    assert explicit._base_url == "ws://other/x"
    monkeypatch.delenv("SONIOX_STT_URL")
    assert soniox.STT(api_key="k")._base_url == BASE_URL


def test_capabilities() -> None:
    caps = soniox.STT(api_key="k", params=soniox.STTOptions(enable_speaker_diarization=True))
    assert caps.capabilities.streaming and caps.capabilities.interim_results
    assert caps.capabilities.offline_recognize is True
    assert caps.capabilities.diarization is True


def test_default_config_omits_unset_fields() -> None:
    assert build_config(soniox.STTOptions()) == {
        "model": "stt-rt-v4",
        "audio_format": "pcm_s16le",
        "sample_rate": 16000,
        "num_channels": 1,
        "enable_endpoint_detection": True,
        "max_endpoint_delay_ms": 500,
        "enable_speaker_diarization": False,
        "enable_language_identification": True,
    }


def test_full_config() -> None:
    opts = soniox.STTOptions(
        model="stt-rt-v5",
        language_hints=["en", "es"],
        language_hints_strict=True,
        context=soniox.ContextObject(
            general=[soniox.ContextGeneralItem(key="domain", value="Healthcare")],
            terms=["Celebrex"],
            translation_terms=[soniox.ContextTranslationTerm(source="Mr.", target="Sr.")],
        ),
        sample_rate=8000,
        num_channels=2,
        enable_speaker_diarization=True,
        max_endpoint_delay_ms=1500,
        client_reference_id="ref-1",
        translation=soniox.TranslationConfig(type="one_way", target_language="es"),
        endpoint_sensitivity=0.5,
        endpoint_latency_adjustment_level=2,
    )
    config = build_config(opts)
    assert config["language_hints"] == ["en", "es"]
    assert config["language_hints_strict"] is True
    assert config["context"] == {
        "general": [{"key": "domain", "value": "Healthcare"}],
        "terms": ["Celebrex"],
        "translation_terms": [{"source": "Mr.", "target": "Sr."}],
    }
    assert config["translation"] == {"type": "one_way", "target_language": "es"}
    assert (config["sample_rate"], config["num_channels"]) == (8000, 2)
    assert config["endpoint_sensitivity"] == 0.5
    assert config["endpoint_latency_adjustment_level"] == 2
    assert config["client_reference_id"] == "ref-1"
    assert "api_key" not in json.dumps(config)


def test_two_way_translation_sends_only_its_fields() -> None:
    opts = soniox.STTOptions(
        translation=soniox.TranslationConfig(
            type="two_way", target_language="fr", language_a="en", language_b="es"
        )
    )
    assert build_config(opts)["translation"] == {
        "type": "two_way",
        "language_a": "en",
        "language_b": "es",
    }


def test_string_context_and_empty_context_object() -> None:
    assert build_config(soniox.STTOptions(context="cardiology notes"))["context"] == (
        "cardiology notes"
    )
    assert "context" not in build_config(soniox.STTOptions(context=soniox.ContextObject()))


def test_stream_language_becomes_first_hint() -> None:
    config = build_config(soniox.STTOptions(language_hints=["es"]), language="de")
    assert config["language_hints"] == ["de", "es"]
    assert "language_hints_strict" not in config


def test_update_options_validates_and_applies_to_new_sessions() -> None:
    stt = soniox.STT(api_key="k")
    stt.update_options(model="stt-rt-v5", endpoint_sensitivity=0.2, language_hints=["fr"])
    assert stt.model == "stt-rt-v5"
    assert stt.config_message()["endpoint_sensitivity"] == 0.2
    assert stt.config_message()["language_hints"] == ["fr"]
    with pytest.raises(ValueError, match="max_endpoint_delay_ms"):
        stt.update_options(max_endpoint_delay_ms=100)
    assert stt.options.max_endpoint_delay_ms == 500
