"""Run totals: per-process counters and the master's sum over workers."""

from soniox_loadtest.metrics import ClusterTotals, RunTotals


def test_streams_in_flight_peak_and_errors_by_code() -> None:
    totals = RunTotals()
    for _ in range(3):
        totals.stream_started()
    totals.stream_finished(None)
    totals.stream_finished("408")
    totals.stream_abandoned()  # cut short by the end of the run: neither outcome
    snap = totals.snapshot()
    assert snap["in_flight"] == 0 and snap["peak_in_flight"] == 3
    assert snap["streams_completed"] == 1 and snap["streams_failed"] == 1
    assert snap["errors_by_code"] == {"408": 1}


def test_the_master_adds_up_the_latest_report_of_each_worker() -> None:
    cluster = ClusterTotals()
    cluster.update("w1", {"in_flight": 4, "peak_in_flight": 4, "audio_frames": 100})
    cluster.update("w2", {"in_flight": 5, "peak_in_flight": 5, "audio_frames": 50})
    # Reports are cumulative: a newer report from w1 replaces its older one.
    cluster.update(
        "w1",
        {"in_flight": 0, "peak_in_flight": 4, "audio_frames": 300, "errors_by_code": {"503": 2}},
    )
    summary = cluster.summary(duration_s=10.0)
    assert summary["workers"] == 2
    assert summary["audio_frames"] == 350
    assert summary["audio_frames_per_s"] == 35.0
    assert summary["peak_in_flight"] == 9  # both workers at their peak in the same round
    assert summary["errors_by_code"] == {"503": 2}
