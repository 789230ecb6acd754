"""The journal: query helpers, a normalised export pinned by a snapshot, ring buffer, switch."""

from __future__ import annotations

import asyncio
import json
import threading

import aiohttp
import pytest
from syrupy.assertion import SnapshotAssertion

from mock_soniox import Journal
from mock_soniox.testing.common import BEARER
from mock_soniox.testing.pytest_plugin import MockSoniox


async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    while not ws.closed:
        msg = await ws.receive(timeout=5)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break


async def scripted_session(mock_soniox: MockSoniox, http: aiohttp.ClientSession) -> None:
    """One refused handshake, one STT error fault, one TTS close fault after two frames."""
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await http.ws_connect(mock_soniox.stt_url + "?fault=refuse:status=429", headers=BEARER)
    stt = await http.ws_connect(mock_soniox.stt_url + "?fault=error:code=503", headers=BEARER)
    await drain(stt)
    await mock_soniox.journal.wait_for(lambda e: e.endpoint == "stt" and e.kind == "closed")
    tts = await http.ws_connect(
        mock_soniox.tts_url, headers={**BEARER, "X-Mock-Fault": "close:code=4001,after_frames=2"}
    )
    await tts.send_str(json.dumps({"keep_alive": True}))
    await tts.send_str(json.dumps({"keep_alive": True}))
    await drain(tts)
    await mock_soniox.journal.wait_for(lambda e: e.endpoint == "tts" and e.kind == "closed")


async def test_export_is_normalised_and_stable(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession, snapshot: SnapshotAssertion
) -> None:
    await scripted_session(mock_soniox, http)
    exported = mock_soniox.journal.export()
    assert exported == snapshot
    labels = list(dict.fromkeys(item["conn"] for item in exported))
    assert labels == ["stt#1", "stt#2", "tts#1"]
    assert "request_id" not in json.dumps(exported).replace('"request_id": "<request_id>"', "")


async def test_query_helpers(mock_soniox: MockSoniox, http: aiohttp.ClientSession) -> None:
    await scripted_session(mock_soniox, http)
    journal = mock_soniox.journal
    stt_refused, stt_error, tts = journal.connection_ids()
    assert journal.connection_ids("tts") == [tts]
    assert [e.kind for e in journal.client_frames(conn_id=tts)] == ["keep_alive", "keep_alive"]
    assert journal.client_frames("keep_alive", endpoint="stt") == []
    (error,) = journal.server_frames("error")
    assert (error.conn_id, error.data["error_code"], error.fault) == (
        stt_error,
        503,
        "error:code=503",
    )
    assert journal.faults_applied() == ["error:code=503", "close:code=4001,after_frames=2"]
    assert journal.faults_applied(conn_id=tts) == ["close:code=4001,after_frames=2"]
    assert [e.conn_id for e in journal.events("refused")] == [stt_refused]
    assert journal.select(fault="error:code=503", direction="s2c") == [error]
    assert journal.select(where=lambda e: e.data == {"code": 4001}) == journal.events(
        "close", conn_id=tts
    )


def test_ring_buffer_keeps_the_newest_and_counts_the_rest() -> None:
    journal = Journal(max_entries=3)
    for i in range(5):
        journal.record("tts-1", "tts", "c2s", "text", {"i": i})
    assert [e.data["i"] for e in journal] == [2, 3, 4]
    assert journal.dropped == 2
    journal.resize(2)
    assert [e.data["i"] for e in journal] == [3, 4]
    assert (journal.max_entries, journal.dropped) == (2, 3)
    journal.clear()
    assert (len(journal), journal.dropped) == (0, 0)
    with pytest.raises(ValueError, match="journal size must be >= 1"):
        journal.resize(0)


async def test_the_switch_turns_journaling_off_for_load_runs(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    mock_soniox.configure(journal_enabled=False, journal_max_entries=10)
    assert mock_soniox.journal.max_entries == 10
    ws = await http.ws_connect(mock_soniox.tts_url, headers=BEARER)
    await ws.send_str(json.dumps({"keep_alive": True}))
    await ws.close()
    assert len(mock_soniox.journal) == 0
    mock_soniox.reset()
    assert (mock_soniox.journal.enabled, mock_soniox.journal.max_entries) == (True, 100_000)


async def test_wait_for_sees_entries_recorded_on_another_thread() -> None:
    journal = Journal()
    journal.record("stt-1", "stt", "event", "open")
    assert (await journal.wait_for(lambda e: e.kind == "open")).conn_id == "stt-1"

    waiter = asyncio.create_task(journal.wait_for(lambda e: e.kind == "closed"))
    await asyncio.sleep(0)  # let it subscribe
    writer = threading.Thread(target=journal.record, args=("stt-1", "stt", "event", "closed"))
    writer.start()
    entry = await waiter
    writer.join()
    assert entry.kind == "closed"

    with pytest.raises(TimeoutError, match=r"no journal entry matched within 0\.01 s"):
        await journal.wait_for(lambda e: e.kind == "never", within=0.01)


def test_export_replaces_volatile_values_and_numbers_connections() -> None:
    journal = Journal()
    journal.record("tts-7", "tts", "event", "open")
    journal.record("stt-3", "stt", "s2c", "error", {"error_code": 400, "request_id": "abc"})
    journal.record("tts-7", "tts", "s2c", "audio", {"audio": {"bytes": 10}}, stream_id="s")
    assert journal.export() == [
        {"conn": "tts#1", "dir": "event", "kind": "open"},
        {"conn": "tts#1", "dir": "s2c", "kind": "audio", "stream_id": "s",
         "data": {"audio": {"bytes": 10}}},
        {"conn": "stt#1", "dir": "s2c", "kind": "error",
         "data": {"error_code": 400, "request_id": "<request_id>"}},
    ]  # fmt: skip
    assert [e["kind"] for e in journal.export(events=False, by_connection=False)] == [
        "error",
        "audio",
    ]
