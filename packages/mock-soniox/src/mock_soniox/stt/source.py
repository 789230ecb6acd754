"""Where an STT session's result frames come from: the seam fixtures plug into."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..audio import Samples
from ..connection import Connection
from .config import SttConfig
from .synth import SyntheticSource

Frame = dict[str, Any]


class ResultSource(Protocol):
    """Produces the result frames of one session (``tokens`` + the two progress counters).

    Each call returns the frames to send now, in order. The session adds nothing to them except
    the closing ``finished`` frame, which it sends itself after :meth:`on_finish`.
    """

    def on_audio(self, pcm: Samples, sample_rate: int, audio_ms: float) -> list[Frame]:
        """New audio: mono float32 ``pcm`` at ``sample_rate``; ``audio_ms``: clock after it."""
        ...

    def on_finalize(self, audio_ms: float) -> list[Frame]:
        """``{"type": "finalize"}``: pending tokens become final, followed by ``<fin>``."""
        ...

    def on_finish(self, audio_ms: float) -> list[Frame]:
        """End of audio (empty text frame): the remaining tokens as finals (may be none)."""
        ...


SourceFactory = Callable[[Connection, SttConfig], ResultSource]


def synthetic_source(conn: Connection, config: SttConfig) -> ResultSource:
    """The default source: a deterministic transcript invented from the audio's energy."""
    return SyntheticSource(
        config,
        result_interval_ms=conn.settings.stt_result_interval_ms,
        seed=conn.settings.seed,
        endpoint_delay_ms=conn.settings.stt_endpoint_delay_ms,
        processing_lag_ms=conn.settings.stt_processing_lag_ms,
    )
