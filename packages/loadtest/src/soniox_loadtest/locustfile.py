"""Locust load tests for Soniox TTS shared connections and STT sessions.

Run it with ``uv run python -m soniox_loadtest`` (which adds report paths) or point locust at this
file. User classes: ``TTSSharedUser`` (raw protocol, K streams per socket), ``STTUser`` (real-time
audio), ``PluginTTSUser`` (our livekit plugin's TTS pool on an asyncio loop in a native thread).
Without ``--host`` (and without --tts-url/--stt-url) a mock-soniox is started for the run.
"""

# locust first: it monkey-patches the process on import, and ssl users imported earlier break it.
from locust import LoadTestShape, User, events, task  # isort: skip

import json
import logging
import os
import time
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent.lock
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from soniox_loadtest import target as target_mod
from soniox_loadtest.asyncio_thread import AsyncioThread
from soniox_loadtest.audio import BYTES_PER_MS, SAMPLE_RATE, load_audio
from soniox_loadtest.metrics import ClusterTotals, RunTotals
from soniox_loadtest.mockproc import start_mock
from soniox_loadtest.plugin_tts import PluginTarget, open_plugin_tts, synthesize
from soniox_loadtest.shapes import DEFAULT_DURATION_S, PROFILES, Profile
from soniox_loadtest.stt_client import SessionPlan, run_session
from soniox_loadtest.thresholds import RunResult, Thresholds, violations
from soniox_loadtest.tts_pool import ConnectionPool, SharedTTSConnection, StreamPlan, run_stream
from soniox_loadtest.tts_stream import TTSStreamState, bytes_per_second

logger = logging.getLogger("soniox_loadtest")

SENTENCES = (
    "Thanks for calling, how can I help you today? ",
    "Your order shipped this morning and should arrive on Thursday. ",
    "I can move the appointment to three thirty if that works better. ",
    "Let me check that for you, it will only take a moment. ",
    "The total comes to forty two dollars and fifteen cents. ",
    "Is there anything else I can do for you before we finish? ",
)
# Request-event names whose failure ratio the thresholds judge (one event per unit of work).
OUTCOME_EVENTS = {("TTS", "stream"), ("STT", "session"), ("PLUGIN", "stream")}
TTFA_EVENTS = (("TTS", "time to first audio"), ("PLUGIN", "time to first audio"))

TOTALS = RunTotals()  # this process's counters
CLUSTER = ClusterTotals()  # master/local only: every process's latest counters
_run: dict[str, Any] = {"mock": None, "started": None, "pool": None, "plugin": None}


def _add_arguments(parser: Any) -> None:
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
    group.add_argument("--tts-sentences", type=int, default=2, help="sentences per TTS stream")
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
        help="seconds a user waits between streams/sessions",
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


def _opts(environment: Environment) -> Namespace:
    options = environment.parsed_options
    assert isinstance(options, Namespace), "run through locust's command line"
    return options


def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return  # workers get host and options from the master with every spawn message
    if target_mod.needs_mock(
        environment.host, options.tts_url, options.stt_url, options.allow_remote
    ):
        mock = start_mock(time_scale=options.mock_time_scale)
        _run["mock"] = mock
        environment.host = mock.host
        options.host = mock.host
        options.api_key = target_mod.MOCK_API_KEY
        logger.info("started mock-soniox at %s (pid %d)", mock.host, mock.process.pid)
    # Fail fast on a bad target instead of once per user.
    try:
        _target(environment)
    except ValueError as exc:
        logger.error("bad target: %s", exc)
        raise SystemExit(2) from exc


def _target(environment: Environment) -> target_mod.Target:
    options = _opts(environment)
    return target_mod.resolve(
        environment.host,
        options.tts_url,
        options.stt_url,
        options.api_key or os.environ.get("SONIOX_API_KEY"),
        allow_remote=options.allow_remote,
    )


def _on_test_start(environment: Environment, **_: Any) -> None:
    _run["started"] = time.monotonic()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["soniox"] = TOTALS.snapshot()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if "soniox" in data:
        CLUSTER.update(client_id, data["soniox"])


def _on_quitting(environment: Environment, **_: Any) -> None:
    try:
        if not isinstance(environment.runner, WorkerRunner):
            _judge(environment)
    finally:
        _close_resources()


def _close_resources() -> None:
    """Sockets, the plugin's loop thread, then the mock; one failing never skips the others."""
    closers: list[Callable[[], None]] = []
    if _run["pool"] is not None:
        closers.append(_run["pool"].close_all)
    if _run["plugin"] is not None:
        closers.append(_run["plugin"].close)
    if _run["mock"] is not None:
        closers.append(_run["mock"].stop)
    _run.update(pool=None, plugin=None, mock=None)
    for close in closers:
        try:
            close()
        except Exception:
            logger.exception("cleanup step failed")


