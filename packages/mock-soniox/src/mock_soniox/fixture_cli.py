"""The ``record`` and ``fixtures list|show|validate`` subcommands of ``mock-soniox``."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import Any

from .fixtures import LIBRARY_DIR, FixtureError, Library, validate_directory
from .record import MODES, REAL_STT_URL, REAL_TTS_URL, RecordOptions, running_recorder
from .settings import Settings


def add_commands(sub: Any) -> None:
    """Register ``record`` and ``fixtures`` on the main parser's subparsers."""
    record = sub.add_parser(
        "record", help="proxy to Soniox and write every connection out as a fixture"
    )
    record.add_argument("--out", required=True, help="directory the fixtures are written to")
    record.add_argument("--mode", choices=MODES, default="new_episodes", help="recording mode")
    add_upstream_arguments(record)
    record.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    record.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    record.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")

    fixtures = sub.add_parser("fixtures", help="list, show or validate recorded fixtures")
    actions = fixtures.add_subparsers(dest="fixtures_command", required=True)
    listing = actions.add_parser("list", help="the bundled library (plus --dir)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.add_argument("--dir", default=None, help="also list the fixtures in this directory")
    listing.add_argument("--no-bundled", action="store_true", help="leave the bundled library out")
    show = actions.add_parser("show", help="one fixture's header and frames")
    show.add_argument("name")
    show.add_argument("--dir", default=None, help="look in this directory too")
    validate = actions.add_parser("validate", help="check every fixture in a directory")
    validate.add_argument("dir", nargs="?", default=str(LIBRARY_DIR))


def add_upstream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stt-upstream", default=REAL_STT_URL, help="real STT websocket URL")
    parser.add_argument("--tts-upstream", default=REAL_TTS_URL, help="real TTS websocket URL")


def run_fixtures(args: argparse.Namespace) -> int:
    try:
        if args.fixtures_command == "validate":
            return _validate(args.dir)
        library = Library.load(args.dir, bundled=not getattr(args, "no_bundled", False))
    except FixtureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.fixtures_command == "list":
        summaries = [library.fixtures[n].summary() for n in library.names()]
        if args.json:
            print(json.dumps(summaries, indent=2, ensure_ascii=False))
        else:
            for s in summaries:
                text = s.get("transcript") or "; ".join(x["text"] for x in s.get("streams", []))
                print(f"{s['name']:<28} {s['endpoint']}  {s['duration_ms'] / 1000:6.1f}s  {text}")
        return 0
    fixture = library.get(args.name)
    if fixture is None:
        print(f"error: no fixture named {args.name!r}", file=sys.stderr)
        return 1
    print(json.dumps(fixture.summary(), indent=2, ensure_ascii=False))
    for number, frame in enumerate(fixture.frames, 2):
        print(f"{number:>5} {json.dumps(frame.to_json(), ensure_ascii=False)}")
    return 0


def _validate(directory: str) -> int:
    ok, errors = validate_directory(directory)
    for name in ok:
        print(f"ok    {name}")
    for error in errors:
        print(f"error {error}", file=sys.stderr)
    return 1 if errors else 0


def record_options(args: argparse.Namespace, out_dir: str, mode: str) -> RecordOptions:
    return RecordOptions.from_env(
        out_dir, mode=mode, stt_upstream=args.stt_upstream, tts_upstream=args.tts_upstream
    )


async def run_recorder(
    options: RecordOptions, host: str, port: int, replay_settings: Settings | None = None
) -> None:
    """Serve the recording proxy until SIGINT/SIGTERM; prints the URLs clients should use."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_recorder(options, host, port, replay_settings=replay_settings) as (
        recorder,
        base,
    ):
        print(f"STT  {base}/transcribe-websocket", flush=True)
        print(f"TTS  {base}/tts-websocket", flush=True)
        print(f"recording mode {options.mode} into {options.out_dir}", flush=True)
        if not options.api_key and options.mode != "none":
            print("(no SONIOX_API_KEY: clients' own keys are passed upstream)", flush=True)
        await stop.wait()
    for path in recorder.written:
        print(f"wrote {path}", flush=True)
