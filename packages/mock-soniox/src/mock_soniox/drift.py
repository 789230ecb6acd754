"""``mock-soniox drift``: where the live service and the mock disagree, by CONFORMANCE.md row.

The conformance tests the table names run twice, once against the in-process mock and once
against the live service (``MOCK_SONIOX_TARGET=live``, ``SONIOX_API_KEY``; the URLs from
``MOCK_SONIOX_LIVE_STT_URL`` / ``MOCK_SONIOX_LIVE_TTS_URL``, default the real ones). Each run
records what every test sent and saw (``MOCK_SONIOX_OBSERVE``, ``testing/observe.py``), and the
report compares those observations, not pass/fail alone: the frame shapes and close codes, the
error texts, the timing class of each answer, the model list, and the outcome. Tests that only
the mock can run are skipped against the service and listed as such.

The suite runs from a checkout (the tests are not shipped in the wheel): ``--package`` names
``packages/mock-soniox``, found beside the installed sources by default.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sanitize import REDACTED, redact_text
from .testing.target import KEY_ENV, OBSERVE_ENV, TARGET_ENV, TargetError, live_target

NODE = re.compile(r"`((?:tests|contract)/[\w/]+\.py)::(\w+)(\[[^\]`]+\])?`")
_LOCAL_NODE = re.compile(r"(?:^|/)((?:tests|contract)/[^:]+::.+)$")
TIMING_CLASSES = ((1_000.0, "under 1 s"), (10_000.0, "1-10 s"))
SLOWEST = "over 10 s"
MAX_EVENTS = 14  # events shown per socket in the report
MAX_LINE = 220  # characters shown per event


@dataclass(frozen=True)
class Row:
    """One behaviour of CONFORMANCE.md and the test nodes that prove it."""

    section: str
    behaviour: str
    nodes: tuple[str, ...]  # "tests/x.py::name" or "tests/x.py::name[id]"

    def covers(self, node: str) -> bool:
        return any(node == n or ("[" not in n and node.startswith(n + "[")) for n in self.nodes)


@dataclass(frozen=True)
class Difference:
    category: str  # outcome, frame shape, message text, timing class, model list
    mock: str
    live: str


@dataclass
class TestDrift:
    node: str
    differences: list[Difference] = field(default_factory=list)


# --- CONFORMANCE.md ---


def read_rows(table: Path) -> list[Row]:
    """Every row of the table that names a test, with its section heading."""
    rows: list[Row] = []
    section = ""
    for line in table.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            continue
        if not line.startswith("| ") or line.startswith("| Behaviour"):
            continue
        nodes = tuple(f"{path}::{name}{ids}" for path, name, ids in NODE.findall(line))
        if nodes:
            rows.append(Row(section, line.split(" | ")[0].removeprefix("| ").strip(), nodes))
    return rows


def suite_nodes(rows: Iterable[Row]) -> list[str]:
    """The test functions to run (whole functions: a row may name one parameter of several)."""
    seen: dict[str, None] = {}
    for row in rows:
        for node in row.nodes:
            if node.startswith("tests/"):
                seen.setdefault(node.split("[", 1)[0])
    return list(seen)


# --- running the suite against one target ---


def default_package() -> Path:
    """``packages/mock-soniox`` of the checkout these sources are installed from."""
    return Path(__file__).resolve().parents[2]


def run_suite(
    package: Path, target: str, out: Path, nodes: list[str], env: Mapping[str, str]
) -> tuple[int, str]:
    """Run ``nodes`` against ``target``, observations into ``out``; pytest's code and summary."""
    run_env = {k: v for k, v in env.items() if k not in (TARGET_ENV, OBSERVE_ENV)}
    run_env[TARGET_ENV] = target
    run_env[OBSERVE_ENV] = str(out)
    if target == "mock":
        run_env.pop(KEY_ENV, None)  # the mock run never sees the key
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--tb=line", "-p", "no:cacheprovider"]
        + [str(package / n) for n in nodes],
        cwd=package.parents[1],
        env=run_env,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else run.stderr.strip()[-500:]
    return run.returncode, scrub(summary, env.get(KEY_ENV))


def scrub(text: str, key: str | None) -> str:
    """``text`` with keys replaced: credential-shaped values, and the key itself if known."""
    cleaned, _ = redact_text(text)
    key = (key or "").strip()
    return cleaned.replace(key, REDACTED) if len(key) >= 8 else cleaned


# --- comparing observations ---


def local_node(nodeid: str) -> str:
    """A pytest node id as CONFORMANCE.md writes it (relative to packages/mock-soniox)."""
    match = _LOCAL_NODE.search(nodeid)
    return match.group(1) if match else nodeid


