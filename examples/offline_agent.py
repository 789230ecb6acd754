"""A voice agent with no key, no network and no LiveKit server: Soniox STT/TTS against the mock.

    uv run python examples/offline_agent.py [--turn stt|vad|manual] [--wav PATH] [--speed F]
                                            [--stt-url URL --tts-url URL]

A caller (a bundled recording, or ``--wav``) talks to a real ``AgentSession`` whose LLM answers
from a script; the run prints a timeline (what the caller said, what the LLM was asked, when the
agent spoke and how long after the caller stopped) and writes what the agent said to
``reports/agent_reply.wav``. Without URLs a mock is started in this process; with them, a running
``mock-soniox serve`` or, with ``SONIOX_API_KEY``, the real service.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mock_soniox.agents import (
    TURN_MODES,
    OfflineSession,
    PlayedAudioInput,
    ScriptedLLM,
    offline_session,
    pcm_to_wav,
)
from mock_soniox.agents.session import TWO_TURNS_WAV

REPORT = Path("reports/agent_reply.wav")


def reply_to(text: str) -> str:
    if "weather" in text.lower():
        return "It will be sunny and warm all day. Anything else?"
    if "bye" in text.lower():
        return "Goodbye, have a nice day!"
    return f"You said: {text}"


async def talk(call: OfflineSession) -> None:
    """Play the whole recording; in manual mode, commit each turn as the caller stops speaking."""
    mic = call.audio_in
    if call.turn == "manual":
        for span in mic.spans:
            await mic.wait_for_position(span.end_s)  # push-to-talk released
            await asyncio.wait_for(call.session.commit_user_turn(), 10)
    await mic.finished.wait()
    # then the last reply: it starts within a few seconds and is played out in full
    n = len(mic.spans)
    await call.audio_out.wait_until(lambda rs: len(rs) >= n and all(r.done for r in rs), 30)


def timeline(call: OfflineSession) -> list[tuple[float, str]]:
    """Events in seconds of the caller's audio since it started."""
    mic = call.audio_in
    start = mic.started_at or 0.0

    def at(loop_time: float) -> float:
        return (loop_time - start) * mic.speed

    rows = [(s.start_s, f"caller   speaks ({s.end_s - s.start_s:.2f} s)") for s in mic.spans]
    rows += [(s.end_s, "caller   stops speaking") for s in mic.spans]
    rows += [(at(t.at), f"STT      final: {t.text!r}") for t in call.user_transcripts]
    if isinstance(call.llm, ScriptedLLM):
        rows += [(at(c.started_at), f"LLM      asked {c.user_text!r}") for c in call.llm.calls]
    latency = {id(t.reply): t for t in call.turn_timings()}
    for r in call.replies:
        t = latency.get(id(r))
        after = f", {t.latency_s * 1000:.0f} ms after the caller stopped" if t else ""
        rows.append((at(r.started_at), f"agent    starts speaking{after}"))
        if r.ended_at is not None:
            how = "interrupted" if r.interrupted else "finished"
            rows.append(
                (at(r.ended_at), f"agent    {how} ({r.played_s:.2f} of {r.pushed_s:.2f} s)")
            )
    return sorted(rows, key=lambda row: row[0])


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--turn", choices=TURN_MODES, default="stt", help="turn detection")
    parser.add_argument("--wav", type=Path, default=TWO_TURNS_WAV, help="the caller's audio")
    parser.add_argument("--speed", type=float, default=1.0, help="x real time (default 1)")
    parser.add_argument("--stt-url", help="STT websocket (default: an in-process mock)")
    parser.add_argument("--tts-url", help="TTS websocket (default: an in-process mock)")
    args = parser.parse_args(argv)
    if (args.stt_url is None) != (args.tts_url is None):
        parser.error("give both --stt-url and --tts-url, or neither")

    mic = PlayedAudioInput.from_file(args.wav, speed=args.speed)
    print(f"caller: {args.wav.name}, {mic.duration_s:.1f} s, turn detection: {args.turn}")
    async with offline_session(
        mic, llm=reply_to, turn=args.turn, stt_url=args.stt_url, tts_url=args.tts_url
    ) as call:
        print(f"STT {call.stt_url}\nTTS {call.tts_url}\n")
        await talk(call)
    for t, what in timeline(call):
        print(f"{t:7.2f} s  {what}")

    heard = b"".join(r.heard_pcm for r in call.replies)
    if call.replies:
        REPORT.parent.mkdir(parents=True, exist_ok=True)
        first = call.replies[0]
        pcm_to_wav(str(REPORT), heard, first.sample_rate, first.num_channels)
        print(f"\nagent audio ({len(call.replies)} replies) -> {REPORT}")
    return 0 if call.replies else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
