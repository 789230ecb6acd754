"""One raw TTS stream driven over a fake connection: what it sends and how it ends."""

from __future__ import annotations

import base64
import collections
import itertools
from typing import Any

from soniox_loadtest.metrics import ClusterTotals, RunTotals
from soniox_loadtest.tts_driver import Item, StreamPlan, run_stream

CHUNK = base64.b64encode(b"\x00\x01" * 2400).decode()  # 100 ms of 24 kHz s16le


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeConnection:
    """Answers each sent frame with scripted frames; a wait advances the fake clock."""

    def __init__(self, clock: FakeClock, script: Any) -> None:
        self.clock, self.script = clock, script
        self.sent: list[dict[str, Any]] = []
        self.queue: collections.deque[Item] = collections.deque()

    def ensure_connected(self) -> None:
        pass

    def open_stream(self, stream_id: str) -> FakeConnection:
        self.stream_id = stream_id
        return self

    def close_stream(self, stream_id: str) -> None:
        pass

    def send(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)
        for reply in self.script(frame):
            self.queue.append((self.clock.now + 0.15, {"stream_id": self.stream_id, **reply}))

    def get(self, timeout: float) -> Item | None:
        if self.queue and self.queue[0][0] <= self.clock.now + timeout:
            at, frame = self.queue.popleft()
            self.clock.now = max(self.clock.now, at)
            return at, frame
        self.clock.now += timeout
        return None


def speak(frame: dict[str, Any]) -> list[dict[str, Any]]:
    if frame.get("text_end"):
        return [{"audio": CHUNK}, {"audio": CHUNK, "audio_end": True}, {"terminated": True}]
    if frame.get("cancel"):
        return [{"terminated": True}]
    return []


def drive(script: Any, plan: StreamPlan) -> tuple[FakeConnection, Any, dict[str, Any]]:
    clock = FakeClock()
    conn, totals = FakeConnection(clock, script), RunTotals()
    state = run_stream(conn, plan, totals, clock=clock)
    cluster = ClusterTotals()
    cluster.add("local", totals.drain())
    return conn, state, cluster.summary(1.0)["tts"]


PLAN = StreamPlan(config={"model": "m"}, texts=("One. ", "Two. ", "Three. "), bytes_per_s=48000)


def test_a_clean_stream_sends_config_text_and_end_and_completes() -> None:
    conn, state, tts = drive(speak, PLAN)
    texts = [f["text"] for f in conn.sent if "text" in f]
    assert texts == ["One. ", "Two. ", "Three. "]
    assert conn.sent[-1] == {"stream_id": conn.stream_id, "text_end": True}
    assert state.failure is None and round(state.ttfa_ms) == 150
    assert (tts["completed"], tts["audio_frames"]) == (1, 2)


def test_no_text_is_sent_for_a_stream_after_its_error() -> None:
    def refuse(frame: dict[str, Any]) -> list[dict[str, Any]]:
        if "model" in frame:
            return [{"error_code": 429, "error_type": "limit", "error_message": "busy"}]
        return speak(frame)

    plan = StreamPlan(config={"model": "m"}, texts=("One. ", "Two. ", "Three. "), text_gap_s=0.3)
    conn, state, tts = drive(refuse, plan)
    assert state.failure is not None and state.failure.label == "429"
    # The error arrived 150 ms after the config: the first chunk had left, nothing after it.
    assert [f.get("text") for f in conn.sent[1:]] == ["One. "]
    assert tts["failed"] == 1 and tts["errors_by_code"] == {"429": 1}


def test_a_barge_in_cancels_after_first_audio_and_counts_as_completed() -> None:
    def long_reply(frame: dict[str, Any]) -> list[dict[str, Any]]:
        if frame.get("text_end"):
            return [{"audio": CHUNK}]  # more audio would follow; the caller interrupts first
        return speak(frame)

    plan = StreamPlan(config={"model": "m"}, texts=("Hi. ",), barge_in_after_s=0.5)
    conn, state, tts = drive(long_reply, plan)
    assert conn.sent[-1] == {"stream_id": conn.stream_id, "cancel": True}
    assert state.cancelled and state.failure is None
    assert (tts["completed"], tts["barge_in"], tts["failed"]) == (1, 1, 0)


def test_a_stream_without_terminated_times_out_and_is_cancelled() -> None:
    conn, state, tts = drive(lambda frame: [], StreamPlan(config={}, texts=("Hi. ",), timeout_s=5))
    assert state.failure is not None and state.failure.label == "timeout"
    assert conn.sent[-1].get("cancel") is True
    assert tts["failed"] == 1


def test_words_at_a_token_rate_are_paced_by_the_gap() -> None:
    plan = StreamPlan(config={}, texts=("a ", "b ", "c ", "d "), text_gap_s=0.025)
    clock = FakeClock()
    conn = FakeConnection(clock, speak)
    sent_at: list[float] = []
    send = conn.send

    def timed_send(frame: dict[str, Any]) -> None:
        sent_at.append(clock.now)
        send(frame)

    conn.send = timed_send  # type: ignore[method-assign]
    run_stream(conn, plan, RunTotals(), clock=clock)
    words = sent_at[1:5]  # after the config, before text_end
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(words)]
    assert gaps == [0.025, 0.025, 0.025]  # one token time between consecutive words
