"""One raw-protocol TTS stream from start to finish, over any connection that routes frames.

Pure logic, no gevent: ``tts_pool`` supplies the shared websocket and a gevent inbox, the unit
tests supply plain fakes. The rules a stream follows:

* text goes out chunk by chunk (whole sentences, or words at an LLM's token rate); before each
  chunk the frames that already arrived are applied, so nothing more is sent once the stream has
  failed (an error frame, a lost socket);
* a barge-in cancels the stream a set time after its first audio, like a caller interrupting the
  agent; the ``terminated`` that follows ends it cleanly;
* a stream that is not over by its deadline is cancelled and fails with ``timeout``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .metrics import RunTotals
from .tts_stream import ConnectionLost, StreamFailure, TTSStreamState

Item = tuple[float, "dict[str, Any] | ConnectionLost"]  # (perf_counter time, frame or loss)
CANCEL_WAIT_S = 2.0  # how long a cancelled stream may take to send its terminated
_stream_ids = itertools.count(1)


class SendFailed(Exception):
    """The socket is gone; the stream fails and the next one reconnects."""


class Inbox(Protocol):
    """One stream's frames, in arrival order."""

    def get(self, timeout: float) -> Item | None:
        """The next item, waiting at most ``timeout`` seconds (0: only what is there); None."""


class StreamConnection(Protocol):
    def ensure_connected(self) -> None: ...

    def open_stream(self, stream_id: str) -> Inbox: ...

    def close_stream(self, stream_id: str) -> None: ...

    def send(self, frame: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class StreamPlan:
    """What one TTS stream sends: its config (without stream_id) and its text chunks."""

    config: dict[str, Any]
    texts: tuple[str, ...]
    timeout_s: float = 30.0
    text_gap_s: float = 0.0  # pause between text chunks (an LLM producing sentences or tokens)
    bytes_per_s: int | None = None
    barge_in_after_s: float | None = None  # cancel this long after the first audio


def new_stream_id() -> str:
    return f"lt-{os.getpid()}-{next(_stream_ids)}"


def run_stream(
    conn: StreamConnection,
    plan: StreamPlan,
    totals: RunTotals,
    kind: str = "tts",
    clock: Callable[[], float] = time.perf_counter,
) -> TTSStreamState:
    """One stream start to finish; never raises for protocol or socket trouble, it records it.

    Only a stop of the user (any exception from outside, e.g. ``GreenletExit``) escapes: the
    stream is then cancelled on the server and counted as abandoned.
    """
    stream_id = new_stream_id()
    state = TTSStreamState(stream_id, clock(), plan.bytes_per_s)
    totals.stream_started(kind)
    inbox = conn.open_stream(stream_id)
    interrupted = False
    try:
        conn.ensure_connected()  # a reconnect, if the shared socket died since the last stream
        state.sent_at = clock()
        deadline = state.sent_at + plan.timeout_s
        conn.send({**plan.config, "stream_id": stream_id})
        for index, text in enumerate(plan.texts):
            pause = plan.text_gap_s if index else 0.0
            _drain(inbox, state, min(deadline, clock() + pause), clock)
            if state.done:
                break  # failed (or ended) already: not one more chunk for it
            conn.send({"stream_id": stream_id, "text": text})
        _drain(inbox, state, clock(), clock)
        if not state.done:
            conn.send({"stream_id": stream_id, "text_end": True})
            _wait_for_end(conn, inbox, state, plan, deadline, clock)
    except SendFailed as exc:
        state.on_connection_lost(ConnectionLost(str(exc)), clock())
    except BaseException:
        interrupted = True
        # Free the server's slot on this shared socket for the streams that stay on it.
        with contextlib.suppress(Exception):
            conn.send({"stream_id": stream_id, "cancel": True})
        raise
    finally:
        conn.close_stream(stream_id)
        totals.add(f"{kind}.audio_frames", state.audio_frames)
        totals.add(f"{kind}.audio_ms", (state.audio_seconds or 0.0) * 1000.0)
        if interrupted:
            totals.stream_abandoned(kind)
        else:
            label = state.failure.label if state.failure else None
            totals.stream_finished(kind, label, barge_in=state.cancelled)
    return state


def _wait_for_end(
    conn: StreamConnection,
    inbox: Inbox,
    state: TTSStreamState,
    plan: StreamPlan,
    deadline: float,
    clock: Callable[[], float],
) -> None:
    if plan.barge_in_after_s is not None:
        while not state.done and state.first_audio_at is None and clock() < deadline:
            _drain(inbox, state, deadline, clock, until_audio=True)
        if not state.done and state.first_audio_at is not None:
            cut_at = min(deadline, state.first_audio_at + plan.barge_in_after_s)
            _drain(inbox, state, cut_at, clock)
            if not state.done and clock() < deadline:
                state.cancelled = True  # the caller interrupted: terminated is all we wait for
                conn.send({"stream_id": state.stream_id, "cancel": True})
                _drain(inbox, state, clock() + CANCEL_WAIT_S, clock)
                if not state.done:
                    state.fail_now(StreamFailure("timeout: no terminated after cancel"), clock())
                return
    _drain(inbox, state, deadline, clock)
    if not state.done:
        state.on_timeout(clock())
        _cancel_after_timeout(conn, inbox, state, clock)


def _drain(
    inbox: Inbox,
    state: TTSStreamState,
    until: float,
    clock: Callable[[], float],
    *,
    until_audio: bool = False,
) -> None:
    """Apply frames to ``state`` until it is done or ``until`` passes (always once, at least)."""
    while not state.done:
        item = inbox.get(max(0.0, until - clock()))
        if item is None:
            return
        at, frame = item
        if isinstance(frame, ConnectionLost):
            state.on_connection_lost(frame, at)
        else:
            state.on_frame(frame, at)
        if until_audio and state.first_audio_at is not None:
            return


def _cancel_after_timeout(
    conn: StreamConnection, inbox: Inbox, state: TTSStreamState, clock: Callable[[], float]
) -> None:
    """Free the server's slot for a stream we gave up on; wait briefly for its terminated."""
    try:
        conn.send({"stream_id": state.stream_id, "cancel": True})
    except SendFailed:
        return
    ender = TTSStreamState(state.stream_id, state.sent_at, None)
    ender.cancelled = True
    _drain(inbox, ender, clock() + CANCEL_WAIT_S, clock)
