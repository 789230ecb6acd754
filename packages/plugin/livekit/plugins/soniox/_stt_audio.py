"""Audio on its way to the service: channel conversion and the replay buffer for reconnects."""

from __future__ import annotations

import numpy as np
from livekit import rtc

SAMPLE_BYTES = 2  # pcm_s16le


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

    def __len__(self) -> int:
        return len(self._buf)

    def append(self, data: bytes) -> None:
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
