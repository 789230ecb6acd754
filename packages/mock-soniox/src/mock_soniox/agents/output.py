"""The agent's speaker in an offline call: plays replies out in simulated real time and keeps them.

Livekit hands an ``AudioOutput`` frames faster than real time, marks the end of a reply with
``flush()`` and interrupts with ``clear_buffer()``; the output must then report how much of the
reply was heard (``on_playback_finished``), exactly once per reply. This one has no device: a
reply "plays" at ``speed`` x real time from its first frame (a gap in delivery is an underrun, not
skipped audio), so the agent's timing is what a listener would experience.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc
from livekit.agents.voice import io


@dataclass
class AgentReply:
    """One reply as the listener heard it (times are event loop times)."""

    index: int
    sample_rate: int
    started_at: float
    """When its first frame arrived (= began to play)."""
    pcm: bytearray = field(default_factory=bytearray, repr=False)
    """Every sample livekit delivered, 16-bit mono or as delivered (see ``num_channels``)."""
    num_channels: int = 1
    pushed_s: float = 0.0
    played_s: float = 0.0
    ended_at: float | None = None
    interrupted: bool = False

    @property
    def done(self) -> bool:
        return self.ended_at is not None

    @property
    def heard_pcm(self) -> bytes:
        """The part of the audio that played before the reply ended or was interrupted."""
        n = round(self.played_s * self.sample_rate) * 2 * self.num_channels
        return bytes(self.pcm[:n])


class CapturingAudioOutput(io.AudioOutput):
    """An ``AudioOutput`` that records each reply and plays it out at ``speed`` x real time.

    ``clear_buffer()`` with a reply playing ends it as interrupted at the position reached; with
    nothing playing it does nothing (a stale interruption must not cut the next reply short).
    Await :meth:`wait_until` for a condition on :attr:`replies` instead of sleeping.
    """

    def __init__(self, *, speed: float = 1.0, label: str = "CapturingAudioOutput") -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=True),
            next_in_chain=None,
            sample_rate=None,
        )
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self._speed = speed
        self.replies: list[AgentReply] = []
        self._current: AgentReply | None = None
        self._flushed = False
        self._last_tick = 0.0
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._players: set[asyncio.Task[None]] = set()
        self._paused = False

    @property
    def playing(self) -> AgentReply | None:
        return self._current

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        loop = asyncio.get_running_loop()
        reply = self._current
        if reply is None:
            reply = AgentReply(
                index=len(self.replies),
                sample_rate=frame.sample_rate,
                num_channels=frame.num_channels,
                started_at=loop.time(),
            )
            self.replies.append(reply)
            self._current = reply
            self._flushed = False
            self._last_tick = reply.started_at
            player = asyncio.create_task(self._play(reply), name="CapturingAudioOutput.play")
            self._players.add(player)
            player.add_done_callback(self._players.discard)
            self.on_playback_started(created_at=time.time())
            self._notify()
        self._tick(reply)
        reply.pcm += bytes(frame.data.cast("b"))
        reply.pushed_s += frame.duration
        self._wake.set()

    def flush(self) -> None:
        super().flush()
        if self._current is not None:
            self._flushed = True
            self._wake.set()

    def pause(self) -> None:
        super().pause()
        if self._current is not None:
            self._tick(self._current)
        self._paused = True
        self._wake.set()

    def resume(self) -> None:
        super().resume()
        if self._current is not None:
            self._tick(self._current)
        self._paused = False
        self._wake.set()

    def clear_buffer(self) -> None:
        reply = self._current
        if reply is None:
            return
        self._tick(reply)
        self._finish(reply, interrupted=reply.played_s < reply.pushed_s or not self._flushed)

    async def aclose(self) -> None:
        """End a reply still playing (as interrupted) and wait for its player task."""
        if self._current is not None:
            self.clear_buffer()
        if self._players:
            await asyncio.gather(*self._players)

    async def wait_until(
        self, predicate: Callable[[list[AgentReply]], bool], timeout_s: float
    ) -> list[AgentReply]:
        """Wait until ``predicate(replies)`` holds: TimeoutError after ``timeout_s`` seconds."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self.replies):
                await self._changed.wait()
        return self.replies

    def _tick(self, reply: AgentReply) -> None:
        now = asyncio.get_running_loop().time()
        if not self._paused:
            played = reply.played_s + (now - self._last_tick) * self._speed
            reply.played_s = min(reply.pushed_s, played)
        self._last_tick = now

    async def _play(self, reply: AgentReply) -> None:
        while self._current is reply:
            self._tick(reply)
            left = (reply.pushed_s - reply.played_s) / self._speed
            if left <= 0 and self._flushed and not self._paused:
                self._finish(reply, interrupted=False)
                return
            self._wake.clear()
            wait = left if left > 0 and not self._paused else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    def _finish(self, reply: AgentReply, *, interrupted: bool) -> None:
        reply.ended_at = asyncio.get_running_loop().time()
        reply.interrupted = interrupted
        self._current = None
        self._wake.set()
        self.on_playback_finished(playback_position=reply.played_s, interrupted=interrupted)
        self._notify()

    def _notify(self) -> None:
        # wake every waiter, then arm a fresh event for the next change
        self._changed.set()
        self._changed = asyncio.Event()


def pcm_to_wav(path: str, pcm: bytes, sample_rate: int, num_channels: int = 1) -> None:
    """Write 16-bit PCM as a WAV file."""
    import soundfile as sf

    data = np.frombuffer(pcm, dtype=np.int16).reshape(-1, num_channels)
    sf.write(path, data, sample_rate, subtype="PCM_16")