def _judge(environment: Environment) -> None:
    """Print the summary, write it next to the CSV files, and set the exit code."""
    options = _opts(environment)
    if not isinstance(environment.runner, MasterRunner):
        CLUSTER.update("local", TOTALS.snapshot())
    started = _run["started"]
    summary = CLUSTER.summary(time.monotonic() - started if started else 0.0)
    stats = environment.stats
    requests = failures = 0
    for (name, method), entry in stats.entries.items():
        if (method, name) in OUTCOME_EVENTS:
            requests += entry.num_requests
            failures += entry.num_failures
    p95s = [
        stats.entries[(name, method)].get_response_time_percentile(0.95)
        for method, name in TTFA_EVENTS
        if (name, method) in stats.entries and stats.entries[(name, method)].num_requests
    ]
    result = RunResult(requests, failures, requests - failures, max(p95s) if p95s else None)
    limits = Thresholds(
        max_fail_ratio=options.max_fail_ratio if options.max_fail_ratio >= 0 else None,
        max_p95_ttfa_ms=options.max_p95_ttfa_ms if options.max_p95_ttfa_ms >= 0 else None,
        min_completed=options.min_completed,
    )
    problems = violations(result, limits)
    summary["thresholds"] = {"passed": not problems, "problems": problems, **vars(limits)}
    summary["p95_ttfa_ms"] = result.p95_ttfa_ms
    text = json.dumps(summary, indent=2, sort_keys=True)
    logger.info("soniox load test summary:\n%s", text)
    if options.csv_prefix:
        Path(f"{options.csv_prefix}_soniox.json").write_text(text + "\n")
    if problems:
        for problem in problems:
            logger.error("threshold missed: %s", problem)
        environment.process_exit_code = 1
    else:
        logger.info("all thresholds met")
        environment.process_exit_code = 0


def _fire(environment: Environment) -> Callable[..., None]:
    fire: Callable[..., None] = environment.events.request.fire
    return fire


def _think(user: User) -> float:
    return float(_opts(user.environment).think_time)


def _pool(environment: Environment) -> ConnectionPool:
    if _run["pool"] is None:
        options = _opts(environment)
        target = _target(environment)
        fire = _fire(environment)
        _run["pool"] = ConnectionPool(
            lambda: SharedTTSConnection(target.tts_url, target.api_key, fire, TOTALS),
            options.streams_per_connection,
        )
    pool: ConnectionPool = _run["pool"]
    return pool


_sentence_turn = 0


def _next_texts(count: int) -> tuple[str, ...]:
    global _sentence_turn
    start, _sentence_turn = _sentence_turn, _sentence_turn + 1
    return tuple(SENTENCES[(start + i) % len(SENTENCES)] for i in range(max(1, count)))


def report_tts(fire: Callable[..., None], request_type: str, state: TTSStreamState) -> None:
    """Locust request events for one finished TTS stream."""
    if state.ttfa_ms is not None:
        fire(
            request_type=request_type,
            name="time to first audio",
            response_time=state.ttfa_ms,
            response_length=0,
        )
    fire(
        request_type=request_type,
        name="stream",
        response_time=state.total_ms,
        response_length=state.audio_bytes,
        exception=state.failure,
        context={"audio_s": state.audio_seconds, "rtf": state.real_time_factor},
    )
    if state.failure is None and state.audio_seconds:
        fire(
            request_type="METRIC",
            name=f"{request_type.lower()} audio ms per stream",
            response_time=state.audio_seconds * 1000.0,
            response_length=state.audio_bytes,
        )
        rtf = state.real_time_factor
        if rtf is not None:
            fire(
                request_type="METRIC",
                name=f"{request_type.lower()} wall ms per audio s (RTF)",
                response_time=rtf * 1000.0,
                response_length=0,
            )


class TTSSharedUser(User):
    """Raw-protocol TTS streams; users share websockets, K per socket."""

    weight = 4
    wait_time = _think

    def on_start(self) -> None:
        self.connection = _pool(self.environment).acquire()

    def on_stop(self) -> None:
        _pool(self.environment).release(self.connection)

    @task
    def tts_stream(self) -> None:
        options = _opts(self.environment)
        config = {
            "model": options.tts_model,
            "language": options.tts_language,
            "voice": options.tts_voice,
            "audio_format": "pcm_s16le",
            "sample_rate": options.tts_sample_rate,
        }
        plan = StreamPlan(
            config=config,
            texts=_next_texts(options.tts_sentences),
            timeout_s=options.stream_timeout,
            text_gap_s=options.tts_text_gap_ms / 1000.0,
            bytes_per_s=bytes_per_second("pcm_s16le", options.tts_sample_rate),
        )
        report_tts(_fire(self.environment), "TTS", run_stream(self.connection, plan, TOTALS))


_stt_audio: dict[tuple[str | None, float], bytes] = {}


