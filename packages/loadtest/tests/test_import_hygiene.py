"""The logic modules stay importable without locust or gevent (pytest must never patch)."""

import subprocess
import sys

PURE = (
    "soniox_loadtest.thresholds",
    "soniox_loadtest.shapes",
    "soniox_loadtest.tts_stream",
    "soniox_loadtest.stt_session",
    "soniox_loadtest.metrics",
    "soniox_loadtest.target",
    "soniox_loadtest.options",
    "soniox_loadtest.audio",
    "soniox_loadtest.mockproc",
    "soniox_loadtest.plugin_tts",
    "soniox_loadtest.__main__",
)


def test_logic_modules_import_neither_locust_nor_gevent() -> None:
    code = (
        f"import sys, {', '.join(PURE)}\n"
        "bad = sorted(m for m in ('locust', 'gevent') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
