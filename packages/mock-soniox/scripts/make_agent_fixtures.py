#!/usr/bin/env python3
"""Regenerate the fixtures of the offline-agent helpers (src/mock_soniox/agents/fixtures/).

They live beside ``mock_soniox.agents``, not in the bundled library: only an offline agent
session needs them, and ``offline_session()`` adds the directory to the mock it starts. Made
the same way as the library (see make_fixtures.py; needs espeak-ng and sox, deterministic):

    uv run python packages/mock-soniox/scripts/make_agent_fixtures.py
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fixture_speech import Utterance
from fixture_stt import make_stt, stt_config

OUT = Path(__file__).resolve().parents[1] / "src" / "mock_soniox" / "agents" / "fixtures"


def main() -> int:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is missing: apt-get install -y espeak-ng sox", file=sys.stderr)
            return 2
    OUT.mkdir(parents=True, exist_ok=True)
    writer = make_stt(
        "stt-en-agent-two-turns",
        [
            Utterance("What is the weather like today?"),
            Utterance("Thank you, goodbye.", pause_ms=3500),
        ],
        stt_config(),
        notes="Two turns of a caller talking to an agent, 3.5 s apart (room for a reply).",
        lead_ms=400,
        seed=15,
        keepalive_every_ms=5000,
    )
    print(writer.write(OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