class STTUser(User):
    """One STT session per task: config, audio at real time, end of audio, wait for finished."""

    weight = 1
    wait_time = _think

    @task
    def stt_session(self) -> None:
        options = _opts(self.environment)
        key = (options.stt_wav, options.stt_seconds)
        if key not in _stt_audio:
            _stt_audio[key], source = load_audio(options.stt_wav, options.stt_seconds)
            logger.info("STT audio: %s, %.1f s", source, len(_stt_audio[key]) / BYTES_PER_MS / 1000)
        plan = SessionPlan(
            config={
                "model": options.stt_model,
                "audio_format": "pcm_s16le",
                "sample_rate": SAMPLE_RATE,
                "num_channels": 1,
                "enable_endpoint_detection": True,
            },
            pcm=_stt_audio[key],
            chunk_ms=options.stt_chunk_ms,
        )
        target = _target(self.environment)
        fire = _fire(self.environment)
        state = run_session(target.stt_url, target.api_key, plan, fire, TOTALS)
        if state.first_result_ms is not None:
            fire(
                request_type="STT",
                name="first result",
                response_time=state.first_result_ms,
                response_length=0,
            )
        if state.final_transcript_ms is not None:
            fire(
                request_type="STT",
                name="final transcript",
                response_time=state.final_transcript_ms,
                response_length=len(state.transcript),
            )
        if state.final_lags_ms:
            fire(
                request_type="METRIC",
                name="stt final token lag ms (max per session)",
                response_time=max(state.final_lags_ms),
                response_length=0,
            )
        started = state.audio_started_at
        ended = state.ended_at if state.ended_at is not None else started
        fire(
            request_type="STT",
            name="session",
            response_time=(ended - started) * 1000.0,
            response_length=len(state.transcript),
            exception=state.failure,
        )


class PluginRuntime:
    """This process's asyncio thread and the one plugin TTS all PluginTTSUsers share."""

    def __init__(self, environment: Environment) -> None:
        options = _opts(environment)
        target = _target(environment)
        self.thread = AsyncioThread()
        self.users = 0
        opening = open_plugin_tts(target.tts_url, target.api_key, options.tts_sample_rate)
        try:
            self.target: PluginTarget = self.thread.run(opening, 30.0)
        except BaseException:
            self.thread.stop()  # nobody else holds the thread yet
            raise

    def close(self) -> None:
        try:
            self.thread.run(self.target.aclose(), 15.0)
        finally:
            self.thread.stop()


_plugin_lock = gevent.lock.BoundedSemaphore()


def _plugin_runtime(environment: Environment) -> PluginRuntime:
    with _plugin_lock:  # the first users start together; only one of them builds the runtime
        if _run["plugin"] is None:
            _run["plugin"] = PluginRuntime(environment)
    runtime: PluginRuntime = _run["plugin"]
    return runtime


class PluginTTSUser(User):
    """Streams through livekit.plugins.soniox.TTS: the plugin's own pool is under load."""

    weight = 1
    wait_time = _think

    def on_start(self) -> None:
        runtime = _plugin_runtime(self.environment)
        runtime.users += 1
        runtime.thread.reserve(runtime.users + 2)  # every user may wait on the loop at once

    def on_stop(self) -> None:
        if _run["plugin"] is not None:
            _run["plugin"].users -= 1

    @task
    def plugin_stream(self) -> None:
        options = _opts(self.environment)
        runtime = _plugin_runtime(self.environment)
        texts = _next_texts(options.tts_sentences)
        TOTALS.stream_started()
        try:
            state = runtime.thread.run(
                synthesize(runtime.target.tts, texts, options.stream_timeout),
                options.stream_timeout + 5.0,
            )
        except BaseException:
            TOTALS.stream_abandoned()  # stopped mid-stream (or the loop failed): not counted
            raise
        TOTALS.audio_frames += state.audio_frames
        TOTALS.audio_bytes += state.audio_bytes
        TOTALS.audio_ms += (state.audio_seconds or 0.0) * 1000.0
        TOTALS.stream_finished(state.failure.label if state.failure else None)
        report_tts(_fire(self.environment), "PLUGIN", state)


class ProfileShape(LoadTestShape):
    """steady / ramp / spike (``--load-profile``) up to ``--users`` over ``--run-time``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = _opts(self.runner.environment)
        profile = Profile(
            name=options.load_profile,
            users=options.num_users or 1,
            spawn_rate=options.spawn_rate or 1.0,
            duration_s=float(options.run_time) if options.run_time else DEFAULT_DURATION_S,
        )
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        return profile.target(elapsed)


_LISTENERS: tuple[tuple[Any, Callable[..., None]], ...] = (
    (events.init_command_line_parser, _add_arguments),
    (events.init, _on_init),
    (events.test_start, _on_test_start),
    (events.report_to_master, _on_report_to_master),
    (events.worker_report, _on_worker_report),
    (events.quitting, _on_quitting),
)
for _hook, _listener in _LISTENERS:
    _hook.add_listener(_listener)

__all__ = ["PluginTTSUser", "ProfileShape", "STTUser", "TTSSharedUser"]
