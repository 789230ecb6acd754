"""Names fixed by the Soniox wire protocol that several parts of the mock share."""

from __future__ import annotations

STT_PATH = "/transcribe-websocket"
TTS_PATH = "/tts-websocket"

# STT marker tokens: ``<end>`` closes an utterance at an endpoint, ``<fin>`` answers a finalize.
END_TOKEN = "<end>"
FIN_TOKEN = "<fin>"
MARKERS = (END_TOKEN, FIN_TOKEN)
