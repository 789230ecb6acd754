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


def test_the_plugin_registers_with_livekit_on_import() -> None:
    from livekit.agents import Plugin

    mine = [p for p in Plugin.registered_plugins if p.package == "livekit.plugins.soniox"]
    assert len(mine) == 1
    assert mine[0].title == "livekit.plugins.soniox"
    assert mine[0].version == soniox.__version__


def test_importing_off_the_main_thread_does_not_fail() -> None:
    import importlib
    import sys
    import threading

    from livekit.agents import Plugin

    before = list(Plugin.registered_plugins)
    saved = {k: v for k, v in sys.modules.items() if k.startswith("livekit.plugins.soniox")}
    errors: list[BaseException] = []

    def load() -> None:
        try:
            importlib.import_module("livekit.plugins.soniox")
        except BaseException as exc:
            errors.append(exc)

    try:
        for name in saved:
            del sys.modules[name]
        thread = threading.Thread(target=load)
        thread.start()
        thread.join(30)
    finally:
        sys.modules.update(saved)
        import livekit.plugins

        livekit.plugins.soniox = saved["livekit.plugins.soniox"]
    assert errors == []
    assert Plugin.registered_plugins == before


def test_the_distribution_declares_what_it_ships() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert (root / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    readme = (root / project["readme"]).read_text()
    assert "mock-soniox" not in readme and "](packages/" not in readme  # for PyPI, standalone
    assert "livekit-agents>=1.8.9,<1.9" in project["dependencies"]
    assert project["urls"] and project["authors"]
    assert any(c.startswith("License ::") for c in project["classifiers"]) is False  # PEP 639
