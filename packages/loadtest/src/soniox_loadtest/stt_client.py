"""One STT session over websocket-client for gevent users: audio paced at real time."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
import websocket

from .audio import BYTES_PER_MS, chunks
from .metrics import SEND_LAG, RunTotals
from .stt_session import STTSessionState
from .tts_pool import Fire, drop_socket


@dataclass(frozen=True)
class SessionPlan:
    config: dict[str, Any]
    pcm: bytes
    chunk_ms: int = 120
    finish_timeout_s: float = 15.0  # after the last audio, how long to wait for `finished`
    connect_timeout_s: float = 10.0


def run_session(
    url: str, api_key: str, plan: SessionPlan, fire: Fire, totals: RunTotals
) -> STTSessionState:
    """Connect, send config and real-time audio, finish, wait for ``finished``; never raises.

    Every chunk's lateness against its real-time schedule is recorded as ``STT send lag ms``:
    a generator that cannot keep real time shows there before it distorts the latencies.
    """
    totals.stream_started("stt")
    started = time.perf_counter()
    state = STTSessionState(started)
    try:
        ws = websocket.create_connection(
            url,
            header=[f"Authorization: Bearer {api_key}"],
            timeout=plan.connect_timeout_s,
            skip_utf8_validation=True,  # pure-Python UTF-8 checks are slow; json.loads checks
        )
    except Exception as exc:
        fire(
            request_type="WS",
            name="stt connect",
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=exc,
        )
        state.on_closed(f"connect failed: {type(exc).__name__}", time.perf_counter())
        totals.stream_finished("stt", state.failure.label if state.failure else None)
        return state
    fire(
        request_type="WS",
        name="stt connect",
        response_time=(time.perf_counter() - started) * 1000.0,
        response_length=0,
    )
    totals.add("stt.connections_opened")
    ended = gevent.event.Event()
    reader = gevent.spawn(_read_loop, ws, state, ended)
    interrupted = False
    try:
        ws.send(json.dumps(plan.config))
        state.audio_started_at = time.perf_counter()
        for index, chunk in enumerate(chunks(plan.pcm, plan.chunk_ms)):
            # Absolute schedule: chunk i leaves at i * chunk_ms, however long sends take.
            due = state.audio_started_at + index * plan.chunk_ms / 1000.0
            delay = due - time.perf_counter()
            if (delay > 0 and ended.wait(timeout=delay)) or state.done:
                break  # the server ended the session early (an error): stop sending
            totals.record(SEND_LAG, max(0.0, time.perf_counter() - due) * 1000.0)
            ws.send_binary(chunk)
            totals.add("stt.audio_ms_sent", len(chunk) / BYTES_PER_MS)
        if not state.done:
            ws.send("")  # empty text frame: end of audio, finalize everything
            state.audio_done_at = time.perf_counter()
            ended.wait(timeout=plan.finish_timeout_s)
        if not state.done:
            state.on_timeout(time.perf_counter())
    except (websocket.WebSocketException, OSError) as exc:
        state.on_closed(f"send failed: {type(exc).__name__}", time.perf_counter())
    except BaseException:  # the user was stopped mid-session: neither a success nor a failure
        interrupted = True
        raise
    finally:
        drop_socket(ws)
        reader.join(timeout=2.0)
        if not reader.dead:
            reader.kill(block=True, timeout=2.0)
        if interrupted:
            totals.stream_abandoned("stt")
        else:
            totals.stream_finished("stt", state.failure.label if state.failure else None)
    return state


def _read_loop(ws: websocket.WebSocket, state: STTSessionState, ended: gevent.event.Event) -> None:
    try:
        while not state.done:
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue  # the sender owns the deadlines; keep listening
            now = time.perf_counter()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
                state.on_closed(f"closed by server ({code})", now)
            elif opcode == websocket.ABNF.OPCODE_TEXT:
                state.on_message(json.loads(data), now)
    except (websocket.WebSocketException, OSError, ValueError) as exc:
        if not state.done:
            state.on_closed(f"1006 {type(exc).__name__}", time.perf_counter())
    finally:
        ended.set()
