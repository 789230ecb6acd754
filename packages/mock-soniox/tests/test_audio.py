"""Codecs round-trip: what the mock decodes is what a client encoded."""

from __future__ import annotations

import numpy as np
import pytest

from mock_soniox import audio

TONE = (0.5 * np.sin(np.linspace(0, 40 * np.pi, 1600))).astype(np.float32)


@pytest.mark.parametrize(
    "fmt",
    ["pcm_s16le", "pcm_s16be", "pcm_s32le", "pcm_f32le", "pcm_f32be", "pcm_s8", "mulaw", "alaw"],
)
def test_encode_then_decode_is_close(fmt: str) -> None:
    decoded = audio.decode(fmt, audio.encode(fmt, TONE))
    assert decoded.shape == TONE.shape
    tolerance = 0.02 if fmt in ("mulaw", "alaw", "pcm_s8") else 1e-3
    assert np.max(np.abs(decoded - TONE)) < tolerance


def test_g711_matches_reference_values() -> None:
    # Known code points: silence and full scale.
    assert audio.encode("mulaw", np.zeros(1, np.float32)) == b"\xff"
    assert audio.encode("alaw", np.zeros(1, np.float32)) == b"\xd5"
    assert audio.decode("mulaw", b"\x80")[0] == pytest.approx(32124 / 32768)
    assert audio.decode("alaw", b"\xaa")[0] == pytest.approx(32256 / 32768)


def test_24_bit_and_unsigned_formats_decode() -> None:
    assert audio.decode("pcm_s24le", b"\x00\x00\x40")[0] == pytest.approx(0.5)
    assert audio.decode("pcm_s24be", b"\xc0\x00\x00")[0] == pytest.approx(-0.5)
    assert audio.decode("pcm_u8", b"\x80")[0] == pytest.approx(0.0)
    assert audio.decode("pcm_u16le", b"\x00\xc0")[0] == pytest.approx(0.5)


def test_stereo_is_mixed_down_and_partial_frames_ignored() -> None:
    stereo = audio.encode("pcm_s16le", np.array([0.5, -0.5, 0.25, 0.25], np.float32)) + b"\x01"
    mono = audio.decode("pcm_s16le", stereo, channels=2)
    assert mono.tolist() == pytest.approx([0.0, 0.25], abs=1e-4)


def test_wav_header_round_trip() -> None:
    header = audio.wav_header("pcm_s16le", 16000, 1, data_len=3200)
    info = audio.parse_wav_header(header + bytes(3200))
    assert info == audio.WavInfo("pcm_s16le", 16000, 1, 44)
    assert audio.parse_wav_header(header[:20]) is None
    assert audio.parse_wav_header(b"not a wav file at all") is None
    assert audio.bytes_per_second("pcm_s16le", 16000, 1) == 32000
