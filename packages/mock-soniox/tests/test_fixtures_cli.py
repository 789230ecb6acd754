"""``mock-soniox fixtures list|show|validate``: what the plugin's snapshot tests rely on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from mock_soniox import cli
from mock_soniox.fixtures.library import LIBRARY_DIR


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_gives_what_snapshot_tests_need(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fixtures", "list", "--json")
    assert code == 0
    entries = {e["name"]: e for e in json.loads(out)}
    stt = [e for e in entries.values() if e["endpoint"] == "stt"]
    assert len(stt) >= 6 and all(e["transcript"] for e in stt)
    for entry in stt:
        info = sf.info(entry["audio"])
        assert abs(info.duration * 1000 - entry["duration_ms"]) < 1
    assert entries["stt-en-translation-es"]["translation"].startswith("Buenos")
    tts = [e for e in entries.values() if e["endpoint"] == "tts"]
    assert tts and all(s["text"] and Path(s["audio"]).is_file() for e in tts for s in e["streams"])


def test_list_plain_and_with_a_user_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for path in LIBRARY_DIR.glob("stt-en-finalize.*"):
        shutil.copy(path, tmp_path / path.name.replace("stt-en-finalize", "mine"))
    (tmp_path / "mine.jsonl").write_text(
        (tmp_path / "mine.jsonl").read_text().replace("stt-en-finalize.wav", "mine.wav")
    )
    code, out, _ = run(capsys, "fixtures", "list", "--dir", str(tmp_path), "--no-bundled")
    assert code == 0
    assert out.startswith("mine ") and "Please transfer me" in out and len(out.splitlines()) == 1


def test_show_prints_header_and_numbered_frames(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "fixtures", "show", "stt-en-finalize")
    assert code == 0
    assert '"name": "stt-en-finalize"' in out
    assert (
        '   26 {"t_ms": 2173.0, "dir": "c2s", "kind": "text", "json": {"type": "finalize"}' in out
    )
    code, _, err = run(capsys, "fixtures", "show", "nope")
    assert code == 1 and "no fixture named 'nope'" in err


def test_validate_reports_every_bad_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "fixtures", "validate")
    assert code == 0 and out.count("ok ") == len(list(LIBRARY_DIR.glob("*.jsonl")))
    (tmp_path / "broken.jsonl").write_text('{"format": "something else"}\n')
    code, _, err = run(capsys, "fixtures", "validate", str(tmp_path))
    assert code == 1 and "broken.jsonl:1 (header)" in err
