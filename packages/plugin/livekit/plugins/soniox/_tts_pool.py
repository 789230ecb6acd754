"""Shared, multiplexed TTS websockets.

A Soniox TTS connection carries up to five concurrent streams, each keyed by a client-chosen
``stream_id``. The pool hands out stream slots, opens another connection when every open one is
full, and closes a connection once it has been idle for a grace period, the last one too: a TTS
that nobody closes (AgentSession never does) leaves no socket or task behind.

Each connection owns three tasks: a reader that routes server messages to the stream they name,
a writer that sends queued messages in order (``send`` never blocks on the socket; a stream's
runner may flush the queue itself with ``send_queued_now`` when no send is under way), and a
keepalive. When the socket fails, every stream on it hears about it, and only those streams.

Timeouts use ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11, ``wait_for`` swallows
a cancellation that arrives as its awaitable completes, and a task that ignores its cancel here
makes ``aclose()`` wait forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import aiohttp
from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

from .log import logger

MAX_STREAMS_PER_CONNECTION = 5
KEEPALIVE_INTERVAL_S = 10.0
IDLE_GRACE_S = 30.0
SEND_TIMEOUT_S = 10.0
CANCEL_GRACE_S = 10.0  # how long a cancelled stream keeps its slot waiting for `terminated`
CLOSE_TIMEOUT_S = 2.0

_ids = itertools.count(1)

Connector = Callable[[], Awaitable[aiohttp.ClientWebSocketResponse]]


class StreamSink(Protocol):
    """What a connection needs from a stream registered on it."""

    def on_message(self, msg: dict[str, Any]) -> None: ...

    def on_lost(self, error: APIError) -> None: ...


def status_error(msg: dict[str, Any]) -> APIStatusError:
    """An error frame from the service as livekit's error: 408, 429 and 5xx are retryable."""
    code = msg.get("error_code")
    status = code if isinstance(code, int) else -1
    text = str(msg.get("error_message") or "unknown error")
    return APIStatusError(
        f"Soniox TTS error {status}: {text}",
        status_code=status,
        request_id=msg.get("request_id") if isinstance(msg.get("request_id"), str) else None,
        body=msg,
        retryable=status in (408, 429) or status >= 500 or status < 0,
    )


