"""Locust event hooks and the state of one run in this process.

The state is the process's counters (:data:`TOTALS`), the master's sum over workers
(:data:`CLUSTER`), and the resources a run opens lazily: the mock it started, the shared TTS
socket pool and the plugin runtime. :func:`register` hooks the listeners into locust's events;
the users (``users.py``) read the state through :func:`target`, :func:`fire` and :func:`pool`.

Life cycle: every test start (headless, the web UI's start, ``POST /swarm``) re-checks the
target and resets the counters; ``reset_stats`` resets them too; ``test_stop`` ends the measured
duration. The verdict (summary, thresholds) is the same object for the console, the JSON file,
the HTML report's Soniox section and the web UI's Soniox tab.
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

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from . import report
from . import target as target_mod
from .metrics import ClusterTotals, RunTotals
from .mockproc import start_mock
from .options import add_arguments, int_range, parsed, thresholds
from .thresholds import RunResult, violations
from .tts_pool import ConnectionPool, SharedTTSConnection

logger = logging.getLogger("soniox_loadtest")

TIMELINE_EVERY_S = 2.0  # width of one window of the percentiles-over-time series
TOTALS = RunTotals()  # this process's counters
CLUSTER = ClusterTotals()  # master/local only: the sum of every process's reports
RUN: dict[str, Any] = {
    "mock": None,
    "started": None,
    "stopped": None,
    "pool": None,
    "plugin": None,
    "refused": None,  # why the current target was refused, if it was
    "ticker": None,
    "warmup": None,
}


def target(environment: Environment) -> target_mod.Target:
    options = parsed(environment)
    return target_mod.resolve(
        environment.host or None,
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


def _is_worker(environment: Environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def _on_init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None or _is_worker(environment):
        return  # workers get host and options from the master with every spawn message
    try:
        int_range(options.tts_sentences)
    except ValueError as exc:
        logger.error("bad --tts-sentences: %s", exc)
        raise SystemExit(2) from exc
    if target_mod.needs_mock(
        environment.host, options.tts_url, options.stt_url, options.allow_remote
    ):
        mock = start_mock(time_scale=options.mock_time_scale, workers=options.mock_workers)
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
    if environment.web_ui is not None:
        _extend_web_ui(environment)


def check_target(environment: Environment) -> str | None:
    """Re-check the target at a start (the web UI can change the host); the reason if refused.

    An emptied host field falls back to the mock this process started, if it started one.
    """
    if not environment.host and RUN["mock"] is not None:
        environment.host = RUN["mock"].host
    try:
        target(environment)
    except ValueError as exc:
        return str(exc)
    return None


def _on_test_start(environment: Environment, **_: Any) -> None:
    options = parsed(environment)
    TOTALS.reset()
    RUN.update(started=time.monotonic(), stopped=None, refused=check_target(environment))
    if RUN["refused"]:
        logger.error("refusing to start: %s", RUN["refused"])
        if not _is_worker(environment) and environment.runner is not None:
            gevent.spawn(environment.runner.stop)
    _set_warmup(float(options.warmup))
    if not _is_worker(environment):
        CLUSTER.reset()
        if RUN["ticker"] is not None:
            RUN["ticker"].kill(block=False)
        RUN["ticker"] = gevent.spawn(_tick, not isinstance(environment.runner, MasterRunner))


def _set_warmup(seconds: float) -> None:
    if RUN["warmup"] is not None:
        RUN["warmup"].kill(block=False)
    TOTALS.judging = seconds <= 0
    if seconds > 0:
        RUN["warmup"] = gevent.spawn_later(seconds, setattr, TOTALS, "judging", True)


def _tick(local: bool) -> None:
    """Master/local: close a timeline window every few seconds (until test_stop kills it)."""
    while True:
        gevent.sleep(TIMELINE_EVERY_S)
        _collect(local)


def _collect(local: bool) -> None:
    if local:
        CLUSTER.add("local", TOTALS.drain())
    started = RUN["started"] or time.monotonic()
    CLUSTER.timeline.close_window(time.monotonic() - started)


def _on_test_stopping(environment: Environment, **_: Any) -> None:
    """The measured duration ends when the stop begins (users take a moment to wind down)."""
    RUN["stopped"] = time.monotonic()


def _on_test_stop(environment: Environment, **_: Any) -> None:
    if RUN["stopped"] is None:
        RUN["stopped"] = time.monotonic()
    for name in ("ticker", "warmup"):
        if RUN[name] is not None:
            RUN[name].kill(block=False)
            RUN[name] = None
    if not _is_worker(environment):
        _collect(not isinstance(environment.runner, MasterRunner))
    if RUN["pool"] is not None:  # the next test starts on fresh sockets (and a fresh target)
        closing, RUN["pool"] = RUN["pool"], None
        closing.close_all()


def _on_reset_stats(**_: Any) -> None:
    TOTALS.reset()
    CLUSTER.reset()
    RUN["started"] = time.monotonic()


def _on_report_to_master(client_id: str, data: dict[str, Any], **_: Any) -> None:
    data["soniox"] = TOTALS.drain()


def _on_worker_report(client_id: str, data: dict[str, Any], **_: Any) -> None:
    if "soniox" in data:
        CLUSTER.add(client_id, data["soniox"])


def verdict(environment: Environment) -> dict[str, Any]:
    """The summary of the current (or last) test with its threshold verdict."""
    options = parsed(environment)
    if not isinstance(environment.runner, MasterRunner) and RUN["stopped"] is None:
        CLUSTER.add("local", TOTALS.drain())
    started, stopped = RUN["started"], RUN["stopped"]
    end = stopped if stopped is not None else time.monotonic()
    summary = CLUSTER.summary(end - started if started else 0.0)
    judged = CLUSTER.samples.judged
    p95s = [
        p95
        for name in report.TTFA_METRICS
        if name in judged and (p95 := judged[name].percentile(0.95)) is not None
    ]
    completed, failed = summary["judged_completed"], summary["judged_failed"]
    result = RunResult(completed + failed, failed, completed, max(p95s) if p95s else None)
    limits = thresholds(options)
    problems = violations(result, limits)
    if RUN["refused"]:
        problems.insert(0, f"target refused: {RUN['refused']}")
    summary["thresholds"] = {"passed": not problems, "problems": problems, **vars(limits)}
    summary["thresholds"]["warmup_s"] = options.warmup
    summary["p95_ttfa_ms"] = result.p95_ttfa_ms
    return summary


def _on_quitting(environment: Environment, **_: Any) -> None:
    try:
        if not _is_worker(environment):
            _judge(environment)
    finally:
        _close_resources()


def _judge(environment: Environment) -> None:
    """Print the summary, write it next to the CSV files, and set the exit code."""
    options = parsed(environment)
    summary = verdict(environment)
    RUN["final"] = summary
    text = json.dumps(summary, indent=2, sort_keys=True)
    logger.info("soniox load test summary:\n%s", text)
    health = summary["generator"]
    line = "OK" if health["trustworthy"] else "NOT TRUSTWORTHY: " + "; ".join(health["warnings"])
    logger.info(
        "generator health: CPU max %s%% of a core, STT send lag p95 %s ms: %s",
        health["max_cpu_pct"],
        health["p95_stt_send_lag_ms"],
        line,
    )
    if options.csv_prefix:
        Path(f"{options.csv_prefix}_soniox.json").write_text(text + "\n")
    problems = summary["thresholds"]["problems"]
    if problems:
        for problem in problems:
            logger.error("threshold missed: %s", problem)
        environment.process_exit_code = 1
    else:
        logger.info("all thresholds met")
        environment.process_exit_code = 0


def _on_quit(exit_code: int, **_: Any) -> None:
    """After locust wrote its HTML report: add the Soniox section to it."""
    html_file, summary = RUN.get("html_file"), RUN.get("final")
    if not html_file or summary is None or not Path(html_file).exists():
        return
    fragment = report.section(summary, CLUSTER.timeline.rows)
    path = Path(html_file)
    path.write_text(report.inject(path.read_text(encoding="utf-8"), fragment), encoding="utf-8")


def _remember_html_file(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    RUN["html_file"] = getattr(options, "html_file", None) if options else None


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


def _extend_web_ui(environment: Environment) -> None:
    """A Soniox tab (one table), a live /soniox page with the chart, and the report section."""
    from flask import Response, request  # locust's web UI dependency; only the UI needs it

    web_ui = environment.web_ui
    assert web_ui is not None
    web_ui.template_args["extendedTabs"] = [{"title": "Soniox", "key": "soniox"}]
    web_ui.template_args["extendedTables"] = [
        {
            "key": "soniox",
            "structure": [
                {"key": "name", "title": "Soniox (live page with TTFA chart: /soniox)"},
                {"key": "count", "title": "count / value"},
                {"key": "p50", "title": "p50"},
                {"key": "p95", "title": "p95"},
                {"key": "p99", "title": "p99"},
                {"key": "max", "title": "max"},
            ],
        }
    ]
    web_ui.template_args["extendedCsvFiles"] = [
        {"href": "./soniox", "title": "Soniox summary with time-to-first-audio chart (live)"},
        {"href": "./soniox/summary.json", "title": "Soniox summary (JSON)"},
    ]

    def soniox_page() -> Response:
        fragment = report.section(verdict(environment), CLUSTER.timeline.rows)
        return Response(report.page(fragment), mimetype="text/html")

    def soniox_json() -> Response:
        return Response(json.dumps(verdict(environment), indent=2), mimetype="application/json")

    def add_soniox(response: Response) -> Response:
        if request.path == "/stats/requests" and response.is_json:
            data = response.get_json()
            data["extended_stats"] = [{"key": "soniox", "data": tab_rows(verdict(environment))}]
            response.set_data(json.dumps(data))
        elif request.path == "/stats/report":
            fragment = report.section(verdict(environment), CLUSTER.timeline.rows)
            response.set_data(report.inject(response.get_data(as_text=True), fragment))
        return response

    app = web_ui.app
    assert app is not None
    app.add_url_rule("/soniox", view_func=soniox_page)
    app.add_url_rule("/soniox/summary.json", view_func=soniox_json)
    app.after_request(add_soniox)


def tab_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The Soniox tab's table: verdict and health, counts by kind, then the metrics."""
    verdict_text = "PASSED" if summary["thresholds"]["passed"] else "FAILED"
    rows: list[dict[str, Any]] = [
        {
            "name": "thresholds",
            "count": verdict_text + "; ".join(["", *summary["thresholds"]["problems"]]),
        },
        {
            "name": "generator health",
            "count": "OK" if summary["generator"]["trustworthy"] else "NOT TRUSTWORTHY",
            "p50": f"CPU max {summary['generator']['max_cpu_pct']}%",
        },
        {"name": "peak streams in flight", "count": summary["peak_in_flight"]},
        {"name": "audio s per s", "count": summary["audio_s_per_s"]},
    ]
    for kind in ("tts", "plugin", "stt"):
        data = summary[kind]
        if not data["started"]:
            continue
        rows.append(
            {
                "name": f"{kind.upper()} started / completed / failed / abandoned / in flight",
                "count": " / ".join(
                    str(data[k])
                    for k in ("started", "completed", "failed", "abandoned", "in_flight")
                ),
                "p50": f"{data['per_s']} completed/s",
                "p95": json.dumps(data["errors_by_code"]) if data["errors_by_code"] else "",
            }
        )
    rows.extend(
        {k: m[k] for k in ("name", "count", "p50", "p95", "p99", "max")} for m in summary["metrics"]
    )
    return rows


_LISTENERS: tuple[tuple[Any, Callable[..., None]], ...] = (
    (events.init_command_line_parser, add_arguments),
    (events.init, _on_init),
    (events.init, _remember_html_file),
    (events.test_start, _on_test_start),
    (events.test_stopping, _on_test_stopping),
    (events.test_stop, _on_test_stop),
    (events.reset_stats, _on_reset_stats),
    (events.report_to_master, _on_report_to_master),
    (events.worker_report, _on_worker_report),
    (events.quitting, _on_quitting),
    (events.quit, _on_quit),
)
_registered: list[bool] = []


def register() -> None:
    """Hook the listeners into locust's events (once per process, however often called)."""
    if _registered:
        return
    _registered.append(True)
    for hook, listener in _LISTENERS:
        hook.add_listener(listener)
