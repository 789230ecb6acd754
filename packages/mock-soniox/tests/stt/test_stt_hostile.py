"""STT clients that send what no client should: frames nested too deep, keys in odd places."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from mock_soniox.errors import STT_CONTROL_MALFORMED, STT_START_MALFORMED
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.stt import BASIC_CONFIG, connect, read_all

TOO_DEEP = "[" * 5000 + "]" * 5000


async def test_a_config_nested_too_deep_is_a_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox.stt_url)
    await ws.send_str(TOO_DEEP)
    [error] = (await read_all(ws)).errors
    assert (error["error_code"], error["error_message"]) == (400, STT_START_MALFORMED)


async def test_a_control_message_nested_too_deep_is_a_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws = await connect(http, mock_soniox.stt_url)
    await ws.send_str(json.dumps(BASIC_CONFIG))
    await ws.send_str('{"type":' * 3000 + '"x"' + "}" * 3000)
    [error] = (await read_all(ws)).errors
    assert (error["error_code"], error["error_message"]) == (400, STT_CONTROL_MALFORMED)


@pytest.mark.parametrize(
    "extra",
    [
        {"metadata": {"owner": {"api_key": "sk-live-123"}}},
        {"client_note": "Authorization: Bearer sk-live-123"},
        {"padding": "x" * 1_000_000},
    ],
)
async def test_the_journal_keeps_no_key_and_no_megabytes_of_a_config(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, extra: dict[str, Any]
) -> None:
    mock_soniox.configure(max_msg_size=8 * 2**20)
    ws = await connect(http, mock_soniox.stt_url)
    await ws.send_str(json.dumps({**BASIC_CONFIG, **extra}))
    await ws.send_str("")
    await read_all(ws)
    [config] = mock_soniox.journal.client_frames("config", endpoint="stt")
    kept = json.dumps(config.data)
    assert "sk-live-123" not in kept and len(kept) < 4096
