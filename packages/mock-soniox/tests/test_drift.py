"""``mock-soniox drift``: the conformance tests against two targets, compared row by row.

Nobody here can reach Soniox, so "live" is a stand-in: a second mock configured differently.
The report must list exactly the differences the stand-in was given, and never the key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from mock_soniox import drift
from mock_soniox.server.runner import ThreadedMockServer
from mock_soniox.settings import Settings
from mock_soniox.testing.target import KEY_ENV, LIVE_STT_ENV, LIVE_TTS_ENV, TARGET_ENV

PACKAGE = Path(__file__).resolve().parents[1]
ROWS = drift.read_rows(PACKAGE / "CONFORMANCE.md")
STAND_IN_KEY = "stand-in-live-key-6f1c2a"  # what a user's SONIOX_API_KEY would be
RETIRED_ALIAS = "stt-rt-preview-v2"  # the stand-in's catalogue no longer has it
STAND_IN_TEXT_LIMIT = 4000  # the stand-in's TTS text limit (the mock's: 5000)


def _row(behaviour_start: str) -> drift.Row:
    [row] = [r for r in ROWS if r.behaviour.startswith(behaviour_start)]
    return row


def test_rows_come_from_the_conformance_table() -> None:
    assert len(ROWS) > 60
    assert all(r.section and r.behaviour and r.nodes for r in ROWS)
    nodes = drift.suite_nodes(ROWS)
    assert all(n.startswith("tests/") and "[" not in n for n in nodes)
    assert "tests/server/test_conformance_models.py::test_catalogue_models_are_served" in nodes


def _observation(*frames: dict[str, Any], outcome: str = "passed", **notes: Any) -> dict[str, Any]:
    events: list[dict[str, Any]] = [{"dir": "c2s", "t_ms": 0.0, "json": {"model": "m"}}]
    events += [{"dir": "s2c", "t_ms": 5.0, "json": f} for f in frames]
    events.append({"dir": "s2c", "t_ms": 6.0, "close": 1000})
    return {
        "outcome": outcome,
        "sockets": [{"path": "/transcribe-websocket", "events": events}],
        "notes": notes,
    }


def test_compare_names_the_category_of_each_difference() -> None:
    node = "tests/stt/test_conformance_errors.py::test_published_400_for_the_config[invalid-model]"
    error = {"tokens": [], "error_code": 400, "error_type": "x", "error_message": "Old text."}
    mock = {"tests": {f"packages/mock-soniox/{node}": _observation(error)}}
    live = {
        "tests": {node: _observation({**error, "error_message": "New text."}, outcome="failed")}
    }
    [result] = [r for r in drift.compare(ROWS, mock, live) if r.row.covers(node)]
    assert result.status == "differs"
    [found] = result.drifts
    assert {d.category: (d.mock, d.live) for d in found.differences} == {
        "outcome": ("passed", "failed"),
        "message text": ("400 x: Old text.", "400 x: New text."),
    }


def test_compare_lists_only_the_models_that_changed() -> None:
    node = "tests/server/test_conformance_models.py::test_catalogue_models_are_served"
    ours = _observation(models={"a": "served", "b": "served"})
    theirs = _observation(models={"a": "served", "b": "refused: Invalid model specified."})
    [found] = drift.compare_test(node, ours, theirs).differences
    assert (found.category, found.mock, found.live) == (
        "model list",
        "b: served",
        "b: refused: Invalid model specified.",
    )


def test_a_row_skipped_against_the_service_is_mock_only() -> None:
    node = "tests/stt/test_conformance_errors.py::test_start_request_timeout"
    live = {"tests": {node: {"outcome": "skipped", "reason": "mock only: timers"}}}
    mock = {"tests": {node: _observation()}}
    [result] = [r for r in drift.compare(ROWS, mock, live) if r.row.covers(node)]
    assert (result.status, result.skip_reasons) == ("mock only", ["mock only: timers"])


def test_drift_needs_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    run = subprocess.run(
        [sys.executable, "-m", "mock_soniox", "drift", "--out", str(tmp_path / "d.md")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert run.returncode == 2 and KEY_ENV in run.stderr


# --- the stand-in: a second mock playing the live service ---


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[ThreadedMockServer]:
    """A mock that differs from the bundled one in exactly two ways, and knows only its key."""
    catalogue = json.loads(resources.files("mock_soniox").joinpath("models.json").read_text())
    del catalogue["stt"]["aliases"][RETIRED_ALIAS]
    path = tmp_path / "stand-in-models.json"
    path.write_text(json.dumps(catalogue))
    settings = Settings(
        port=0,
        time_scale=0.0,
        api_keys=(STAND_IN_KEY,),
        models_file=str(path),
        tts_max_text_chars=STAND_IN_TEXT_LIMIT,
    )
    server = ThreadedMockServer(settings).start()
    yield server
    server.stop()


def test_stand_in_drift_lists_exactly_the_differences_introduced(
    stand_in: ThreadedMockServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != TARGET_ENV}
    env |= {
        KEY_ENV: STAND_IN_KEY,
        LIVE_STT_ENV: stand_in.mock.stt_url,
        LIVE_TTS_ENV: stand_in.mock.tts_url,
    }
    out = tmp_path / "reports" / "drift.md"
    run = subprocess.run(
        [sys.executable, "-m", "mock_soniox", "drift", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "2 of" in run.stdout and "rows differ" in run.stdout

    mock = json.loads(out.with_suffix(".mock.json").read_text())
    live = json.loads(out.with_suffix(".live.json").read_text())
    results = drift.compare(ROWS, mock, live)
    differ = {r.row.behaviour: r for r in results if r.status == "differs"}
    text_limit = _row("Text at most 5,000 chars").behaviour
    catalogue = _row("The catalogue is the service's").behaviour
    assert set(differ) == {text_limit, catalogue}

    [limit] = differ[text_limit].drifts
    found = {d.category: d for d in limit.differences}
    assert set(found) == {"outcome", "message text"}
    assert "5000" in found["message text"].mock and "4000" in found["message text"].live
    [served] = differ[catalogue].drifts
    found = {d.category: d for d in served.differences}
    # The refused alias's session ends in an error frame: that is seen too.
    assert set(found) == {"outcome", "frame shape", "message text", "model list"}
    assert found["message text"].live == "400 model_not_available: Invalid model specified."
    assert found["model list"].mock == f"{RETIRED_ALIAS}: served"
    assert found["model list"].live == f"{RETIRED_ALIAS}: refused: Invalid model specified."

    # Everything else either agrees or is mock only, and the key is written nowhere.
    assert {r.status for r in results} == {"differs", "agrees", "mock only", "not run"}
    assert _row("Timers follow the time scale").behaviour in {
        r.row.behaviour for r in results if r.status == "mock only"
    }
    report = out.read_text()
    assert "### STT: config (start request) and validation: The catalogue is" in report
    assert "### TTS: Text at most 5,000 chars" in report
    for written in (report, run.stdout, run.stderr, *(p.read_text() for p in out.parent.iterdir())):
        assert STAND_IN_KEY not in written
