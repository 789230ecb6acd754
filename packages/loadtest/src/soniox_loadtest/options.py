"""The load test's command-line options and the thresholds they set (no locust import).

Locust calls :func:`add_arguments` from its ``init_command_line_parser`` event; the options then
travel to workers with every spawn message, so everything here must stay plain argparse.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from .shapes import PROFILES
from .thresholds import Thresholds


def add_arguments(parser: Any) -> None:
    """Add our options to locust's parser (``parser`` is locust's ``LocustArgumentParser``)."""
    # is_secret (hidden in the web UI) only works on the parser itself, not on a group.
    parser.add_argument(
        "--api-key",
        default=None,
        is_secret=True,
        help="default $SONIOX_API_KEY, or a dummy key for the mock",
    )
    group = parser.add_argument_group("soniox load test")
    group.add_argument(
        "--load-profile",
        choices=PROFILES,
        default="steady",
        help="steady, ramp or spike up to --users over --run-time (default 60 s)",
    )
    group.add_argument("--tts-url", default=None, help="TTS websocket URL (default: from --host)")
    group.add_argument("--stt-url", default=None, help="STT websocket URL (default: from --host)")
    group.add_argument(
        "--allow-remote",
        action="store_true",
        default=False,
        help="allow targets off this machine (the real service bills streams)",
    )
    group.add_argument(
        "--streams-per-connection",
        type=int,
        default=5,
        help="TTS users sharing one websocket (the service allows 5)",
    )
    group.add_argument("--tts-model", default="tts-rt-v2")
    group.add_argument("--tts-voice", default="Adrian")
    group.add_argument("--tts-language", default="en")
    group.add_argument("--tts-sample-rate", type=int, default=24000)
    group.add_argument(
        "--tts-sentences",
        default="1:3",  # a string: the web UI can only round-trip str, int, float and bool
        metavar="N|MIN:MAX",
        help="sentences per TTS reply, drawn uniformly from MIN:MAX (default 1:3)",
    )
    group.add_argument(
        "--llm-tokens-per-s",
        type=float,
        default=0.0,
        help="stream each reply word by word at this token rate (0: sentence by sentence)",
    )
    group.add_argument(
        "--barge-in-share",
        type=float,
        default=0.0,
        help="share of TTS streams cancelled 0.2-2 s after their first audio (0 to 1)",
    )
    group.add_argument(
        "--tts-text-gap-ms",
        type=float,
        default=0.0,
        help="pause between sentences, like an LLM producing text",
    )
    group.add_argument(
        "--stream-timeout",
        type=float,
        default=30.0,
        help="seconds a TTS stream may take before it counts as failed",
    )
    group.add_argument(
        "--think-time",
        type=float,
        default=0.5,
        help="mean seconds a user waits between streams/sessions",
    )
    group.add_argument(
        "--think-jitter",
        type=float,
        default=0.5,
        help="think time is drawn from mean*(1-j) to mean*(1+j) (0: constant)",
    )
    group.add_argument(
        "--warmup",
        type=float,
        default=0.0,
        help="seconds after each start whose streams and samples the thresholds ignore",
    )
    group.add_argument("--stt-wav", default=None, help="16 kHz mono WAV (default: bundled)")
    group.add_argument("--stt-seconds", type=float, default=6.0, help="audio per STT session")
    group.add_argument("--stt-chunk-ms", type=int, default=120)
    group.add_argument("--stt-model", default="stt-rt-v5")
    group.add_argument(
        "--max-fail-ratio",
        type=float,
        default=0.01,
        help="fail the run above this failure ratio (negative: no check)",
    )
    group.add_argument(
        "--max-p95-ttfa-ms",
        type=float,
        default=2000.0,
        help="fail the run above this p95 time to first audio (negative: no check)",
    )
    group.add_argument(
        "--min-completed",
        type=int,
        default=1,
        help="fail the run if fewer streams/sessions completed",
    )
    group.add_argument(
        "--mock-time-scale",
        type=float,
        default=1.0,
        help="time scale of the mock started when no --host is given",
    )
    group.add_argument(
        "--mock-workers",
        type=int,
        default=1,
        help="processes of the mock started when no --host is given (mock-soniox serve --workers)",
    )


def int_range(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3), ``"1:4"`` -> (1, 4); both at least 1, MIN <= MAX."""
    low, _, high = str(text).partition(":")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise ValueError(f"expected N or MIN:MAX, got {text!r}") from None
    if bounds[0] < 1 or bounds[0] > bounds[1]:
        raise ValueError(f"expected 1 <= MIN <= MAX, got {text!r}")
    return bounds


def parsed(environment: Any) -> Namespace:
    """``environment.parsed_options`` (a locust ``Environment``), which must exist."""
    options = environment.parsed_options
    assert isinstance(options, Namespace), "run through locust's command line"
    return options


def thresholds(options: Namespace) -> Thresholds:
    """The limits the options ask for; a negative value switches a check off."""
    return Thresholds(
        max_fail_ratio=options.max_fail_ratio if options.max_fail_ratio >= 0 else None,
        max_p95_ttfa_ms=options.max_p95_ttfa_ms if options.max_p95_ttfa_ms >= 0 else None,
        min_completed=options.min_completed,
    )
