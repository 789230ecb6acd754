"""STT endpoint (/transcribe-websocket): one session per connection."""

from __future__ import annotations

from .connection import Connection
from .errors import ProtocolError


async def run_session(conn: Connection) -> None:
    await conn.fail(ProtocolError(503, "STT not implemented yet."))
