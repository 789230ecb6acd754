"""The server shell: health endpoints, auth at the handshake, settings from the environment."""

from __future__ import annotations

import json

import aiohttp
import pytest

from mock_soniox import Settings
from mock_soniox.testing.pytest_plugin import MockSoniox


async def test_health_and_readiness(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(mock_soniox.base_url + "/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with http.get(mock_soniox.base_url + "/readyz") as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == "ready"


@pytest.mark.parametrize("url_attr", ["stt_url", "tts_url"])
async def test_wrong_key_gets_in_band_401_then_close(
    mock_soniox: MockSoniox, url_attr: str
) -> None:
    mock_soniox.configure(api_keys=("good",))
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            getattr(mock_soniox, url_attr), headers={"Authorization": "Bearer wrong"}
        )
        msg = await ws.receive(timeout=5)
        frame = json.loads(msg.data)
        assert frame["error_code"] == 401
        assert frame["error_type"] == "unauthenticated"
        assert frame["more_info"].endswith("#unauthenticated")
        closing = await ws.receive(timeout=5)
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert ws.close_code == 1000 or closing.data == 1000


async def test_wrong_key_can_refuse_the_upgrade(mock_soniox: MockSoniox) -> None:
    mock_soniox.configure(api_keys=("good",), reject_upgrade_on_auth_error=True)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(mock_soniox.stt_url, headers={"Authorization": "Bearer bad"})
        assert info.value.status == 401


async def test_subprotocol_auth_is_echoed(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(mock_soniox.tts_url, protocols=("soniox-api-key", "k1"))
        assert ws.protocol == "soniox-api-key"
        await ws.close()


async def test_key_in_header_and_subprotocol_is_rejected(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            mock_soniox.stt_url,
            headers={"Authorization": "Bearer k1"},
            protocols=("soniox-api-key", "k1"),
        )
        frame = json.loads((await ws.receive(timeout=5)).data)
        assert frame["error_code"] == 400
        await ws.close()


async def test_keys_never_reach_the_journal(mock_soniox: MockSoniox) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(mock_soniox.tts_url, headers={"Authorization": "Bearer s3cr3t"})
        await ws.close()
    assert "s3cr3t" not in repr(mock_soniox.journal.entries())


def test_settings_from_environment() -> None:
    env = {
        "MOCK_SONIOX_PORT": "0",
        "MOCK_SONIOX_TIME_SCALE": "0.5",
        "MOCK_SONIOX_API_KEYS": "a, b",
        "MOCK_SONIOX_STT_EMPTY_BINARY_FINISHES": "true",
    }
    settings = Settings.from_env(env, seed=7)
    assert settings.port == 0
    assert settings.time_scale == 0.5
    assert settings.api_keys == ("a", "b")
    assert settings.stt_empty_binary_finishes is True
    assert settings.seed == 7


def test_bad_boolean_in_environment_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MOCK_SONIOX_JOURNAL_ENABLED"):
        Settings.from_env({"MOCK_SONIOX_JOURNAL_ENABLED": "maybe"})
