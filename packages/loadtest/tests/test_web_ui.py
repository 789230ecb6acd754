"""The locust web UI in a subprocess: a host posted to ``/swarm`` is checked at every start."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from soniox_loadtest.__main__ import LOCUSTFILE

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebUI:
    """``locust`` with its web UI on a free loopback port; its log lines arrive on a queue."""

    def __init__(self, cwd: Path) -> None:
        self.url = f"http://127.0.0.1:{_free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--web-host", "127.0.0.1",
             "--web-port", port, "--think-time", "0.1", "TTSSharedUser"],
            stderr=subprocess.PIPE, text=True, cwd=cwd,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)

    def wait_for_log(self, text: str, timeout_s: float = 30.0) -> str:
        """The first log line (from now on) containing ``text``."""
        while True:
            line = self.lines.get(timeout=timeout_s)  # queue.Empty after timeout_s of silence
            if text in line:
                return line

    def wait_until_serving(self, timeout_s: float = 30.0) -> None:
        """Locust starts serving right after its init hooks, and says nothing when it does."""
        host, port = self.url.removeprefix("http://").split(":")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
            with contextlib.suppress(queue.Empty):  # a short pause, or the next log line
                self.lines.get(timeout=0.05)

    def post(self, path: str, form: dict[str, Any]) -> dict[str, Any]:
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(self.url + path, data=data, timeout=10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body

    def get_json(self, path: str) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + path, timeout=10) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def web_ui(tmp_path: Path) -> Iterator[WebUI]:
    ui = WebUI(tmp_path)
    try:
        ui.wait_for_log("started mock-soniox")
        ui.wait_until_serving()
        yield ui
    finally:
        ui.close()


def test_a_remote_host_posted_to_swarm_is_refused_then_an_empty_one_uses_the_mock(
    web_ui: WebUI,
) -> None:
    swarm = {"user_count": 2, "spawn_rate": 2}
    web_ui.post("/swarm", {**swarm, "host": "wss://tts-rt.soniox.com"})
    web_ui.wait_for_log("refusing to start")
    summary = web_ui.get_json("/soniox/summary.json")
    assert summary["thresholds"]["passed"] is False
    assert summary["thresholds"]["problems"][0].startswith("target refused")

    web_ui.post("/swarm", {**swarm, "host": ""})  # the field emptied: the mock started for the run
    web_ui.wait_for_log("All users spawned")
    summary = web_ui.get_json("/soniox/summary.json")
    assert not [p for p in summary["thresholds"]["problems"] if p.startswith("target refused")]
