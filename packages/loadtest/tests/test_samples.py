"""Histograms of non-request measurements: percentiles, merging, windows over time."""

from soniox_loadtest.samples import Histogram, Samples, Timeline, bucket


def test_values_keep_three_significant_digits() -> None:
    assert bucket(150.34) == 150.0
    assert bucket(57.34) == 57.3
    assert bucket(0.27349) == 0.273
    assert bucket(15234.0) == 15200.0


def test_percentiles_over_a_hundred_samples() -> None:
    hist = Histogram()
    for value in range(1, 101):
        hist.add(float(value))
    row = hist.row()
    assert (row["count"], row["p50"], row["p95"], row["p99"], row["max"]) == (100, 50, 95, 99, 100)
    assert row["mean"] == 50.5


def test_samples_travel_as_json_and_add_up() -> None:
    worker, master = Samples(), Samples()
    worker.record("TTS time to first audio ms", 150.0)
    worker.record("TTS time to first audio ms", 250.0, judged=False)
    master.merge(Samples.from_json(worker.drain()))
    assert worker.all == {}  # drained
    assert master.all["TTS time to first audio ms"].count == 2
    assert master.judged["TTS time to first audio ms"].count == 1


def test_each_window_becomes_one_row_per_metric() -> None:
    timeline = Timeline()
    timeline.window.record("TTS time to first audio ms", 100.0)
    timeline.close_window(2.0)
    timeline.window.record("TTS time to first audio ms", 300.0)
    timeline.close_window(4.0)
    series = timeline.series("TTS time to first audio ms")
    assert [(row["t"], row["p95"]) for row in series] == [(2.0, 100.0), (4.0, 300.0)]
