"""The Soniox part of the reports: one HTML section (tables and a TTFA-over-time chart).

The same section goes into locust's HTML report (``--html``, and the web UI's "Download
Report"), and is the page the web UI serves at ``/soniox``. Pure string building, no locust.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

TTFA_METRICS = ("TTS time to first audio ms", "PLUGIN time to first audio ms")
SECTION_ID = "soniox-summary"
_KIND_TITLES = {"tts": "TTS (raw protocol)", "plugin": "PLUGIN (livekit plugin)", "stt": "STT"}
_KIND_FIELDS = (
    ("started", "started"),
    ("completed", "completed"),
    ("failed", "failed"),
    ("abandoned", "abandoned at stop"),
    ("barge_in", "of which barge-in cancels"),
    ("in_flight", "in flight"),
    ("per_s", "completed / s"),
    ("audio_s_per_s", "audio s / s"),
    ("audio_s_sent", "audio s sent"),
    ("connections_opened", "sockets opened"),
    ("reconnects", "reconnects"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:g}"
    if isinstance(value, dict):
        return escape(", ".join(f"{k}: {v}" for k, v in value.items()) or "none")
    return escape(str(value))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def ttfa_chart(rows: Sequence[dict[str, Any]], width: int = 760, height: int = 220) -> str:
    """An inline SVG: p50/p95/p99 time to first audio per window, one line per percentile."""
    points = [r for r in rows if r["name"] in TTFA_METRICS and r.get("p95") is not None]
    if not points:
        return "<p>No time-to-first-audio samples yet.</p>"
    left, bottom, top, right = 56, 28, 12, 150
    t_max = max(float(r["t"]) for r in points) or 1.0
    v_max = max(float(r["p99"] or r["p95"]) for r in points) * 1.1 or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def xy(t: float, v: float) -> str:
        return f"{left + t / t_max * plot_w:.1f},{top + plot_h - v / v_max * plot_h:.1f}"

    colours = {"p50": "#2e7d32", "p95": "#ef6c00", "p99": "#c62828"}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="time to first audio over time">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" '
        'fill="none" stroke="#999"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h - frac * plot_h
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.0f}" text-anchor="end" font-size="11">'
            f"{v_max * frac:.0f} ms</text>"
        )
    parts.append(f'<text x="{left}" y="{height - 8}" font-size="11">0 s</text>')
    parts.append(
        f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" '
        f'font-size="11">{t_max:.0f} s</text>'
    )
    legend_y = top + 4
    for metric in TTFA_METRICS:
        series = [r for r in points if r["name"] == metric]
        if not series:
            continue
        dash = "" if metric.startswith("TTS") else ' stroke-dasharray="5,3"'
        for key, colour in colours.items():
            line = " ".join(xy(float(r["t"]), float(r[key] or 0.0)) for r in series)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{line}"/>'
            )
            label = f"{metric.split()[0]} {key}"
            parts.append(
                f'<line x1="{width - right + 10}" x2="{width - right + 34}" '
                f'y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="2"'
                f"{dash}/>"
            )
            parts.append(
                f'<text x="{width - right + 40}" y="{legend_y + 4}" font-size="11">'
                f"{escape(label)}</text>"
            )
            legend_y += 16
    parts.append("</svg>")
    return "".join(parts)


def section(summary: dict[str, Any], timeline: Sequence[dict[str, Any]]) -> str:
    """The Soniox section: verdict, health, streams by kind, metrics, TTFA over time."""
    verdict = summary.get("thresholds", {})
    passed = verdict.get("passed")
    state = "PASSED" if passed else ("FAILED" if passed is False else "running")
    problems = "".join(f"<li>{escape(p)}</li>" for p in verdict.get("problems", []))
    health = summary.get("generator", {})
    warnings = "".join(f"<li>{escape(w)}</li>" for w in health.get("warnings", []))
    kinds = [k for k in ("tts", "plugin", "stt") if summary.get(k, {}).get("started")]
    kind_rows = [
        [label, *[summary[k].get(key) for k in kinds]]
        for key, label in _KIND_FIELDS
        if any(key in summary[k] for k in kinds)
    ]
    kind_rows.append(["errors by code", *[summary[k].get("errors_by_code") for k in kinds]])
    metrics = [
        [m["name"], m["count"], m["p50"], m["p95"], m["p99"], m["max"]]
        for m in summary.get("metrics", [])
    ]
    style = (
        f"#{SECTION_ID}{{font-family:sans-serif;margin:16px;padding:12px;border:1px solid #bbb;"
        f"border-radius:6px;background:#fff;color:#222}}#{SECTION_ID} table{{border-collapse:"
        f"collapse;margin:6px 0 12px}}#{SECTION_ID} td,#{SECTION_ID} th{{border:1px solid #ccc;"
        f"padding:3px 8px;text-align:right}}#{SECTION_ID} td:first-child{{text-align:left}}"
    )
    return (
        f'<section id="{SECTION_ID}"><style>{style}</style>'
        f"<h2>Soniox load test: {state}</h2>"
        f"<p>{_cell(summary.get('duration_s'))} s, {summary.get('workers', 0)} load "
        f"process(es), peak {summary.get('peak_in_flight', 0)} streams in flight, "
        f"{_cell(summary.get('audio_s_per_s'))} audio s/s, "
        f"{_cell(summary.get('audio_frames_per_s'))} audio frames/s. Thresholds judge streams "
        f"that ended after the warm-up.</p>"
        + (f"<ul>{problems}</ul>" if problems else "")
        + f"<p>Generator health: CPU max {_cell(health.get('max_cpu_pct'))} % of a core, STT "
        f"send lag p95 {_cell(health.get('p95_stt_send_lag_ms'))} ms: "
        f"{'OK' if health.get('trustworthy', True) else 'NOT TRUSTWORTHY'}</p>"
        + (f"<ul>{warnings}</ul>" if warnings else "")
        + "<h3>Streams and sessions</h3>"
        + _table(["", *[_KIND_TITLES[k] for k in kinds]], kind_rows)
        + "<h3>Measurements (not requests)</h3>"
        + _table(["metric", "count", "p50", "p95", "p99", "max"], metrics)
        + "<h3>Time to first audio over time (per window)</h3>"
        + ttfa_chart(timeline)
        + "</section>"
    )


def inject(html: str, fragment: str) -> str:
    """``html`` with ``fragment`` above locust's app root (replacing an earlier injection).

    Locust's report inlines its JavaScript bundle, which itself contains ``<body`` strings, so
    the anchor is the ``<div id="root">`` the app renders into, else the last ``<body>`` tag.
    """
    start = html.find(f'<section id="{SECTION_ID}">')
    if start >= 0:
        end = html.find("</section>", start) + len("</section>")
        html = html[:start] + html[end:]
    root = html.find('<div id="root">')
    if root >= 0:
        return html[:root] + fragment + html[root:]
    body = html.rfind("<body")
    if body < 0:
        return fragment + html
    at = html.find(">", body) + 1
    return html[:at] + fragment + html[at:]


def page(fragment: str, refresh_s: int | None = 3) -> str:
    """A standalone page around ``fragment`` (the web UI's ``/soniox``)."""
    meta = f'<meta http-equiv="refresh" content="{refresh_s}">' if refresh_s else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'>{meta}<title>Soniox</title></head>"
        f"<body>{fragment}</body></html>"
    )
