"""Every knob of the mock in one place.

Defaults follow Soniox's published WebSocket references; what those leave open is a setting
here, with its default and the reason for it in the package README. Each field can also be set
from the environment as ``MOCK_SONIOX_<FIELD>`` (upper case).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "MOCK_SONIOX_"


@dataclass(frozen=True)
class Settings:
    """Immutable server settings; change them with :func:`dataclasses.replace`."""

    host: str = "127.0.0.1"
    port: int = 8765
    fixtures_dir: str | None = None
    # Fixture replay (FIXTURES.md): the bundled library, picking fixtures by their audio, and
    # strict mode (an unexpected client frame gets a mismatch report instead of adapting).
    fixtures_bundled: bool = True
    fixtures_match_audio: bool = True
    fixtures_strict: bool = False
    log_level: str = "INFO"

    # Time: 1.0 paces output like the service, 0 sends as fast as possible. Timers scale with it
    # too, except at 0 where they keep their real length (a zero-length timer would be useless).
    time_scale: float = 1.0
    seed: int = 0

    # Auth: with no keys configured any non-empty key passes.
    api_keys: tuple[str, ...] = ()
    reject_upgrade_on_auth_error: bool = False  # default: accept, then in-band 401 and close

    max_msg_size: int = 4 * 1024 * 1024

    # The model catalogue (models.json in the package unless this names a replacement).
    models_file: str | None = None

    # STT timers and limits (408 messages as published; the lengths are not, see README).
    stt_idle_timeout_s: float = 20.0  # no audio and no keepalive -> 408 "Request timeout."
    stt_config_timeout_s: float = 10.0  # UNCONFIRMED: no config -> 408 "Start request timeout"
    stt_first_audio_timeout_s: float = 20.0  # UNCONFIRMED: config, then no audio -> 408
    stt_input_too_slow_margin_s: float = 10.0  # UNCONFIRMED: audio behind wall time -> 408
    stt_max_session_s: float = 300 * 60.0  # 300 minutes of audio -> "Audio is too long."
    stt_max_audio_bytes: int = 2 * 1024**3  # UNCONFIRMED: "Received too much audio data in total."
    stt_max_concurrent_per_key: int = 10  # -> 429 limit_exceeded
    stt_empty_binary_finishes: bool = True  # the reference: an empty frame, binary or text
    stt_result_interval_ms: int = 120  # how much new audio triggers a result message
    stt_context_max_chars: int = 10_000
    # Synthetic transcript: silence after a sentence that ends it with <end> (at
    # endpoint_sensitivity 0; never more than max_endpoint_delay_ms), and how far results trail
    # the audio (total_audio_proc_ms behind the audio clock).
    stt_endpoint_delay_ms: int = 300  # UNCONFIRMED: the typical endpoint of read speech
    stt_processing_lag_ms: int = 0

    # TTS timers and limits.
    tts_max_streams_per_connection: int = 5
    tts_stream_idle_timeout_s: float = 10.0  # UNCONFIRMED: no text and no text_end -> 408
    tts_stream_max_age_s: float = 120.0  # the service's 2-minute cap
    tts_connection_idle_timeout_s: float = 30.0  # UNCONFIRMED: no message at all -> close 1001
    tts_time_to_first_audio_ms: float = 150.0
    tts_ms_per_char: float = 60.0  # synthetic speech length at speed 1.0
    tts_realtime_factor: float = 4.0  # synthetic audio is produced this much faster than real time
    tts_chunk_ms: int = 100
    tts_max_text_chars: int = 5000
    tts_legacy_auth_timeout_s: float = 10.0  # legacy auth: a valid stream config key by then
    # Text received for one stream and not yet spoken; more is refused with a 400 (ours).
    tts_max_pending_chars: int = 20_000

    # Slow and hostile clients (ours, not the service's): audio waits in a send buffer of at most
    # send_buffer_bytes per connection; a client that leaves it full for send_timeout_s is cut
    # off. A socket that has not finished an HTTP request within http_idle_timeout_s is closed.
    send_buffer_bytes: int = 1 * 2**20
    send_timeout_s: float = 10.0
    http_idle_timeout_s: float = 15.0
    # Per-key concurrency across connections (0: off). The limits page says 3, but its two
    # versions disagree on what counts (connections or streams), so both are opt-in.
    tts_max_connections_per_key: int = 0
    tts_max_streams_per_key: int = 0

    # Journal: every frame both ways (a ring buffer; switch it off for load runs).
    journal_enabled: bool = True
    journal_max_entries: int = 100_000
    journal_max_bytes: int = 64 * 2**20  # the oldest entries go first past this

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if f.name == "seed":
                continue
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
            if f.name in _MAY_BE_ZERO:
                if value < 0:
                    raise ValueError(f"{f.name} must be >= 0, got {value!r}")
            elif value <= 0:
                raise ValueError(f"{f.name} must be > 0, got {value!r}")
        if self.port > 65535:
            raise ValueError(f"port must be at most 65535, got {self.port}")

    def scaled(self, seconds: float) -> float:
        """A pacing delay under the time scale (0 means no delay)."""
        return seconds * self.time_scale

    def timer(self, seconds: float) -> float:
        """A timeout under the time scale; at scale 0 timers keep their real length."""
        return seconds * self.time_scale if self.time_scale > 0 else seconds

    def key_allowed(self, key: str | None) -> bool:
        if not key:
            return False
        return not self.api_keys or key in self.api_keys

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``MOCK_SONIOX_*`` variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# Numeric settings for which 0 means something (no pacing, a free port, no delay, no limit).
_MAY_BE_ZERO = frozenset(
    {
        "time_scale",
        "port",
        "tts_time_to_first_audio_ms",
        "stt_context_max_chars",
        "stt_processing_lag_ms",
        "tts_max_connections_per_key",  # 0: no limit
        "tts_max_streams_per_key",  # 0: no limit
    }
)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    if kind.startswith("tuple"):
        return tuple(part for part in (p.strip() for p in raw.split(",")) if part)
    if kind.startswith("bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: expected a boolean, got {raw!r}")
    if kind.startswith("int"):
        return int(raw)
    if kind.startswith("float"):
        return float(raw)
    return raw
