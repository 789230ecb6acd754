"""CONFORMANCE.md cannot rot: every test node it names exists (and every row names one)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
TABLE = PACKAGE / "CONFORMANCE.md"
NODE = re.compile(r"`((?:tests|contract)/[\w/]+\.py)::(\w+)(\[[^\]`]+\])?`")


def _resolve(path: str) -> Path:
    """The file a node names, which must be where the table says (moved tests: update the table)."""
    direct = PACKAGE / path
    assert direct.exists(), f"CONFORMANCE.md names {path}, which does not exist"
    return direct


def _nodes() -> list[tuple[str, str, str]]:
    return NODE.findall(TABLE.read_text())


def test_every_row_names_a_test() -> None:
    rows = [line for line in TABLE.read_text().splitlines() if line.startswith("| ")]
    body = [r for r in rows if not r.startswith("| Behaviour") and not set(r) <= set("|- ")]
    missing = [r[:80] for r in body if not NODE.search(r)]
    assert len(body) > 40 and not missing, missing


def test_every_named_test_function_exists() -> None:
    for path, name, _ in _nodes():
        tree = ast.parse(_resolve(path).read_text())
        functions = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert name in functions, f"{path}::{name} is not defined"


def test_every_named_parameter_id_is_collected() -> None:
    wanted = {(p, n, i) for p, n, i in _nodes() if i and p.startswith("tests/")}
    files = sorted({str(_resolve(p)) for p, _, _ in wanted})
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE.parents[1],
    )
    collected = {line.split("::", 1)[1] for line in run.stdout.splitlines() if "::" in line}
    for path, name, ids in wanted:
        assert name + ids in collected, f"{path}::{name}{ids} was not collected"
