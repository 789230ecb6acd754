"""The model catalogue as data (models.json, or --models FILE / the models_file setting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mock_soniox import models
from mock_soniox.testing import observe
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, LK_CONFIG, connect, read_all
from mock_soniox.testing.target import Target, mock_target

SPEECH_CHUNK = b"\x00\x10" * 1920


def target_of(mock: MockSoniox) -> Target:
    return mock_target(mock.stt_url, mock.tts_url)


async def stt_outcome(target: Target, config: dict[str, Any]) -> dict[str, Any]:
    """The last frame of a session: ``finished`` when the config was accepted, else the error."""
    async with target.session() as http:
        ws = await connect(http, target.stt_url, target.headers)
        await ws.send_str(json.dumps(config))
        await ws.send_bytes(SPEECH_CHUNK)
        await ws.send_str("")
        out = await read_all(ws)
    return out.frames[-1]


async def tts_outcome(target: Target, **config: Any) -> list[dict[str, Any]]:
    """A stream's frames minus audio payloads, up to its ``terminated``."""
    base: dict[str, Any] = {"stream_id": "m1", "language": "en", "voice": "Synthetic-Test"}
    base |= {"audio_format": "pcm_s16le", "sample_rate": 24000}
    frames: list[dict[str, Any]] = []
    async with target.session() as http:
        ws = await http.ws_connect(target.tts_url, headers=target.headers)
        await ws.send_str(json.dumps({**base, **config}))
        await ws.send_str(json.dumps({"stream_id": "m1", "text": "Hi.", "text_end": True}))
        while not frames or not frames[-1].get("terminated"):
            frame = json.loads((await ws.receive(timeout=10)).data)
            frames.append({k: v for k, v in frame.items() if k != "audio"})
        await ws.close()
    return frames


@pytest.mark.mock_only(reason="reads the bundled catalogue file")
def test_bundled_catalogue_lists_current_models_and_aliases() -> None:
    catalogue = models.load()
    assert {"stt-rt-v6", "stt-rt-v5", "stt-rt-v4"} <= set(catalogue.stt.models)
    assert catalogue.stt.resolve("stt-rt-v3") == catalogue.stt.models["stt-rt-v4"]
    assert catalogue.tts.resolve("tts-rt-v1-preview") == catalogue.tts.models["tts-rt-v1"]
    assert catalogue.stt.models["stt-rt-v5"].status == "retiring"
    assert "en" in catalogue.stt.languages and len(catalogue.stt.languages) >= 60


SEED_CONFIG = {  # everything the seed plugin (STTOptions, default model stt-rt-v4) can send
    **LK_CONFIG,
    "model": "stt-rt-v4",
    "max_endpoint_delay_ms": 500,
    "language_hints": ["en", "es"],
    "language_hints_strict": True,
    "context": {"general": [{"key": "domain", "value": "x"}], "terms": ["Soniox"]},
    "enable_speaker_diarization": True,
    "client_reference_id": "seed",
    "translation": {"type": "one_way", "target_language": "es"},
}


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(SEED_CONFIG, id="seed-stt-rt-v4-every-option"),
        pytest.param({**SEED_CONFIG, "context": "plain text"}, id="seed-string-context"),
        pytest.param(
            {
                **SEED_CONFIG,
                "translation": {"type": "two_way", "language_a": "en", "language_b": "es"},
            },
            id="seed-two-way",
        ),
        pytest.param({**LK_CONFIG, "model": "stt-rt-v6", "endpoint_sensitivity": 0.5}, id="v6"),
    ],
)
async def test_models_accept_their_options(soniox_target: Target, config: dict[str, Any]) -> None:
    assert (await stt_outcome(soniox_target, config)).get("finished") is True


async def test_features_follow_the_catalogue(soniox_target: Target) -> None:
    refused = await stt_outcome(
        soniox_target, {**BASIC_CONFIG, "model": "stt-rt-v4", "endpoint_sensitivity": 0.5}
    )
    assert refused["error_code"] == 400
    assert "endpoint_sensitivity" in refused["error_message"]


async def test_tts_preview_alias_works_and_keeps_its_features(soniox_target: Target) -> None:
    ok = await tts_outcome(soniox_target, model="tts-rt-v1-preview", speed=1.0)
    assert ok[-2].get("audio_end") is True and ok[-1]["terminated"] is True
    refused = await tts_outcome(soniox_target, model="tts-rt-v1-preview", reduce_silence=True)
    assert refused[0]["error_code"] == 400 and "reduce_silence" in refused[0]["error_message"]


@pytest.mark.mock_only(reason="a model catalogue of its own")
async def test_a_models_file_replaces_the_catalogue(
    mock_soniox: MockSoniox, tmp_path: Path
) -> None:
    path = tmp_path / "models.json"
    path.write_text(
        json.dumps(
            {
                "stt": {
                    "models": {"stt-rt-v9": {"status": "active", "features": {}}},
                    "aliases": {"stt-rt-latest": "stt-rt-v9"},
                },
                "tts": {"models": {"tts-rt-v9": {"status": "active"}}},
            }
        )
    )
    mock_soniox.configure(models_file=str(path))
    assert (await stt_outcome(target_of(mock_soniox), {**BASIC_CONFIG, "model": "stt-rt-latest"}))[
        "finished"
    ]
    gone = await stt_outcome(target_of(mock_soniox), {**BASIC_CONFIG, "model": "stt-rt-v5"})
    assert gone["error_message"] == "Invalid model specified."
    tts = await tts_outcome(target_of(mock_soniox), model="tts-rt-v2")
    assert tts[0]["error_message"] == "Invalid model specified."


@pytest.mark.mock_only(reason="the mock's command line")
def test_a_bad_models_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "models.json"
    bad.write_text('{"stt": {"models": []}}')
    run = subprocess.run(
        [sys.executable, "-m", "mock_soniox", "serve", "--port", "0", "--models", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "--models" in run.stderr


@pytest.mark.mock_only(reason="the admin API")
async def test_admin_refuses_a_bad_models_file(mock_soniox: MockSoniox, tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as http:
        url = mock_soniox.stt_url.replace("ws://", "http://").replace(
            "/transcribe-websocket", "/__admin/settings"
        )
        response = await http.patch(url, json={"models_file": str(tmp_path / "missing.json")})
    assert response.status == 400


def _expected_served(endpoint: models.Endpoint) -> dict[str, bool]:
    """Every name the bundled catalogue knows for ``endpoint``: served unless retired."""
    return {
        name: endpoint.resolve(name) is not None for name in [*endpoint.models, *endpoint.aliases]
    }


async def test_catalogue_models_are_served(soniox_target: Target) -> None:
    """The bundled catalogue is the service's: each model and alias it lists as current opens a
    session (STT: one chunk and finish; TTS: a short stream), each retired one is refused."""
    catalogue = models.load()
    served: dict[str, str] = {}
    for name in _expected_served(catalogue.stt):
        last = await stt_outcome(soniox_target, {**BASIC_CONFIG, "model": name})
        served[name] = "served" if last.get("finished") else f"refused: {last.get('error_message')}"
    for name in _expected_served(catalogue.tts):
        frames = await tts_outcome(soniox_target, model=name)
        error = next((f for f in frames if "error_code" in f), None)
        served[name] = f"refused: {error['error_message']}" if error else "served"
    observe.note("models", served)
    expected = {**_expected_served(catalogue.stt), **_expected_served(catalogue.tts)}
    assert {n: s == "served" for n, s in served.items()} == expected, served