class TTSConnection:
    """One websocket and the streams multiplexed on it."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        *,
        max_streams: int,
        keepalive_interval_s: float,
        on_change: Callable[[TTSConnection], None],
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self.id = next(_ids)
        self._ws = ws
        self._max_streams = max_streams
        self._keepalive_interval_s = keepalive_interval_s
        self._on_change = on_change
        self._cancel_grace_s = cancel_grace_s
        self._sinks: dict[str, StreamSink] = {}
        self._cancel_timers: dict[str, asyncio.TimerHandle] = {}
        self.reserved = 0  # slots handed out: registered streams plus pending registrations
        self.closed = False
        self.retired = False  # takes no new streams; closes once its last one is over
        self.error: APIError = APIConnectionError("Soniox TTS connection closed")
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._sending = False  # a send is under way (the writer's, or send_queued_now's)
        self._reader = asyncio.create_task(self._read_loop(), name=f"soniox-tts-read-{self.id}")
        self._writer = asyncio.create_task(self._write_loop(), name=f"soniox-tts-write-{self.id}")
        self._keepalive = asyncio.create_task(
            self._keepalive_loop(), name=f"soniox-tts-keepalive-{self.id}"
        )

    @property
    def has_room(self) -> bool:
        return not self.closed and not self.retired and self.reserved < self._max_streams

    def reserve(self) -> None:
        self.reserved += 1

    def unreserve(self) -> None:
        """Give back a slot that was never used for a stream."""
        self.reserved = max(0, self.reserved - 1)
        self._on_change(self)

    def register(self, stream_id: str, sink: StreamSink) -> None:
        """Attach a stream to a slot this caller reserved."""
        if self.closed:
            sink.on_lost(self.error)  # e.g. the service's 401, when it came first
            return
        self._sinks[stream_id] = sink

    def release(self, stream_id: str) -> None:
        """The stream is over for the service too (terminated, or never started)."""
        timer = self._cancel_timers.pop(stream_id, None)
        if timer is not None:
            timer.cancel()
        if self._sinks.pop(stream_id, None) is not None:
            self.reserved = max(0, self.reserved - 1)
            self._on_change(self)

    def release_when_terminated(self, stream_id: str) -> None:
        """A cancelled stream keeps its slot until the service confirms with ``terminated``.

        If that does not come within the grace period, the service may still count the stream,
        and a new one in its slot could be a 6th (refused with 400, not retried). So this
        connection is retired instead: no new streams, closed once its other streams are over.
        """
        if stream_id in self._sinks and stream_id not in self._cancel_timers:
            self._cancel_timers[stream_id] = asyncio.get_running_loop().call_later(
                self._cancel_grace_s, self._termination_overdue, stream_id
            )

    def _termination_overdue(self, stream_id: str) -> None:
        self._cancel_timers.pop(stream_id, None)
        logger.warning(
            "Soniox TTS connection %d: no `terminated` %.0fs after a cancel; "
            "retiring the connection (new streams go to a fresh one)",
            self.id,
            self._cancel_grace_s,
        )
        self.retired = True
        self.release(stream_id)

    def send(self, msg: dict[str, Any]) -> None:
        """Queue one JSON message; failures surface as a lost connection on every stream."""
        if not self.closed:
            self._outbox.put_nowait(json.dumps(msg))

    async def send_queued_now(self) -> None:
        """Send what is queued from the caller's own task step, unless a send is under way.

        When many streams start at once, the writer task only runs once every one of them has
        taken its step: sending here puts each stream's text on the wire as it is ready. Each
        message is written before any await, so the order on the socket stays the queue's.
        """
        if self._sending:
            return  # the writer (or another caller) sends it, in order
        self._sending = True
        try:
            while not self._outbox.empty() and not self.closed:
                await self._send(self._outbox.get_nowait())
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._send_failed(e)
        finally:
            self._sending = False

    async def _send(self, data: str) -> None:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await self._ws.send_str(data)

    async def _write_loop(self) -> None:
        try:
            while True:
                data = await self._outbox.get()
                self._sending = True
                try:
                    await self._send(data)
                finally:
                    self._sending = False
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._send_failed(e)

    def _send_failed(self, e: Exception) -> None:
        logger.warning("Soniox TTS connection %d: send failed: %r", self.id, e)
        self._shutdown(APIConnectionError(f"Soniox TTS send failed: {e!r}"))

    async def _keepalive_loop(self) -> None:
        while True:
            await asyncio.sleep(self._keepalive_interval_s)
            self.send({"keep_alive": True})

    async def _read_loop(self) -> None:
        error: APIError = APIConnectionError("Soniox TTS connection closed")
        try:
            while True:
                msg = await self._ws.receive()
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self._route(msg.data)
                    if self.closed:
                        return
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    code = self._ws.close_code
                    if code is not None:
                        error = APIStatusError(
                            f"Soniox TTS connection closed with code {code}",
                            status_code=code,
                            retryable=True,
                        )
                    break
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    error = APIConnectionError(f"Soniox TTS connection error: {msg.data!r}")
                    break
        except asyncio.CancelledError:
            raise
        except Exception as e:
            error = APIConnectionError(f"Soniox TTS connection failed: {e!r}")
        self._shutdown(error)

    def _route(self, data: str) -> None:
        try:
            msg = json.loads(data)
        except ValueError:
            logger.warning("Soniox TTS connection %d: ignoring a non-JSON message", self.id)
            return
        if not isinstance(msg, dict):
            return
        stream_id = msg.get("stream_id")
        if not isinstance(stream_id, str):
            if msg.get("error_code") is not None:
                error = status_error(msg)
                logger.warning("Soniox TTS connection %d: %s", self.id, error.message)
                self._shutdown(error)
            return
        sink = self._sinks.get(stream_id)
        if sink is None:
            return  # a stream we gave up on; its late messages are ignored
        sink.on_message(msg)
        if msg.get("terminated"):
            self.release(stream_id)

    def _shutdown(self, error: APIError) -> None:
        """Fail every stream on this connection (and only them), and stop using it."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        for timer in self._cancel_timers.values():
            timer.cancel()
        self._cancel_timers.clear()
        sinks, self._sinks = list(self._sinks.values()), {}
        self.reserved = 0
        for sink in sinks:
            sink.on_lost(error)
        self._on_change(self)

    async def aclose(self) -> None:
        self._shutdown(APIConnectionError("Soniox TTS connection closed by the client"))
        current = asyncio.current_task()
        tasks = [t for t in (self._reader, self._writer, self._keepalive) if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._ws.close()


class _PendingConnect:
    def __init__(self) -> None:
        self.waiters = 0
        self.future: asyncio.Future[TTSConnection] = asyncio.get_running_loop().create_future()


class ConnectionPool:
    """Hands out stream slots on shared connections; see the module docstring."""

    def __init__(
        self,
        connect: Connector,
        *,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        idle_grace_s: float = IDLE_GRACE_S,
        keepalive_interval_s: float = KEEPALIVE_INTERVAL_S,
        connect_timeout_s: float = 10.0,
        cancel_grace_s: float = CANCEL_GRACE_S,
    ) -> None:
        self._connect = connect
        self._cancel_grace_s = cancel_grace_s
        self._max_streams = max_streams
        self._idle_grace_s = idle_grace_s
        self._keepalive_interval_s = keepalive_interval_s
        self._connect_timeout_s = connect_timeout_s
        self._conns: list[TTSConnection] = []
        self._pending: list[_PendingConnect] = []
        self._idle_timers: dict[int, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def connections(self) -> list[TTSConnection]:
        """The open connections new streams may go on (not retired ones)."""
        return [c for c in self._conns if not c.closed and not c.retired]

    async def acquire(
        self, timeout_s: float, *, avoid: TTSConnection | None = None
    ) -> tuple[TTSConnection, float, bool]:
        """A slot on a connection: ``(connection, seconds waited, reused an open one)``.

        ``avoid`` is the connection a failed stream was on: its replacement goes elsewhere.
        """
        if self._closed:
            raise APIConnectionError("Soniox TTS is closed")
        started = time.perf_counter()
        conn = self.try_acquire(avoid=avoid)
        if conn is not None:
            return conn, time.perf_counter() - started, True
        pending = next((p for p in self._pending if p.waiters < self._max_streams), None)
        if pending is None:
            pending = self._start_connect()
        pending.waiters += 1
        try:
            async with asyncio.timeout(timeout_s):
                conn = await asyncio.shield(pending.future)
        except BaseException:
            if not pending.future.done():
                pending.waiters -= 1
            elif not pending.future.cancelled() and pending.future.exception() is None:
                pending.future.result().unreserve()
            raise
        return conn, time.perf_counter() - started, False

    def try_acquire(self, *, avoid: TTSConnection | None = None) -> TTSConnection | None:
        """A slot on an open connection if one is free now, without waiting; else None."""
        if self._closed:
            return None  # acquire() says why
        for conn in self._conns:
            if conn.has_room and conn is not avoid:
                conn.reserve()
                self._cancel_idle_timer(conn)
                return conn
        return None

    def prewarm(self) -> None:
        """Open one connection ahead of time (in the background) if there is none."""
        if not self._closed and not self.connections and not self._pending:
            self._start_connect()

    def _start_connect(self) -> _PendingConnect:
        pending = _PendingConnect()
        self._pending.append(pending)
        self._spawn(self._open(pending), "soniox-tts-connect")
        return pending

    async def _open(self, pending: _PendingConnect) -> None:
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                ws = await self._connect()
        except BaseException as e:
            self._pending.remove(pending)
            pending.future.set_exception(_connect_error(e))
            pending.future.exception()  # retrieved: waiters may all have given up
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        self._pending.remove(pending)
        conn = TTSConnection(
            ws,
            max_streams=self._max_streams,
            keepalive_interval_s=self._keepalive_interval_s,
            on_change=self._on_change,
            cancel_grace_s=self._cancel_grace_s,
        )
        conn.reserved = pending.waiters
        self._conns.append(conn)
        pending.future.set_result(conn)
        logger.debug("Soniox TTS connection %d opened", conn.id)
        if self._closed:
            await conn.aclose()
        elif conn.reserved == 0:
            self._on_change(conn)

    def _on_change(self, conn: TTSConnection) -> None:
        if conn.closed or (conn.retired and conn.reserved == 0):
            self._cancel_idle_timer(conn)
            if conn in self._conns:
                self._conns.remove(conn)
                self._spawn(conn.aclose(), "soniox-tts-close")
            return
        if conn.retired:
            return
        if conn.reserved == 0 and conn.id not in self._idle_timers and not self._closed:
            loop = asyncio.get_running_loop()
            self._idle_timers[conn.id] = loop.call_later(
                self._idle_grace_s, self._close_if_idle, conn
            )

    def _close_if_idle(self, conn: TTSConnection) -> None:
        self._idle_timers.pop(conn.id, None)
        if conn.reserved == 0 and not conn.closed:
            logger.debug("Soniox TTS connection %d idle: closing", conn.id)
            self._conns.remove(conn)
            self._spawn(conn.aclose(), "soniox-tts-close")

    def _cancel_idle_timer(self, conn: TTSConnection) -> None:
        timer = self._idle_timers.pop(conn.id, None)
        if timer is not None:
            timer.cancel()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        self._closed = True
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()
        conns, self._conns = self._conns, []
        for task in list(self._tasks):
            if task.get_name() == "soniox-tts-connect":
                task.cancel()
        await asyncio.gather(*(c.aclose() for c in conns), return_exceptions=True)
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _connect_error(e: BaseException) -> APIError:
    if isinstance(e, APIError):
        return e
    if isinstance(e, aiohttp.WSServerHandshakeError):
        return APIStatusError(
            f"Soniox TTS handshake failed: {e.status} {e.message}",
            status_code=e.status,
            body=e.message,
        )
    if isinstance(e, TimeoutError):
        return APITimeoutError("Soniox TTS connect timed out")
    if isinstance(e, asyncio.CancelledError):
        return APIConnectionError("Soniox TTS connect cancelled")
    return APIConnectionError(f"Soniox TTS connect failed: {e!r}")
