"""The locust user classes and the load shape: what one simulated agent does per task.

``TTSSharedUser`` streams over the raw protocol on shared sockets, ``STTUser`` streams audio at
real time, ``PluginTTSUser`` streams through our plugin's TTS pool on an asyncio loop in a native
thread, and ``ProfileShape`` drives the user count. Run state and reporting live in ``hooks``.
"""

# locust first: it monkey-patches the process on import, and ssl users imported earlier break it.
from locust import LoadTestShape, User, task  # isort: skip

import logging
import random
import time
from collections.abc import Callable

import gevent
import gevent.lock
from locust.env import Environment

from .asyncio_thread import AsyncioThread
from .audio import BYTES_PER_MS, SAMPLE_RATE, load_audio
from .hooks import RUN, TOTALS, fire, pool, target
from .options import int_range, parsed
from .plugin_tts import PluginTarget, open_plugin_tts, synthesize
from .shapes import DEFAULT_DURATION_S, Profile
from .stt_client import SessionPlan, run_session
from .traffic import reply_chunks, text_gap_s, think_time
from .tts_driver import StreamPlan, run_stream
from .tts_stream import StreamFailure, TTSStreamState, bytes_per_second

# Import the plugin (and livekit) now, not at the first PluginTTSUser: that import holds the
# GIL for about a second, which stalled every greenlet (STT audio left 0.6 s late) mid-run.
import livekit.plugins.soniox  # noqa: F401  # isort: skip

logger = logging.getLogger("soniox_loadtest")

BARGE_IN_AFTER_S = (0.2, 2.0)  # a barge-in cancels this long after the first audio
_random = random.Random()


def _think(user: User) -> float:
    options = parsed(user.environment)
    return think_time(float(options.think_time), float(options.think_jitter), _random)


def report_tts(
    fire: Callable[..., None], request_type: str, state: TTSStreamState, barge_in: bool = False
) -> None:
    """One request event per stream, and its measurements as samples (not requests).

    Time to first audio has one definition for raw and plugin streams: from the moment the first
    text is handed to the client (after the raw client's socket is connected; the plugin may
    still be connecting then) to the first frame that carries audio.
    """
    if state.ttfa_ms is not None:
        TOTALS.record(f"{request_type} time to first audio ms", state.ttfa_ms)
    fire(
        request_type=request_type,
        name="stream (barge-in)" if barge_in else "stream",
        response_time=state.total_ms,
        response_length=state.audio_bytes,
        exception=state.failure,
    )
    if state.failure is None and state.audio_seconds and not barge_in:
        TOTALS.record(f"{request_type} audio ms per stream", state.audio_seconds * 1000.0)
        rtf = state.real_time_factor
        if rtf is not None:
            TOTALS.record(f"{request_type} RTF (wall s per audio s)", rtf)


class TTSSharedUser(User):
    """Raw-protocol TTS streams; each stream takes a slot on a shared socket (K per socket)."""

    weight = 4
    wait_time = _think

    @task
    def tts_stream(self) -> None:
        if RUN["refused"]:
            return  # the target was refused at this start; the run is being stopped
        options = parsed(self.environment)
        config = {
            "model": options.tts_model,
            "language": options.tts_language,
            "voice": options.tts_voice,
            "audio_format": "pcm_s16le",
            "sample_rate": options.tts_sample_rate,
        }
        barge_in = _random.random() < options.barge_in_share
        plan = StreamPlan(
            config=config,
            texts=reply_chunks(int_range(options.tts_sentences), options.llm_tokens_per_s, _random),
            timeout_s=options.stream_timeout,
            text_gap_s=text_gap_s(options.tts_text_gap_ms, options.llm_tokens_per_s),
            bytes_per_s=bytes_per_second("pcm_s16le", options.tts_sample_rate),
            barge_in_after_s=_random.uniform(*BARGE_IN_AFTER_S) if barge_in else None,
        )
        with pool(self.environment).slot() as connection:
            state = run_stream(connection, plan, TOTALS)
        report_tts(fire(self.environment), "TTS", state, barge_in=state.cancelled)


