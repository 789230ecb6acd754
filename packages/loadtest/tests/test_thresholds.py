"""The pass/fail rules that decide locust's exit code."""

from soniox_loadtest.thresholds import RunResult, Thresholds, violations


def test_a_clean_run_passes() -> None:
    result = RunResult(requests=200, failures=1, completed=199, p95_ttfa_ms=180.0)
    assert violations(result, Thresholds(max_fail_ratio=0.01, max_p95_ttfa_ms=500.0)) == []


def test_too_many_failures_fail_the_run() -> None:
    result = RunResult(requests=100, failures=5, completed=95, p95_ttfa_ms=100.0)
    (problem,) = violations(result, Thresholds(max_fail_ratio=0.01))
    assert "failure ratio 0.050 (5/100)" in problem


def test_slow_first_audio_fails_the_run() -> None:
    result = RunResult(requests=10, failures=0, completed=10, p95_ttfa_ms=2500.0)
    (problem,) = violations(result, Thresholds(max_p95_ttfa_ms=2000.0))
    assert problem == "p95 time to first audio 2500 ms above 2000 ms"


def test_a_run_that_completed_nothing_fails_even_without_failures() -> None:
    result = RunResult(requests=0, failures=0, completed=0, p95_ttfa_ms=None)
    problems = violations(result, Thresholds())
    assert len(problems) == 1 and "only 0 streams/sessions completed" in problems[0]


def test_checks_switched_off_never_fail() -> None:
    result = RunResult(requests=10, failures=10, completed=0, p95_ttfa_ms=99_999.0)
    limits = Thresholds(max_fail_ratio=None, max_p95_ttfa_ms=None, min_completed=0)
    assert violations(result, limits) == []


def test_every_missed_threshold_is_reported() -> None:
    result = RunResult(requests=10, failures=10, completed=0, p95_ttfa_ms=5000.0)
    assert len(violations(result, Thresholds())) == 3
