"""One synthesis attempt: sentences in, Soniox streams on shared connections, PCM out.

A livekit SynthesizeStream may use several Soniox streams in a row: it rotates to a fresh one
before the service's per-stream idle timeout and 2-minute cap, and replaces a failed one. The
runner keeps them in order, so audio always comes out in the order the text went in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

from livekit.agents import (
    APIError,
    APIStatusError,
    APITimeoutError,
    tts,
)
from livekit.agents.types import TimedString
from livekit.agents.utils import aio

from ._tts_audio import pcm_bytes, pcm_seconds
from ._tts_pool import ConnectionPool, TTSConnection
from ._tts_replay import StreamLedger
from ._tts_soniox import AudioEvent, DoneEvent, RunSettings, SonioxStream, StreamEvent, TimingsEvent
from ._tts_text import SentenceSplitter, TokenizerSplitter, WordTiming, parse_timestamps
from .log import logger

MAX_REPLAYS = 3  # consecutive failures of one stream without new audio before giving up
TEARDOWN_TIMEOUT_S = 2.0  # how long a re-cancelled runner still waits for its streams to close


class StreamRunner:
    """Drives one attempt of a livekit SynthesizeStream (see the module docstring)."""

    def __init__(
        self,
        *,
        pool: ConnectionPool,
        settings: RunSettings,
        emitter: tts.AudioEmitter,
        input_ch: aio.Chan[str | tts.SynthesizeStream._FlushSentinel],
        on_first_text: Callable[[], None],
        on_acquired: Callable[[float, bool], None],
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._emitter = emitter
        self._input_ch = input_ch
        self._on_first_text = on_first_text
        self._on_acquired = on_acquired
        self._acquired_once = False
        self._order: asyncio.Queue[SonioxStream | None] = asyncio.Queue()
        self._open: SonioxStream | None = None
        self._live: set[SonioxStream] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._segment_s = 0.0  # audio emitted so far in this attempt
        self._last_sentence_at = 0.0  # loop time the open stream last got a sentence
        tokenizer = settings.tokenizer
        self._splitter = SentenceSplitter() if tokenizer is None else TokenizerSplitter(tokenizer)
        self._early_error: Exception | None = None  # from _take_ready_input, raised by _feed

    async def run(self) -> None:
        # Text pushed before the attempt began goes out in this very step, not three task hops
        # later: when many streams start at once, each hop waits for every other stream's
        # step, and the text of all of them used to reach the socket only after the whole burst.
        self._take_ready_input()
        feeder = asyncio.create_task(self._feed(), name="soniox-tts-feed")
        self._tasks.add(feeder)
        try:
            for live in list(self._live):
                if live.connection is not None:
                    await live.connection.send_queued_now()
            while (stream := await self._order.get()) is not None:
                await self._play(stream)
            await feeder  # surfaces a failure of the input side
        finally:
            await self._teardown()

    async def _teardown(self) -> None:
        """Stop every Soniox stream and task of this attempt, even if cancelled again meanwhile.

        What the service must hear (``cancel``) goes out before the first await; the awaited part
        (tasks, decoders) runs shielded, and a second cancel waits for it, bounded, then goes on.
        """
        for stream in self._live:
            stream.cancel()
        for task in self._tasks:
            task.cancel()
        closing = asyncio.create_task(self._close_all(), name="soniox-tts-teardown")
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            try:
                async with asyncio.timeout(TEARDOWN_TIMEOUT_S):
                    await asyncio.shield(closing)
            except TimeoutError:
                logger.warning("Soniox TTS: closing the stream took over %.0fs", TEARDOWN_TIMEOUT_S)
            finally:
                closing.cancel()
            raise

    async def _close_all(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(s.aclose() for s in self._live), return_exceptions=True)
        self._live.clear()

    # --- input side ---

    async def _feed(self) -> None:
        try:
            if self._early_error is not None:
                raise self._early_error
            await self._read_input()
        finally:
            # on any exit: a stream left open would wait for text forever, and its player with it
            self._end_open_stream()
            self._order.put_nowait(None)

    def _take_ready_input(self) -> None:
        """What is already in the input channel, taken now; a failure surfaces from _feed."""
        try:
            while not self._input_ch.empty():
                self._take(self._input_ch.recv_nowait())
        except Exception as e:
            self._early_error = e

    async def _read_input(self) -> None:
        while True:
            waiting_on_open_stream = (
                self._open is not None
                and not self._open.end_requested
                and bool(self._open.ledger.sentences)
            )
            # The service's idle timer runs from the last text it received, so ours runs from
            # the last sentence sent: tokens that complete no sentence do not postpone it.
            deadline = (
                self._last_sentence_at + self._settings.stream_idle_timeout_s
                if waiting_on_open_stream
                else None
            )
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow our cancellation
                async with asyncio.timeout_at(deadline):
                    item = await self._input_ch.recv()
            except TimeoutError:
                self._end_open_stream()  # rotate before the service's idle timeout
                continue
            except aio.ChanClosed:
                break
            self._take(item)
        for sentence in self._splitter.flush():
            self._say(sentence)
        self._end_open_stream()

    def _take(self, item: str | tts.SynthesizeStream._FlushSentinel) -> None:
        if isinstance(item, tts.SynthesizeStream._FlushSentinel):
            for sentence in self._splitter.flush():
                self._say(sentence)
            self._end_open_stream()
        else:
            for sentence in self._splitter.push(item):
                self._say(sentence)

    def _say(self, sentence: str) -> None:
        stream = self._open
        if stream is not None and stream.age_s >= self._settings.max_stream_age_s:
            self._end_open_stream()
            stream = None
        if stream is None or stream.end_requested:
            stream = self._new_stream(StreamLedger(), skip_s=0.0, align=False)
            self._order.put_nowait(stream)
            self._start(stream)
            self._open = stream
        self._on_first_text()
        stream.add_sentence(sentence)
        self._last_sentence_at = asyncio.get_running_loop().time()

    def _end_open_stream(self) -> None:
        if self._open is not None:
            self._open.end()
            self._open = None

    def _new_stream(self, ledger: StreamLedger, *, skip_s: float, align: bool) -> SonioxStream:
        stream = SonioxStream(self._settings, ledger, skip_s=skip_s, align=align)
        self._live.add(stream)
        return stream

    def _start(
        self, stream: SonioxStream, delay_s: float = 0.0, avoid: TTSConnection | None = None
    ) -> None:
        if delay_s <= 0:
            # A free slot needs no task: the stream's text is sent as soon as it is added.
            conn = self._pool.try_acquire(avoid=avoid)
            if conn is not None:
                self._attached(stream, conn, 0.0, True)
                return
        task = asyncio.create_task(self._attach(stream, delay_s, avoid), name="soniox-tts-acquire")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attach(
        self, stream: SonioxStream, delay_s: float, avoid: TTSConnection | None
    ) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        try:
            conn, waited, reused = await self._pool.acquire(
                self._settings.acquire_timeout_s, avoid=avoid
            )
        except TimeoutError:
            stream.on_lost(APITimeoutError("Soniox TTS: no connection slot in time"))
            return
        except APIError as e:
            stream.on_lost(e)
            return
        self._attached(stream, conn, waited, reused)

    def _attached(
        self, stream: SonioxStream, conn: TTSConnection, waited: float, reused: bool
    ) -> None:
        if not self._acquired_once:
            self._acquired_once = True
            self._on_acquired(waited, reused)
        if stream.cancelled:
            conn.unreserve()
            return
        stream.attach(conn)

    # --- output side ---

    async def _play(self, stream: SonioxStream) -> None:
        failures = 0
        while True:
            emitted_before = stream.ledger.emitted_s
            segment_start = self._segment_s
            error = await self._drain(stream, segment_start)
            await stream.aclose()
            self._live.discard(stream)  # only now: if that close was cut short, teardown redoes it
            if error is None:
                return
            if not error.retryable:
                raise error
            if self._settings.aligned_transcript:
                # A word waits for the space after it. If it was complete and heard in full,
                # it belongs to this stream's transcript; the replacement will skip it.
                ledger = stream.ledger
                heard = ledger.position_s + 0.001
                pending = [w for w in stream.words.flush() if w.end <= heard]
                if pending and ledger.timed_text_ends_a_word():
                    self._push_words(stream, pending, segment_start)
            failures = 0 if stream.ledger.emitted_s > emitted_before else failures + 1
            if failures > self._settings.max_replays:
                raise error
            plan = stream.ledger.replay_plan()
            logger.warning(
                "Soniox TTS stream failed, replaying %d sentence(s) on a new stream: %s",
                len(plan.sentences),
                error.message,
            )
            replacement = self._new_stream(
                StreamLedger(plan.sentences), skip_s=plan.skip_s, align=plan.align
            )
            if self._open is stream:
                self._open = replacement  # text still to come goes to the replacement
            elif not plan.sentences:
                self._live.discard(replacement)
                return  # everything was heard; nothing more will come for this stream
            if stream.end_requested:
                replacement.end()
            delay = 0.1 if failures <= 1 else self._settings.retry_interval_s
            # A per-stream error (408, 429, 5xx, terminated early) leaves a healthy socket: the
            # replacement may go on it. A lost connection is closed and the pool skips it; a
            # silent stream makes its socket suspect, so its replacement goes elsewhere.
            suspect = None if isinstance(error, APIStatusError) else stream.connection
            self._start(replacement, delay, avoid=suspect)
            stream = replacement

    async def _drain(self, stream: SonioxStream, segment_start: float) -> APIError | None:
        """Emit one stream's audio until it ends; its error, if it failed.

        ``segment_start``: where this stream's audio begins in the attempt (for word times).
        Events queued before the stream's turn are handled first; from then on the stream hands
        each event to ``handle`` as it arrives, and this task only wakes when the stream ends or
        its silence timer runs out (not once per message).
        """
        while not stream.events.empty():
            error = self._handle(stream, stream.events.get_nowait(), segment_start)
            if error is not False:
                return error
        ended: asyncio.Future[APIError | None] = asyncio.get_running_loop().create_future()

        def handle(event: StreamEvent) -> None:
            if ended.done():
                return  # e.g. audio a decoder still gives after a failure: never emitted
            try:
                outcome = self._handle(stream, event, segment_start)
            except Exception as e:  # raised here, not in the connection's reader it runs in
                ended.set_exception(e)
                return
            if outcome is not False:
                ended.set_result(outcome)

        stream.handler = handle
        try:
            return await self._until_ended(stream, ended)
        finally:
            stream.handler = None  # nothing is emitted for this stream once its turn is over

    async def _until_ended(
        self, stream: SonioxStream, ended: asyncio.Future[APIError | None]
    ) -> APIError | None:
        silence = self._settings.silence_timeout_s
        while True:
            # Silence only counts once text_end is out: before that the service may be waiting
            # for more text (and idle rotation bounds how long that lasts).
            timeout = max(0.01, stream.last_heard + silence - time.monotonic())
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel (aclose) that
                # lands as the stream ends, and the runner then waits for input forever; shield:
                # the timeout cancels only the wait, the stream's outcome stays for the next one
                async with asyncio.timeout(timeout):
                    return await asyncio.shield(ended)
            except TimeoutError:
                if ended.done():
                    return ended.result()
                if stream.end_sent and time.monotonic() - stream.last_heard >= silence:
                    stream.cancel()
                    return APITimeoutError(f"Soniox TTS stream silent for {silence:.1f}s")

    def _handle(
        self, stream: SonioxStream, event: StreamEvent, segment_start: float
    ) -> APIError | Literal[False] | None:
        """One event of a stream: False to go on; else how the stream ended (None: done)."""
        if isinstance(event, TimingsEvent):
            if self._settings.aligned_transcript:
                chars = parse_timestamps(event.payload)
                stream.ledger.add_timings(chars)
                self._push_words(stream, stream.words.push(chars), segment_start)
            else:
                # parsed only if a replay or a replacement's alignment asks for them
                stream.ledger.add_timings_later(event.payload)
            self._settle_drop(stream)
        elif isinstance(event, AudioEvent):
            self._settle_drop(stream)
            self._emit(stream, event.pcm)
        elif isinstance(event, DoneEvent):
            if self._settings.aligned_transcript:
                self._push_words(stream, stream.words.flush(), segment_start)
            return None
        else:
            return event.error
        return False

    def _settle_drop(self, stream: SonioxStream) -> None:
        if stream.drop_total is None:
            lead = stream.ledger.first_char_start() if stream.align else 0.0
            stream.drop_total = stream.skip_s + (lead or 0.0)

    def _emit(self, stream: SonioxStream, pcm: bytes) -> None:
        rate = self._settings.sample_rate
        to_drop = (stream.drop_total or 0.0) - stream.ledger.dropped_s
        if to_drop > 0:
            n = min(len(pcm), pcm_bytes(to_drop, rate))
            stream.ledger.dropped_s += pcm_seconds(n, rate)
            pcm = pcm[n:]
            if len(pcm) < 2:
                return
        self._emitter.push(pcm)
        seconds = pcm_seconds(len(pcm), rate)
        stream.ledger.emitted_s += seconds
        self._segment_s += seconds

    def _push_words(
        self, stream: SonioxStream, words: list[WordTiming], segment_start: float
    ) -> None:
        shift = segment_start - (stream.drop_total or 0.0)
        timed = [
            TimedString(w.text, start_time=max(0.0, w.start + shift), end_time=w.end + shift)
            for w in words
            if w.end + shift > segment_start or (stream.drop_total or 0.0) == 0.0
        ]
        if timed:
            self._emitter.push_timed_transcript(timed)
