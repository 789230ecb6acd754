"""Turn latency of a real AgentSession: end of the caller's speech -> the agent's first audio.

Per turn-detection mode (stt, vad, manual), the two-turn fixture is played at real time into an
``offline_session()`` (the Soniox plugin importable here, an in-process mock at time scale 1, a
scripted LLM that answers at once); in manual mode each turn is committed as the caller stops
speaking. ``--compare PYTHON`` runs the same script in another interpreter (e.g. a venv holding
the PyPI livekit-plugins-soniox 1.8.9, see the plugin README) and prints both side by side.

    uv run python packages/mock-soniox/benchmarks/agent_latency.py --repeat 3 \
        --compare /tmp/lk189/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
from importlib import metadata

from mock_soniox.agents import TURN_MODES, OfflineSession, TurnMode, offline_session
from mock_soniox.agents.session import TWO_TURNS_WAV


async def one_run(turn: TurnMode) -> list[float]:
    """The latency (ms) of each agent reply in one conversation."""
    async with offline_session(TWO_TURNS_WAV, llm=["Sure, one moment."], turn=turn) as call:
        await _converse(call)
        return [t.latency_s * 1000 for t in call.turn_timings()]


async def _converse(call: OfflineSession) -> None:
    mic = call.audio_in
    if call.turn == "manual":
        for span in mic.spans:
            await asyncio.wait_for(mic.wait_for_position(span.end_s), 30)
            await asyncio.wait_for(call.session.commit_user_turn(), 10)
    n = len(mic.spans)
    await call.audio_out.wait_until(lambda rs: len(rs) >= n and all(r.done for r in rs), 60)


def measure(repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for turn in TURN_MODES:
        out[turn] = []
        for _ in range(repeat):
            out[turn] += asyncio.run(one_run(turn))
    return out


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="conversations per mode")
    parser.add_argument("--compare", help="another python to run the same measurement with")
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    args = parser.parse_args(argv)

    ours = measure(args.repeat)
    if args.json:
        print(json.dumps(ours))
        return 0
    columns = {f"this plugin ({metadata.version('livekit-plugins-soniox')})": ours}
    if args.compare:
        cmd = [args.compare, __file__, "--repeat", str(args.repeat), "--json"]
        raw = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900).stdout
        version = subprocess.run(
            [args.compare, "-c", "from importlib import metadata as m;"
             "print(m.version('livekit-plugins-soniox'))"],
            check=True, capture_output=True, text=True, timeout=60,
        ).stdout.strip()  # fmt: skip
        columns[f"PyPI plugin ({version})"] = json.loads(raw.strip().splitlines()[-1])
    names = list(columns)
    print("end of user speech -> first agent audio, ms: median (min-max)")
    print("| turn detection | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for turn in TURN_MODES:
        print(f"| {turn} | " + " | ".join(_fmt(columns[n][turn]) for n in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
