"""The control plane over HTTP: ``/__admin/`` does what the fixture's Python API does."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from mock_soniox.server import admin
from mock_soniox.testing.common import BEARER
from mock_soniox.testing.pytest_plugin import MockSoniox


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    body: Any = None,
    *,
    expect: int = 200,
) -> Any:
    async with http.request(method, url, json=body) as resp:
        payload = await resp.json()
        assert resp.status == expect, payload
        return payload


async def open_tts(
    http: aiohttp.ClientSession, mock_soniox: MockSoniox
) -> tuple[aiohttp.ClientWebSocketResponse, str]:
    """A bare TTS connection and its server-side id."""
    ws = await http.ws_connect(mock_soniox.tts_url, headers=BEARER)
    opened = await mock_soniox.journal.wait_for(lambda e: e.kind == "open")
    return ws, opened.conn_id


async def keep_alive(ws: aiohttp.ClientWebSocketResponse, mock_soniox: MockSoniox) -> None:
    """Send one ``keep_alive`` and wait until the server has journaled it."""
    await ws.send_str(json.dumps({"keep_alive": True}))
    await mock_soniox.journal.wait_for(lambda e: e.kind == "keep_alive")


async def test_connections_lists_live_sockets(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    await keep_alive(ws, mock_soniox)
    listed = await call(http, "GET", mock_soniox.admin_url + "/connections")
    (conn,) = listed["connections"]
    assert conn["id"] == conn_id
    assert conn["endpoint"] == "tts"
    assert conn["frames_received"] == 1
    assert conn["streams"] == []
    assert conn == await call(http, "GET", f"{mock_soniox.admin_url}/connections/{conn_id}") | {
        "age_ms": conn["age_ms"]
    }
    await ws.close()
    await mock_soniox.journal.wait_for(lambda e: e.kind == "closed")
    assert (await call(http, "GET", mock_soniox.admin_url + "/connections")) == {"connections": []}


async def test_faults_can_be_armed_listed_and_disarmed(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    url = mock_soniox.admin_url + "/faults"
    first = await call(http, "POST", url, {"spec": "refuse:status=503,times=1"}, expect=201)
    assert first == {
        "id": first["id"],
        "spec": "refuse:status=503,times=1",
        "fired": 0,
        "healed": False,
    }
    async with http.post(url, json={"spec": "stall:endpoint=tts"}):
        pass
    listed = (await call(http, "GET", url))["faults"]
    assert [f["spec"] for f in listed] == ["refuse:status=503,times=1", "stall:endpoint=tts"]

    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(mock_soniox.stt_url, headers=BEARER)
    assert info.value.status == 503
    healed = (await call(http, "GET", url))["faults"][0]
    assert (healed["fired"], healed["healed"]) == (1, True)

    await call(http, "DELETE", f"{url}/{first['id']}")
    assert len((await call(http, "GET", url))["faults"]) == 1
    await call(http, "DELETE", url)
    assert (await call(http, "GET", url))["faults"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"spec": "melt"}, "unknown fault 'melt'"),
        ({"spec": "close:code=1006"}, "use drop for 1006"),
        ({"nope": 1}, 'body must be {"spec"'),
    ],
)
async def test_bad_fault_requests_get_400_saying_why(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, body: Any, message: str
) -> None:
    reply = await call(http, "POST", mock_soniox.admin_url + "/faults", body, expect=400)
    assert message in reply["error"]


async def test_close_a_live_connection_with_a_code(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    url = f"{mock_soniox.admin_url}/connections/{conn_id}/close"
    assert await call(http, "POST", url, {"code": 4000}) == {"closed": conn_id, "code": 4000}
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 4000)


async def test_close_with_1006_cuts_tcp(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    await call(http, "POST", f"{mock_soniox.admin_url}/connections/{conn_id}/close", {"code": 1006})
    msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert ws.close_code == 1006


async def test_close_errors(mock_soniox: MockSoniox, http: aiohttp.ClientSession) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    base = mock_soniox.admin_url + "/connections"
    missing = await call(http, "POST", f"{base}/tts-0/close", {"code": 1000}, expect=404)
    assert "no live connection 'tts-0'" in missing["error"]
    bad = await call(http, "POST", f"{base}/{conn_id}/close", {"code": 1005}, expect=400)
    assert "not a close code a server can send" in bad["error"]
    await ws.close()


async def test_push_a_frame_to_a_live_connection(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    frame = {"stream_id": "s1", "error_code": 500, "error_message": "pushed"}
    url = f"{mock_soniox.admin_url}/connections/{conn_id}/push"
    await call(http, "POST", url, frame)
    assert json.loads((await ws.receive(timeout=5)).data) == frame
    reply = await call(http, "POST", url, [1, 2], expect=400)
    assert reply["error"] == "a pushed frame must be a JSON object"
    await ws.close()


async def test_fixture_close_and_push_match_the_http_api(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    await mock_soniox.push(conn_id, {"hello": "client"})
    assert json.loads((await ws.receive(timeout=5)).data) == {"hello": "client"}
    await mock_soniox.close_connection(conn_id, 1001)
    msg = await ws.receive(timeout=5)
    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)
    with pytest.raises(ValueError, match="no live connection"):
        await mock_soniox.push(conn_id, {"too": "late"})


async def test_journal_over_http_raw_and_normalised(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    ws, conn_id = await open_tts(http, mock_soniox)
    await keep_alive(ws, mock_soniox)
    await ws.close()
    await mock_soniox.journal.wait_for(lambda e: e.kind == "closed")

    url = mock_soniox.admin_url + "/journal"
    raw = await call(http, "GET", url + "?direction=c2s")
    assert raw["enabled"] is True
    assert raw["dropped"] == 0
    (entry,) = raw["entries"]
    assert (entry["conn_id"], entry["kind"], entry["data"]) == (
        conn_id,
        "keep_alive",
        {"keep_alive": True},
    )
    assert isinstance(entry["t"], float)
    normalised = await call(http, "GET", url + "?format=normalised&kind=keep_alive")
    assert normalised["entries"] == [
        {"conn": "tts#1", "dir": "c2s", "kind": "keep_alive", "data": {"keep_alive": True}}
    ]
    bad = await call(http, "GET", url + "?colour=blue", expect=400)
    assert bad["error"] == "unknown journal filter(s): colour"
    await call(http, "DELETE", url)
    assert (await call(http, "GET", url))["entries"] == []


async def test_settings_read_patch_and_reset(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    url = mock_soniox.admin_url + "/settings"
    mock_soniox.configure(api_keys=("secret-key",))
    shown = await call(http, "GET", url)
    assert shown["api_keys"] == ["<redacted:10 chars>"]
    assert "secret-key" not in json.dumps(shown)

    patch = {"time_scale": 0.5, "seed": 9, "tts_time_to_first_audio_ms": 40}
    patched = await call(http, "PATCH", url, patch)
    assert (patched["time_scale"], patched["seed"]) == (0.5, 9)
    assert mock_soniox.settings.tts_time_to_first_audio_ms == 40.0

    await call(http, "POST", mock_soniox.admin_url + "/faults", {"spec": "drop"}, expect=201)
    await call(http, "POST", mock_soniox.admin_url + "/reset")
    assert mock_soniox.settings.time_scale == 0.0
    assert mock_soniox.settings.api_keys == ()
    assert mock_soniox.faults.list() == []
    assert len(mock_soniox.journal) == 0


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"warp": 9}, "unknown setting 'warp'"),
        ({"port": 1}, "port cannot change while the server is listening"),
        ({"seed": "7"}, "seed must be an integer, got '7'"),
        ({"time_scale": -1}, "time_scale must be >= 0"),
        ({"journal_enabled": 1}, "journal_enabled must be true or false"),
        ({"api_keys": "k"}, "api_keys must be a list of strings"),
    ],
)
async def test_bad_settings_patches_get_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, patch: Any, message: str
) -> None:
    reply = await call(http, "PATCH", mock_soniox.admin_url + "/settings", patch, expect=400)
    assert message in reply["error"]
    assert mock_soniox.settings.time_scale == 0.0


async def test_a_body_that_is_not_json_gets_400(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    json_type = {"Content-Type": "application/json"}
    async with http.patch(
        mock_soniox.admin_url + "/settings", data=b"{oops", headers=json_type
    ) as resp:
        assert resp.status == 400
        assert "request body is not JSON" in (await resp.json())["error"]


@pytest.mark.parametrize(
    ("remote", "allowed"),
    [("127.0.0.1", True), ("127.8.0.2", True), ("::1", True), ("10.1.2.3", False), (None, False)],
)
async def test_admin_serves_loopback_clients_only(remote: str | None, allowed: bool) -> None:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (remote, 50000) if remote else None
    request = make_mocked_request("GET", "/__admin/connections", transport=transport)

    async def reply(request: web.Request) -> web.StreamResponse:
        return web.json_response({"ok": True})

    resp = await admin._admin(reply)(request)
    assert resp.status == (200 if allowed else 403)
