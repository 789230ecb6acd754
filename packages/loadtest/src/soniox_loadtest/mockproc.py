"""Start ``mock-soniox serve`` as a child process and read the URLs it prints.

The mock's output goes to a temporary file rather than a pipe: in the master of a locust
``--processes`` run (gevent-patched and forked) the pipe's read end was found closed, and the
mock's URLs never arrived. Polling a file works the same with and without gevent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO


@dataclass
class MockProcess:
    process: subprocess.Popen[bytes]
    tts_url: str
    stt_url: str
    output: IO[bytes]

    @property
    def host(self) -> str:
        """``ws://127.0.0.1:PORT``: what locust's --host would be."""
        return self.tts_url.rsplit("/", 1)[0]

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM (the mock closes its sockets with 1001), then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self.output.close()


def start_mock(
    time_scale: float = 1.0, startup_timeout_s: float = 30.0, workers: int = 1
) -> MockProcess:
    """A mock on a free loopback port, with its journal off (load runs would only fill it);
    ``workers`` > 1: that many mock processes share the port (``serve --workers``)."""
    env = dict(os.environ)
    env.setdefault("MOCK_SONIOX_JOURNAL_ENABLED", "0")
    env.setdefault("MOCK_SONIOX_LOG_LEVEL", "WARNING")
    cmd = [sys.executable, "-m", "mock_soniox", "serve", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--time-scale", str(time_scale), "--workers", str(workers)]
    output = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the MockProcess, closed in stop()
    proc = subprocess.Popen(
        cmd,
        stdout=output,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    deadline = time.monotonic() + startup_timeout_s
    try:
        while True:
            urls = _urls(output)
            if {"STT", "TTS"} <= urls.keys():
                return MockProcess(proc, tts_url=urls["TTS"], stt_url=urls["STT"], output=output)
            if proc.poll() is not None:
                raise RuntimeError(f"mock-soniox exited early with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mock-soniox printed no URLs within {startup_timeout_s} s")
            time.sleep(0.05)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        output.close()
        raise


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the starter dies, even by SIGKILL (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _urls(output: IO[bytes]) -> dict[str, str]:
    output.seek(0)
    urls: dict[str, str] = {}
    for line in output.read().decode(errors="replace").splitlines():
        label, _, url = line.strip().partition(" ")
        if label in ("STT", "TTS") and url.strip():
            urls[label] = url.strip()
    return urls
