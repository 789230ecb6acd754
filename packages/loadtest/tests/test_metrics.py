"""Run totals: counters by kind, outcomes that add up, deltas summed over workers, resets."""

from soniox_loadtest.metrics import SEND_LAG, ClusterTotals, RunTotals


def test_every_started_stream_ends_in_exactly_one_outcome() -> None:
    totals = RunTotals()
    for _ in range(4):
        totals.stream_started("tts")
    totals.stream_finished("tts", None)
    totals.stream_finished("tts", "408")
    totals.stream_finished("tts", None, barge_in=True)
    totals.stream_abandoned("tts")  # its user was stopped mid-stream
    cluster = ClusterTotals()
    cluster.add("local", totals.drain())
    tts = cluster.summary(10.0)["tts"]
    assert (tts["started"], tts["completed"], tts["failed"], tts["abandoned"]) == (4, 2, 1, 1)
    assert tts["barge_in"] == 1 and tts["in_flight"] == 0
    assert tts["errors_by_code"] == {"408": 1}


def test_tts_and_stt_are_counted_apart() -> None:
    totals = RunTotals()
    totals.stream_started("tts")
    totals.stream_started("stt")
    totals.stream_finished("stt", "429")
    totals.add("tts.audio_ms", 7000.0)
    cluster = ClusterTotals()
    cluster.add("local", totals.drain())
    summary = cluster.summary(10.0)
    assert summary["tts"]["in_flight"] == 1 and summary["tts"]["failed"] == 0
    assert summary["stt"]["failed"] == 1 and summary["stt"]["errors_by_code"] == {"429": 1}
    assert summary["tts"]["audio_s_per_s"] == 0.7
    assert summary["streams_started"] == 2 and summary["in_flight"] == 1


def test_the_master_adds_up_what_each_worker_sent_since_its_last_report() -> None:
    w1, w2, cluster = RunTotals(), RunTotals(), ClusterTotals()
    for worker in (w1, w2):
        worker.stream_started("tts")
        worker.add("tts.audio_frames", 100)
    cluster.add("w1", w1.drain())
    cluster.add("w2", w2.drain())
    w1.stream_finished("tts", None)
    w1.add("tts.audio_frames", 50)
    cluster.add("w1", w1.drain())  # only the change since its last report
    summary = cluster.summary(duration_s=10.0)
    assert summary["workers"] == 2
    assert summary["audio_frames"] == 250 and summary["audio_frames_per_s"] == 25.0
    assert summary["peak_in_flight"] == 2  # both workers had a stream open at once
    assert summary["in_flight"] == 1 and summary["streams_completed"] == 1


def test_a_reset_starts_the_next_test_from_zero() -> None:
    totals, cluster = RunTotals(), ClusterTotals()
    totals.stream_started("tts")
    totals.stream_finished("tts", None)
    cluster.add("local", totals.drain())
    totals.reset()
    cluster.reset()
    totals.stream_started("stt")
    totals.stream_finished("stt", None)
    cluster.add("local", totals.drain())
    summary = cluster.summary(5.0)
    assert summary["tts"]["completed"] == 0 and summary["stt"]["completed"] == 1


def test_warm_up_outcomes_and_samples_are_kept_but_not_judged() -> None:
    totals, cluster = RunTotals(), ClusterTotals()
    totals.judging = False
    totals.stream_started("tts")
    totals.stream_finished("tts", "503")
    totals.record("TTS time to first audio ms", 900.0)
    totals.judging = True
    totals.stream_started("tts")
    totals.stream_finished("tts", None)
    totals.record("TTS time to first audio ms", 150.0)
    cluster.add("local", totals.drain())
    summary = cluster.summary(5.0)
    assert (summary["judged_completed"], summary["judged_failed"]) == (1, 0)
    assert summary["tts"]["failed"] == 1  # still shown, just not judged
    assert cluster.samples.all["TTS time to first audio ms"].count == 2
    assert cluster.samples.judged["TTS time to first audio ms"].percentile(0.95) == 150.0


def test_generator_health_warns_when_stt_audio_leaves_late() -> None:
    totals, cluster = RunTotals(), ClusterTotals()
    for lag in [1.0] * 90 + [120.0] * 10:
        totals.record(SEND_LAG, lag)
    cluster.add("local", totals.drain())
    health = cluster.summary(5.0)["generator"]
    assert health["trustworthy"] is False
    assert "STT audio left p95 120 ms late" in health["warnings"][0]
