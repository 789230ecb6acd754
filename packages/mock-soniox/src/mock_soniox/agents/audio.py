"""The user's side of an offline call: a WAV (or PCM) played into an AgentSession as a microphone.

Frames come out at ``speed`` x real time, paced on the event loop's clock; after the audio the
input keeps sending silence (a real microphone never stops), until :meth:`PlayedAudioInput.close`
or ``trailing_silence_s``. Every frame's audio position is known, so the time at which the user
stopped speaking can be read back for latency measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf
from livekit import rtc
from livekit.agents.voice import io

FRAME_MS = 20


@dataclass(frozen=True)
class SpeechSpan:
    """A stretch of the input that holds speech, in seconds of audio."""

    start_s: float
    end_s: float


def load_pcm(path: str | Path) -> tuple[npt.NDArray[np.int16], int]:
    """Read an audio file (anything libsndfile reads) as mono 16-bit PCM and its sample rate."""
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    samples: npt.NDArray[np.int16] = (
        data[:, 0].copy()
        if data.shape[1] == 1
        else (data.astype(np.int32).mean(axis=1).astype(np.int16))
    )
    return samples, int(rate)


def speech_spans(
    samples: npt.NDArray[np.int16],
    sample_rate: int,
    *,
    threshold_db: float = -40.0,
    min_gap_s: float = 0.35,
) -> list[SpeechSpan]:
    """Where the audio is louder than ``threshold_db`` (dBFS, 20 ms windows), gaps shorter than
    ``min_gap_s`` (pauses between words) bridged. Recorded fixtures have clean silence between
    utterances, so this finds the user's utterances; it is not a VAD for noisy audio."""
    win = max(1, sample_rate * FRAME_MS // 1000)
    n = len(samples) // win
    if n == 0:
        return []
    frames = samples[: n * win].astype(np.float64).reshape(n, win) / 32768.0
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = rms > 10 ** (threshold_db / 20)
    spans: list[SpeechSpan] = []
    start: int | None = None
    last = -1
    gap = round(min_gap_s * 1000 / FRAME_MS)
    for i, is_loud in enumerate(loud):
        if not is_loud:
            continue
        if start is None:
            start = i
        elif i - last > gap:
            spans.append(SpeechSpan(start * FRAME_MS / 1000, (last + 1) * FRAME_MS / 1000))
            start = i
        last = i
    if start is not None:
        spans.append(SpeechSpan(start * FRAME_MS / 1000, (last + 1) * FRAME_MS / 1000))
    return spans


class PlayedAudioInput(io.AudioInput):
    """An ``AudioInput`` that plays PCM (or a WAV file) at ``speed`` x real time, then silence.

    ``speed=1`` is a live microphone; ``speed=4`` gets through a 10 s recording in 2.5 s (the
    agent's own timers do not scale, so very high speeds squeeze pauses below its endpointing
    delay). ``trailing_silence_s=None`` sends silence until :meth:`close`.
    """

    def __init__(
        self,
        samples: npt.NDArray[np.int16],
        sample_rate: int,
        *,
        speed: float = 1.0,
        trailing_silence_s: float | None = None,
        frame_ms: int = FRAME_MS,
        label: str = "PlayedAudioInput",
    ) -> None:
        super().__init__(label=label)
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._samples = samples
        self._rate = sample_rate
        self._speed = speed
        self._frame = max(1, sample_rate * frame_ms // 1000)
        self._trailing = trailing_silence_s
        self._pos = 0  # samples emitted, speech and silence
        self._start: float | None = None
        self._closed = False
        self._close_ev = asyncio.Event()
        self._advanced = asyncio.Event()
        self.finished = asyncio.Event()
        """Set once the last sample of the audio (not the trailing silence) has gone out."""
        self.spans = speech_spans(samples, sample_rate)
        """The utterances in the audio (see :func:`speech_spans`)."""

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        speed: float = 1.0,
        trailing_silence_s: float | None = None,
        frame_ms: int = FRAME_MS,
    ) -> PlayedAudioInput:
        samples, rate = load_pcm(path)
        return cls(
            samples, rate, speed=speed, trailing_silence_s=trailing_silence_s, frame_ms=frame_ms
        )

    @property
    def duration_s(self) -> float:
        return len(self._samples) / self._rate

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def position_s(self) -> float:
        """Seconds of audio (speech or silence) sent so far."""
        return self._pos / self._rate

    @property
    def started_at(self) -> float | None:
        """The event loop time of the first frame."""
        return self._start

    def loop_time_of(self, audio_s: float) -> float:
        """The event loop time at which the audio position ``audio_s`` was (or will be) sent."""
        if self._start is None:
            raise RuntimeError("the input has not started")
        return self._start + audio_s / self._speed

    async def wait_for_position(self, audio_s: float) -> None:
        """Return once the audio up to ``audio_s`` seconds has been sent (no timeout: wrap it)."""
        while self.position_s < audio_s and not self._closed:
            await self._advanced.wait()

    def close(self) -> None:
        """End the input: the session's audio stream ends after the frame in flight."""
        self._closed = True
        self._close_ev.set()
        self._advanced.set()

    async def __anext__(self) -> rtc.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise StopAsyncIteration
        total = len(self._samples)
        if self._trailing is not None and self._pos >= total + self._trailing * self._rate:
            raise StopAsyncIteration
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._pos / self._rate / self._speed
        delay = due - loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._close_ev.wait(), delay)
            if self._closed:
                raise StopAsyncIteration
        if self._pos < total:
            chunk = self._samples[self._pos : self._pos + self._frame]
            if len(chunk) < self._frame:
                chunk = np.concatenate([chunk, np.zeros(self._frame - len(chunk), np.int16)])
        else:
            chunk = np.zeros(self._frame, np.int16)
        self._pos += self._frame
        if self._pos >= total and not self.finished.is_set():
            self.finished.set()
        self._advanced.set()  # wake waiters, then arm a fresh event for the next frame
        self._advanced = asyncio.Event()
        return rtc.AudioFrame(chunk.tobytes(), self._rate, 1, self._frame)
