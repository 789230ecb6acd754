"""``mock-soniox`` command line: ``serve``, ``record``, ``fixtures`` and ``drift``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from . import drift, models
from . import workers as workers_mod
from .auth import is_loopback_name
from .faults import FaultSpecError, parse_faults
from .fixtures import cli as fixture_cli
from .protocol import STT_PATH, TTS_PATH
from .record import MODES, REAL_STT_URL, REAL_TTS_URL, RecordOptions, running_recorder
from .server.runner import MockServer
from .server.ui import UI_PATH
from .settings import Settings

logger = logging.getLogger("mock_soniox")

REMOTE_RECORDER = "the recorder spends your key: it listens on loopback unless --allow-remote"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mock-soniox", description="A mock of the Soniox STT and TTS websocket APIs."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve both endpoints until SIGINT/SIGTERM")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port; 0 picks a free one")
    serve.add_argument("--fixtures", default=None, help="directory of recorded fixtures")
    serve.add_argument("--time-scale", type=float, default=None, help="1.0 real time, 0 no pacing")
    serve.add_argument("--seed", type=int, default=None, help="seed for anything random")
    serve.add_argument(
        "--models", default=None, metavar="FILE", help="a model catalogue replacing models.json"
    )
    serve.add_argument(
        "--api-key", action="append", default=None, help="accept only this key (repeatable)"
    )
    serve.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="arm a fault for every connection, e.g. drop:after_ms=2000,times=1 (repeatable)",
    )
    serve.add_argument(
        "--record",
        choices=MODES,
        default="none",
        help="also record through a proxy to the upstreams, into --fixtures (default none)",
    )
    add_upstream_arguments(serve)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="serve from N processes sharing the port, each with its own state"
        " (env MOCK_SONIOX_WORKERS; default 1)",
    )
    serve.add_argument("--worker-of", type=int, default=0, help=argparse.SUPPRESS)
    record = sub.add_parser(
        "record", help="proxy to Soniox and write every connection out as a fixture"
    )
    record.add_argument("--out", required=True, help="directory the fixtures are written to")
    record.add_argument("--mode", choices=MODES, default="new_episodes", help="recording mode")
    add_upstream_arguments(record)
    record.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    record.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one")
    record.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING, ERROR")
    fixture_cli.add_command(sub)
    drift.add_command(sub)
    return parser


def add_upstream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stt-upstream", default=REAL_STT_URL, help="real STT websocket URL")
    parser.add_argument("--tts-upstream", default=REAL_TTS_URL, help="real TTS websocket URL")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="let the recorder listen on a non-loopback address (it spends your key)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=args.host,
        port=args.port,
        fixtures_dir=args.fixtures,
        time_scale=args.time_scale,
        seed=args.seed,
        api_keys=tuple(args.api_key) if args.api_key else None,
        log_level=args.log_level,
        models_file=args.models,
    )


async def serve(settings: Settings, faults: Sequence[str] = (), worker_of: int = 0) -> None:
    """Serve until SIGINT/SIGTERM; ``worker_of`` N: as one of N workers (``serve --workers``),
    which share the port and leave printing the URLs to their supervisor."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    workers = max(worker_of, 1)
    async with MockServer(settings, workers=workers, reuse_port=worker_of > 0) as server:
        for spec in parse_faults(faults):
            server.state.faults.add(spec)
        if worker_of:
            print(f"{workers_mod.READY} {os.getpid()}", flush=True)
        else:
            print_urls(server.host, server.port)
        await stop.wait()
        logger.info("shutting down: closing live sockets with 1001")


def print_urls(host: str, port: int, pids: Sequence[int] = ()) -> None:
    base = f"{f'[{host}]' if ':' in host else host}:{port}"
    print(f"STT  ws://{base}{STT_PATH}", flush=True)
    print(f"TTS  ws://{base}{TTS_PATH}", flush=True)
    print(f"UI   {dashboard_url(host, port)}", flush=True)
    print(f"HTTP http://{base}/healthz", flush=True)
    if pids:
        print(f"WORKERS {len(pids)}: pids {' '.join(map(str, pids))}", flush=True)


