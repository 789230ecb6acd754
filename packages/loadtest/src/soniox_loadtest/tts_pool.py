"""Shared TTS websockets for gevent users: K streams per socket, one reader greenlet per socket.

Each :class:`SharedTTSConnection` owns one websocket-client socket (cooperative once locust has
monkey-patched the process), a send lock, and a reader greenlet that routes every frame to the
inbox of its ``stream_id``. Every stream takes a slot from :class:`ConnectionPool` for its own
duration (as an agent's TTS does per reply) and gives it back at its end; sockets stay open
between streams. A socket that dies is reconnected by the next stream that needs it, and that
counts as a reconnect. What a stream does on its slot is ``tts_driver.run_stream``.

This module imports gevent but not locust; it reports through a ``fire`` callback with locust's
request-event keywords.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import gevent
import gevent.lock
import gevent.queue
import websocket

from .metrics import RunTotals
from .tts_driver import Item, SendFailed
from .tts_stream import ConnectionLost

KEEPALIVE_EVERY_S = 10.0  # the service wants a message at least every 20-30 s
_READ_POLL_S = 2.0  # how often an idle reader wakes to send keepalives or notice a close


class GeventInbox:
    """A stream's gevent queue of :data:`Item`, read with a timeout (None when it passes)."""

    def __init__(self) -> None:
        self._queue: gevent.queue.Queue = gevent.queue.Queue()

    def put(self, item: Item) -> None:
        self._queue.put(item)

    def get(self, timeout: float) -> Item | None:
        try:
            item: Item = self._queue.get(block=timeout > 0, timeout=timeout or None)
        except gevent.queue.Empty:
            return None
        return item


def drop_socket(ws: websocket.WebSocket) -> None:
    """Wake any reader with a shutdown and close the socket; safe to call twice."""
    ws.abort()  # type: ignore[no-untyped-call]
    ws.shutdown()  # type: ignore[no-untyped-call]


class Fire(Protocol):
    """locust's ``events.request.fire`` signature (the subset we use)."""

    def __call__(
        self,
        *,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        context: dict[str, Any] | None = None,
    ) -> None: ...


