"""TTS fixtures: a sentence's speech with character timestamps, sent as a stream's frames."""

from __future__ import annotations

import base64
import math
import re
from typing import Any

import numpy as np
from fixture_speech import RATE, RECORDED_AT, SOURCE, Pcm, ms_of, silence, synth

from mock_soniox.fixtures.writer import FixtureWriter


def tts_stream(text: str, voice: str) -> tuple[Pcm, dict[str, list[Any]]]:
    """A sentence's audio and per-character (start, end) seconds, spaces spanning the gaps."""
    lead, gap = 40, 70
    chunks = [silence(lead)]
    cursor = ms_of(chunks[0].size)
    chars: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    words = text.split(" ")
    for i, word in enumerate(words):
        core = re.sub(r"[.,?!]", "", word)
        pcm = synth(core.lower(), voice)
        start, end = cursor, cursor + ms_of(pcm.size)
        step = (end - start) / len(word)
        for j, ch in enumerate(word):
            chars.append(ch)
            starts.append(round((start + j * step) / 1000, 3))
            ends.append(round((start + (j + 1) * step) / 1000, 3))
        chunks.append(pcm)
        cursor = end
        if i < len(words) - 1:
            chunks.append(silence(gap))
            chars.append(" ")
            starts.append(round(cursor / 1000, 3))
            cursor += gap
            ends.append(round(cursor / 1000, 3))
    chunks.append(silence(120))
    audio = np.concatenate(chunks).astype(np.int16)
    return audio, {"characters": chars, "start": starts, "end": ends}


def tts_frames(
    stream_id: str, config: dict[str, Any], text: str, voice: str, t_start: float
) -> list[tuple[float, str, dict[str, Any]]]:
    """(t_ms, dir, frame) for one stream: config, text, text_end, audio chunks, terminated."""
    audio, marks = tts_stream(text, voice)
    frames: list[tuple[float, str, dict[str, Any]]] = [
        (t_start, "c2s", {"stream_id": stream_id, **config}),
        (t_start + 1, "c2s", {"text": text, "text_end": False, "stream_id": stream_id}),
        (t_start + 2, "c2s", {"text": "", "text_end": True, "stream_id": stream_id}),
    ]
    chunk_ms = 200
    per_chunk = RATE * chunk_ms // 1000
    count = math.ceil(audio.size / per_chunk)
    t = t_start + 2 + 150  # time to first audio
    for i in range(count):
        lo, hi = i * chunk_ms / 1000, (i + 1) * chunk_ms / 1000
        last = i == count - 1
        picked = [k for k, s in enumerate(marks["start"]) if lo <= s < hi or (last and s >= lo)]
        frame: dict[str, Any] = {
            "stream_id": stream_id,
            "audio": base64.b64encode(
                audio[i * per_chunk : (i + 1) * per_chunk].tobytes()
            ).decode(),
            "audio_end": last,
        }
        if config.get("return_timestamps") and picked:
            frame["timestamps"] = {
                "characters": [marks["characters"][k] for k in picked],
                "character_start_times_seconds": [marks["start"][k] for k in picked],
                "character_end_times_seconds": [marks["end"][k] for k in picked],
            }
        frames.append((t, "s2c", frame))
        t += chunk_ms / 4  # generated four times faster than real time
    frames.append((t + 5, "s2c", {"stream_id": stream_id, "terminated": True}))
    return frames


def make_tts(
    name: str,
    voice_name: str,
    espeak_voice: str,
    model: str,
    sentences: list[str],
    *,
    overlap: bool,
) -> FixtureWriter:
    config = {
        "model": model,
        "language": "en",
        "voice": voice_name,
        "audio_format": "pcm_s16le",
        "sample_rate": RATE,
        "speed": 1.0,
        "return_timestamps": True,
    }
    writer = FixtureWriter(
        name,
        "tts",
        model=model,
        notes=f"voice {voice_name} (espeak-ng {espeak_voice}); {len(sentences)} streams"
        + ("; the first two overlap on the socket" if overlap else ", one after another"),
        source=SOURCE,
        recorded_at=RECORDED_AT,
    )
    events: list[tuple[float, str, dict[str, Any]]] = []
    t = 5.0
    for i, sentence in enumerate(sentences, 1):
        frames = tts_frames(f"stream-{i}", config, sentence, espeak_voice, t)
        events.extend(frames)
        t = frames[1][0] + 80 if (overlap and i == 1) else frames[-1][0] + 40
    events.append((t + 10, "c2s", {"keep_alive": True}))
    events.sort(key=lambda e: e[0])
    for t_ms, direction, frame in events:
        writer.add_json("c2s" if direction == "c2s" else "s2c", t_ms, frame)
    writer.add_close("c2s", events[-1][0] + 20, 1000)
    return writer
