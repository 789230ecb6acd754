"""TTS endpoint (/tts-websocket): up to five concurrent streams per connection."""

from __future__ import annotations

from .connection import Connection
from .errors import ProtocolError


async def run_session(conn: Connection) -> None:
    await conn.fail(ProtocolError(503, "TTS not implemented yet."))
