"""The floor for the TTS benchmark: a bare aiohttp websocket server sending the same audio frames
the mock sends, at the same rate, and nothing else.

It reads the same client messages as the mock (config, text, ``text_end``) just far enough to
know a stream's id and length, then, ``--ttfa-ms`` after ``text_end``, sends one frame per
``--chunk-ms`` of audio at ``--rtf`` x real time: ``{"stream_id", "audio": base64 of the chunk's
PCM, "audio_end"}`` built and serialised per frame, then ``{"stream_id", "terminated": true}``.
The audio is the same length the mock's synthetic voice gives the text (``--ms-per-char`` per
character, 24 kHz s16le), so each frame is the same size. No validation, journal, timers, faults
or admin state: what remains is the cost of building, encoding and writing the frames.

    uv run python packages/mock-soniox/benchmarks/bare_tts.py   # prints "TTS ws://..."

``tts_bench.py`` starts it after the mock and drives both with the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math

import aiohttp
from aiohttp import web

BYTES_PER_MS = 48  # 24 kHz s16le mono


async def speak(
    ws: web.WebSocketResponse, stream_id: str, chars: int, args: argparse.Namespace
) -> None:
    loop = asyncio.get_running_loop()
    audio_ms = chars * args.ms_per_char
    frames = max(1, math.ceil(audio_ms / args.chunk_ms))
    pcm = bytes(range(256)) * (BYTES_PER_MS * args.chunk_ms // 256 + 1)
    next_at = loop.time() + args.ttfa_ms / 1000
    for i in range(frames):
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        size = BYTES_PER_MS * int(min(args.chunk_ms, audio_ms - i * args.chunk_ms))
        frame = {
            "stream_id": stream_id,
            "audio": base64.b64encode(pcm[:size]).decode("ascii"),
            "audio_end": i == frames - 1,
        }
        await ws.send_str(json.dumps(frame, separators=(",", ":")))
        next_at += args.chunk_ms / 1000 / args.rtf
    await ws.send_str(
        json.dumps({"stream_id": stream_id, "terminated": True}, separators=(",", ":"))
    )


def make_app(args: argparse.Namespace) -> web.Application:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        chars: dict[str, int] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(msg.data)
                stream_id = message["stream_id"]
                chars[stream_id] = chars.get(stream_id, 0) + len(message.get("text", ""))
                if message.get("text_end"):
                    task = asyncio.create_task(speak(ws, stream_id, chars.pop(stream_id), args))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            for task in list(tasks):
                task.cancel()
            for task in list(tasks):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
        return ws

    app = web.Application()
    app.router.add_get("/tts-websocket", handler)
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(args), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"TTS  ws://{host}:{port}/tts-websocket", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ttfa-ms", type=float, default=150.0)
    parser.add_argument("--ms-per-char", type=float, default=60.0)
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--rtf", type=float, default=4.0, help="times faster than real time")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
