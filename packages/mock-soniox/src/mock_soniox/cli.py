"""``mock-soniox`` command line: ``serve`` (and, as they land, ``record`` and ``fixtures``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from . import fixture_cli
from .faults import FaultSpecError, parse_faults
from .record import MODES
from .server import MockServer
from .settings import Settings

logger = logging.getLogger("mock_soniox")


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
    fixture_cli.add_upstream_arguments(serve)
    fixture_cli.add_commands(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=args.host,
        port=args.port,
        fixtures_dir=args.fixtures,
        time_scale=args.time_scale,
        seed=args.seed,
        api_keys=tuple(args.api_key) if args.api_key else None,
        log_level=args.log_level,
    )


async def serve(settings: Settings, faults: Sequence[str] = ()) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with MockServer(settings) as server:
        for spec in parse_faults(faults):
            server.state.faults.add(spec)
        print(f"STT  {server.stt_url}", flush=True)
        print(f"TTS  {server.tts_url}", flush=True)
        print(f"HTTP {server.base_url}/healthz", flush=True)
        await stop.wait()
        logger.info("shutting down: closing live sockets with 1001")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "fixtures":
        return fixture_cli.run_fixtures(args)
    if args.command == "record":
        logging.basicConfig(level=(args.log_level or "INFO").upper())
        options = fixture_cli.record_options(args, args.out, args.mode)
        asyncio.run(fixture_cli.run_recorder(options, args.host, args.port))
        return 0
    settings = settings_from_args(args)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if args.command == "serve" and args.record != "none":
        if not settings.fixtures_dir:
            print("error: --record needs --fixtures DIR to write to", file=sys.stderr)
            return 2
        options = fixture_cli.record_options(args, settings.fixtures_dir, args.record)
        asyncio.run(fixture_cli.run_recorder(options, settings.host, settings.port, settings))
    elif args.command == "serve":
        try:
            parse_faults(args.fault)
        except FaultSpecError as exc:
            print(f"error: --fault: {exc}", file=sys.stderr)
            return 2
        asyncio.run(serve(settings, args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
