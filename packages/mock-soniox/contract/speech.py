"""Speech-like test audio: bursts of shaped noise separated by silence, 16 kHz mono s16le.

Enough for the mock's synthetic transcriber to find utterances and endpoints; no fixtures needed.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000


def utterances(
    bursts: int = 3, burst_s: float = 0.6, gap_s: float = 0.7, tail_s: float = 3.0
) -> bytes:
    rng = np.random.default_rng(1)
    parts: list[np.ndarray] = []
    for _ in range(bursts):
        n = int(burst_s * SAMPLE_RATE)
        envelope = np.sin(np.linspace(0, np.pi, n)) ** 0.5
        parts.append(0.4 * envelope * rng.standard_normal(n))
        parts.append(np.zeros(int(gap_s * SAMPLE_RATE)))
    parts.append(np.zeros(int(tail_s * SAMPLE_RATE)))
    signal = np.clip(np.concatenate(parts), -1, 1)
    return bytes((signal * 32767).astype("<i2").tobytes())


def chunks(data: bytes, chunk_ms: int = 100) -> list[bytes]:
    size = SAMPLE_RATE * 2 * chunk_ms // 1000
    return [data[i : i + size] for i in range(0, len(data), size)]
