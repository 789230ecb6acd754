"""TTS fixtures: a sentence's speech with character timestamps, sent as a stream's frames."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from fixture_speech import RATE, RECORDED_AT, SOURCE, Pcm, ms_of, silence, synth

from mock_soniox.fixtures.writer import FixtureWriter


def tts_stream(
    text: str, voice: str, rate: int = RATE, sentence_gap_ms: int | None = None
) -> tuple[Pcm, dict[str, list[Any]]]:
    """A stream's audio and per-character (start, end) seconds, spaces spanning the gaps.

    ``sentence_gap_ms`` (default: the word gap) is the pause after a word that ends a sentence.
    """
    lead, gap = 40, 70
    chunks = [silence(lead, rate)]
    cursor = ms_of(chunks[0].size, rate)
    chars: list[str] = []
    starts: list[float] = []
    ends: list[float] = []
    words = text.split(" ")
    for i, word in enumerate(words):
        core = re.sub(r"[.,?!]", "", word)
        pcm = synth(core.lower(), voice, rate=rate)
        start, end = cursor, cursor + ms_of(pcm.size, rate)
        step = (end - start) / len(word)
        for j, ch in enumerate(word):
            chars.append(ch)
            starts.append(round((start + j * step) / 1000, 3))
            ends.append(round((start + (j + 1) * step) / 1000, 3))
        chunks.append(pcm)
        cursor = end
        if i < len(words) - 1:
            pause = gap
            if sentence_gap_ms is not None and word[-1] in ".?!":
                pause = sentence_gap_ms
            chunks.append(silence(pause, rate))
            chars.append(" ")
            starts.append(round(cursor / 1000, 3))
            cursor += pause
            ends.append(round(cursor / 1000, 3))
    chunks.append(silence(120, rate))
    audio = np.concatenate(chunks).astype(np.int16)
    return audio, {"characters": chars, "start": starts, "end": ends}


def tts_frames(
    stream_id: str,
    config: dict[str, Any],
    text: str | list[str],
    voice: str,
    t_start: float,
    *,
    sentence_gap_ms: int | None = None,
) -> list[tuple[float, str, dict[str, Any]]]:
    """(t_ms, dir, frame) for one stream: config, text, text_end, audio chunks, terminated.

    ``text`` as one string: config, the text, then an empty text with ``text_end``. As a list:
    the client's messages the way the livekit plugin sends them (config, one text message per
    sentence, then a bare ``text_end``).
    """
    rate = int(config["sample_rate"])
    if isinstance(text, str):
        whole = text
        client: list[dict[str, Any]] = [
            {"stream_id": stream_id, **config},
            {"text": text, "text_end": False, "stream_id": stream_id},
            {"text": "", "text_end": True, "stream_id": stream_id},
        ]
    else:
        whole = "".join(text)
        client = [
            {**config, "stream_id": stream_id},
            *({"stream_id": stream_id, "text": piece} for piece in text),
            {"stream_id": stream_id, "text_end": True},
        ]
    audio, marks = tts_stream(whole.strip(), voice, rate, sentence_gap_ms)
    frames: list[tuple[float, str, dict[str, Any]]] = [
        (t_start + i, "c2s", msg) for i, msg in enumerate(client)
    ]
    chunk_ms = 200
    per_chunk = rate * chunk_ms // 1000
    count = math.ceil(audio.size / per_chunk)
    t = frames[-1][0] + 150  # time to first audio, from text_end
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
    streams: Sequence[str | list[str]],
    *,
    overlap: bool,
    sample_rate: int = RATE,
    sentence_gap_ms: int | None = None,
    notes: str = "",
) -> FixtureWriter:
    """One connection, one stream per entry of ``streams`` (a list entry: its text messages,
    sentence by sentence, as the livekit plugin sends them)."""
    config = {
        "model": model,
        "language": "en",
        "voice": voice_name,
        "audio_format": "pcm_s16le",
        "sample_rate": sample_rate,
        "speed": 1.0,
        "return_timestamps": True,
    }
    writer = FixtureWriter(
        name,
        "tts",
        model=model,
        notes=notes
        + f"voice {voice_name} (espeak-ng {espeak_voice}); {len(streams)} streams"
        + ("; the first two overlap on the socket" if overlap else ", one after another"),
        source=SOURCE,
        recorded_at=RECORDED_AT,
    )
    events: list[tuple[float, str, dict[str, Any]]] = []
    t = 5.0
    for i, text in enumerate(streams, 1):
        frames = tts_frames(
            f"stream-{i}", config, text, espeak_voice, t, sentence_gap_ms=sentence_gap_ms
        )
        events.extend(frames)
        t = frames[1][0] + 80 if (overlap and i == 1) else frames[-1][0] + 40
    events.append((t + 10, "c2s", {"keep_alive": True}))
    events.sort(key=lambda e: e[0])
    for t_ms, direction, frame in events:
        writer.add_json("c2s" if direction == "c2s" else "s2c", t_ms, frame)
    writer.add_close("c2s", events[-1][0] + 20, 1000)
    return writer