class SharedTTSConnection:
    """One TTS websocket shared by several users' streams."""

    def __init__(
        self,
        url: str,
        api_key: str,
        fire: Fire,
        totals: RunTotals,
        connect_timeout_s: float = 10.0,
        kind: str = "tts",
    ) -> None:
        self.kind = kind
        self.url = url
        self.api_key = api_key
        self.fire = fire
        self.totals = totals
        self.connect_timeout_s = connect_timeout_s
        self.users = 0
        self.inboxes: dict[str, GeventInbox] = {}
        self._ws: websocket.WebSocket | None = None
        self._reader: gevent.Greenlet | None = None
        self._send_lock = gevent.lock.BoundedSemaphore()
        self._connect_lock = gevent.lock.BoundedSemaphore()
        self._connects = 0
        self._closing = False
        self._last_sent = 0.0

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.connected

    def ensure_connected(self) -> None:
        """Connect if not connected; only one greenlet connects, the others wait for it."""
        with self._connect_lock:
            if self.connected:
                return
            self._discard_socket()
            started = time.perf_counter()
            name = "tts reconnect" if self._connects else "tts connect"
            try:
                ws = websocket.create_connection(
                    self.url,
                    header=[f"Authorization: Bearer {self.api_key}"],
                    timeout=self.connect_timeout_s,
                    enable_multithread=False,
                    # websocket-client checks UTF-8 byte by byte in pure Python: that check
                    # alone used most of a core at ~800 frames/s. json.loads still rejects
                    # invalid text.
                    skip_utf8_validation=True,
                )
            except Exception as exc:
                self.fire(
                    request_type="WS",
                    name=name,
                    response_time=(time.perf_counter() - started) * 1000.0,
                    response_length=0,
                    exception=exc,
                )
                raise SendFailed(f"connect failed: {exc}") from exc
            ws.settimeout(_READ_POLL_S)
            self.fire(
                request_type="WS",
                name=name,
                response_time=(time.perf_counter() - started) * 1000.0,
                response_length=0,
            )
            if self._connects:
                self.totals.add(f"{self.kind}.reconnects")
            self._connects += 1
            self.totals.add(f"{self.kind}.connections_opened")
            self._ws = ws
            self._last_sent = time.perf_counter()
            self._closing = False
            self._reader = gevent.spawn(self._read_loop, ws)

    def open_stream(self, stream_id: str) -> GeventInbox:
        inbox = GeventInbox()
        self.inboxes[stream_id] = inbox
        return inbox

    def close_stream(self, stream_id: str) -> None:
        self.inboxes.pop(stream_id, None)

    def send(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None or not ws.connected:
            raise SendFailed("socket not connected")
        payload = json.dumps(frame)
        try:
            with self._send_lock:  # one frame at a time, however the greenlets interleave
                ws.send(payload)
        except (websocket.WebSocketException, OSError) as exc:
            raise SendFailed(f"send failed: {exc}") from exc
        self._last_sent = time.perf_counter()

    def close(self, timeout_s: float = 3.0) -> None:
        """Close frame, then wait (bounded) for the reader to see the server's close."""
        ws, reader = self._ws, self._reader
        self._closing = True
        if ws is not None and ws.connected:
            try:
                with self._send_lock:
                    ws.send_close()
            except (websocket.WebSocketException, OSError):
                pass
        if reader is not None:
            reader.join(timeout=timeout_s)
        self._discard_socket()

    def _discard_socket(self) -> None:
        ws, reader = self._ws, self._reader
        self._ws, self._reader = None, None
        if ws is not None:
            drop_socket(ws)
        if reader is not None and not reader.dead:
            reader.kill(block=True, timeout=2.0)

    def _read_loop(self, ws: websocket.WebSocket) -> None:
        lost = ConnectionLost("closed by client")
        try:
            while True:
                try:
                    opcode, data = ws.recv_data()
                except websocket.WebSocketTimeoutException:
                    if self._closing:
                        break
                    self._keepalive_if_due()
                    continue
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                    lost = ConnectionLost(f"closed by server ({code})", lost.code)
                    break
                if opcode != websocket.ABNF.OPCODE_TEXT:
                    continue  # TTS is JSON text only; nothing to route
                now = time.perf_counter()
                frame = json.loads(data)
                stream_id = frame.get("stream_id")
                if stream_id is None:
                    if "error_code" in frame:  # connection-level: the server closes next
                        code = frame.get("error_code")
                        lost = ConnectionLost(
                            f"{code} {frame.get('error_type', 'error')}",
                            code if isinstance(code, int) else None,
                        )
                    continue
                inbox = self.inboxes.get(stream_id)
                if inbox is not None:  # frames for streams we gave up on are dropped
                    inbox.put((now, frame))
                self._keepalive_if_due()
        except (websocket.WebSocketException, OSError, ValueError) as exc:
            if not self._closing:
                lost = ConnectionLost(f"1006 {type(exc).__name__}")
        finally:
            drop_socket(ws)
            now = time.perf_counter()
            for inbox in list(self.inboxes.values()):
                inbox.put((now, lost))

    def _keepalive_if_due(self) -> None:
        if time.perf_counter() - self._last_sent >= KEEPALIVE_EVERY_S and not self._closing:
            with contextlib.suppress(SendFailed):  # a dead socket shows up on the next read
                self.send({"keep_alive": True})


class ConnectionPool:
    """Slots on shared sockets: a stream takes the least busy socket with a free slot.

    A socket is opened when every socket is full, and stays open when its streams end, so the
    next streams reuse it (as an agent's TTS pool does); ``close_all`` closes them at the end.
    """

    def __init__(
        self, factory: Callable[[], SharedTTSConnection], streams_per_connection: int
    ) -> None:
        if streams_per_connection < 1:
            raise ValueError("streams per connection must be at least 1")
        self.factory = factory
        self.streams_per_connection = streams_per_connection
        self.connections: list[SharedTTSConnection] = []

    def acquire(self) -> SharedTTSConnection:
        free = [c for c in self.connections if c.users < self.streams_per_connection]
        if free:
            conn = min(free, key=lambda c: (not c.connected, c.users))
        else:
            conn = self.factory()
            self.connections.append(conn)
        conn.users += 1
        return conn

    def release(self, conn: SharedTTSConnection) -> None:
        conn.users = max(0, conn.users - 1)

    @contextlib.contextmanager
    def slot(self) -> Iterator[SharedTTSConnection]:
        conn = self.acquire()
        try:
            yield conn
        finally:
            self.release(conn)

    def close_all(self) -> None:
        for conn in list(self.connections):
            conn.close()
        self.connections.clear()
