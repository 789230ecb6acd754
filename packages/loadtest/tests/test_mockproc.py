"""The mock a load test starts: with ``workers``, several processes on one port, all stopped."""

import json
import urllib.request

import psutil

from soniox_loadtest.mockproc import start_mock


def test_a_mock_with_two_workers_serves_from_both_and_stops_them_all() -> None:
    mock = start_mock(time_scale=0, workers=2)
    try:
        workers = psutil.Process(mock.process.pid).children()
        assert len(workers) == 2
        ready_url = mock.host.replace("ws://", "http://") + "/readyz"
        with urllib.request.urlopen(ready_url, timeout=10) as resp:
            body = json.load(resp)
        assert body["workers"] == 2
        assert body["pid"] in {w.pid for w in workers}
    finally:
        mock.stop()
    assert mock.process.returncode == 0
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive
