"""``GET /__admin/events``: journal entries and state snapshots as server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from mock_soniox.journal import Journal
from mock_soniox.server.events import EntryFeed
from mock_soniox.server.runner import MockServer
from mock_soniox.settings import Settings
from mock_soniox.testing.pytest_plugin import MockSoniox
from mock_soniox.testing.tts import TtsClient


async def next_event(resp: aiohttp.ClientResponse, within: float = 5.0) -> tuple[str, Any]:
    """The next named event (comments skipped)."""
    name = ""
    async with asyncio.timeout(within):
        while True:
            line = (await resp.content.readline()).decode()
            if not line:
                raise EOFError("the event stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                return name, json.loads(line[len("data: ") :])


async def event_named(resp: aiohttp.ClientResponse, wanted: str, within: float = 5.0) -> Any:
    async with asyncio.timeout(within):
        while True:
            name, data = await next_event(resp)
            if name == wanted:
                return data


@pytest.fixture
async def events(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> AsyncIterator[aiohttp.ClientResponse]:
    async with http.get(mock_soniox.admin_url + "/events") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        yield resp


async def test_the_stream_says_hello_then_sends_state(
    mock_soniox: MockSoniox, events: aiohttp.ClientResponse
) -> None:
    name, hello = await next_event(events)
    assert name == "hello"
    assert isinstance(hello["seq"], int)
    state = await event_named(events, "state")
    assert state["connections"] == []
    assert state["faults"] == []
    assert state["journal"]["enabled"] is True


async def test_new_journal_entries_and_connections_arrive(
    mock_soniox: MockSoniox, events: aiohttp.ClientResponse, tts_client: TtsClient
) -> None:
    await tts_client.send(keep_alive=True)
    seen: list[dict[str, Any]] = []
    while not any(e["kind"] == "keep_alive" for e in seen):
        seen += await event_named(events, "journal")
    assert [e["kind"] for e in seen][:2] == ["open", "keep_alive"]
    state = await event_named(events, "state")
    while not state["connections"]:
        state = await event_named(events, "state")
    assert state["connections"][0]["id"] == seen[0]["conn_id"]


async def test_an_armed_fault_shows_in_the_next_snapshot(
    mock_soniox: MockSoniox, events: aiohttp.ClientResponse
) -> None:
    await event_named(events, "state")
    rule = mock_soniox.faults.add("drop:after_frames=1")
    state = await event_named(events, "state")
    assert state["faults"] == [rule]


async def test_the_admin_guard_applies(
    mock_soniox: MockSoniox, http: aiohttp.ClientSession
) -> None:
    url = mock_soniox.admin_url + "/events"
    async with http.get(url, headers={"Origin": "http://evil.example"}) as resp:
        assert resp.status == 403


def test_a_slow_subscriber_keeps_a_bounded_buffer_and_is_told_what_it_missed() -> None:
    loop = asyncio.new_event_loop()
    try:
        journal = Journal()
        feed = EntryFeed(loop, limit=10)
        unsubscribe = journal.subscribe(feed)
        for i in range(25):
            journal.record("stt-1", "stt", "event", "admin", {"i": i})
        unsubscribe()
        entries, dropped = feed.take()
        assert [e.data["i"] for e in entries] == list(range(15, 25))
        assert dropped == 15
        assert feed.take() == ([], 0)
    finally:
        loop.close()  # the coalesced wake-up never ran: at most one was queued


async def test_event_streams_end_when_the_server_shuts_down() -> None:
    server = MockServer(Settings(port=0, time_scale=0.0))
    await server.start()
    async with (
        aiohttp.ClientSession() as http,
        http.get(server.base_url + "/__admin/events") as resp,
    ):
        await event_named(resp, "state")
        async with asyncio.timeout(5):  # well under the runner's shutdown timeout
            await server.stop()
            await resp.content.read()
        assert resp.content.at_eof()
