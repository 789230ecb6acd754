"""The TTS stream runner on a connection the test drives by hand, to land cancels exactly."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, cast

import pytest
from livekit.agents import tts
from livekit.agents.utils import aio
from tests.tts_helpers import ScriptedWebSocket, connection_on, run_settings

from livekit.plugins.soniox._tts_pool import ConnectionPool, StreamSink, TTSConnection
from livekit.plugins.soniox._tts_soniox import SonioxStream
from livekit.plugins.soniox._tts_stream import StreamRunner

Input = aio.Chan[str | tts.SynthesizeStream._FlushSentinel]


class RecordingEmitter:
    def __init__(self) -> None:
        self.pcm = bytearray()

    def push(self, data: bytes) -> None:
        self.pcm += data

    def push_timed_transcript(self, words: Any) -> None:
        pass


class OneConnectionPool:
    """Every slot is on the one connection the test made."""

    def __init__(self, conn: TTSConnection) -> None:
        self.conn = conn

    async def acquire(
        self, timeout_s: float, *, avoid: TTSConnection | None = None
    ) -> tuple[TTSConnection, float, bool]:
        self.conn.reserve()
        return self.conn, 0.0, True

    def try_acquire(self, *, avoid: TTSConnection | None = None) -> TTSConnection | None:
        return None  # always through acquire(): the task hop these tests land their cancels on


class Harness:
    """A runner on a scripted connection; remembers every Soniox stream it opens."""

    def __init__(self, input_ch: Input, *, audio_format: str = "pcm_s16le", silence_s: float = 5.0):
        self.ws = ScriptedWebSocket()
        self.conn = connection_on(self.ws)
        self.streams: list[SonioxStream] = []
        register = self.conn.register

        def remember(stream_id: str, sink: StreamSink) -> None:
            self.streams.append(cast(SonioxStream, sink))
            register(stream_id, sink)

        self.conn.register = remember  # type: ignore[method-assign]
        self.input_ch = input_ch
        self.runner = StreamRunner(
            pool=cast(ConnectionPool, OneConnectionPool(self.conn)),
            settings=run_settings(audio_format=audio_format, silence_timeout_s=silence_s),
            emitter=cast(tts.AudioEmitter, RecordingEmitter()),
            input_ch=input_ch,
            on_first_text=lambda: None,
            on_acquired=lambda waited, reused: None,
        )
        self.task = asyncio.create_task(self.runner.run(), name="test-runner")

    def on_send(self, hook: Any) -> None:
        """Call ``hook(msg)`` right as a stream queues ``msg`` (in the runner's own step)."""
        send = self.conn.send

        def send_then_hook(msg: dict[str, Any]) -> None:
            send(msg)
            hook(msg)

        self.conn.send = send_then_hook  # type: ignore[method-assign]

    async def aclose(self) -> None:
        await aio.cancel_and_wait(self.task)
        for stream in self.streams:
            await stream.aclose()
        await self.conn.aclose()


async def test_a_cancel_while_a_failed_stream_closes_still_stops_its_decoder() -> None:
    # mp3 decodes in a worker thread of livekit's decoder. A decoder never closed leaves that
    # thread blocked on its input for good, and the process then hangs at exit.
    h = Harness(Input(), audio_format="mp3", silence_s=0.2)
    try:
        # the user's aclose() lands as the runner closes the stream it just gave up on
        h.on_send(lambda msg: h.task.cancel() if msg.get("cancel") else None)
        h.input_ch.send_nowait("Hello there.")
        h.input_ch.close()
        end = await h.ws.until_sent(lambda m: bool(m.get("text_end")))
        # the start of an mp3 frame: the decoder thread starts and waits for the rest
        h.ws.reply({"stream_id": end["stream_id"], "audio": base64.b64encode(b"\xff\xfb").decode()})
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await h.task  # the stream stays silent, fails, and is closed
        (stream,) = h.streams
        assert stream._decoder is not None and stream._decoder._executor is not None
        for thread in list(stream._decoder._executor._threads):
            await asyncio.to_thread(thread.join, 1.0)
            assert not thread.is_alive()
    finally:
        await h.aclose()  # unblocks a stuck decoder thread, so a failure does not hang pytest


class CancelAgainWhenCancelled(Input):
    """An input whose reader, when cancelled, cancels the runner once more (a second aclose)."""

    runner_task: asyncio.Task[None] | None = None

    async def recv(self) -> str | tts.SynthesizeStream._FlushSentinel:
        try:
            return await super().recv()
        except asyncio.CancelledError:
            if self.runner_task is not None:
                self.runner_task.cancel()
            raise


async def test_a_second_cancel_during_teardown_still_cancels_on_the_service() -> None:
    input_ch = CancelAgainWhenCancelled()
    h = Harness(input_ch)
    input_ch.runner_task = h.task
    try:
        input_ch.send_nowait("Hello there. ")
        text = await h.ws.until_sent(lambda m: "text" in m)
        h.task.cancel()  # the user's aclose(); a second one lands while the runner tears down
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await h.task
        await h.ws.until_sent(lambda m: m.get("stream_id") == text["stream_id"] and "cancel" in m)
    finally:
        await h.aclose()


class BreaksAfter(Input):
    """Gives what was sent to it, then fails instead of waiting for more."""

    async def recv(self) -> str | tts.SynthesizeStream._FlushSentinel:
        if self.empty():
            raise RuntimeError("the input broke")
        return await super().recv()


async def test_a_failing_input_ends_the_open_stream_and_surfaces_its_error() -> None:
    h = Harness(BreaksAfter())
    try:
        h.input_ch.send_nowait("Hello there. ")
        # without text_end the stream would wait for more text, and the runner for its audio
        end = await h.ws.until_sent(lambda m: bool(m.get("text_end")))
        h.ws.reply({"stream_id": end["stream_id"], "audio": base64.b64encode(bytes(480)).decode()})
        h.ws.reply({"stream_id": end["stream_id"], "audio_end": True})
        h.ws.reply({"stream_id": end["stream_id"], "terminated": True})
        async with asyncio.timeout(1):
            with pytest.raises(RuntimeError, match="the input broke"):
                await h.task
    finally:
        await h.aclose()
