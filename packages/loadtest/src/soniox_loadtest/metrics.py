"""Run-wide counters locust's request stats do not keep, split by kind: TTS, PLUGIN, STT.

Each process keeps a :class:`RunTotals`; it sends what changed since its last report
(:meth:`RunTotals.drain`: counter deltas, its in-flight gauges, CPU time and new samples) and the
master adds the deltas up in :class:`ClusterTotals`. Both reset on test start and on
``reset_stats``, so every test started from the web UI is summarised on its own. Every stream
that starts ends in exactly one of completed, failed, abandoned (cut off when its user stopped)
or still in flight, so ``started = completed + failed + abandoned + in_flight``. No locust here.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from .samples import Samples, Timeline

KINDS = ("tts", "plugin", "stt")
OUTCOMES = ("started", "completed", "failed", "abandoned", "barge_in")
# Generator health: above these, the load generator (not the target) may be what was measured.
MAX_HEALTHY_CPU_PCT = 85.0
MAX_HEALTHY_SEND_LAG_MS = 50.0
SEND_LAG = "STT send lag ms"  # how late audio chunks left against their real-time schedule


class RunTotals:
    """Counters of one locust process (only ever touched from its gevent hub thread)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counters: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.peak_in_flight = 0
        self.samples = Samples()
        self.judging = True  # False during the warm-up: samples and outcomes are not judged
        self._sent: Counter[str] = Counter()

    # -- streams ------------------------------------------------------------------------
    def stream_started(self, kind: str) -> None:
        self.counters[f"{kind}.started"] += 1
        self.in_flight[kind] += 1
        self.peak_in_flight = max(self.peak_in_flight, sum(self.in_flight.values()))

    def stream_finished(
        self, kind: str, failure_label: str | None, *, barge_in: bool = False
    ) -> None:
        """A stream that ended on its own (or was cancelled by a barge-in) is judged."""
        self.in_flight[kind] -= 1
        outcome = "failed" if failure_label is not None else "completed"
        self.counters[f"{kind}.{outcome}"] += 1
        if barge_in and failure_label is None:
            self.counters[f"{kind}.barge_in"] += 1
        if self.judging:
            self.counters[f"judged.{outcome}"] += 1
        if failure_label is not None:
            self.counters[f"{kind}.errors.{failure_label}"] += 1

    def stream_abandoned(self, kind: str) -> None:
        """A stream cut off because its user was stopped: counted, but neither way."""
        self.in_flight[kind] -= 1
        self.counters[f"{kind}.abandoned"] += 1

    def add(self, name: str, amount: float = 1) -> None:
        """Any other counter: ``tts.audio_frames``, ``stt.audio_ms_sent``, ``tts.reconnects``..."""
        self.counters[name] += amount  # type: ignore[assignment]

    def record(self, name: str, value: float) -> None:
        self.samples.record(name, value, judged=self.judging)

    # -- reporting ----------------------------------------------------------------------
    def drain(self) -> dict[str, Any]:
        """What changed since the last drain (JSON-safe), plus this process's gauges."""
        delta = {k: v - self._sent[k] for k, v in self.counters.items() if v != self._sent[k]}
        self._sent = Counter(self.counters)
        return {
            "counters": delta,
            "in_flight": dict(self.in_flight),
            "peak_in_flight": self.peak_in_flight,
            "samples": self.samples.drain(),
            "cpu_s": time.process_time(),
            "wall_s": time.monotonic(),
        }


