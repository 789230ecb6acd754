"""Audio on its way to the service: channel conversion, the queue to the sender and the replay
buffer for reconnects."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Final

import numpy as np
from livekit import rtc

SAMPLE_BYTES = 2  # pcm_s16le


class Finalize:
    """A finalize request queued between audio chunks."""


FINALIZE: Final = Finalize()


def frame_bytes(frame: rtc.AudioFrame) -> memoryview:
    """The frame's samples as a byte view (no copy), without any padding past its last sample."""
    data = frame.data.cast("B")
    size = frame.samples_per_channel * frame.num_channels * SAMPLE_BYTES
    return data if len(data) == size else data[:size]


def frame_to_pcm(frame: rtc.AudioFrame, num_channels: int) -> bytes:
    """The frame's samples as s16le with ``num_channels`` channels (the sample rate is already
    converted by the base class). Extra channels are averaged, a mono frame is duplicated."""
    if frame.num_channels == num_channels:
        return bytes(frame.data)
    samples = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    if frame.num_channels > 1:
        samples = samples.mean(axis=1, dtype=np.float32).round().astype(np.int16).reshape(-1, 1)
    if num_channels > 1:
        samples = np.repeat(samples, num_channels, axis=1)
    return samples.tobytes()


class AudioOutbox:
    """Audio and finalize requests on their way from ``push_frame`` to the sender task, in order.

    Audio that arrives while the sender is busy is appended to the last queued chunk (up to
    ``max_chunk_bytes``), so a sender that fell behind catches up with one websocket message per
    chunk instead of one per frame; a frame that finds the sender idle is never held back.
    A write that ``push_frame`` started itself and could not finish (``put_write``) is queued
    too: the sender waits for it before it sends anything queued after it.
    Survives reconnects: what no session took yet is taken by the next one.
    """

    def __init__(self, *, max_chunk_bytes: int) -> None:
        self._max_chunk_bytes = max_chunk_bytes
        self._items: deque[bytearray | Finalize | asyncio.Task[None]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    @property
    def idle(self) -> bool:
        """The sender is waiting and nothing is queued: audio may go to the socket directly."""
        waiter = self._waiter
        return not self._items and waiter is not None and not waiter.done()

    def put_audio(self, data: bytes | memoryview) -> None:
        """Queue a copy of ``data`` (the caller may reuse its buffer)."""
        if not data:
            return  # an empty binary frame would mean nothing to the service
        items = self._items
        if items:
            last = items[-1]
            if isinstance(last, bytearray) and len(last) + len(data) <= self._max_chunk_bytes:
                last += data
                return  # the sender was already woken for this chunk
        items.append(bytearray(data))
        self._wake()

    def put_finalize(self) -> None:
        self._items.append(FINALIZE)
        self._wake()

    def put_write(self, write: asyncio.Task[None]) -> None:
        """A send to the current socket still in progress (its buffer was full)."""
        self._items.append(write)
        self._wake()

    async def drop_writes(self) -> None:
        """The socket is gone: sends to it that are still queued are cancelled and forgotten
        (their audio is in the replay buffer)."""
        writes = [item for item in self._items if isinstance(item, asyncio.Task)]
        for write in writes:
            self._items.remove(write)
            write.cancel()
        await asyncio.gather(*writes, return_exceptions=True)

    def close(self) -> None:
        """No more input: ``get`` returns None once everything queued is taken."""
        self._closed = True
        self._wake()

    async def get(self) -> bytes | Finalize | asyncio.Task[None] | None:
        """The next chunk, finalize request or pending write, waiting for one; None after
        ``close``."""
        while not self._items:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        return bytes(item) if isinstance(item, bytearray) else item

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class ReplayBuffer:
    """Audio sent to the service and not yet covered by final results, by absolute byte position.

    After a reconnect the new session starts with this audio, so no speech is lost; its size is
    capped (oldest audio is dropped first) so a service that never finalizes cannot grow it
    without bound.
    """

    def __init__(self, *, frame_bytes: int, max_bytes: int) -> None:
        self._frame_bytes = frame_bytes
        self._max_bytes = max_bytes - max_bytes % frame_bytes
        self._buf = bytearray()
        self._start = 0  # absolute position of the first byte held
        self.dropped_bytes = 0  # audio lost to the cap (reported once per reconnect)

    @property
    def start(self) -> int:
        return self._start

    @property
    def end(self) -> int:
        """Total bytes ever appended."""
        return self._start + len(self._buf)

    def append(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        excess = len(self._buf) - self._max_bytes
        if excess > 0:
            excess += -excess % self._frame_bytes
            del self._buf[:excess]
            self._start += excess
            self.dropped_bytes += excess

    def mark_covered(self, position: int) -> None:
        """Everything before ``position`` has final results: forget it."""
        position = min(position - position % self._frame_bytes, self.end)
        if position > self._start:
            del self._buf[: position - self._start]
            self._start = position

    def pending(self) -> bytes:
        return bytes(self._buf)
