"""Audio for STT users: a 16 kHz mono WAV from the mock's fixture library, or a synthetic signal."""

from __future__ import annotations

import array
import math
import wave
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

SAMPLE_RATE = 16_000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # pcm_s16le mono


def read_wav(path: Path) -> bytes:
    """PCM s16le frames of a 16 kHz mono 16-bit WAV; anything else is refused with the reason."""
    with wave.open(str(path), "rb") as wav:
        found = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
        if found != (SAMPLE_RATE, 1, 2):
            raise ValueError(
                f"{path}: need 16000 Hz mono 16-bit PCM, got {found[0]} Hz, "
                f"{found[1]} channel(s), {found[2] * 8}-bit"
            )
        return wav.readframes(wav.getnframes())


def library_wavs() -> list[Path]:
    """WAV files bundled with mock_soniox (its fixture library), if it ships any."""
    try:
        root = resources.files("mock_soniox") / "library"
    except ModuleNotFoundError:
        return []
    path = Path(str(root))
    return sorted(path.rglob("*.wav")) if path.is_dir() else []


def synthetic_speech(seconds: float, seed: int = 0) -> bytes:
    """Speech-like bursts (a wobbling tone, 1.2 s on, 0.5 s off) so endpoints have pauses."""
    samples = array.array("h")
    total = int(seconds * SAMPLE_RATE)
    for n in range(total):
        t = n / SAMPLE_RATE
        in_burst = (t % 1.7) < 1.2
        if not in_burst:
            samples.append(0)
            continue
        pitch = 140.0 + 40.0 * math.sin(2 * math.pi * (0.7 + seed * 0.1) * t)
        envelope = 0.5 - 0.5 * math.cos(2 * math.pi * 4.0 * t)  # syllable-rate amplitude
        samples.append(int(9000 * envelope * math.sin(2 * math.pi * pitch * t)))
    return samples.tobytes()


def load_audio(path: str | None, max_seconds: float) -> tuple[bytes, str]:
    """(PCM bytes, where they came from): ``path``, else a bundled WAV, else synthetic."""
    if path:
        pcm, source = read_wav(Path(path)), path
    else:
        wavs = library_wavs()
        if wavs:
            pcm, source = read_wav(wavs[0]), wavs[0].name
        else:
            pcm, source = synthetic_speech(max_seconds), "synthetic"
    limit = int(max_seconds * 1000) * BYTES_PER_MS
    return pcm[:limit], source


def chunks(pcm: bytes, chunk_ms: int) -> Iterator[bytes]:
    size = chunk_ms * BYTES_PER_MS
    for start in range(0, len(pcm), size):
        yield pcm[start : start + size]