def shape(value: Any) -> str:
    """A JSON value's shape: keys and value types, lists as the set of their items' shapes."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shape(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + " | ".join(sorted({shape(v) for v in value})) + "]"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def timing_class(ms: float) -> str:
    for bound, name in TIMING_CLASSES:
        if ms < bound:
            return name
    return SLOWEST


def _facts(test: Mapping[str, Any]) -> dict[str, str]:
    """What is compared of one test's observation, by category."""
    shapes: set[str] = set()
    closes: list[str] = []
    messages: list[str] = []
    timings: list[str] = []
    for socket in test.get("sockets", []):
        events = socket.get("events", [])
        for event in events:
            if event["dir"] != "s2c":
                continue
            if "json" in event:
                frame = event["json"]
                shapes.add(shape(frame))
                if isinstance(frame, dict) and "error_code" in frame:
                    messages.append(
                        f"{frame.get('error_code')} {frame.get('error_type')}: "
                        f"{frame.get('error_message')}"
                    )
            elif "close" in event:
                closes.append(f"close {event['close']}")
        sent = [e["t_ms"] for e in events if e["dir"] == "c2s"]
        seen = [e["t_ms"] for e in events if e["dir"] == "s2c"]
        if seen:
            timings.append(timing_class(seen[-1] - (sent[-1] if sent else 0.0)))
    facts = {
        "outcome": str(test.get("outcome", "not run")),
        "frame shape": "\n".join([*sorted(shapes), *closes]) or "(no frames)",
        "message text": "\n".join(messages) or "(no error frames)",
        "timing class": ", ".join(timings) or "(no answers)",
    }
    models = test.get("notes", {}).get("models")
    if isinstance(models, dict):
        facts["model list"] = "\n".join(
            f"{name}: {state}" for name, state in sorted(models.items())
        )
    return facts


def compare_test(node: str, mock: Mapping[str, Any], live: Mapping[str, Any]) -> TestDrift:
    drift = TestDrift(node)
    mock_facts, live_facts = _facts(mock), _facts(live)
    for category in mock_facts.keys() | live_facts.keys():
        ours, theirs = mock_facts.get(category, "(none)"), live_facts.get(category, "(none)")
        if ours != theirs:
            if category == "model list":
                ours, theirs = _changed_lines(ours, theirs)
            drift.differences.append(Difference(category, ours, theirs))
    order = ["outcome", "frame shape", "message text", "timing class", "model list"]
    drift.differences.sort(key=lambda d: order.index(d.category))
    return drift


def _changed_lines(a: str, b: str) -> tuple[str, str]:
    left, right = a.splitlines(), b.splitlines()
    return (
        "\n".join(x for x in left if x not in right) or "(none)",
        "\n".join(x for x in right if x not in left) or "(none)",
    )


@dataclass
class RowResult:
    row: Row
    status: str  # differs, agrees, mock only, not run
    drifts: list[TestDrift] = field(default_factory=list)
    skip_reasons: list[str] = field(default_factory=list)


def compare(rows: list[Row], mock: Mapping[str, Any], live: Mapping[str, Any]) -> list[RowResult]:
    """Each row's verdict from the two observation files' ``tests``."""
    mock_tests = {local_node(k): v for k, v in mock.get("tests", {}).items()}
    live_tests = {local_node(k): v for k, v in live.get("tests", {}).items()}
    results: list[RowResult] = []
    for row in rows:
        nodes = sorted(n for n in mock_tests.keys() | live_tests.keys() if row.covers(n))
        result = RowResult(row, "not run")
        compared = 0
        for node in nodes:
            ours, theirs = mock_tests.get(node, {}), live_tests.get(node, {})
            if theirs.get("outcome") == "skipped" or ours.get("outcome") == "skipped":
                reason = theirs.get("reason") or ours.get("reason") or "skipped"
                if reason not in result.skip_reasons:
                    result.skip_reasons.append(str(reason))
                continue
            compared += 1
            drift = compare_test(node, ours, theirs)
            if drift.differences:
                result.drifts.append(drift)
        if result.drifts:
            result.status = "differs"
        elif compared:
            result.status = "agrees"
        elif result.skip_reasons:
            result.status = "mock only"
        results.append(result)
    return results


# --- the report ---


