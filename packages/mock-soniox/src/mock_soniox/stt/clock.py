"""The STT audio clock: received bytes -> decoded mono samples and milliseconds of audio.

Raw formats use the config's rate and channels. ``wav`` and ``auto`` read the WAV header first
(the header's format, rate and channels win over the config). Partial sample frames are carried
to the next chunk, so any chunking gives the same clock and the same samples.
"""

from __future__ import annotations

import numpy as np

from ..audio import RAW_FORMATS, Samples, decode, parse_wav_header
from ..errors import STT_DECODE_ERROR, ProtocolError
from .config import SttConfig

MAX_WAV_HEADER_BYTES = 64 * 1024  # give up looking for the data chunk after this much


class AudioClock:
    def __init__(self, config: SttConfig) -> None:
        self.container = config.audio_format if not config.is_raw else None
        self.format: str | None = None if self.container else config.audio_format
        self.sample_rate = config.sample_rate or 0
        self.channels = config.num_channels or 1
        self.frames = 0  # sample frames (one sample per channel) received
        self._pending = b""  # header bytes (containers) or a partial sample frame

    @property
    def ms(self) -> float:
        return self.frames * 1000.0 / self.sample_rate if self.sample_rate else 0.0

    @property
    def header_pending(self) -> bool:
        """Container audio has begun but its header is not complete yet."""
        return self.format is None and bool(self._pending)

    def frames_for_ms(self, ms: float) -> int:
        return int(ms * self.sample_rate / 1000) if self.sample_rate else 0

    def feed(self, data: bytes) -> Samples:
        """Decode one binary frame; the samples it completed (possibly none)."""
        data = self._pending + data
        self._pending = b""
        if self.format is None:
            data = self._read_header(data)
            if self.format is None:
                return np.zeros(0, np.float32)
        assert self.format is not None
        frame_bytes = RAW_FORMATS[self.format].width * self.channels
        usable = len(data) - len(data) % frame_bytes
        self._pending = data[usable:]
        self.frames += usable // frame_bytes
        if usable == 0:
            return np.zeros(0, np.float32)
        return decode(self.format, data[:usable], self.channels)

    def _read_header(self, data: bytes) -> bytes:
        """Consume the WAV header; the bytes after it (empty while it is incomplete)."""
        if len(data) >= 12 and not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
            if self.container == "wav":
                raise ProtocolError(400, STT_DECODE_ERROR)  # declared wav, but it is not
            raise ProtocolError(
                400,
                "Unsupported audio: mock-soniox decodes only WAV for auto-detected audio; "
                "use wav or a raw audio_format.",
            )
        try:
            info = parse_wav_header(data)
        except ValueError:
            raise ProtocolError(400, STT_DECODE_ERROR) from None
        if info is None:
            if len(data) > MAX_WAV_HEADER_BYTES:
                raise ProtocolError(400, STT_DECODE_ERROR)
            self._pending = data
            return b""
        if info.fmt not in RAW_FORMATS or info.sample_rate <= 0 or info.channels <= 0:
            raise ProtocolError(400, STT_DECODE_ERROR)
        self.format, self.sample_rate, self.channels = info.fmt, info.sample_rate, info.channels
        return data[info.data_offset :]
