#!/usr/bin/env python3
"""Regenerate the bundled fixture library (packages/mock-soniox/src/mock_soniox/library/).

Nobody can reach the real Soniox service from here, so the "recordings" are built: real speech
from espeak-ng, synthesised word by word so every word's true start and end in the audio is known,
and server frames shaped the way the service shapes them (sub-word tokens with leading spaces,
non-final tokens that get revised, confidences, ``<end>`` after endpoints, ``<fin>`` after a
finalize, speakers, languages, one-way translation). Every server frame carries the client audio
clock at which it was sent, like a fixture captured by ``mock-soniox record``.

Needs espeak-ng and sox (``apt-get install -y espeak-ng sox``); CI does not: the outputs are
committed. Deterministic: running it twice gives byte-identical files (``recorded_at`` is the
fixed RECORDED_AT).

This file lists the library and writes it; the parts live beside it: ``fixture_speech.py``
(espeak-ng words and the transcript model), ``fixture_stt.py`` (the simulated STT service) and
``fixture_tts.py`` (TTS streams).

    uv run python packages/mock-soniox/scripts/make_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from fixture_speech import Utterance
from fixture_stt import make_stt, stt_config
from fixture_tts import make_tts

from mock_soniox.fixtures.library import LIBRARY_DIR


def build(out: Path) -> list[Path]:
    writers = [
        make_stt(
            "stt-en-single-speaker",
            [
                Utterance("Hello there, thanks for calling."),
                Utterance("I want to check the weather.", pause_ms=800),
                Utterance("Will it rain today?", pause_ms=800),
            ],
            stt_config(),
            notes="English, one speaker, three utterances, endpoint detection, keepalives.",
            lead_ms=300,
            seed=1,
            keepalive_every_ms=5000,
        ),
        make_stt(
            "stt-en-two-speakers",
            [
                Utterance("Good morning, how can I help you?", voice="en", speaker="1"),
                Utterance("My order never arrived.", voice="en-f", speaker="2", pause_ms=800),
                Utterance("Let me check.", voice="en", speaker="1", pause_ms=800),
                Utterance("Thank you so much.", voice="en-f", speaker="2", pause_ms=800),
            ],
            stt_config(enable_speaker_diarization=True),
            notes="Two speakers (two espeak-ng voices), diarization on.",
            lead_ms=360,
            seed=2,
        ),
        make_stt(
            "stt-en-es-mixed",
            [
                Utterance("Can we switch to Spanish now?", voice="en", language="en"),
                Utterance(
                    "Claro que si, hablemos en espanol.", voice="es", language="es", pause_ms=800
                ),
                Utterance("Perfect, thank you.", voice="en", language="en", pause_ms=800),
            ],
            stt_config(language_hints=["en", "es"]),
            notes="English and Spanish in one session, language identification on.",
            lead_ms=420,
            seed=3,
        ),
        make_stt(
            "stt-en-translation-es",
            [
                Utterance("Good morning everyone.", translation="Buenos dias a todos."),
                Utterance(
                    "The meeting starts at nine.",
                    translation="La reunion empieza a las nueve.",
                    pause_ms=800,
                ),
            ],
            stt_config(translation={"type": "one_way", "target_language": "es"}),
            notes="One-way translation en -> es: spoken tokens are 'original', translations follow"
            " without timings.",
            lead_ms=480,
            seed=4,
        ),
        make_stt(
            "stt-en-finalize",
            [
                Utterance(
                    "Please transfer me to the billing department right away.",
                    finalize_after_word=3,
                ),
                Utterance("Okay.", pause_ms=800),
            ],
            stt_config(),
            notes="The client sends finalize mid-utterance (after 'to'): finals plus <fin>,"
            " then the rest of the utterance and <end>.",
            lead_ms=540,
            seed=5,
        ),
        make_stt(
            "stt-en-long",
            [
                Utterance(
                    "Welcome to the quarterly review of our customer support team.", speaker="1"
                ),
                Utterance("First, let us look at the numbers from last month.", speaker="1"),
                Utterance("We answered more calls than ever before.", speaker="1"),
                Utterance("That is great news for everyone.", voice="en-f", speaker="2"),
                Utterance("What was the average waiting time?", voice="en-f", speaker="2"),
                Utterance("It dropped to just under two minutes.", speaker="1"),
                Utterance("Did the customers notice the change?", voice="en-f", speaker="2"),
                Utterance("Yes, the survey scores went up by ten points.", speaker="1"),
                Utterance("I think that is the right call.", voice="en-f", speaker="2"),
                Utterance("Thank you all for coming today.", speaker="1"),
            ],
            stt_config(enable_speaker_diarization=True),
            notes="A long meeting (over 30 s), two speakers, many endpoints.",
            lead_ms=600,
            seed=6,
            keepalive_every_ms=5000,
        ),
        make_tts(
            "tts-maya",
            "Maya",
            "en-us+f3",
            "tts-rt-v2",
            ["Hello! How can I help you today?", "Your order has shipped.", "Goodbye."],
            overlap=True,
        ),
        make_tts(
            "tts-adrian",
            "Adrian",
            "en-us",
            "tts-rt-v2",
            ["Welcome back.", "The weather is sunny and warm.", "See you soon."],
            overlap=False,
        ),
        # The livekit plugin's defaults (model tts-rt-v1-preview, en, Maya, pcm_s16le at
        # 24000 Hz, speed 1.0, timestamps on), and its messages: one agent reply per stream,
        # sent a sentence at a time. Default agents saying these replay recorded audio.
        make_tts(
            "tts-maya-default",
            "Maya",
            "en-us+f3",
            "tts-rt-v1-preview",
            [
                ["Hello! ", "How can I help you today?"],
                ["Sure, let me check that for you. ", "One moment please."],
                ["Thanks for calling. ", "Have a great day!"],
            ],
            overlap=False,
            sample_rate=24_000,
            sentence_gap_ms=250,
            notes="The livekit plugin's default configuration, each reply sent sentence by"
            " sentence; ",
        ),
    ]
    if out.exists():
        for path in out.iterdir():
            if path.suffix in (".jsonl", ".wav", ".raw", ".bin"):
                path.unlink()
    return [w.write(out) for w in writers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=LIBRARY_DIR, help="output directory")
    args = parser.parse_args(argv)
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y espeak-ng sox", file=sys.stderr)
            return 2
    paths = build(args.out)
    total = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    for path in paths:
        print(path)
    print(f"library: {len(paths)} fixtures, {total / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
