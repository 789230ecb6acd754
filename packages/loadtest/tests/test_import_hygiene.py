"""The logic modules stay importable without locust or gevent (pytest must never patch)."""

import re
import subprocess
import sys
from pathlib import Path

PURE = (
    "soniox_loadtest.thresholds",
    "soniox_loadtest.shapes",
    "soniox_loadtest.tts_stream",
    "soniox_loadtest.stt_session",
    "soniox_loadtest.metrics",
    "soniox_loadtest.target",
    "soniox_loadtest.options",
    "soniox_loadtest.samples",
    "soniox_loadtest.report",
    "soniox_loadtest.traffic",
    "soniox_loadtest.tts_driver",
    "soniox_loadtest.audio",
    "soniox_loadtest.mockproc",
    "soniox_loadtest.plugin_tts",
    "soniox_loadtest.__main__",
)


def test_no_module_reaches_into_the_mocks_submodules() -> None:
    """The mock is being restructured: only its top-level names and its CLI are stable."""
    root = Path(__file__).parents[1]
    offenders = [
        f"{path.relative_to(root)}: {line.strip()}"
        for path in sorted((root / "src").rglob("*.py"))
        + sorted((root / "benchmarks").rglob("*.py"))
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import)\s+mock_soniox\.", line)
    ]
    assert offenders == []


def test_logic_modules_import_neither_locust_nor_gevent() -> None:
    code = (
        f"import sys, {', '.join(PURE)}\n"
        "bad = sorted(m for m in ('locust', 'gevent') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
