"""``GET /__admin/events``: the admin API's state as a stream of server-sent events.

What a dashboard needs to stay current without polling: every new journal entry (in batches),
and a snapshot of live connections, armed faults and the journal's counters once a second when
it changed. The journal's listener runs wherever the journal records (the server's loop); it only
appends to a bounded per-subscriber buffer, so a browser that reads slowly costs a fixed amount of
memory: the oldest entries it has not been sent are dropped and it is told how many.

Events (``event:`` name, ``data:`` JSON):

- ``hello`` ``{"seq": N}``: the newest journal sequence number when the stream began; entries
  after it come as ``journal`` events (fetch older ones from ``GET /__admin/journal``).
- ``journal`` ``[entry, ...]``: new entries, as ``GET /__admin/journal`` lists them.
- ``dropped`` ``{"dropped": N}``: N entries were not sent (this subscriber fell behind).
- ``state`` ``{"connections": [...], "faults": [...], "journal": {...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from typing import Any

from aiohttp import web

from ..journal import JournalEntry
from ..state import MockState, state_of
from . import admin

logger = logging.getLogger("mock_soniox")

# Journal entries one subscriber may have waiting; past that the oldest are dropped.
BUFFERED_ENTRIES = 500
# How often the state snapshot is looked at (and sent when it changed).
SNAPSHOT_INTERVAL_S = 1.0
# An unchanged stream still sends a comment this often, so proxies and clients see it alive.
HEARTBEAT_S = 15.0
# Journal batches go out at most this often: a burst of frames is one event, not thousands.
BATCH_INTERVAL_S = 0.1
# A subscriber that has not taken an event for this long is cut off.
WRITE_TIMEOUT_S = 10.0
# Open event streams at once; one dashboard tab needs one.
MAX_SUBSCRIBERS = 16


class EntryFeed:
    """One subscriber's journal entries: filled by the journal's listener, bounded."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int = BUFFERED_ENTRIES) -> None:
        self._loop = loop
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: deque[JournalEntry] = deque()
        self._dropped = 0
        self._wake_pending = False
        self.ready = asyncio.Event()  # set on the loop when entries (or the end) are waiting

    def __call__(self, entry: JournalEntry) -> None:
        """The journal's listener (any thread): keep ``entry``, wake the sender once."""
        with self._lock:
            if len(self._entries) >= self._limit:
                self._entries.popleft()
                self._dropped += 1
            self._entries.append(entry)
            if self._wake_pending:
                return  # a wake-up is already on its way: coalesce
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self.ready.set()

    def take(self) -> tuple[list[JournalEntry], int]:
        """The entries waiting and how many were dropped since the last take (call on the loop)."""
        self.ready.clear()
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            dropped, self._dropped = self._dropped, 0
        return entries, dropped


class EventHub:
    """The app's event streams: counted, and all ended when the server shuts down."""

    def __init__(self) -> None:
        self.feeds: set[EntryFeed] = set()
        self.closing = False

    async def close(self, app: web.Application) -> None:
        """``on_shutdown``: every open stream ends at its next wake-up, which is now."""
        self.closing = True
        for feed in self.feeds:
            feed.ready.set()


HUB_KEY = web.AppKey("mock_soniox_event_hub", EventHub)


def snapshot(state: MockState) -> dict[str, Any]:
    journal = state.journal
    return {
        "connections": admin.list_connections(state),
        "faults": admin.list_faults(state),
        "journal": {
            "enabled": journal.enabled,
            "entries": len(journal),
            "max_entries": journal.max_entries,
            "dropped": journal.dropped,
        },
    }


def _event(name: str, data: Any) -> bytes:
    # json.dumps escapes newlines, so the payload is one data: line.
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n".encode()


def _unchanged(a: dict[str, Any], b: dict[str, Any] | None) -> bool:
    """Equal but for the ages, which change every time they are read."""

    def strip(snap: dict[str, Any]) -> Any:
        return json.dumps(
            [
                {
                    **c,
                    "age_ms": None,
                    "streams": [{**s, "age_ms": None} for s in c["streams"]],
                }
                for c in snap["connections"]
            ]
            + [snap["faults"], snap["journal"]],
            default=str,
            sort_keys=True,
        )

    return b is not None and strip(a) == strip(b)


async def _get_events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB_KEY]
    if hub.closing:
        raise admin.AdminError(503, "the server is shutting down")
    if len(hub.feeds) >= MAX_SUBSCRIBERS:
        raise admin.AdminError(429, f"at most {MAX_SUBSCRIBERS} event streams at once")
    state = state_of(request.app)
    loop = asyncio.get_running_loop()
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    feed = EntryFeed(loop)
    hub.feeds.add(feed)
    unsubscribe = state.journal.subscribe(feed)
    try:
        await resp.prepare(request)
        entries = state.journal.entries()
        await _send(resp, _event("hello", {"seq": entries[-1].seq if entries else 0}))
        del entries
        last: dict[str, Any] | None = None
        last_sent = loop.time()
        next_snapshot = loop.time()
        while not hub.closing:
            transport = request.transport
            if transport is None or transport.is_closing():
                break  # the browser went away
            now = loop.time()
            if now >= next_snapshot:
                snap = snapshot(state)
                if not _unchanged(snap, last):
                    await _send(resp, _event("state", snap))
                    last, last_sent = snap, now
                elif now - last_sent >= HEARTBEAT_S:
                    await _send(resp, b": alive\n\n")
                    last_sent = now
                next_snapshot = now + SNAPSHOT_INTERVAL_S
            batch, dropped = feed.take()
            if dropped:
                await _send(resp, _event("dropped", {"dropped": dropped}))
            if batch:
                await _send(resp, _event("journal", [e.to_dict() for e in batch]))
                await asyncio.sleep(BATCH_INTERVAL_S)  # let the next burst gather
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(next_snapshot):
                    await feed.ready.wait()
    except (ConnectionError, TimeoutError) as exc:
        logger.debug("admin events: subscriber gone: %r", exc)
        if request.transport is not None:
            request.transport.abort()
    finally:
        unsubscribe()
        hub.feeds.discard(feed)
    return resp


async def _send(resp: web.StreamResponse, data: bytes) -> None:
    async with asyncio.timeout(WRITE_TIMEOUT_S):
        await resp.write(data)


def add_routes(app: web.Application) -> None:
    hub = EventHub()
    app[HUB_KEY] = hub
    app.on_shutdown.append(hub.close)
    app.router.add_get(f"{admin.PREFIX}/events", admin.guarded(_get_events))
