"""Start ``mock-soniox serve`` as a child process and read the URLs it prints."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class MockProcess:
    process: subprocess.Popen[str]
    tts_url: str
    stt_url: str

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
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_mock(
    time_scale: float = 1.0,
    extra_env: dict[str, str] | None = None,
    startup_timeout_s: float = 30.0,
) -> MockProcess:
    """A mock on a free loopback port, with its journal off (load runs would only fill it)."""
    env = dict(os.environ)
    env.setdefault("MOCK_SONIOX_JOURNAL_ENABLED", "0")
    env.setdefault("MOCK_SONIOX_LOG_LEVEL", "WARNING")
    env.update(extra_env or {})
    cmd = [sys.executable, "-m", "mock_soniox", "serve", "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--time-scale", str(time_scale)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    deadline = time.monotonic() + startup_timeout_s
    try:
        while not {"STT", "TTS"} <= urls.keys():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"mock-soniox printed no URLs within {startup_timeout_s} s")
            readable, _, _ = select.select([proc.stdout], [], [], remaining)
            if not readable:
                continue
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"mock-soniox exited early with code {proc.wait(timeout=5)}")
            label, _, url = line.strip().partition(" ")
            if label in ("STT", "TTS"):
                urls[label] = url.strip()
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return MockProcess(proc, tts_url=urls["TTS"], stt_url=urls["STT"])
