"""``offline_session()``: a real AgentSession with our Soniox STT/TTS against the mock, no room.

It wires the parts a hand-written offline run needs (and easily gets wrong): the http context the
plugin's STT needs outside a job, a paced microphone, a speaker that reports playback correctly,
a scripted LLM, the in-process mock when no URL is given, and a teardown that closes all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from livekit.agents import Agent, AgentSession, inference, utils
from livekit.agents import llm as lk_llm
from livekit.agents.voice import UserInputTranscribedEvent
from livekit.agents.voice.turn import TurnHandlingOptions
from livekit.plugins import soniox

from ..server.runner import MockServer
from ..settings import Settings
from .audio import PlayedAudioInput
from .llm import Script, ScriptedLLM
from .output import AgentReply, CapturingAudioOutput

TurnMode = Literal["stt", "vad", "manual"]
TURN_MODES: tuple[TurnMode, ...] = ("stt", "vad", "manual")
CLOSE_TIMEOUT_S = 10.0
FIXTURES_DIR = Path(__file__).parent / "fixtures"
"""Fixtures for agent sessions; the mock that :func:`offline_session` starts serves them."""
TWO_TURNS_WAV = FIXTURES_DIR / "stt-en-agent-two-turns.wav"
"""A caller's two turns, 3.5 s apart: "What is the weather like today?" "Thank you, goodbye."."""


@dataclass
class UserTranscript:
    """A final transcript of the user, as the session reported it (event loop time)."""

    text: str
    at: float


@dataclass
class TurnTiming:
    """One agent reply measured against the end of the user speech before it."""

    user_speech_end_s: float
    """Position in the input audio where the user stopped speaking."""
    reply: AgentReply
    latency_s: float
    """End of user speech to the reply's first audio, in the input's simulated seconds."""


@dataclass
class OfflineSession:
    """What :func:`offline_session` yields: the running session and everything around it."""

    session: AgentSession[Any]
    agent: Agent
    audio_in: PlayedAudioInput
    audio_out: CapturingAudioOutput
    llm: lk_llm.LLM[Any]
    stt: soniox.STT
    tts: soniox.TTS
    stt_url: str
    tts_url: str
    mock: MockServer | None
    """The in-process mock, when one was started."""
    turn: TurnMode
    user_transcripts: list[UserTranscript] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def replies(self) -> list[AgentReply]:
        return self.audio_out.replies

    async def wait_for_transcripts(self, n: int, timeout_s: float) -> list[UserTranscript]:
        """Wait until ``n`` final user transcripts arrived (TimeoutError after ``timeout_s`` s)."""
        async with asyncio.timeout(timeout_s):
            while len(self.user_transcripts) < n:
                await self._changed.wait()
        return self.user_transcripts

    async def wait_for_replies(
        self, n: int, timeout_s: float, *, done: bool = True
    ) -> list[AgentReply]:
        """Wait until ``n`` replies started (and, with ``done``, ended) playing."""
        return await self.audio_out.wait_until(
            lambda rs: len(rs) >= n and (not done or all(r.done for r in rs[:n])), timeout_s
        )

    def turn_timings(self) -> list[TurnTiming]:
        """Each reply's latency from the end of the last user utterance that ended before it."""
        out: list[TurnTiming] = []
        for reply in self.replies:
            audio_at = (reply.started_at - self._input_start()) * self.audio_in.speed
            ends = [s.end_s for s in self.audio_in.spans if s.end_s <= audio_at]
            if ends:
                end = ends[-1]
                out.append(TurnTiming(end, reply, audio_at - end))
        return out

    def _input_start(self) -> float:
        start = self.audio_in.started_at
        if start is None:
            raise RuntimeError("the audio input has not started")
        return start

    def _on_transcribed(self, ev: UserInputTranscribedEvent) -> None:
        if ev.is_final and ev.transcript.strip():
            loop = asyncio.get_running_loop()
            self.user_transcripts.append(UserTranscript(ev.transcript.strip(), loop.time()))
            self._changed.set()
            self._changed = asyncio.Event()


