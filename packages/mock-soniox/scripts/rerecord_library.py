#!/usr/bin/env python3
"""Re-record the whole bundled fixture library from the live service, in one command.

Every library fixture's client side (its config, its audio from the side file, its control
messages, its TTS stream messages, at their recorded times) is sent through the recording proxy
(``mock-soniox record``, mode ``all``) to the upstreams, so each connection is written again
under the same name with the service's answers. Then the new directory is validated and
summarised next to the old one; with ``--install`` the new fixtures replace the bundled ones and
the plugin's snapshot tests run against them (syrupy prints the snapshot diff when they moved).

    SONIOX_API_KEY=... uv run python packages/mock-soniox/scripts/rerecord_library.py \\
        [--out reports/rerecorded] [--install] [--speed 1.0] \\
        [--stt-upstream URL] [--tts-upstream URL]

``--speed 0`` sends without pacing (for a stand-in mock; the service wants real time or faster).
The key goes upstream through the proxy only; fixtures never contain it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp

from mock_soniox.fixtures.library import LIBRARY_DIR, Library, validate_directory
from mock_soniox.fixtures.model import Fixture
from mock_soniox.protocol import STT_PATH, TTS_PATH
from mock_soniox.record import REAL_STT_URL, REAL_TTS_URL, RecordOptions, running_recorder

REPO = Path(__file__).resolve().parents[3]
SNAPSHOT_TESTS = [
    "packages/plugin/tests/test_stt_fixtures.py",
    "packages/plugin/tests/test_tts_fixtures.py",
]
ANSWER_TIMEOUT_S = 120.0


async def _drain(ws: aiohttp.ClientWebSocketResponse, terminated: dict[str, asyncio.Event]) -> None:
    """Read the server's frames until the socket ends, noting each terminated TTS stream."""
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        frame = json.loads(msg.data)
        if frame.get("terminated") and frame.get("stream_id") in terminated:
            terminated[frame["stream_id"]].set()


async def replay_client(
    http: aiohttp.ClientSession, base: str, fixture: Fixture, speed: float
) -> None:
    """The fixture's client side, sent to ``base`` at its recorded times (scaled by ``speed``)."""
    path = STT_PATH if fixture.endpoint == "stt" else TTS_PATH
    # The proxy authenticates upstream with SONIOX_API_KEY; the client's key is a placeholder.
    ws = await http.ws_connect(
        f"{base}{path}?fixture={fixture.name}", headers={"Authorization": "Bearer placeholder"}
    )
    terminated: dict[str, asyncio.Event] = {}
    reader = asyncio.create_task(_drain(ws, terminated))
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        for frame in fixture.frames:
            if frame.dir != "c2s":
                continue
            if speed > 0:
                delay = frame.t_ms / 1000 / speed - (loop.time() - start)
                if delay > 0:
                    await asyncio.sleep(delay)  # the recording's pacing, not a wait for a result
            if frame.kind == "binary":
                await ws.send_bytes(fixture.audio_of(frame))
            elif frame.kind == "close":
                break
            elif frame.json is not None:
                if isinstance(frame.json, dict) and "stream_id" in frame.json:
                    terminated.setdefault(str(frame.json["stream_id"]), asyncio.Event())
                await ws.send_str(json.dumps(frame.json))
            else:
                await ws.send_str(frame.text or "")
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            if fixture.endpoint == "tts":  # every stream answered, then the client closes
                await asyncio.gather(*(e.wait() for e in terminated.values()))
                await ws.close()
            await reader  # STT: the service closes after finished
    finally:
        reader.cancel()
        await ws.close()


async def rerecord(out: Path, stt_upstream: str, tts_upstream: str, speed: float) -> list[Path]:
    library = Library.load()
    names = sorted(library.fixtures)
    options = RecordOptions.from_env(
        out, mode="all", stt_upstream=stt_upstream, tts_upstream=tts_upstream
    )
    async with running_recorder(options) as (recorder, base), aiohttp.ClientSession() as http:
        for name in names:
            print(f"re-recording {name}", flush=True)
            fixture = library.get(name)
            assert fixture is not None
            await replay_client(http, base, fixture, speed)
        return await recorder.wait_written(len(names), timeout_s=30.0)


def summarise(old: Library, new: Library) -> list[str]:
    lines = []
    for name in sorted(old.fixtures):
        was, now = old.get(name), new.get(name)
        if now is None:
            lines.append(f"{name}: NOT re-recorded")
        elif was is not None and was.endpoint == "stt" and was.transcript != now.transcript:
            lines.append(
                f"{name}: transcript changed\n  was: {was.transcript}\n  now: {now.transcript}"
            )
        else:
            lines.append(f"{name}: re-recorded ({len(now.frames)} frames)")
    return lines


def install(out: Path) -> int:
    """Copy the new fixtures over the bundled ones and run the plugin's snapshot tests."""
    for path in out.iterdir():
        if path.is_file():
            shutil.copy2(path, LIBRARY_DIR / path.name)
    print(f"installed into {LIBRARY_DIR}; running the plugin's snapshot tests", flush=True)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *SNAPSHOT_TESTS], cwd=REPO, check=False
    )
    if run.returncode:
        print("the snapshots moved (diff above): review, then `--snapshot-update` if intended")
    return run.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="reports/rerecorded", help="where the new fixtures go")
    parser.add_argument("--install", action="store_true", help="replace the bundled library")
    parser.add_argument("--speed", type=float, default=1.0, help="pacing factor (0: none)")
    parser.add_argument("--stt-upstream", default=REAL_STT_URL)
    parser.add_argument("--tts-upstream", default=REAL_TTS_URL)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    written = asyncio.run(rerecord(out, args.stt_upstream, args.tts_upstream, args.speed))
    _, errors = validate_directory(out)
    for line in summarise(Library.load(), Library.load(out, bundled=False)):
        print(line)
    print(f"wrote {len(written)} fixtures into {out}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return install(out) if args.install else 0


if __name__ == "__main__":
    sys.exit(main())
