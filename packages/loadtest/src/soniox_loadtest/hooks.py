"""Locust event hooks and the state of one run in this process.

The state is the process's counters (:data:`TOTALS`), the master's sum over workers
(:data:`CLUSTER`), and the resources a run opens lazily: the mock it started, the shared TTS
socket pool and the plugin runtime. :func:`register` hooks the listeners into locust's events;
the users (``users.py``) read the state through :func:`target`, :func:`fire` and :func:`pool`.
"""

# locust first: it monkey-patches the process on import, and ssl users imported earlier break it.
from locust import events  # isort: skip

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from . import target as target_mod
from .metrics import ClusterTotals, RunTotals
from .mockproc import start_mock
from .options import add_arguments, parsed, thresholds
from .thresholds import RunResult, violations
from .tts_pool import ConnectionPool, SharedTTSConnection

logger = logging.getLogger("soniox_loadtest")

# Request-event names whose failure ratio the thresholds judge (one event per unit of work).
OUTCOME_EVENTS = {("TTS", "stream"), ("STT", "session"), ("PLUGIN", "stream")}
TTFA_EVENTS = (("TTS", "time to first audio"), ("PLUGIN", "time to first audio"))

TOTALS = RunTotals()  # this process's counters
CLUSTER = ClusterTotals()  # master/local only: every process's latest counters
RUN: dict[str, Any] = {"mock": None, "started": None, "pool": None, "plugin": None}


def target(environment: Environment) -> target_mod.Target:
    options = parsed(environment)
    return target_mod.resolve(
        environment.host,
        options.tts_url,
        options.stt_url,
        options.api_key or os.environ.get("SONIOX_API_KEY"),
        allow_remote=options.allow_remote,
    )


def fire(environment: Environment) -> Callable[..., None]:
    fire_event: Callable[..., None] = environment.events.request.fire
    return fire_event


def pool(environment: Environment) -> ConnectionPool:
    """This process's shared TTS sockets, created on first use."""
    if RUN["pool"] is None:
        options = parsed(environment)
        resolved = target(environment)
        fire_event = fire(environment)
        RUN["pool"] = ConnectionPool(
            lambda: SharedTTSConnection(resolved.tts_url, resolved.api_key, fire_event, TOTALS),
            options.streams_per_connection,
        )
    shared: ConnectionPool = RUN["pool"]
    return shared


def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return  # workers get host and options from the master with every spawn message
    if target_mod.needs_mock(
        environment.host, options.tts_url, options.stt_url, options.allow_remote
    ):
        mock = start_mock(time_scale=options.mock_time_scale)
        RUN["mock"] = mock
        environment.host = mock.host
        options.host = mock.host
        options.api_key = target_mod.MOCK_API_KEY
        logger.info("started mock-soniox at %s (pid %d)", mock.host, mock.process.pid)
    # Fail fast on a bad target instead of once per user.
    try:
        target(environment)
    except ValueError as exc:
        logger.error("bad target: %s", exc)
        raise SystemExit(2) from exc


def _on_test_start(environment: Environment, **_: Any) -> None:
    RUN["started"] = time.monotonic()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["soniox"] = TOTALS.snapshot()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if "soniox" in data:
        CLUSTER.update(client_id, data["soniox"])


def _on_quitting(environment: Environment, **_: Any) -> None:
    try:
        if not isinstance(environment.runner, WorkerRunner):
            _judge(environment)
    finally:
        _close_resources()


def _close_resources() -> None:
    """Sockets, the plugin's loop thread, then the mock; one failing never skips the others."""
    closers: list[Callable[[], None]] = []
    if RUN["pool"] is not None:
        closers.append(RUN["pool"].close_all)
    if RUN["plugin"] is not None:
        closers.append(RUN["plugin"].close)
    if RUN["mock"] is not None:
        closers.append(RUN["mock"].stop)
    RUN.update(pool=None, plugin=None, mock=None)
    for close in closers:
        try:
            close()
        except Exception:
            logger.exception("cleanup step failed")


def _judge(environment: Environment) -> None:
    """Print the summary, write it next to the CSV files, and set the exit code."""
    options = parsed(environment)
    if not isinstance(environment.runner, MasterRunner):
        CLUSTER.update("local", TOTALS.snapshot())
    started = RUN["started"]
    summary = CLUSTER.summary(time.monotonic() - started if started else 0.0)
    stats = environment.stats
    requests = failures = 0
    for (name, method), entry in stats.entries.items():
        if (method, name) in OUTCOME_EVENTS:
            requests += entry.num_requests
            failures += entry.num_failures
    p95s = [
        stats.entries[(name, method)].get_response_time_percentile(0.95)
        for method, name in TTFA_EVENTS
        if (name, method) in stats.entries and stats.entries[(name, method)].num_requests
    ]
    result = RunResult(requests, failures, requests - failures, max(p95s) if p95s else None)
    limits = thresholds(options)
    problems = violations(result, limits)
    summary["thresholds"] = {"passed": not problems, "problems": problems, **vars(limits)}
    summary["p95_ttfa_ms"] = result.p95_ttfa_ms
    text = json.dumps(summary, indent=2, sort_keys=True)
    logger.info("soniox load test summary:\n%s", text)
    if options.csv_prefix:
        Path(f"{options.csv_prefix}_soniox.json").write_text(text + "\n")
    if problems:
        for problem in problems:
            logger.error("threshold missed: %s", problem)
        environment.process_exit_code = 1
    else:
        logger.info("all thresholds met")
        environment.process_exit_code = 0


_LISTENERS: tuple[tuple[Any, Callable[..., None]], ...] = (
    (events.init_command_line_parser, add_arguments),
    (events.init, _on_init),
    (events.test_start, _on_test_start),
    (events.report_to_master, _on_report_to_master),
    (events.worker_report, _on_worker_report),
    (events.quitting, _on_quitting),
)


_registered: list[bool] = []


def register() -> None:
    """Hook the listeners into locust's events (once per process, however often called)."""
    if _registered:
        return
    _registered.append(True)
    for hook, listener in _LISTENERS:
        hook.add_listener(listener)
