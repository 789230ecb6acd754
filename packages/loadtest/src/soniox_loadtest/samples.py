"""Distributions that are not requests: time to first audio, RTF, audio length, STT latencies.

Each process records samples into a :class:`Samples` (a histogram per metric name, values rounded
to three significant digits, so it stays small and adds up across workers). Workers send what
they recorded since their last report (:meth:`Samples.drain`); the master merges the deltas into
a run-wide :class:`Samples` and, every few seconds, closes a window into a :class:`Timeline` row
per metric: the percentiles over time behind the TTFA chart. No locust and no gevent here.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PERCENTILES = (0.5, 0.95, 0.99)


def bucket(value: float) -> float:
    """``value`` rounded to three significant digits (150.3 -> 150, 0.2734 -> 0.273)."""
    if value <= 0 or not math.isfinite(value):
        return 0.0
    return round(value, 2 - math.floor(math.log10(value)))


@dataclass
class Histogram:
    counts: Counter[float] = field(default_factory=Counter)
    total: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def add(self, value: float) -> None:
        self.counts[bucket(value)] += 1
        self.total += value

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def percentile(self, q: float) -> float | None:
        """The smallest recorded value with at least ``q`` of all samples at or below it."""
        count = self.count
        if not count:
            return None
        rank = max(1, math.ceil(q * count))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
                return value
        return max(self.counts)  # pragma: no cover - rank <= count always stops the loop

    def row(self) -> dict[str, Any]:
        """count, mean, p50/p95/p99 and max, rounded for tables."""
        count = self.count
        row: dict[str, Any] = {"count": count}
        row["mean"] = round(self.total / count, 1) if count else None
        for q in PERCENTILES:
            row[f"p{round(q * 100)}"] = self.percentile(q)
        row["max"] = max(self.counts) if count else None
        return row

    def to_json(self) -> dict[str, Any]:
        return {"counts": [[v, n] for v, n in self.counts.items()], "total": self.total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        counts: Counter[float] = Counter()
        for value, n in data.get("counts", []):
            counts[float(value)] += int(n)
        return cls(counts, float(data.get("total", 0.0)))


class Samples:
    """Histograms by metric name; ``judged`` holds only the samples after the warm-up."""

    def __init__(self) -> None:
        self.all: dict[str, Histogram] = {}
        self.judged: dict[str, Histogram] = {}

    def record(self, name: str, value: float, *, judged: bool = True) -> None:
        self.all.setdefault(name, Histogram()).add(value)
        if judged:
            self.judged.setdefault(name, Histogram()).add(value)

    def merge(self, other: Samples) -> None:
        for mine, theirs in ((self.all, other.all), (self.judged, other.judged)):
            for name, hist in theirs.items():
                mine.setdefault(name, Histogram()).merge(hist)

    def drain(self) -> dict[str, Any]:
        """Everything recorded since the last drain, JSON-safe, and start afresh."""
        data = {
            "all": {n: h.to_json() for n, h in self.all.items()},
            "judged": {n: h.to_json() for n, h in self.judged.items()},
        }
        self.clear()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Samples:
        samples = cls()
        for part, target in (("all", samples.all), ("judged", samples.judged)):
            for name, hist in data.get(part, {}).items():
                target[name] = Histogram.from_json(hist)
        return samples

    def clear(self) -> None:
        self.all = {}
        self.judged = {}

    def table(self) -> list[dict[str, Any]]:
        """One row per metric name, sorted by name."""
        return [{"name": name, **self.all[name].row()} for name in sorted(self.all)]


@dataclass
class Timeline:
    """Per-window percentiles: rows of (seconds since start, metric, count, p50, p95, p99)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    window: Samples = field(default_factory=Samples)

    def close_window(self, elapsed_s: float) -> None:
        for name, hist in sorted(self.window.all.items()):
            self.rows.append({"t": round(elapsed_s, 1), "name": name, **hist.row()})
        self.window = Samples()

    def series(self, name: str) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["name"] == name]

    def clear(self) -> None:
        self.rows = []
        self.window = Samples()