class ClusterTotals:
    """The master's (or the local process's) view: the sum of every process's deltas."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counters: Counter[str] = Counter()
        self.in_flight: dict[str, dict[str, int]] = {}
        self.peak_in_flight = 0
        self.samples = Samples()
        self.timeline = Timeline()
        self.cpu_pct: dict[str, float] = {}  # latest CPU % per source
        self.max_cpu_pct = 0.0
        self._clock: dict[str, tuple[float, float]] = {}
        self.sources: set[str] = set()

    def add(self, source: str, report: dict[str, Any]) -> None:
        self.sources.add(source)
        self.counters.update(report.get("counters", {}))
        self.in_flight[source] = {k: int(v) for k, v in report.get("in_flight", {}).items()}
        live = sum(sum(kinds.values()) for kinds in self.in_flight.values())
        self.peak_in_flight = max(self.peak_in_flight, live, int(report.get("peak_in_flight", 0)))
        samples = Samples.from_json(report.get("samples", {}))
        self.samples.merge(samples)
        self.timeline.window.merge(samples)
        if "cpu_s" in report and "wall_s" in report:
            cpu, wall = float(report["cpu_s"]), float(report["wall_s"])
            if source in self._clock:
                last_cpu, last_wall = self._clock[source]
                if wall - last_wall >= 0.5:
                    pct = (cpu - last_cpu) / (wall - last_wall) * 100.0
                    self.cpu_pct[source] = round(pct, 1)
                    self.max_cpu_pct = max(self.max_cpu_pct, pct)
                    self._clock[source] = (cpu, wall)
            else:
                self._clock[source] = (cpu, wall)

    def kind(self, kind: str, seconds: float) -> dict[str, Any]:
        c = self.counters
        data: dict[str, Any] = {o: int(c[f"{kind}.{o}"]) for o in OUTCOMES}
        data["in_flight"] = sum(src.get(kind, 0) for src in self.in_flight.values())
        prefix = f"{kind}.errors."
        data["errors_by_code"] = {
            k[len(prefix) :]: int(v) for k, v in sorted(c.items()) if k.startswith(prefix) and v
        }
        data["connections_opened"] = int(c[f"{kind}.connections_opened"])
        data["per_s"] = round(data["completed"] / seconds, 2)
        if kind == "stt":
            data["audio_s_sent"] = round(c["stt.audio_ms_sent"] / 1000.0, 1)
        else:
            data["reconnects"] = int(c[f"{kind}.reconnects"])
            data["audio_frames"] = int(c[f"{kind}.audio_frames"])
            data["audio_s"] = round(c[f"{kind}.audio_ms"] / 1000.0, 1)
            data["audio_s_per_s"] = round(c[f"{kind}.audio_ms"] / 1000.0 / seconds, 2)
        return data

    def health(self) -> dict[str, Any]:
        """Can the numbers be trusted? Client CPU and how late STT audio left."""
        lag = self.samples.all.get(SEND_LAG)
        p95_lag = lag.percentile(0.95) if lag else None
        warnings = []
        if self.max_cpu_pct > MAX_HEALTHY_CPU_PCT:
            warnings.append(
                f"load generator CPU reached {self.max_cpu_pct:.0f}% of a core "
                f"(above {MAX_HEALTHY_CPU_PCT:.0f}%): latencies include client queueing"
            )
        if p95_lag is not None and p95_lag > MAX_HEALTHY_SEND_LAG_MS:
            warnings.append(
                f"STT audio left p95 {p95_lag:.0f} ms late (above {MAX_HEALTHY_SEND_LAG_MS:.0f} "
                "ms): the generator could not keep real time"
            )
        return {
            "max_cpu_pct": round(self.max_cpu_pct, 1),
            "cpu_pct_by_process": dict(sorted(self.cpu_pct.items())),
            "p95_stt_send_lag_ms": p95_lag,
            "trustworthy": not warnings,
            "warnings": warnings,
        }

    def summary(self, duration_s: float) -> dict[str, Any]:
        """Totals by kind and over all kinds, rates over ``duration_s``, metrics, health."""
        seconds = max(duration_s, 1e-9)
        kinds = {kind: self.kind(kind, seconds) for kind in KINDS}
        total: dict[str, Any] = {"duration_s": round(duration_s, 3), "workers": len(self.sources)}
        for outcome in OUTCOMES:
            total[f"streams_{outcome}"] = sum(k[outcome] for k in kinds.values())
        total["in_flight"] = sum(k["in_flight"] for k in kinds.values())
        total["peak_in_flight"] = self.peak_in_flight
        errors: Counter[str] = Counter()
        for k in kinds.values():
            errors.update(k["errors_by_code"])
        total["errors_by_code"] = dict(errors)
        total["reconnects"] = kinds["tts"]["reconnects"] + kinds["plugin"]["reconnects"]
        total["connections_opened"] = sum(k["connections_opened"] for k in kinds.values())
        total["stt_sessions"] = kinds["stt"]["started"]
        frames = kinds["tts"]["audio_frames"] + kinds["plugin"]["audio_frames"]
        total["audio_frames"] = frames
        total["audio_frames_per_s"] = round(frames / seconds, 1)
        total["streams_per_s"] = round(total["streams_completed"] / seconds, 2)
        total["audio_s_per_s"] = round(
            kinds["tts"]["audio_s_per_s"] + kinds["plugin"]["audio_s_per_s"], 2
        )
        total["judged_completed"] = int(self.counters["judged.completed"])
        total["judged_failed"] = int(self.counters["judged.failed"])
        total.update(kinds)
        total["metrics"] = self.samples.table()
        total["generator"] = self.health()
        return total
