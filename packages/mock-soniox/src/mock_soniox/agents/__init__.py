"""Run a LiveKit AgentSession offline: our Soniox plugin against the mock, no room, no network.

Needs the ``agents`` extra (``pip install "mock-soniox[agents]"``): livekit-agents and
livekit-plugins-soniox. The rest of the mock never imports this package.

    async with offline_session("call.wav", llm=["Hi! How can I help?"]) as call:
        await call.wait_for_replies(1, timeout=30)
"""

from .audio import PlayedAudioInput, SpeechSpan, load_pcm, speech_spans
from .llm import LLMCall, ScriptedLLM
from .output import AgentReply, CapturingAudioOutput, pcm_to_wav
from .session import (
    TURN_MODES,
    OfflineSession,
    TurnMode,
    TurnTiming,
    UserTranscript,
    offline_session,
)

__all__ = [
    "TURN_MODES",
    "AgentReply",
    "CapturingAudioOutput",
    "LLMCall",
    "OfflineSession",
    "PlayedAudioInput",
    "ScriptedLLM",
    "SpeechSpan",
    "TurnMode",
    "TurnTiming",
    "UserTranscript",
    "load_pcm",
    "offline_session",
    "pcm_to_wav",
    "speech_spans",
]
