"""The ``python -m soniox_loadtest`` command line and the STT audio source."""

import wave
from pathlib import Path

import pytest

from soniox_loadtest.__main__ import LOCUSTFILE, locust_argv
from soniox_loadtest.audio import BYTES_PER_MS, chunks, load_audio, read_wav, synthetic_speech


def test_reports_default_to_the_reports_folder_named_after_the_profile() -> None:
    argv = locust_argv(["--headless", "--load-profile", "spike", "TTSSharedUser"])
    assert argv[:3] == ["locust", "-f", str(LOCUSTFILE)]
    assert argv[-5:] == [
        "--csv",
        "reports/spike",
        "--csv-full-history",
        "--html",
        "reports/spike.html",
    ]


def test_explicit_locustfile_and_reports_are_kept() -> None:
    argv = locust_argv(["-f", "mine.py", "--csv=out/x", "--html", "out/x.html"])
    assert argv == [
        "locust",
        *["-f", "mine.py", "--csv=out/x", "--html", "out/x.html", "--csv-full-history"],
    ]


def test_full_history_can_be_switched_off() -> None:
    argv = locust_argv(["--no-csv-full-history", "--csv", "x"])
    assert "--csv-full-history" not in argv and "--no-csv-full-history" not in argv


def test_synthetic_audio_has_the_requested_length_and_chunks_cover_it() -> None:
    pcm = synthetic_speech(1.0)
    assert len(pcm) == 1000 * BYTES_PER_MS
    parts = list(chunks(pcm, 120))
    assert len(parts) == 9 and b"".join(parts) == pcm
    assert len(parts[0]) == 120 * BYTES_PER_MS


def write_wav(path: Path, rate: int, channels: int, frames: bytes) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def test_a_wav_of_the_wrong_format_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "stereo.wav", 44100, 2, b"\x00" * 400)
    with pytest.raises(ValueError, match="got 44100 Hz, 2 channel"):
        read_wav(path)


def test_a_given_wav_is_used_and_cut_to_the_session_length(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "speech.wav", 16000, 1, synthetic_speech(3.0))
    pcm, source = load_audio(str(path), max_seconds=2.0)
    assert source == str(path) and len(pcm) == 2000 * BYTES_PER_MS
