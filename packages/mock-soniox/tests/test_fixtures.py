"""The fixture format: the bundled library loads, the schema is enforced, secrets are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from mock_soniox.fixtures.library import LIBRARY_DIR, Library, load_fixture, validate_directory
from mock_soniox.fixtures.schema import FixtureError
from mock_soniox.fixtures.writer import FixtureWriter
from mock_soniox.sanitize import REDACTED


@pytest.fixture(scope="module")
def library() -> Library:
    return Library.load(bundled=True)


def test_bundled_library_covers_the_documented_cases(library: Library) -> None:
    stt = {f.name: f for f in library.of("stt")}
    assert set(stt) >= {
        "stt-en-single-speaker",
        "stt-en-two-speakers",
        "stt-en-es-mixed",
        "stt-en-translation-es",
        "stt-en-finalize",
        "stt-en-long",
    }
    assert stt["stt-en-long"].duration_ms >= 30_000
    speakers = {t.get("speaker") for t in stt["stt-en-two-speakers"].final_tokens()}
    assert {"1", "2"} <= speakers
    languages = {t.get("language") for t in stt["stt-en-es-mixed"].final_tokens()}
    assert {"en", "es"} <= languages
    assert stt["stt-en-translation-es"].translation.startswith("Buenos")
    fin = [t for t in stt["stt-en-finalize"].final_tokens() if t["text"] == "<fin>"]
    assert len(fin) == 1
    tts = library.of("tts")
    voices = {s.config["voice"] for f in tts for s in f.tts_streams()}
    assert len(voices) >= 2
    assert all(s.config.get("return_timestamps") for f in tts for s in f.tts_streams())


def test_library_stays_small_and_audio_is_16k_mono_s16() -> None:
    total = sum(p.stat().st_size for p in LIBRARY_DIR.iterdir() if p.is_file())
    assert total < 3.2e6
    for wav in LIBRARY_DIR.glob("*.wav"):
        info = sf.info(str(wav))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), wav.name


def test_stt_token_streams_are_shaped_like_the_service(library: Library) -> None:
    for fixture in library.of("stt"):
        finals_seen: list[str] = []
        nonfinal_revised = False
        previous_tail: list[str] = []
        for result in fixture.results():
            tokens = result["tokens"]
            assert result["final_audio_proc_ms"] <= result["total_audio_proc_ms"]
            finals = [t for t in tokens if t["is_final"]]
            tail = [t for t in tokens if not t["is_final"]]
            # New finals first, then the non-final tail.
            assert tokens == finals + tail
            for t in tokens:
                if t["text"] in ("<end>", "<fin>"):
                    assert t["is_final"]
                elif t.get("translation_status") == "translation":
                    assert "start_ms" not in t and "confidence" not in t
                else:
                    assert 0.0 <= t["confidence"] <= 1.0 and t["start_ms"] <= t["end_ms"]
            finals_seen.extend(t["text"] for t in finals)
            texts = [t["text"] for t in tail]
            if previous_tail and texts[: len(previous_tail)] != previous_tail:
                nonfinal_revised = True
            previous_tail = texts
        assert nonfinal_revised, fixture.name
        assert any(t.startswith(" ") for t in finals_seen), "word pieces carry leading spaces"
        if fixture.config and fixture.config.get("enable_endpoint_detection"):
            assert "<end>" in finals_seen
        # Every server frame says when (by the client's audio clock) it was sent.
        assert all(f.audio_ms is not None for f in fixture.frames if f.dir == "s2c" and f.is_json)


def test_summary_lists_name_endpoint_duration_audio_and_transcript(library: Library) -> None:
    summary = library.get("stt-en-single-speaker")
    assert summary is not None
    data = summary.summary()
    assert data["endpoint"] == "stt" and data["duration_ms"] > 5000
    assert Path(data["audio"]).is_file()
    assert data["transcript"].startswith("Hello there, thanks for calling.")
    assert "<end>" not in data["transcript"]


def _copy_fixture(tmp_path: Path, name: str = "stt-en-finalize") -> Path:
    for path in LIBRARY_DIR.glob(f"{name}.*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / f"{name}.jsonl"


def _rewrite(path: Path, line: int, edit: dict[str, object]) -> None:
    lines = path.read_text().splitlines()
    obj = json.loads(lines[line])
    obj.update(edit)
    lines[line] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")


def test_schema_errors_name_the_line_and_field(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    _rewrite(path, 2, {"dir": "sideways"})
    with pytest.raises(FixtureError, match=r"stt-en-finalize.jsonl:3: dir"):
        load_fixture(path)


def test_a_fixture_with_an_api_key_is_refused(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    lines = path.read_text().splitlines()
    frame = json.loads(lines[1])
    frame["json"]["api_key"] = "sk-live-123"
    lines[1] = json.dumps(frame)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FixtureError, match=r"secret at .*json\.api_key"):
        load_fixture(path)
    ok, errors = validate_directory(tmp_path)
    assert ok == [] and "secret" in errors[0]


def test_a_bearer_header_anywhere_is_refused(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    _rewrite(path, 0, {"notes": "Bearer abcdef"})
    with pytest.raises(FixtureError, match="secret"):
        load_fixture(path)


def test_missing_side_file_is_reported(tmp_path: Path) -> None:
    path = _copy_fixture(tmp_path)
    (tmp_path / "stt-en-finalize.wav").unlink()
    with pytest.raises(FixtureError, match="missing"):
        load_fixture(path)


def test_writer_scrubs_keys_and_round_trips(tmp_path: Path) -> None:
    writer = FixtureWriter("roundtrip", "tts")
    writer.add_text("c2s", 1.0, json.dumps({"stream_id": "a", "model": "m", "api_key": "k"}))
    writer.add_json("s2c", 2.0, {"stream_id": "a", "audio": "AAECAw==", "audio_end": True})
    writer.add_json("s2c", 3.0, {"stream_id": "a", "terminated": True})
    path = writer.write(tmp_path)
    assert "k" not in [json.loads(line).get("json", {}).get("api_key") for line in path.open()]
    fixture = load_fixture(path)
    assert fixture.header["redactions"] == ["config.api_key"]
    assert fixture.frames[0].json["api_key"] == REDACTED
    audio_frame = fixture.frames[1]
    assert "audio" not in audio_frame.json
    assert fixture.restore(audio_frame)["audio"] == "AAECAw=="
    (stream,) = fixture.tts_streams()
    assert stream.stream_id == "a" and stream.audio_bytes == 4
