"""What one STT session's server messages mean: pure bookkeeping, no sockets and no gevent."""

from __future__ import annotations

from typing import Any

from .tts_stream import StreamFailure

MARKERS = ("<end>", "<fin>")


class STTSessionState:
    """Feed it result messages; it times the first result and the finished transcript."""

    def __init__(self, audio_started_at: float) -> None:
        self.audio_started_at = audio_started_at  # first audio chunk sent: the audio clock's 0
        self.first_result_at: float | None = None
        self.audio_done_at: float | None = None  # when the end-of-audio frame was sent
        self.finished_at: float | None = None
        self.ended_at: float | None = None
        self.final_text: list[str] = []
        self.final_lags_ms: list[float] = []  # wall time from a token's end in audio to final
        self.failure: StreamFailure | None = None

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    def on_message(self, message: dict[str, Any], now: float) -> None:
        if self.done:
            return
        if "error_code" in message or "error_message" in message:
            self._end(now, StreamFailure.from_error_frame(message))
            return
        tokens = message.get("tokens")
        if not isinstance(tokens, list):
            self._end(now, StreamFailure("result without tokens"))
            return
        spoken = [t for t in tokens if isinstance(t, dict) and t.get("text") not in MARKERS]
        if spoken and self.first_result_at is None:
            self.first_result_at = now
        for token in spoken:
            if token.get("is_final") is True:
                self.final_text.append(str(token.get("text", "")))
                end_ms = token.get("end_ms")
                if isinstance(end_ms, int | float):
                    lag = (now - self.audio_started_at) * 1000.0 - float(end_ms)
                    self.final_lags_ms.append(lag)
        if message.get("finished") is True:
            self.finished_at = now
            self._end(now, None)

    def on_closed(self, reason: str, now: float) -> None:
        """The socket closed: fine after ``finished``, a failure before it."""
        if not self.done:
            self._end(now, StreamFailure(f"connection lost: {reason} before finished"))

    def on_timeout(self, now: float) -> None:
        if not self.done:
            self._end(now, StreamFailure("timeout: no finished in time"))

    def _end(self, now: float, failure: StreamFailure | None) -> None:
        self.ended_at = now
        if failure is not None and self.failure is None:
            self.failure = failure

    @property
    def transcript(self) -> str:
        return "".join(self.final_text).strip()

    @property
    def first_result_ms(self) -> float | None:
        if self.first_result_at is None:
            return None
        return (self.first_result_at - self.audio_started_at) * 1000.0

    @property
    def final_transcript_ms(self) -> float | None:
        """From the end-of-audio frame to the finished message: the wait for the last word."""
        if self.finished_at is None or self.audio_done_at is None:
            return None
        return (self.finished_at - self.audio_done_at) * 1000.0
