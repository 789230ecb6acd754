"""The connection half of an STT stream: one websocket session per attempt of the framework's
retry loop, with the state that must survive a reconnect (replay buffer, open utterance, end of
input, usage). ``stt.SpeechStream`` adds the input side (``push_frame``, ``flush``, ``end_input``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from livekit.agents import (
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    stt,
    utils,
)
from livekit.agents.metrics import STTMetrics
from livekit.agents.metrics.base import Metadata

from ._eager import start_eagerly
from ._stt_audio import SAMPLE_BYTES, AudioOutbox, Finalize, ReplayBuffer
from ._stt_transcript import TranscriptAssembler
from .log import logger

CLOSE_TIMEOUT_S = 2.0  # a peer that does not answer the close handshake by then is cut
USAGE_REPORT_MS = 30_000  # report usage at least this often even without endpoints
CHUNK_MS = 100  # queued and re-sent audio goes out in websocket messages of at most this size
_KEEPALIVE = json.dumps({"type": "keepalive"})
_FINALIZE = json.dumps({"type": "finalize"})
_END_OF_AUDIO = ""
# What a failing socket raises from send/receive (aiohttp's ClientConnectionResetError is both).
NETWORK_ERRORS = (aiohttp.ClientError, OSError)


@dataclass(frozen=True)
class Link:
    """Where and how a stream connects (taken from its STT when the stream is created)."""

    url: str
    api_key: str
    session: Callable[[], aiohttp.ClientSession]
    heartbeat_s: float
    keepalive_s: float
    replay_max_s: float


class SessionStream(stt.SpeechStream):
    """The framework's retry loop calls ``_run`` once per connection; everything that must
    survive a reconnect lives on the stream."""

    def __init__(
        self,
        *,
        stt: stt.STT[Any],
        conn_options: APIConnectOptions,
        link: Link,
        config: dict[str, Any],
        num_channels: int,
        sample_rate: int,
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._link = link
        self._config = config
        hints = config.get("language_hints") or [""]
        self._user_offset = 0.0  # start_time_offset as set by the user
        self._frame_bytes = SAMPLE_BYTES * num_channels
        self._bytes_per_s = sample_rate * self._frame_bytes
        self._chunk_bytes = max(self._frame_bytes, self._bytes_per_s * CHUNK_MS // 1000)
        self._outbox = AudioOutbox(max_chunk_bytes=self._chunk_bytes)
        self._replay = ReplayBuffer(
            frame_bytes=self._frame_bytes,
            max_bytes=int(link.replay_max_s * self._bytes_per_s),
        )
        self._transcript = TranscriptAssembler(
            request_id=utils.shortuuid(), fallback_language=str(hints[0])
        )
        self._base_offset = 0.0
        self._input_ended = False  # the input is closed and drained
        self._finalize_pending = False  # a finalize was sent and its <fin> has not come back
        self._sessions = 0
        self._session_start = 0  # replay position where the current session's audio begins
        self._session_total_ms = 0  # the current session's total_audio_proc_ms
        self._unreported_ms = 0
        self._unreported_tokens = 0
        self._last_audio_sent = time.monotonic()
        self._direct_ws: aiohttp.ClientWebSocketResponse | None = None  # see _send_audio
        self._link_error: BaseException | None = None  # why a helper task ended the session
        self._report_errors = True  # False for recognize()'s stream: recognize() reports them

    @property
    def request_id(self) -> str:
        return self._transcript.request_id

    @property
    def start_time_offset(self) -> float:
        return self._user_offset

    @start_time_offset.setter
    def start_time_offset(self, value: float) -> None:
        if value < 0:
            raise ValueError("start_time_offset must be non-negative")
        self._user_offset = value
        self._start_time_offset = value

    def _emit_error(self, api_error: Exception, recoverable: bool) -> None:
        if self._report_errors:
            super()._emit_error(api_error, recoverable)

    async def _run(self) -> None:
        # Our timeline comes from the audio itself (replay positions), so the framework's
        # wall-clock additions to _start_time_offset between attempts are not used.
        self._base_offset = self._user_offset
        self._transcript.offset = self._user_offset
        started = time.monotonic()
        try:
            ws = await self._connect()
        except APIError as exc:
            self._settle_before_raise(exc, started)
            raise
        try:
            try:
                await self._session(ws)
            except NETWORK_ERRORS as exc:
                # Config, replay, audio, keepalive or receive: a network failure anywhere in the
                # session is a connection error the retry loop handles.
                raise self._lost(exc) from exc
        except APIError as exc:
            self._settle_before_raise(exc, started)
            raise
        except asyncio.CancelledError:
            self._report_usage_directly()
            raise
        finally:
            await close_bounded(ws)

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        session = self._link.session()
        started = time.perf_counter()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation (aclose)
            # that lands as the connection opens, leaving the stream running.
            async with asyncio.timeout(self._conn_options.timeout):
                ws = await session.ws_connect(
                    self._link.url,
                    headers={"Authorization": f"Bearer {self._link.api_key}"},
                    heartbeat=self._link.heartbeat_s,
                )
        except TimeoutError:
            raise APITimeoutError("Soniox STT: connection timed out") from None
        except aiohttp.WSServerHandshakeError as exc:
            raise APIStatusError(
                f"Soniox STT refused the connection: HTTP {exc.status} {exc.message}",
                status_code=exc.status,
                body=None,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(f"Soniox STT: cannot connect ({type(exc).__name__})") from None
        self._report_connection_acquired(time.perf_counter() - started, False)
        return ws

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._sessions += 1
        if self._replay.dropped_bytes:
            lost_s = self._replay.dropped_bytes / self._bytes_per_s
            logger.warning("Soniox STT: %.1f s of audio exceeded the replay buffer", lost_s)
            self._replay.dropped_bytes = 0
        self._session_start = self._replay.start
        self._session_total_ms = 0
        await ws.send_str(json.dumps(self._config))
        pending = self._replay.pending()
        if pending and self._sessions > 1:
            logger.info(
                "Soniox STT: reconnected, re-sending %.2f s of audio",
                len(pending) / self._bytes_per_s,
            )
        chunk = self._chunk_bytes
        for i in range(0, len(pending), chunk):
            await ws.send_bytes(pending[i : i + chunk])
        if self._finalize_pending and not self._input_ended:
            await ws.send_str(_FINALIZE)

        self._link_error = None
        sender = asyncio.create_task(
            self._guarded(ws, self._send_input(ws)), name="soniox-stt-send"
        )
        keepalive = asyncio.create_task(
            self._guarded(ws, self._keepalive(ws)), name="soniox-stt-keepalive"
        )
        try:
            await self._receive(ws)
        finally:
            self._direct_ws = None
            await utils.aio.cancel_and_wait(sender, keepalive)
            await self._outbox.drop_writes()
            # Owned to the end: a helper's own failure (a bug, not the network) is not lost.
            for task in (sender, keepalive):
                if not task.cancelled() and (error := task.exception()) is not None:
                    raise error

    async def _guarded(
        self, ws: aiohttp.ClientWebSocketResponse, work: Coroutine[Any, Any, None]
    ) -> None:
        """Run a helper of the receive loop; a network failure in it ends the session."""
        try:
            await work
        except NETWORK_ERRORS as exc:
            self._link_error = exc
            await close_bounded(ws)  # wakes the receiver, which ends this attempt

    def _send_audio(self, data: memoryview) -> None:
        """Audio from ``push_frame``: written to the socket at once while the sender waits with
        nothing queued (no task wake-up per frame), else queued behind what is."""
        ws = self._direct_ws
        if ws is None or not self._outbox.idle:
            self._outbox.put_audio(data)
            return
        chunk = bytes(data)
        self._replay.append(chunk)  # first, so a failed send is re-sent by the next session
        self._last_audio_sent = time.monotonic()
        try:
            write = start_eagerly(ws.send_bytes(chunk))
        except NETWORK_ERRORS as exc:
            write = asyncio.create_task(_raise(exc), name="soniox-stt-send-failed")
        if write is not None:
            self._outbox.put_write(write)  # the sender finishes it (or fails) before the rest

    async def _send_input(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Outbox -> socket. Each chunk enters the replay buffer before it is sent."""
        if not self._input_ended:
            self._direct_ws = ws
            while (item := await self._outbox.get()) is not None:
                if isinstance(item, Finalize):
                    self._finalize_pending = True
                    await ws.send_str(_FINALIZE)
                elif isinstance(item, asyncio.Task):
                    await item  # a write push_frame started: it goes out before what follows
                else:
                    self._replay.append(item)
                    self._last_audio_sent = time.monotonic()
                    await ws.send_bytes(item)
            self._direct_ws = None
            self._input_ended = True
        await ws.send_str(_END_OF_AUDIO)

    async def _keepalive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Keep the session open while no audio flows (the service closes idle ones)."""
        interval = self._link.keepalive_s
        while True:
            idle = time.monotonic() - self._last_audio_sent
            if idle >= interval:
                await ws.send_str(_KEEPALIVE)
                self._last_audio_sent = time.monotonic()
                idle = 0.0
            await asyncio.sleep(interval - idle)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            # The heartbeat bounds this wait: a silent half-open socket ends in ERROR/CLOSED.
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    content = json.loads(msg.data)
                except ValueError:
                    # A garbled frame means a broken connection: retry it like one.
                    raise APIConnectionError("Soniox STT: unreadable message") from None
                if not isinstance(content, dict):
                    raise APIConnectionError("Soniox STT: unexpected message (not an object)")
                if self._on_message(content):
                    return
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                raise self._lost(self._link_error, ws.close_code)

    def _lost(self, cause: BaseException | None, code: int | None = None) -> APIConnectionError:
        cause = cause or self._link_error
        reason = type(cause).__name__ if cause else f"close code {code}"
        return APIConnectionError(f"Soniox STT: connection lost ({reason})")

    def _on_message(self, frame: dict[str, object]) -> bool:
        """Handle one server frame; True once the session has finished."""
        code = frame.get("error_code")
        if code or frame.get("error_message"):
            raise _status_error(frame)
        tokens = frame.get("tokens")
        raw_tokens = tokens if isinstance(tokens, list) else []
        total = frame.get("total_audio_proc_ms")
        if isinstance(total, int | float) and total > self._session_total_ms:
            self._unreported_ms += int(total) - self._session_total_ms
            self._session_total_ms = int(total)
        time_base = self._base_offset + self._session_start / self._bytes_per_s
        before = self._transcript.final_tokens
        events = self._transcript.feed(raw_tokens, time_base)
        self._unreported_tokens += self._transcript.final_tokens - before
        self._mark_covered(frame.get("final_audio_proc_ms"), raw_tokens)
        closed = False
        for event in events:
            self._event_ch.send_nowait(event)
            closed = closed or event.type == stt.SpeechEventType.END_OF_SPEECH
        if self._transcript.saw_fin:
            self._finalize_pending = False
        if frame.get("finished"):
            for event in self._transcript.finish():
                self._event_ch.send_nowait(event)
            self._emit_usage()
            return True
        if closed or self._unreported_ms >= USAGE_REPORT_MS:
            self._emit_usage()
        return False

    def _mark_covered(self, final_ms: object, raw_tokens: list[dict[str, object]]) -> None:
        covered = float(final_ms) if isinstance(final_ms, int | float) else 0.0
        for token in raw_tokens:
            end = token.get("end_ms")
            if token.get("is_final") and isinstance(end, int | float):
                covered = max(covered, float(end))
        if covered > 0:
            position = self._session_start + int(covered * self._bytes_per_s / 1000)
            self._replay.mark_covered(position)

    def _usage_event(self) -> stt.SpeechEvent | None:
        if not (self._unreported_ms or self._unreported_tokens):
            return None
        usage = stt.RecognitionUsage(
            audio_duration=self._unreported_ms / 1000.0, output_tokens=self._unreported_tokens
        )
        self._unreported_ms = 0
        self._unreported_tokens = 0
        return stt.SpeechEvent(
            type=stt.SpeechEventType.RECOGNITION_USAGE,
            request_id=self.request_id,
            recognition_usage=usage,
        )

    def _emit_usage(self) -> None:
        event = self._usage_event()
        if event is not None:
            self._event_ch.send_nowait(event)

    def _report_usage_directly(self) -> None:
        """On aclose() no event can be consumed any more: hand the usage to the metrics."""
        event = self._usage_event()
        if event is None or event.recognition_usage is None:
            return
        self._stt.emit(
            "metrics_collected",
            STTMetrics(
                request_id=self.request_id,
                timestamp=time.time(),
                duration=0.0,
                label=self._stt.label,
                audio_duration=event.recognition_usage.audio_duration,
                output_tokens=event.recognition_usage.output_tokens,
                streamed=True,
                metadata=Metadata(model_name=self._stt.model, model_provider="Soniox"),
            ),
        )

    def _settle_before_raise(self, exc: APIError, started: float) -> None:
        """Before an attempt fails: deliver what a retry cannot bring back, report usage."""
        retry_budget_left = self._num_retries < self._conn_options.max_retry or (
            time.monotonic() - started > self._conn_options.timeout
        )
        will_retry = exc.retryable and self._conn_options.max_retry > 0 and retry_budget_left
        events = self._transcript.connection_lost()
        if not will_retry:
            events += self._transcript.finish()
        for event in events:
            self._event_ch.send_nowait(event)
        self._emit_usage()


def _status_error(frame: dict[str, object]) -> APIStatusError:
    """The service's error frame as APIStatusError (4xx other than 408/429 are not retried)."""
    code = frame.get("error_code")
    try:
        status = int(code) if isinstance(code, int | str) else -1
    except ValueError:
        status = -1
    kind = frame.get("error_type") or "error"
    message = frame.get("error_message") or ""
    return APIStatusError(
        f"Soniox STT error {status} ({kind}): {message}",
        status_code=status,
        request_id=str(frame.get("request_id") or "") or None,
        body=frame,
    )


async def _raise(exc: BaseException) -> None:
    raise exc


async def close_bounded(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Close the socket; a peer that never answers the close frame is cut after a while."""
    # On the timeout aiohttp's close() is cancelled, and then drops the connection itself.
    with contextlib.suppress(*NETWORK_ERRORS):  # TimeoutError is an OSError
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close()
