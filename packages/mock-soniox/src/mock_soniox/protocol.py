"""Names fixed by the Soniox wire protocol that several parts of the mock share."""

from __future__ import annotations

STT_PATH = "/transcribe-websocket"
TTS_PATH = "/tts-websocket"

# The real service's endpoints (what the recorder proxies to and a live drift check targets).
REAL_STT_URL = "wss://stt-rt.soniox.com/transcribe-websocket"
REAL_TTS_URL = "wss://tts-rt.soniox.com/tts-websocket"

# STT marker tokens: ``<end>`` closes an utterance at an endpoint, ``<fin>`` answers a finalize.
END_TOKEN = "<end>"
FIN_TOKEN = "<fin>"
MARKERS = (END_TOKEN, FIN_TOKEN)