def _turn_handling(turn: TurnMode, extra: TurnHandlingOptions | None) -> TurnHandlingOptions:
    handling: TurnHandlingOptions = {"turn_detection": turn}
    handling.update(extra or {})
    return handling


@contextlib.asynccontextmanager
async def offline_session(
    audio: PlayedAudioInput | str | Path,
    *,
    llm: lk_llm.LLM[Any] | Script = ("Okay.",),
    agent: Agent | None = None,
    instructions: str = "You are a helpful voice assistant.",
    turn: TurnMode = "stt",
    speed: float = 1.0,
    stt_url: str | None = None,
    tts_url: str | None = None,
    api_key: str | None = None,
    mock_settings: Settings | None = None,
    stt_options: soniox.STTOptions | None = None,
    tts_options: dict[str, Any] | None = None,
    turn_handling: TurnHandlingOptions | None = None,
    session_options: dict[str, Any] | None = None,
    on_session: Callable[[AgentSession[Any]], None] | None = None,
) -> AsyncIterator[OfflineSession]:
    """Run an AgentSession offline until the block ends, then close everything it opened.

    ``audio`` is the user's microphone: a :class:`PlayedAudioInput` or an audio file played at
    ``speed`` x real time (the reply output plays at the same speed). Without ``stt_url`` and
    ``tts_url`` a mock is started in this event loop (``mock_settings``; by default its time
    scale is ``1 / speed``); with them, any running mock or, with a key, the real service is
    used. ``llm`` is any livekit LLM, or a script for :class:`ScriptedLLM`. ``turn`` picks the
    turn detection: ``"stt"`` (Soniox endpoints), ``"vad"`` (the Silero VAD bundled with
    livekit-agents, no download), ``"manual"`` (push to talk: ``session.commit_user_turn()``).
    ``on_session`` is called with the session before it starts (to subscribe to its events).
    """
    if turn not in TURN_MODES:
        raise ValueError(f"turn must be one of {TURN_MODES}, not {turn!r}")
    audio_in = (
        audio
        if isinstance(audio, PlayedAudioInput)
        else PlayedAudioInput.from_file(audio, speed=speed)
    )
    audio_out = CapturingAudioOutput(speed=audio_in.speed)
    model = llm if isinstance(llm, lk_llm.LLM) else ScriptedLLM(llm)

    async with contextlib.AsyncExitStack() as stack:
        mock: MockServer | None = None
        if stt_url is None or tts_url is None:
            settings = mock_settings or Settings(
                port=0, time_scale=1.0 / audio_in.speed, fixtures_dir=str(FIXTURES_DIR)
            )
            mock = await stack.enter_async_context(MockServer(settings))
        stt_url = stt_url or (mock.stt_url if mock else "")
        tts_url = tts_url or (mock.tts_url if mock else "")
        key = api_key or os.environ.get("SONIOX_API_KEY") or "offline"

        await stack.enter_async_context(utils.http_context.open())
        stt = soniox.STT(api_key=key, base_url=stt_url, params=stt_options)
        stack.push_async_callback(stt.aclose)
        tts = soniox.TTS(api_key=key, websocket_url=tts_url, **(tts_options or {}))
        stack.push_async_callback(tts.aclose)

        session: AgentSession[Any] = AgentSession(
            stt=stt,
            tts=tts,
            llm=model,
            vad=inference.VAD() if turn == "vad" else None,
            turn_handling=_turn_handling(turn, turn_handling),
            **(session_options or {}),
        )
        session.input.audio = audio_in
        session.output.audio = audio_out
        agent = agent or Agent(instructions=instructions)
        off = OfflineSession(
            session=session,
            agent=agent,
            audio_in=audio_in,
            audio_out=audio_out,
            llm=model,
            stt=stt,
            tts=tts,
            stt_url=stt_url,
            tts_url=tts_url,
            mock=mock,
            turn=turn,
        )
        session.on("user_input_transcribed", off._on_transcribed)
        if on_session is not None:
            on_session(session)

        async def _close() -> None:
            audio_in.close()
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await session.aclose()
                await audio_out.aclose()

        stack.push_async_callback(_close)
        await session.start(agent, record=False)
        yield off
