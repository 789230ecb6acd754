"""The Soniox section of the HTML report and the web UI page."""

from soniox_loadtest.metrics import ClusterTotals, RunTotals
from soniox_loadtest.report import SECTION_ID, inject, section
from soniox_loadtest.traffic import reply_chunks, think_time


def summary_with_ttfa() -> tuple[dict[str, object], list[dict[str, object]]]:
    totals, cluster = RunTotals(), ClusterTotals()
    for t in range(3):
        totals.stream_started("tts")
        totals.stream_finished("tts", "503" if t == 2 else None)
        totals.record("TTS time to first audio ms", 150.0 + 50 * t)
        cluster.add("local", totals.drain())
        cluster.timeline.close_window(2.0 * (t + 1))
    summary = cluster.summary(6.0)
    summary["thresholds"] = {"passed": False, "problems": ["failure ratio 0.333 above 0.010"]}
    return summary, cluster.timeline.rows


def test_the_section_shows_verdict_counts_metrics_and_a_ttfa_chart() -> None:
    summary, rows = summary_with_ttfa()
    html = section(summary, rows)
    assert "Soniox load test: FAILED" in html and "failure ratio 0.333" in html
    assert "TTS (raw protocol)" in html and "503: 1" in html
    assert "TTS time to first audio ms" in html
    assert html.count("<polyline") == 3  # p50, p95, p99 over time


def test_the_section_goes_above_locusts_app_root_once() -> None:
    summary, rows = summary_with_ttfa()
    # locust's report inlines a bundle that contains "<body" strings of its own
    page = '<html><script>x="<body style=1>"</script><body>\n<div id="root"></div></body></html>'
    once = inject(page, section(summary, rows))
    twice = inject(once, section(summary, rows))
    assert twice.count(f'<section id="{SECTION_ID}">') == 1
    assert '<body style=1>"</script>' in twice  # the bundle is untouched
    assert twice.index(f'<section id="{SECTION_ID}">') < twice.index('<div id="root">')


def test_think_time_is_jittered_around_its_mean() -> None:
    import random

    rng = random.Random(1)
    waits = [think_time(1.0, 0.5, rng) for _ in range(200)]
    assert min(waits) >= 0.5 and max(waits) <= 1.5 and len(set(waits)) > 100
    assert think_time(1.0, 0.0, rng) == 1.0


def test_replies_vary_in_length_and_split_into_words_at_a_token_rate() -> None:
    import random

    rng = random.Random(2)
    lengths = {len(reply_chunks((1, 4), 0.0, rng)) for _ in range(50)}
    assert lengths == {1, 2, 3, 4}
    words = reply_chunks((1, 1), 30.0, rng)
    assert len(words) > 5 and all(w.endswith(" ") and " " not in w[:-1] for w in words)
