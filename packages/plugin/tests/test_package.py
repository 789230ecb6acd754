"""Package-level rules: version, module size, and an import graph without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from livekit.plugins import soniox

PACKAGE_DIR = Path(soniox.__file__).parent
MAX_MODULE_LINES = 600


def test_version_is_exposed() -> None:
    assert soniox.__version__.count(".") == 2


def test_no_module_exceeds_the_line_limit() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE_DIR.glob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def _internal_imports(path: Path) -> set[str]:
    """Sibling modules ``path`` imports anywhere: top level, TYPE_CHECKING blocks, functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
            elif node.level == 0 and (node.module or "").startswith("livekit.plugins.soniox."):
                found.add((node.module or "").split(".")[3])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("livekit.plugins.soniox."):
                    found.add(alias.name.split(".")[3])
    return found


def test_no_import_cycles() -> None:
    graph = {p.stem: _internal_imports(p) for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__"}
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                cycles.append([*path[path.index(dep) :], dep])
            else:
                visit(dep, [*path, dep])

    for module in graph:
        visit(module, [module])
    assert cycles == []


def test_stt_module_keeps_its_public_names() -> None:
    from livekit.plugins.soniox import stt

    assert stt.BASE_URL == "wss://stt-rt.soniox.com/transcribe-websocket"
    for name in ("STT", "STTOptions", "SpeechStream", "ContextGeneralItem", "ContextObject"):
        assert name in stt.__all__
        # Defined there, as in the seed (``livekit.plugins.soniox.stt.SpeechStream``).
        assert getattr(stt, name).__module__ == "livekit.plugins.soniox.stt"
    assert stt.TranslationConfig.__module__ == "livekit.plugins.soniox.stt"
