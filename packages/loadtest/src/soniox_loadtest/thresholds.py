"""Pass/fail rules for a load run, kept free of locust so they can be unit-tested."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Limits a run must stay within; ``None`` switches a check off."""

    max_fail_ratio: float | None = 0.01
    max_p95_ttfa_ms: float | None = 2000.0
    min_completed: int = 1  # a run that completed nothing has measured nothing


@dataclass(frozen=True)
class RunResult:
    """The numbers the thresholds are checked against."""

    requests: int
    failures: int
    completed: int  # streams or sessions that finished cleanly
    p95_ttfa_ms: float | None  # None when no first-audio sample exists


def violations(result: RunResult, limits: Thresholds) -> list[str]:
    """Every threshold the run missed, as a sentence; an empty list means the run passed."""
    problems: list[str] = []
    if result.completed < limits.min_completed:
        problems.append(
            f"only {result.completed} streams/sessions completed, "
            f"at least {limits.min_completed} required"
        )
    if limits.max_fail_ratio is not None:
        ratio = result.failures / result.requests if result.requests else 0.0
        if ratio > limits.max_fail_ratio:
            problems.append(
                f"failure ratio {ratio:.3f} ({result.failures}/{result.requests}) "
                f"above {limits.max_fail_ratio:.3f}"
            )
    p95, limit = result.p95_ttfa_ms, limits.max_p95_ttfa_ms
    if limit is not None and p95 is not None and p95 > limit:
        problems.append(f"p95 time to first audio {p95:.0f} ms above {limit:.0f} ms")
    return problems
