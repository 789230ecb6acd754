"""Soniox plugin for LiveKit Agents: streaming STT and multiplexed TTS.

See https://docs.livekit.io/agents/integrations/stt/soniox/ for more information.
"""

import threading

from livekit.agents import Plugin

from .log import logger
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


class SonioxPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


# Registered on import, as every livekit plugin is: the worker preloads registered plugins, sets
# their log level and logs "plugin registered". livekit only accepts registrations from the main
# thread; imported from another thread the plugin still works, unregistered, and says so.
if threading.current_thread() is threading.main_thread():
    Plugin.register_plugin(SonioxPlugin())
else:
    logger.warning(
        "livekit.plugins.soniox imported off the main thread: not registered with livekit "
        "(import it on the main thread, before starting other threads)"
    )
