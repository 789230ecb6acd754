"""Real locust runs in subprocesses (locust monkey-patches whatever imports it, never pytest).

One distributed run (a master and two workers on loopback, a mock started by the locustfile) must
pass its thresholds; one run against a mock that fails streams must fail them, with exit code 1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from soniox_loadtest.__main__ import LOCUSTFILE
from soniox_loadtest.mockproc import start_mock

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def run_locust(
    args: list[str], tmp_path: Path, timeout_s: float = 60.0
) -> tuple[int, dict[str, Any], str]:
    prefix = tmp_path / "run"
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    cmd += ["--csv", str(prefix), "--html", f"{prefix}.html", "--think-time", "0.1", *args]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp_path, check=False
    )
    summary_file = Path(f"{prefix}_soniox.json")
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return proc.returncode, summary, proc.stderr


def test_master_and_two_workers_share_the_load_and_pass(tmp_path: Path) -> None:
    code, summary, log = run_locust(
        [
            "--processes",
            "2",
            "-u",
            "6",
            "-r",
            "6",
            "-t",
            "6s",
            "--mock-time-scale",
            "0.25",
            "TTSSharedUser",
            "STTUser",
            "--stt-seconds",
            "1.5",
            "--min-completed",
            "4",
        ],
        tmp_path,
    )
    assert code == 0, log[-3000:]
    assert summary["thresholds"]["passed"] is True
    assert summary["workers"] == 2  # both workers reported their counters to the master
    assert summary["streams_completed"] >= 4 and summary["stt_sessions"] >= 1
    assert summary["audio_frames"] > 0 and summary["errors_by_code"] == {}
    # Every stream is accounted for: done, failed, cut off at the stop, or (never) still open.
    for kind in ("tts", "stt"):
        counts = summary[kind]
        assert counts["started"] == counts["completed"] + counts["failed"] + counts["abandoned"]
        assert counts["in_flight"] == 0
    # Locust's request table holds real operations only; measurements are samples.
    stats = (tmp_path / "run_stats.csv").read_text()
    for row in ("TTS,stream", "STT,session", "WS,tts connect"):
        assert row in stats
    assert "time to first audio" not in stats and "METRIC" not in stats
    metrics = {m["name"]: m for m in summary["metrics"]}
    assert metrics["TTS time to first audio ms"]["p95"] > 0
    assert metrics["STT first result ms"]["count"] >= 1
    # The HTML report carries the Soniox section with the TTFA-over-time chart.
    html = (tmp_path / "run.html").read_text()
    assert html.index('<section id="soniox-summary">') < html.index('<div id="root">')
    assert "<polyline" in html


def test_failed_streams_and_dropped_sockets_make_locust_exit_with_1(tmp_path: Path) -> None:
    mock = start_mock(time_scale=1.0)
    try:
        # The mock fails the first stream of every TTS socket with 503, and cuts every socket
        # (TCP reset, no close frame) 1.5 s after it opens; four users share one socket.
        faults = "fault=error:code=503,stream=1&fault=drop:after_ms=1500"
        code, summary, log = run_locust(
            ["-u", "4", "-r", "4", "-t", "4s", "TTSSharedUser", "--streams-per-connection", "4",
             "--tts-url", f"{mock.tts_url}?{faults}", "--stt-url", mock.stt_url,
             "--max-p95-ttfa-ms", "1"],
            tmp_path,
        )  # fmt: skip
    finally:
        mock.stop()
    assert code == 1, log[-3000:]
    problems = " / ".join(summary["thresholds"]["problems"])
    assert "failure ratio" in problems and "p95 time to first audio" in problems
    # Errors by code: the 503s, and the streams that were on a socket when it was cut.
    assert summary["errors_by_code"].get("503", 0) >= 1
    assert summary["errors_by_code"].get("connection lost", 0) >= 1
    assert "503 service_unavailable" in (tmp_path / "run_failures.csv").read_text()
    # The dead shared socket was replaced by the next stream that needed it.
    assert summary["reconnects"] >= 1
    assert summary["connections_opened"] == summary["reconnects"] + 1
    assert "WS,tts reconnect" in (tmp_path / "run_stats.csv").read_text()