_stt_audio: dict[tuple[str | None, float], bytes] = {}


class STTUser(User):
    """One STT session per task: config, audio at real time, end of audio, wait for finished."""

    weight = 1
    wait_time = _think

    @task
    def stt_session(self) -> None:
        if RUN["refused"]:
            return
        options = parsed(self.environment)
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
        resolved = target(self.environment)
        fire_event = fire(self.environment)
        state = run_session(resolved.stt_url, resolved.api_key, plan, fire_event, TOTALS)
        if state.first_result_ms is not None:
            TOTALS.record("STT first result ms", state.first_result_ms)
        if state.final_transcript_ms is not None:
            TOTALS.record("STT final transcript ms", state.final_transcript_ms)
        if state.final_lags_ms:
            TOTALS.record("STT final token lag ms (max per session)", max(state.final_lags_ms))
        started = state.audio_started_at
        ended = state.ended_at if state.ended_at is not None else started
        fire_event(
            request_type="STT",
            name="session",
            response_time=(ended - started) * 1000.0,
            response_length=len(state.transcript),
            exception=state.failure,
        )


class PluginRuntime:
    """This process's asyncio thread and the one plugin TTS all PluginTTSUsers share."""

    def __init__(self, environment: Environment) -> None:
        options = parsed(environment)
        resolved = target(environment)
        self.thread = AsyncioThread()
        self.users = 0
        opening = open_plugin_tts(resolved.tts_url, resolved.api_key, options.tts_sample_rate)
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
        if RUN["plugin"] is None:
            RUN["plugin"] = PluginRuntime(environment)
    runtime: PluginRuntime = RUN["plugin"]
    return runtime


class PluginTTSUser(User):
    """Streams through livekit.plugins.soniox.TTS: the plugin's own pool is under load."""

    weight = 1
    wait_time = _think

    def on_start(self) -> None:
        if RUN["refused"]:
            return
        runtime = _plugin_runtime(self.environment)
        runtime.users += 1
        runtime.thread.reserve(runtime.users + 2)  # every user may wait on the loop at once

    def on_stop(self) -> None:
        if RUN["plugin"] is not None:
            RUN["plugin"].users -= 1

    @task
    def plugin_stream(self) -> None:
        if RUN["refused"]:
            return
        options = parsed(self.environment)
        runtime = _plugin_runtime(self.environment)
        texts = reply_chunks(int_range(options.tts_sentences), 0.0, _random)
        TOTALS.stream_started("plugin")
        started = time.perf_counter()
        try:
            state = runtime.thread.run(
                synthesize(runtime.target.tts, texts, options.stream_timeout),
                options.stream_timeout + 5.0,
            )
        except gevent.GreenletExit:
            TOTALS.stream_abandoned("plugin")  # the user was stopped mid-stream
            raise
        except Exception as exc:  # the loop hung past the deadline, or the coroutine crashed
            state = TTSStreamState("plugin", started, None)
            reason = "timeout: plugin stream hung" if isinstance(exc, TimeoutError) else "error"
            state.fail_now(StreamFailure(f"{reason}: {type(exc).__name__}"), time.perf_counter())
        TOTALS.add("plugin.audio_frames", state.audio_frames)
        TOTALS.add("plugin.audio_ms", (state.audio_seconds or 0.0) * 1000.0)
        TOTALS.stream_finished("plugin", state.failure.label if state.failure else None)
        report_tts(fire(self.environment), "PLUGIN", state)


class ProfileShape(LoadTestShape):
    """steady / ramp / spike (``--load-profile``) up to ``--users`` over ``--run-time``."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = parsed(self.runner.environment)
        profile = Profile(
            name=options.load_profile,
            users=options.num_users or 1,
            spawn_rate=options.spawn_rate or 1.0,
            duration_s=float(options.run_time) if options.run_time else DEFAULT_DURATION_S,
        )
        elapsed: float = self.get_run_time()  # type: ignore[no-untyped-call]
        return profile.target(elapsed)
