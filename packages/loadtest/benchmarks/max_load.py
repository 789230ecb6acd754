"""How much load one machine generates: locust (raw TTS users) and the mock, side by side.

For each user count it starts a real-time mock, runs a headless locust against it for a fixed
time, samples the CPU of the mock and of the locust processes with psutil, and prints one row:
streams in flight, audio frames per second, p95 time to first audio, failures, CPU of each side.
CPU is averaged over the middle of each run (100 % = one core); "other" is everything else on
the machine in that window, so a noisy neighbour shows up instead of skewing the verdict. The
mock is one asyncio process per worker (``--mock-workers N``, default 1; its CPU is theirs
summed): one at ~100 % is the bottleneck; locust at ~100 % per process is.

    uv run python packages/loadtest/benchmarks/max_load.py --users 50 100 200 --seconds 20
    uv run python packages/loadtest/benchmarks/max_load.py --users 400 800 --mock-workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from soniox_loadtest.__main__ import LOCUSTFILE
from soniox_loadtest.mockproc import start_mock


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def run_once(
    users: int, seconds: int, processes: int, per_connection: int, mock_workers: int
) -> dict[str, object]:
    """One locust run against a fresh mock; CPU is averaged over the middle of the run."""
    mock = start_mock(time_scale=1.0, workers=mock_workers)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prefix = Path(tmp) / "bench"
            cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
            cmd += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
            cmd += ["--tts-url", mock.tts_url, "--stt-url", mock.stt_url, "--think-time", "0"]
            cmd += ["--streams-per-connection", str(per_connection), "--csv", str(prefix)]
            cmd += ["--max-fail-ratio", "-1", "--max-p95-ttfa-ms", "-1", "--only-summary"]
            if processes > 1:
                cmd += ["--processes", str(processes)]
            cmd += ["TTSSharedUser"]
            locust = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            mock_proc = psutil.Process(mock.process.pid)
            mock_tree = [mock_proc, *mock_proc.children(True)]  # with --workers: each worker
            time.sleep(4)  # users spawned and connected
            tree = [psutil.Process(locust.pid), *psutil.Process(locust.pid).children(True)]
            window = max(2.0, seconds - 8.0)
            before = (cpu_seconds(tree), cpu_seconds(mock_tree), psutil.cpu_times())
            time.sleep(window)
            after = (cpu_seconds(tree), cpu_seconds(mock_tree), psutil.cpu_times())
            locust.wait(timeout=seconds + 60)
            summary = json.loads(Path(f"{prefix}_soniox.json").read_text())
    finally:
        mock.stop()
    busy = (sum(after[2]) - after[2].idle - after[2].iowait) - (
        sum(before[2]) - before[2].idle - before[2].iowait
    )
    locust_pct = (after[0] - before[0]) / window * 100
    mock_pct = (after[1] - before[1]) / window * 100
    return {
        "users": users,
        "peak_in_flight": summary["peak_in_flight"],
        "frames_per_s": summary["audio_frames_per_s"],
        "streams_per_s": summary["streams_per_s"],
        "p95_ttfa_ms": summary["p95_ttfa_ms"],
        "failed": summary["streams_failed"],
        "locust_cpu_pct": round(locust_pct),
        "mock_cpu_pct": round(mock_pct),
        "other_cpu_pct": round(max(0.0, busy / window * 100 - locust_pct - mock_pct)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1, help="locust worker processes")
    parser.add_argument("--streams-per-connection", type=int, default=5)
    parser.add_argument("--mock-workers", type=int, default=1, help="mock-soniox serve --workers")
    args = parser.parse_args()
    print(
        f"{psutil.cpu_count()} CPUs; locust processes: {args.processes};"
        f" mock workers: {args.mock_workers}; {args.seconds} s each"
    )
    header = (
        "users  in-flight  frames/s  streams/s  p95 TTFA ms  failed  "
        "locust CPU%  mock CPU%  other CPU%"
    )
    print(header)
    for users in args.users:
        row = run_once(
            users, args.seconds, args.processes, args.streams_per_connection, args.mock_workers
        )
        print(
            f"{row['users']:>5}  {row['peak_in_flight']:>9}  {row['frames_per_s']:>8}  "
            f"{row['streams_per_s']:>9}  {row['p95_ttfa_ms']!s:>11}  {row['failed']:>6}  "
            f"{row['locust_cpu_pct']:>11}  {row['mock_cpu_pct']:>9}  {row['other_cpu_pct']:>10}",
            flush=True,
        )


if __name__ == "__main__":
    main()
