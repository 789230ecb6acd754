"""How much load one machine generates: locust (raw TTS users) and the mock, side by side.

For each user count it starts a real-time mock, runs a headless locust against it for a fixed
time, samples the CPU of the mock and of the locust processes with psutil, and prints one row:
streams in flight, audio frames per second, p95 time to first audio, failures, CPU of each side.
A side near 100 % of a core (or all cores, for --processes) is the bottleneck.

    uv run python packages/loadtest/benchmarks/max_load.py --users 50 100 200 --seconds 20
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


def cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.cpu_percent(None)
    return total


def run_once(users: int, seconds: int, processes: int, per_connection: int) -> dict[str, object]:
    mock = start_mock(time_scale=1.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            prefix = Path(tmp) / "bench"
            cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
            cmd += ["-u", str(users), "-r", str(max(10, users // 2)), "-t", f"{seconds}s"]
            cmd += ["--tts-url", mock.tts_url, "--stt-url", mock.stt_url, "--think-time", "0"]
            cmd += ["--streams-per-connection", str(per_connection), "--csv", str(prefix)]
            cmd += ["--max-fail-ratio", "-1", "--max-p95-ttfa-ms", "-1", "--only-summary"]
            if processes > 1:
                cmd += ["--processes", str(processes)]
            cmd += ["TTSSharedUser"]
            locust = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            mock_proc = psutil.Process(mock.process.pid)
            mock_proc.cpu_percent(None)
            samples: list[tuple[float, float]] = []
            time.sleep(3)  # let users spawn before measuring
            while locust.poll() is None:
                tree = [psutil.Process(locust.pid)]
                try:
                    tree += tree[0].children(recursive=True)
                except psutil.NoSuchProcess:
                    break
                cpu_of(tree)
                mock_proc.cpu_percent(None)
                time.sleep(2.0)
                if locust.poll() is None:
                    samples.append((cpu_of(tree), mock_proc.cpu_percent(None)))
            summary = json.loads(Path(f"{prefix}_soniox.json").read_text())
    finally:
        mock.stop()
    steady = samples[1:-1] or samples  # drop the ramp-up and wind-down samples
    return {
        "users": users,
        "peak_in_flight": summary["peak_in_flight"],
        "frames_per_s": summary["audio_frames_per_s"],
        "streams_per_s": summary["streams_per_s"],
        "p95_ttfa_ms": summary["p95_ttfa_ms"],
        "failed": summary["streams_failed"],
        "locust_cpu_pct": round(max((s[0] for s in steady), default=0.0)),
        "mock_cpu_pct": round(max((s[1] for s in steady), default=0.0)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1, help="locust worker processes")
    parser.add_argument("--streams-per-connection", type=int, default=5)
    args = parser.parse_args()
    print(f"{psutil.cpu_count()} CPUs; locust processes: {args.processes}; {args.seconds} s each")
    header = "users  in-flight  frames/s  streams/s  p95 TTFA ms  failed  locust CPU%  mock CPU%"
    print(header)
    for users in args.users:
        row = run_once(users, args.seconds, args.processes, args.streams_per_connection)
        print(
            f"{row['users']:>5}  {row['peak_in_flight']:>9}  {row['frames_per_s']:>8}  "
            f"{row['streams_per_s']:>9}  {row['p95_ttfa_ms']!s:>11}  {row['failed']:>6}  "
            f"{row['locust_cpu_pct']:>11}  {row['mock_cpu_pct']:>9}",
            flush=True,
        )


if __name__ == "__main__":
    main()
