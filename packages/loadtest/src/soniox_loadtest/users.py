"""The locust user classes and the load shape: what one simulated agent does per task.

``TTSSharedUser`` streams over the raw protocol on shared sockets, ``STTUser`` streams audio at
real time, ``PluginTTSUser`` streams through our plugin's TTS pool on an asyncio loop in a native
thread, and ``ProfileShape`` drives the user count. Run state and reporting live in ``hooks``.
"""

# locust first: it monkey-patches the process on import, and ssl users imported earlier break it.
from locust import LoadTestShape, User, task  # isort: skip

import logging
from collections.abc import Callable

import gevent.lock
from locust.env import Environment

from .asyncio_thread import AsyncioThread
from .audio import BYTES_PER_MS, SAMPLE_RATE, load_audio
from .hooks import RUN, TOTALS, fire, pool, target
from .options import parsed
from .plugin_tts import PluginTarget, open_plugin_tts, synthesize
from .shapes import DEFAULT_DURATION_S, Profile
from .stt_client import SessionPlan, run_session
from .tts_pool import StreamPlan, run_stream
from .tts_stream import TTSStreamState, bytes_per_second

logger = logging.getLogger("soniox_loadtest")

SENTENCES = (
    "Thanks for calling, how can I help you today? ",
    "Your order shipped this morning and should arrive on Thursday. ",
    "I can move the appointment to three thirty if that works better. ",
    "Let me check that for you, it will only take a moment. ",
    "The total comes to forty two dollars and fifteen cents. ",
    "Is there anything else I can do for you before we finish? ",
)


def _think(user: User) -> float:
    return float(parsed(user.environment).think_time)


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
        self.connection = pool(self.environment).acquire()

    def on_stop(self) -> None:
        pool(self.environment).release(self.connection)

    @task
    def tts_stream(self) -> None:
        options = parsed(self.environment)
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
        report_tts(fire(self.environment), "TTS", run_stream(self.connection, plan, TOTALS))


_stt_audio: dict[tuple[str | None, float], bytes] = {}


class STTUser(User):
    """One STT session per task: config, audio at real time, end of audio, wait for finished."""

    weight = 1
    wait_time = _think

    @task
    def stt_session(self) -> None:
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
            fire_event(
                request_type="STT",
                name="first result",
                response_time=state.first_result_ms,
                response_length=0,
            )
        if state.final_transcript_ms is not None:
            fire_event(
                request_type="STT",
                name="final transcript",
                response_time=state.final_transcript_ms,
                response_length=len(state.transcript),
            )
        if state.final_lags_ms:
            fire_event(
                request_type="METRIC",
                name="stt final token lag ms (max per session)",
                response_time=max(state.final_lags_ms),
                response_length=0,
            )
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
        runtime = _plugin_runtime(self.environment)
        runtime.users += 1
        runtime.thread.reserve(runtime.users + 2)  # every user may wait on the loop at once

    def on_stop(self) -> None:
        if RUN["plugin"] is not None:
            RUN["plugin"].users -= 1

    @task
    def plugin_stream(self) -> None:
        options = parsed(self.environment)
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
