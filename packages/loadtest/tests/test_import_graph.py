"""The package's own import graph: no cycles, counting imports inside functions."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import soniox_loadtest

PACKAGE = Path(soniox_loadtest.__file__).parent
NAME = "soniox_loadtest"


def imported_modules(path: Path) -> set[str]:
    """Every ``soniox_loadtest`` module ``path`` imports, anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith(NAME))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y, or from . import x
                base = f"{NAME}.{base}" if base else NAME
            if not base.startswith(NAME):
                continue
            modules = {f"{base}.{alias.name}" for alias in node.names} if base == NAME else {base}
            found.update(m for m in modules if (PACKAGE / f"{m.split('.')[1]}.py").exists())
    return found


def graph() -> dict[str, set[str]]:
    return {
        f"{NAME}.{path.stem}": imported_modules(path)
        for path in PACKAGE.glob("*.py")
        if path.stem != "__init__"
    }


def test_the_package_has_no_import_cycle() -> None:
    edges = graph()
    try:
        order = list(TopologicalSorter(edges).static_order())
    except CycleError as exc:  # pragma: no cover - the failure message is the point
        raise AssertionError(f"import cycle: {exc.args[1]}") from exc
    assert f"{NAME}.locustfile" in order


def test_the_locustfile_is_a_thin_entry_over_hooks_and_users() -> None:
    edges = graph()
    assert edges[f"{NAME}.locustfile"] == {f"{NAME}.hooks", f"{NAME}.users"}
    assert f"{NAME}.users" not in edges[f"{NAME}.hooks"]  # run state never reaches for users
