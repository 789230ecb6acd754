"""Soniox plugin for LiveKit Agents: streaming STT and multiplexed TTS.

See https://docs.livekit.io/agents/integrations/stt/soniox/ for more information.
"""

from .stt import (
    STT,
    ContextGeneralItem,
    ContextObject,
    ContextTranslationTerm,
    SpeechStream,
    STTOptions,
    TranslationConfig,
)
from .tts import TTS, SynthesizeStream
from .version import __version__

__all__ = [
    "STT",
    "TTS",
    "ContextGeneralItem",
    "ContextObject",
    "ContextTranslationTerm",
    "STTOptions",
    "SpeechStream",
    "SynthesizeStream",
    "TranslationConfig",
    "__version__",
]
