"""Run-wide totals locust's request stats do not keep: streams in flight, frames, audio, errors.

Workers send :meth:`RunTotals.snapshot` to the master with every report; the master keeps the
latest snapshot per worker and adds them up (:class:`ClusterTotals`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class RunTotals:
    """Counters of one locust process (only ever touched from its gevent hub thread)."""

    streams_started: int = 0
    streams_completed: int = 0
    streams_failed: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    audio_frames: int = 0
    audio_bytes: int = 0
    audio_ms: float = 0.0
    connections_opened: int = 0
    reconnects: int = 0
    stt_sessions: int = 0
    stt_audio_ms_sent: float = 0.0
    errors_by_code: Counter[str] = field(default_factory=Counter)

    def stream_started(self) -> None:
        self.streams_started += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def stream_finished(self, failure_label: str | None) -> None:
        self.in_flight -= 1
        if failure_label is None:
            self.streams_completed += 1
        else:
            self.streams_failed += 1
            self.errors_by_code[failure_label] += 1

    def stream_abandoned(self) -> None:
        """A stream cut short by the run stopping: counted neither way."""
        self.in_flight -= 1

    def snapshot(self) -> dict[str, Any]:
        """JSON-safe copy for a worker report or a summary file."""
        data: dict[str, Any] = {name: getattr(self, name) for name in _SUMMED}
        data["errors_by_code"] = dict(self.errors_by_code)
        return data


# Every counter a snapshot carries and the master adds up: all fields but the error Counter.
_SUMMED = tuple(f.name for f in fields(RunTotals) if f.name != "errors_by_code")


class ClusterTotals:
    """The master's view: the latest snapshot of every worker (or of the local process)."""

    def __init__(self) -> None:
        self._latest: dict[str, dict[str, Any]] = {}
        self.peak_in_flight = 0  # highest sum of simultaneous in-flight streams seen in reports

    def update(self, source: str, snapshot: dict[str, Any]) -> None:
        self._latest[source] = snapshot
        current = sum(int(s.get("in_flight", 0)) for s in self._latest.values())
        self.peak_in_flight = max(self.peak_in_flight, current)

    @property
    def sources(self) -> int:
        return len(self._latest)

    def summary(self, duration_s: float) -> dict[str, Any]:
        """Totals over all sources plus rates over ``duration_s`` seconds of run time."""
        total: dict[str, Any] = dict.fromkeys(_SUMMED, 0)
        errors: Counter[str] = Counter()
        for snap in self._latest.values():
            for name in _SUMMED:
                total[name] += snap.get(name, 0)
            errors.update(snap.get("errors_by_code", {}))
        # Summing per-worker peaks would overstate; use the peak of the summed live counts, but
        # never report less than the largest single worker's own peak.
        single_peaks = [int(s.get("peak_in_flight", 0)) for s in self._latest.values()]
        total["peak_in_flight"] = max([self.peak_in_flight, *single_peaks])
        total["errors_by_code"] = dict(errors)
        total["workers"] = self.sources
        total["duration_s"] = round(duration_s, 3)
        seconds = max(duration_s, 1e-9)
        total["audio_frames_per_s"] = round(total["audio_frames"] / seconds, 1)
        total["streams_per_s"] = round(total["streams_completed"] / seconds, 2)
        total["audio_s_per_s"] = round(total["audio_ms"] / 1000.0 / seconds, 2)
        return total
