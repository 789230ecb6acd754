"""Real locust runs in subprocesses (locust monkey-patches whatever imports it, never pytest).

One distributed run (a master and two workers on loopback, a mock started by the locustfile) must
pass its thresholds; one run against a mock that fails streams must fail them, with exit code 1.
"""

from __future__ import annotations

import json
import socket
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    stats = (tmp_path / "run_stats.csv").read_text()
    for row in ("TTS,stream", "TTS,time to first audio", "STT,session", "WS,tts connect"):
        assert row in stats
    assert (tmp_path / "run.html").stat().st_size > 0


def test_missed_thresholds_make_locust_exit_with_1(tmp_path: Path) -> None:
    mock = start_mock(time_scale=0.25)
    try:
        # The mock fails the first stream of every connection with 503; one user per socket.
        tts_url = f"{mock.tts_url}?fault=error:code=503,stream=1"
        code, summary, log = run_locust(
            [
                "-u",
                "3",
                "-r",
                "3",
                "-t",
                "4s",
                "TTSSharedUser",
                "--streams-per-connection",
                "1",
                "--tts-url",
                tts_url,
                "--stt-url",
                mock.stt_url,
                "--max-p95-ttfa-ms",
                "1",
            ],
            tmp_path,
        )
    finally:
        mock.stop()
    assert code == 1, log[-3000:]
    problems = " / ".join(summary["thresholds"]["problems"])
    assert "failure ratio" in problems and "p95 time to first audio" in problems
    assert summary["errors_by_code"].get("503", 0) >= 3
    assert "503 service_unavailable" in (tmp_path / "run_failures.csv").read_text()


def test_a_dropped_shared_socket_fails_its_streams_and_is_reconnected(tmp_path: Path) -> None:
    mock = start_mock(time_scale=1.0)
    try:
        # Every TTS socket is cut (TCP reset, no close frame) 1.5 s after it opens.
        code, summary, log = run_locust(
            ["-u", "4", "-r", "4", "-t", "4s", "TTSSharedUser", "--streams-per-connection", "4",
             "--tts-url", f"{mock.tts_url}?fault=drop:after_ms=1500", "--stt-url", mock.stt_url],
            tmp_path,
        )  # fmt: skip
    finally:
        mock.stop()
    assert code == 1, log[-3000:]
    assert summary["reconnects"] >= 1
    assert summary["connections_opened"] == summary["reconnects"] + 1  # one shared socket
    assert summary["errors_by_code"].get("connection lost", 0) >= 4  # all four streams on it
    stats = (tmp_path / "run_stats.csv").read_text()
    assert "WS,tts reconnect" in stats