def _event_line(event: Mapping[str, Any]) -> str:
    if "json" in event:
        body = json.dumps(event["json"], ensure_ascii=False, separators=(",", ":"))
    elif "binary" in event:
        body = f"<binary, {event['binary']} bytes>"
    elif "close" in event:
        body = f"<close {event['close']}>"
    elif "text" in event:
        body = json.dumps(event["text"], ensure_ascii=False)
    else:
        body = f"<{event.get('error', 'event')}>"
    line = f"{event['dir']} {event['t_ms']:>8.1f} ms  {body}"
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _frames(test: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    for index, socket in enumerate(test.get("sockets", []), 1):
        events = socket.get("events", [])
        lines.append(f"# socket {index}: {socket.get('path')}")
        lines += [_event_line(e) for e in events[:MAX_EVENTS]]
        if len(events) > MAX_EVENTS:
            lines.append(f"... {len(events) - MAX_EVENTS} more events")
    return lines or ["(no sockets)"]


def _quote(text: str) -> str:
    return "<br>".join(f"`{line}`" for line in text.splitlines()) or "`(empty)`"


def render(
    results: list[RowResult],
    mock: Mapping[str, Any],
    live: Mapping[str, Any],
    summaries: Mapping[str, str] | None = None,
) -> str:
    """The report as Markdown (keys scrubbed again on the way out)."""
    counts = {s: sum(r.status == s for r in results) for s in ("differs", "agrees", "mock only")}
    counts["not run"] = len(results) - sum(counts.values())
    mock_tests = {local_node(k): v for k, v in mock.get("tests", {}).items()}
    live_tests = {local_node(k): v for k, v in live.get("tests", {}).items()}
    out = [
        "# Drift report: the live service against mock-soniox",
        "",
        f"- mock: {mock.get('stt_url')}",
        f"- live: {live.get('stt_url')} and {live.get('tts_url')}",
    ]
    for target, summary in (summaries or {}).items():
        out.append(f"- pytest against {target}: {summary}")
    out += [
        "",
        f"{len(results)} rows of CONFORMANCE.md: **{counts['differs']} differ**, "
        f"{counts['agrees']} agree, {counts['mock only']} mock only (not run against the "
        f"service), {counts['not run']} not run here (contract suite).",
        "",
        "## Where they differ",
        "",
    ]
    if not counts["differs"]:
        out += ["Nowhere: every row run on both targets saw the same.", ""]
    for result in results:
        if result.status != "differs":
            continue
        out += [f"### {result.row.section}: {result.row.behaviour}", ""]
        for drift in result.drifts:
            out += [f"`{drift.node}`", "", "| | mock | live |", "|---|---|---|"]
            out += [
                f"| {d.category} | {_quote(d.mock)} | {_quote(d.live)} |" for d in drift.differences
            ]
            out += ["", "<details><summary>frames seen on each side</summary>", ""]
            for side, tests in (("mock", mock_tests), ("live", live_tests)):
                out += [f"{side}:", "", "```", *_frames(tests.get(drift.node, {})), "```", ""]
            out += ["</details>", ""]
    out += ["## Rows that agree", ""]
    out += [f"- {r.row.section}: {r.row.behaviour}" for r in results if r.status == "agrees"]
    out += ["", "## Mock only (skipped against the service)", ""]
    out += [
        f"- {r.row.section}: {r.row.behaviour} ({'; '.join(r.skip_reasons)})"
        for r in results
        if r.status == "mock only"
    ]
    out += ["", "## Not run by this report", ""]
    out += [
        f"- {r.row.section}: {r.row.behaviour} ({', '.join(r.row.nodes)})"
        for r in results
        if r.status == "not run"
    ]
    text = "\n".join(out) + "\n"
    scrubbed, _ = redact_text(text)
    return scrubbed


# --- the command ---


def add_command(sub: Any) -> None:
    drift = sub.add_parser(
        "drift",
        help="run the conformance tests against the mock and the live service; report differences",
    )
    drift.add_argument("--out", required=True, help="the Markdown report to write")
    drift.add_argument(
        "--package", default=None, help="packages/mock-soniox of a checkout (default: this one)"
    )
    drift.add_argument(
        "--observations",
        nargs=2,
        metavar=("MOCK_JSON", "LIVE_JSON"),
        default=None,
        help="compare two observation files already recorded instead of running the suite",
    )


def run(args: argparse.Namespace) -> int:
    package = Path(args.package) if args.package else default_package()
    table = package / "CONFORMANCE.md"
    if not table.is_file() or not (package / "tests").is_dir():
        print(
            f"error: {package} is not packages/mock-soniox of a checkout (no CONFORMANCE.md or "
            "tests/): drift runs the conformance suite from the repository; pass --package",
            file=sys.stderr,
        )
        return 2
    rows = read_rows(table)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summaries: dict[str, str] = {}
    if args.observations:
        mock_path, live_path = (Path(p) for p in args.observations)
    else:
        try:
            live_target()
        except TargetError:
            print(f"error: drift needs {KEY_ENV}, the live service's API key", file=sys.stderr)
            return 2
        mock_path = out.with_suffix(".mock.json")
        live_path = out.with_suffix(".live.json")
        nodes = suite_nodes(rows)
        for target, path in (("mock", mock_path), ("live", live_path)):
            print(f"drift: running {len(nodes)} conformance tests against the {target}", flush=True)
            code, summary = run_suite(package, target, path, nodes, os.environ)
            summaries[target] = summary
            if code not in (0, 1) or not path.is_file():
                print(
                    f"error: pytest against the {target} exited {code}: {summary}", file=sys.stderr
                )
                return 2
    mock = json.loads(mock_path.read_text())
    live = json.loads(live_path.read_text())
    results = compare(rows, mock, live)
    report = scrub(render(results, mock, live, summaries), os.environ.get(KEY_ENV))
    out.write_text(report)
    differ = sum(r.status == "differs" for r in results)
    print(f"drift: {differ} of {len(results)} rows differ; report in {out}")
    return 0