def workers_from(args: argparse.Namespace) -> int:
    """``--workers``, else MOCK_SONIOX_WORKERS, else 1 (ValueError if not a positive int)."""
    raw = args.workers if args.workers is not None else os.environ.get("MOCK_SONIOX_WORKERS", "1")
    workers = int(raw)
    if not 1 <= workers <= 256:
        raise ValueError(f"--workers must be between 1 and 256, got {workers}")
    return workers


def dashboard_url(host: str, port: int) -> str:
    """Where a browser on this machine opens the dashboard (it is served to loopback only)."""
    if not is_loopback_name(host):
        host = "127.0.0.1"  # bound to every interface (or another one): loopback still answers
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{UI_PATH}"


def record_options(args: argparse.Namespace, out_dir: str, mode: str) -> RecordOptions:
    return RecordOptions.from_env(
        out_dir, mode=mode, stt_upstream=args.stt_upstream, tts_upstream=args.tts_upstream
    )


async def run_recorder(
    options: RecordOptions,
    host: str,
    port: int,
    replay_settings: Settings | None = None,
    *,
    allow_remote: bool = False,
) -> None:
    """Serve the recording proxy until SIGINT/SIGTERM; prints the URLs clients should use."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_recorder(
        options, host, port, replay_settings=replay_settings, allow_remote=allow_remote
    ) as (recorder, base):
        print(f"STT  {base}{STT_PATH}", flush=True)
        print(f"TTS  {base}{TTS_PATH}", flush=True)
        print(f"recording mode {options.mode} into {options.out_dir}", flush=True)
        if not options.api_key and options.mode != "none":
            print("(no SONIOX_API_KEY: clients' own keys are passed upstream)", flush=True)
        await stop.wait()
    for path in recorder.written:
        print(f"wrote {path}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "fixtures":
        return fixture_cli.run_fixtures(args)
    if args.command == "drift":
        return drift.run(args)
    if args.command == "record":
        if not args.allow_remote and not is_loopback_name(args.host):
            print(f"error: {REMOTE_RECORDER} ({args.host})", file=sys.stderr)
            return 2
        logging.basicConfig(level=(args.log_level or "INFO").upper())
        options = record_options(args, args.out, args.mode)
        asyncio.run(run_recorder(options, args.host, args.port, allow_remote=args.allow_remote))
        return 0
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        models.load(settings.models_file)
    except models.CatalogueError as exc:
        print(f"error: --models: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.command == "serve" and args.record != "none":
        if args.workers not in (None, 1):
            print("error: --record runs one process; leave out --workers", file=sys.stderr)
            return 2
        if not settings.fixtures_dir:
            print("error: --record needs --fixtures DIR to write to", file=sys.stderr)
            return 2
        if not args.allow_remote and not is_loopback_name(settings.host):
            print(f"error: {REMOTE_RECORDER} ({settings.host})", file=sys.stderr)
            return 2
        options = record_options(args, settings.fixtures_dir, args.record)
        asyncio.run(
            run_recorder(
                options, settings.host, settings.port, settings, allow_remote=args.allow_remote
            )
        )
    elif args.command == "serve":
        try:
            parse_faults(args.fault)
        except FaultSpecError as exc:
            print(f"error: --fault: {exc}", file=sys.stderr)
            return 2
        try:
            workers = 1 if args.worker_of else workers_from(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if workers > 1:
            argv_rest = list(sys.argv[1:] if argv is None else argv)
            return asyncio.run(
                workers_mod.supervise(
                    argv_rest,
                    settings.host,
                    settings.port,
                    workers,
                    lambda port, pids: print_urls(settings.host, port, pids),
                )
            )
        asyncio.run(serve(settings, args.fault, args.worker_of))
    return 0


if __name__ == "__main__":
    sys.exit(main())
