"""Locust load tests for Soniox TTS shared connections and STT sessions: the entry locust loads.

Run it with ``uv run python -m soniox_loadtest`` (which adds report paths) or point locust at this
file. User classes: ``TTSSharedUser`` (raw protocol, K streams per socket), ``STTUser`` (real-time
audio), ``PluginTTSUser`` (our livekit plugin's TTS pool on an asyncio loop in a native thread).
Without ``--host`` (and without --tts-url/--stt-url) a mock-soniox is started for the run.

The code lives in ``options`` (command line, thresholds), ``hooks`` (event hooks, run state) and
``users`` (user classes, shape). This file only imports locust first, registers the hooks and
exposes the classes locust looks for.
"""

# locust first: it monkey-patches the process on import, and ssl users imported earlier break it.
import locust  # noqa: F401  # isort: skip

from soniox_loadtest import hooks
from soniox_loadtest.users import PluginTTSUser, ProfileShape, STTUser, TTSSharedUser

hooks.register()

__all__ = ["PluginTTSUser", "ProfileShape", "STTUser", "TTSSharedUser"]
