"""What a web page, a slow socket or a careless flag must not be able to do to the mock."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import aiohttp
import pytest

from mock_soniox import MockServer, Settings, cli
from mock_soniox.faults import FaultSpecError, parse_fault
from mock_soniox.record import RecordOptions, running_recorder
from mock_soniox.testing.pytest_plugin import MockSoniox


async def test_a_cross_origin_page_cannot_arm_a_fault(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # What a page on another site can send without a CORS preflight: a text/plain POST...
    url = mock_soniox.admin_url + "/faults"
    async with http.post(url, data="drop", headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
    # ... and a JSON one is refused when the browser says where it comes from.
    evil = {"Origin": "https://evil.example"}
    async with http.post(url, json={"spec": "drop"}, headers=evil) as resp:
        assert resp.status == 403
        assert "cross-origin" in (await resp.json())["error"]
    assert mock_soniox.faults.list() == []


async def test_a_page_on_its_own_origin_may_use_the_admin_api(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    origin = mock_soniox.base_url  # the dashboard's own origin
    async with http.post(
        mock_soniox.admin_url + "/faults", json={"spec": "drop"}, headers={"Origin": origin}
    ) as resp:
        assert resp.status == 201


async def test_dns_rebinding_is_refused(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    # A rebinding page reaches 127.0.0.1 under its own name: the Host header gives it away.
    headers = {"Host": "attacker.example:8765"}
    async with http.get(mock_soniox.admin_url + "/settings", headers=headers) as resp:
        assert resp.status == 403
    async with http.post(mock_soniox.admin_url + "/reset", headers=headers) as resp:
        assert resp.status == 403
    async with http.get(
        mock_soniox.admin_url + "/settings", headers={"Host": "localhost:8765"}
    ) as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_scale", math.nan),
        ("time_scale", -1.0),
        ("stt_idle_timeout_s", 0),
        ("tts_stream_idle_timeout_s", math.inf),
        ("tts_max_streams_per_connection", -5),
        ("journal_max_bytes", 0),
        ("send_timeout_s", -0.5),
    ],
)
async def test_settings_out_of_range_are_refused(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, field: str, value: float
) -> None:
    before = mock_soniox.settings
    body = f'{{"{field}": {value}}}'.replace("nan", "NaN").replace("inf", "Infinity")
    async with http.patch(
        mock_soniox.admin_url + "/settings",
        data=body,
        headers={"Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400
        assert field in (await resp.json())["error"]
    assert mock_soniox.settings == before


@pytest.mark.parametrize(
    "spec",
    ["delay:ms=99999999999", "stall:after_ms=1e12", "slow:rtf=1e9", "drop:times=10000000000"],
)
def test_fault_durations_and_counts_are_bounded(spec: str) -> None:
    with pytest.raises(FaultSpecError, match="at most"):
        parse_fault(spec)


async def test_idle_and_slow_header_sockets_are_closed() -> None:
    # http_idle_timeout_s 15 s at time scale 0.01: 150 ms.
    async with MockServer(Settings(port=0, time_scale=0.01)) as server:
        idle = [await asyncio.open_connection(server.host, server.port) for _ in range(50)]
        slow = [await asyncio.open_connection(server.host, server.port) for _ in range(20)]
        for _, writer in slow:  # slowloris: a request line, then headers that never end
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\n")
        async with asyncio.timeout(10):
            for reader, _ in idle + slow:
                assert await reader.read() == b""  # the server closed it
        for _, writer in idle + slow:
            writer.close()


async def test_the_recorder_will_not_listen_beyond_loopback_unless_told(tmp_path: Path) -> None:
    options = RecordOptions(tmp_path, mode="all")
    with pytest.raises(ValueError, match="allow-remote"):
        async with running_recorder(options, "0.0.0.0"):
            pass
    assert cli.main(["record", "--out", str(tmp_path), "--host", "0.0.0.0"]) == 2


def test_serve_refuses_settings_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--time-scale", "-1"]) == 2
    assert "time_scale" in capsys.readouterr().err
