"""STT plugin benchmark against the mock: CPU per hour of audio, final-result latency.

    uv run python packages/plugin/benchmarks/stt_bench.py [--streams 4] [--seconds 60] [--speed 10]
    uv run python packages/plugin/benchmarks/stt_bench.py --compare /tmp/lk189/bin/python

Streams speech-like audio through ``soniox.STT`` at ``--speed`` times real time to an in-process
mock (its own thread, no pacing) and prints:
- plugin CPU seconds per hour of audio: the process's CPU time minus the mock thread's (so the
  plugin's work in any thread counts and the mock's does not), and the event-loop thread alone;
- the time from the mock sending a frame with ``<end>`` to the plugin's FINAL_TRANSCRIPT reaching
  the consumer (p50/p99), from the mock's journal and the consumer's clock (same process).

Two floors run the same audio without the plugin: ``--bare`` (a websocket, pacing and JSON; no
livekit) and ``--livekit-floor`` (the least any livekit STT plugin does: a ``RecognizeStream``
whose ``push_frame`` writes to the socket itself and which turns every result frame into one
text-only event, through livekit's event channel to the same consumer).

Only the public plugin API is used, so the script runs unchanged with another install of
``livekit-plugins-soniox`` (the PyPI 1.8.9 in its own venv). The workload is identical for any
plugin: the same options (model, endpoint delay) are set explicitly, every utterance ends with
an endpoint, and each stream is consumed until one END_OF_SPEECH per utterance has arrived and
then closed with ``aclose()`` (1.8.9 has no working ``end_input``, so neither run uses it).
``--compare PYTHON...`` runs the benchmark alternately with this interpreter and each given one,
``--repeat`` times, and prints the medians side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from importlib.metadata import version

import aiohttp
import numpy as np
from livekit import rtc
from livekit.agents import NOT_GIVEN, APIConnectOptions, NotGivenOr, stt
from livekit.agents.language import LanguageCode
from livekit.agents.stt import SpeechEventType
from livekit.plugins import soniox

from mock_soniox.server.runner import ThreadedMockServer
from mock_soniox.settings import Settings

RATE = 16000
FRAME_MS = 20
WORD_MS, GAP_MS, PAUSE_MS = 300, 160, 1120
UTTERANCE_MS = 3 * (WORD_MS + GAP_MS) + PAUSE_MS  # 2.5 s: three words, then an endpoint
ENGLISH = LanguageCode("en")
DONE_TIMEOUT_S = 30.0  # after the last frame, all endpoints must arrive within this


@dataclass
class Result:
    plugin: str
    streams: int
    audio_s: float
    wall_s: float
    cpu_process_s: float  # whole process minus the mock's thread
    cpu_loop_s: float  # the event-loop thread only
    events: dict[str, int]
    lags_ms: list[float]

    def per_hour(self, cpu_s: float) -> float:
        return cpu_s / (self.audio_s / 3600)


def speech_frames(utterances: int) -> list[rtc.AudioFrame]:
    """Three 300 ms tone bursts, then silence long enough for an endpoint, per utterance."""

    def silence(ms: int) -> np.ndarray[tuple[int], np.dtype[np.int16]]:
        return np.zeros(RATE * ms // 1000, dtype=np.int16)

    t = np.arange(RATE * WORD_MS // 1000) / RATE
    word = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype(np.int16)
    gap = silence(GAP_MS)
    unit = np.concatenate([word, gap, word, gap, word, gap, silence(PAUSE_MS)])
    pcm = np.tile(unit, utterances)
    step = RATE * FRAME_MS // 1000
    return [
        rtc.AudioFrame(pcm[i : i + step].tobytes(), RATE, 1, step)
        for i in range(0, len(pcm) - step + 1, step)
    ]


class FloorSTT(stt.STT[None]):
    """The livekit floor (see the module docstring): no words, times, usage, replay, keepalive."""

    def __init__(self, url: str, session: aiohttp.ClientSession, config: dict[str, object]):
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=True))
        self.url, self.session, self.config = url, session, config

    async def _recognize_impl(
        self, buffer: object, *, language: NotGivenOr[str] = NOT_GIVEN, conn_options: object
    ) -> stt.SpeechEvent:
        raise NotImplementedError

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = APIConnectOptions(),  # noqa: B008
    ) -> FloorStream:
        return FloorStream(self, conn_options)


class FloorStream(stt.RecognizeStream):
    def __init__(self, floor: FloorSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=floor, conn_options=conn_options)
        self._floor = floor
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._early: list[bytes] = []  # pushed before the socket opened

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        data = frame.data.tobytes()
        if self._ws is None:
            self._early.append(data)
            return
        send = self._ws.send_bytes(data)
        try:
            send.send(None)  # an uncompressed send completes without waiting (buffer not full)
        except StopIteration:
            return
        send.close()
        raise RuntimeError("the socket buffer filled up: the benchmark outran the mock")

    async def _run(self) -> None:
        headers = {"Authorization": "Bearer bench"}
        async with self._floor.session.ws_connect(self._floor.url, headers=headers) as ws:
            await ws.send_str(json.dumps(self._floor.config))
            for early in self._early:
                await ws.send_bytes(early)
            self._ws = ws
            async for msg in ws:
                frame = json.loads(msg.data)
                tokens = frame.get("tokens") or []
                text = "".join(t["text"] for t in tokens if t["text"][:1] != "<")
                data = [stt.SpeechData(language=ENGLISH, text=text)]
                if any(t["text"] == "<end>" for t in tokens):
                    for kind in (SpeechEventType.FINAL_TRANSCRIPT, SpeechEventType.END_OF_SPEECH):
                        self._event_ch.send_nowait(stt.SpeechEvent(type=kind, alternatives=data))
                elif text:
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(type=SpeechEventType.INTERIM_TRANSCRIPT, alternatives=data)
                    )
                if frame.get("finished"):
                    return


async def one_stream(
    stt: soniox.STT | FloorSTT,
    frames: list[rtc.AudioFrame],
    speed: float,
    endpoints: int,
    finals_at: list[float],
    counts: Counter[str],
) -> None:
    """Feed the frames in (sped-up) real time; consume events until every endpoint arrived."""
    stream = stt.stream(conn_options=APIConnectOptions(max_retry=0, timeout=10.0))

    async def feed() -> None:
        interval = FRAME_MS / 1000 / speed
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            stream.push_frame(frame)
            delay = start + (i + 1) * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)

    async def consume() -> None:
        ends = 0
        async for ev in stream:
            counts[ev.type.name] += 1
            if ev.type == SpeechEventType.FINAL_TRANSCRIPT:
                finals_at.append(time.monotonic())
            elif ev.type == SpeechEventType.END_OF_SPEECH:
                ends += 1
                if ends == endpoints:
                    return
        raise RuntimeError(f"stream ended after {ends} of {endpoints} endpoints")

    feeder = asyncio.create_task(feed())
    consumer = asyncio.create_task(consume())
    try:
        await feeder
        await asyncio.wait_for(consumer, DONE_TIMEOUT_S)
    finally:
        feeder.cancel()
        consumer.cancel()
        await asyncio.gather(feeder, consumer, return_exceptions=True)
        await stream.aclose()


async def bare_stream(
    session: aiohttp.ClientSession,
    url: str,
    config: dict[str, object],
    frames: list[rtc.AudioFrame],
    speed: float,
    endpoints: int,
    ends_at: list[float],
    counts: Counter[str],
) -> None:
    """The floor: the same paced audio over a bare websocket, no plugin, no livekit-agents."""
    async with session.ws_connect(url, headers={"Authorization": "Bearer bench"}) as ws:
        await ws.send_str(json.dumps(config))

        async def consume() -> None:
            async for msg in ws:
                counts["result frames"] += 1
                tokens = json.loads(msg.data).get("tokens") or []
                if any(t.get("text") == "<end>" for t in tokens):
                    ends_at.append(time.monotonic())
                    if len(ends_at) == endpoints:
                        return

        consumer = asyncio.create_task(consume())
        try:
            interval = FRAME_MS / 1000 / speed
            start = time.perf_counter()
            for i, frame in enumerate(frames):
                await ws.send_bytes(frame.data.tobytes())
                delay = start + (i + 1) * interval - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.wait_for(consumer, DONE_TIMEOUT_S)
        finally:
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)


def end_times(server: ThreadedMockServer) -> list[list[float]]:
    """Per connection, when the mock sent each frame holding ``<end>``."""
    sent: dict[str, list[float]] = {}
    for entry in server.mock.state.journal.server_frames(endpoint="stt"):
        tokens = entry.data.get("tokens") if isinstance(entry.data, dict) else None
        if tokens and any(t.get("text") == "<end>" for t in tokens):
            sent.setdefault(entry.conn_id, []).append(entry.t)
    return list(sent.values())


def pair_lags(ends: list[list[float]], finals: list[list[float]]) -> list[float]:
    """Milliseconds from each ``<end>`` to its FINAL_TRANSCRIPT.

    Streams start staggered, so a connection and its stream are matched by their first times;
    within one, the n-th ``<end>`` gives the n-th FINAL (each utterance has text).
    """
    conns = sorted(ends, key=lambda ts: ts[0])
    streams = sorted(finals, key=lambda ts: ts[0])
    lags: list[float] = []
    for sent, got in zip(conns, streams, strict=True):
        if len(sent) != len(got):
            raise RuntimeError(f"{len(sent)} <end> frames but {len(got)} FINAL_TRANSCRIPTs")
        lags += [(g - s) * 1000 for s, g in zip(sent, got, strict=True)]
    if lags and min(lags) < 0:
        raise RuntimeError("a FINAL_TRANSCRIPT preceded its <end>: streams were mismatched")
    return lags


async def run(args: argparse.Namespace) -> Result:
    utterances = max(1, round(args.seconds * 1000 / UTTERANCE_MS))
    frames = speech_frames(utterances)
    params = soniox.STTOptions(model=args.model, max_endpoint_delay_ms=args.endpoint_delay_ms)
    server = ThreadedMockServer(Settings(port=0, time_scale=0.0, log_level="WARNING")).start()
    finals_at: list[list[float]] = [[] for _ in range(args.streams)]
    counts: Counter[str] = Counter()
    stagger = UTTERANCE_MS / 1000 / args.speed / args.streams

    config = {
        "model": args.model,
        "audio_format": "pcm_s16le",
        "sample_rate": RATE,
        "num_channels": 1,
        "enable_endpoint_detection": True,
        "max_endpoint_delay_ms": args.endpoint_delay_ms,
    }

    async def started_later(i: int, stt: soniox.STT, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(i * stagger)
        stt_url = server.mock.stt_url
        if args.bare:
            url = stt_url
            await bare_stream(
                session, url, config, frames, args.speed, utterances, finals_at[i], counts
            )
        elif args.livekit_floor:
            floor = FloorSTT(stt_url, session, config)
            await one_stream(floor, frames, args.speed, utterances, finals_at[i], counts)
        else:
            await one_stream(stt, frames, args.speed, utterances, finals_at[i], counts)

    try:
        async with aiohttp.ClientSession() as session:
            stt = soniox.STT(
                api_key="bench",
                base_url=server.mock.stt_url,
                http_session=session,
                params=params,
            )
            # A full collection of the setup's ~180k objects (imports, audio, server) costs about
            # 0.9 CPU-s per audio hour and lands inside or outside the measured window by chance:
            # collect now and keep those objects out of later collections.
            gc.collect()
            gc.freeze()
            mock_cpu0: float = server.call(time.thread_time)
            wall0, cpu0, loop0 = time.perf_counter(), time.process_time(), time.thread_time()
            await asyncio.gather(*(started_later(i, stt, session) for i in range(args.streams)))
            loop_cpu, cpu = time.thread_time() - loop0, time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            mock_cpu: float = server.call(time.thread_time) - mock_cpu0
        ends = end_times(server)
    finally:
        server.stop()
    return Result(
        plugin="no plugin (bare websocket)"
        if args.bare
        else "livekit floor (minimal RecognizeStream)"
        if args.livekit_floor
        else f"livekit-plugins-soniox {version('livekit-plugins-soniox')}",
        streams=args.streams,
        audio_s=args.streams * len(frames) * FRAME_MS / 1000,
        wall_s=wall,
        cpu_process_s=cpu - mock_cpu,
        cpu_loop_s=loop_cpu,
        events=dict(counts),
        lags_ms=pair_lags(ends, finals_at),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(result: Result, args: argparse.Namespace) -> None:
    print(f"{result.plugin}: model={args.model} max_endpoint_delay_ms={args.endpoint_delay_ms}")
    print(
        f"streams={result.streams} audio={result.audio_s:.0f}s speed={args.speed}x "
        f"wall={result.wall_s:.1f}s"
    )
    print(f"events consumed: {sum(result.events.values())} {dict(sorted(result.events.items()))}")
    for label, cpu in (
        ("process - mock", result.cpu_process_s),
        ("loop thread", result.cpu_loop_s),
    ):
        print(
            f"plugin CPU ({label}): {cpu:.2f}s -> {result.per_hour(cpu):.1f} CPU-s per audio hour"
        )
    lags = result.lags_ms
    print(
        f"<end> sent -> FINAL_TRANSCRIPT consumed: p50={statistics.median(lags):.2f} ms "
        f"p99={percentile(lags, 0.99):.2f} ms (n={len(lags)})"
    )


def run_in(python: str, args: argparse.Namespace, *extra: str) -> Result:
    """One benchmark in a fresh process of ``python`` (its own plugin install)."""
    argv = [python, __file__, "--json", "--streams", str(args.streams), "--seconds"]
    argv += [str(args.seconds), "--speed", str(args.speed), "--model", args.model]
    argv += ["--endpoint-delay-ms", str(args.endpoint_delay_ms), *extra]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return Result(**json.loads(out.strip().splitlines()[-1]))


def compare(args: argparse.Namespace) -> None:
    """Alternate the runs (so load drift hits all alike); medians side by side.

    Columns: this interpreter's plugin, each ``--compare`` interpreter's plugin, and the floor
    (the same audio over a bare websocket: pacing, socket and JSON, no plugin).
    """
    variants: list[tuple[str, tuple[str, ...]]] = [(p, ()) for p in (sys.executable, *args.compare)]
    variants.append((sys.executable, ("--livekit-floor",)))
    variants.append((sys.executable, ("--bare",)))
    runs: list[list[Result]] = [[] for _ in variants]
    for r in range(args.repeat):
        for i, (python, extra) in enumerate(variants):
            res = run_in(python, args, *extra)
            runs[i].append(res)
            cpu = res.per_hour(res.cpu_process_s)
            print(f"run {r + 1}/{args.repeat} {res.plugin}: {cpu:.1f} CPU-s/h", file=sys.stderr)

    def cpu_cells(cpu: str) -> list[str]:
        return [f"{statistics.median(r.per_hour(getattr(r, cpu)) for r in rs):.1f}" for rs in runs]

    def lag_cells(q: float) -> list[str]:
        return [f"{percentile([x for r in rs for x in r.lags_ms], q):.2f}" for rs in runs]

    first = [rs[0] for rs in runs]
    rows = [
        ("", [f.plugin for f in first]),
        ("CPU-s per audio hour (process - mock)", cpu_cells("cpu_process_s")),
        ("CPU-s per audio hour (loop thread)", cpu_cells("cpu_loop_s")),
        ("<end> sent -> FINAL consumed, p50 ms", lag_cells(0.5)),
        ("<end> sent -> FINAL consumed, p99 ms", lag_cells(0.99)),
        ("FINAL / END_OF_SPEECH per run", [_finals_and_ends(f.events) for f in first]),
        ("events consumed per run", [str(sum(f.events.values())) for f in first]),
    ]
    print(
        f"{first[0].streams} streams x {first[0].audio_s / first[0].streams:.0f} s at "
        f"{args.speed}x, model={args.model}, max_endpoint_delay_ms={args.endpoint_delay_ms}; "
        f"CPU: median of {args.repeat} runs, latency: all runs pooled"
    )
    width = max(len(label) for label, _ in rows)
    cols = [max(len(cells[i]) for _, cells in rows) for i in range(len(variants))]
    for label, cells in rows:
        line = "  ".join(f"{c:>{w}}" for c, w in zip(cells, cols, strict=True))
        print(f"{label:<{width}}  {line}")


def _finals_and_ends(events: dict[str, int]) -> str:
    if "result frames" in events:
        return f"({events.get('result frames', 0)} frames)"
    return f"{events.get('FINAL_TRANSCRIPT', 0)} / {events.get('END_OF_SPEECH', 0)}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0, help="audio per stream")
    parser.add_argument("--speed", type=float, default=10.0, help="times real time")
    parser.add_argument("--model", default="stt-rt-v4")
    parser.add_argument("--endpoint-delay-ms", type=int, default=500)
    parser.add_argument(
        "--bare", action="store_true", help="no plugin: the floor of audio over a bare websocket"
    )
    parser.add_argument(
        "--livekit-floor",
        action="store_true",
        help="no plugin: the least a livekit STT stream does with the same audio and results",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--compare", nargs="+", metavar="PYTHON", default=[])
    parser.add_argument("--repeat", type=int, default=5, help="runs per interpreter (--compare)")
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(asdict(result)))
    else:
        report(result, args)


if __name__ == "__main__":
    main()
