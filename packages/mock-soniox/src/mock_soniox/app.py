"""The aiohttp application: routes, shared state and the handshake both endpoints share."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from .auth import SUBPROTOCOL, handshake_auth
from .connection import Connection
from .errors import MSG_BAD_KEY, ProtocolError
from .journal import Journal
from .settings import Settings

logger = logging.getLogger("mock_soniox")

STT_PATH = "/transcribe-websocket"
TTS_PATH = "/tts-websocket"

Session = Callable[[Connection], Awaitable[None]]


class MockState:
    """Everything the handlers share; one per application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.defaults = settings
        self.journal = Journal(settings.journal_max_entries, settings.journal_enabled)
        self.connections: dict[str, Connection] = {}
        self.stt_sessions_by_key: Counter[str] = Counter()
        self.rng = random.Random(settings.seed)
        self.ready = True

    def update(self, settings: Settings) -> None:
        """Swap in new settings; connections already open keep theirs."""
        self.settings = settings
        self.journal.enabled = settings.journal_enabled
        self.rng = random.Random(settings.seed)

    def reset(self) -> None:
        """Back to the settings the app was created with, and an empty journal."""
        self.update(self.defaults)
        self.journal.clear()


STATE_KEY = web.AppKey("mock_soniox_state", MockState)


def create_app(settings: Settings | None = None) -> web.Application:
    """The mock as an aiohttp app: serve it, or hand it to ``aiohttp_client``."""
    from . import stt, tts  # the endpoint modules import this one for types

    state = MockState(settings or Settings())
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get(STT_PATH, _websocket_route(state, "stt", stt.run_session))
    app.router.add_get(TTS_PATH, _websocket_route(state, "tts", tts.run_session))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.on_shutdown.append(_close_all)
    return app


def state_of(app: web.Application) -> MockState:
    return app[STATE_KEY]


def _websocket_route(
    state: MockState, endpoint: str, session: Session
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        settings = state.settings
        auth = handshake_auth(request)
        bad_key = auth.key is not None and not settings.key_allowed(auth.key)
        if bad_key and settings.reject_upgrade_on_auth_error:
            logger.info("%s: refused upgrade: unauthenticated", endpoint)
            return web.json_response({"error_message": MSG_BAD_KEY}, status=401)
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,) if auth.source == "subprotocol" else (),
            max_msg_size=settings.max_msg_size,
            autoping=True,
        )
        await ws.prepare(request)
        conn = Connection(state, endpoint, request, ws, auth)
        state.connections[conn.id] = conn
        conn.record_event("open", {"auth": auth.source})
        try:
            if auth.conflict:
                await conn.fail(ProtocolError(400, "Send the API key in one place only."))
            elif bad_key:
                await conn.fail(ProtocolError(401, MSG_BAD_KEY))
            else:
                await session(conn)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: internal error", conn.id)
            await conn.fail(ProtocolError(500, "Internal server error."))
        finally:
            state.connections.pop(conn.id, None)
            await conn.close(1000)
            conn.record_event("closed")
        return ws

    return handler


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not state.ready:
        return web.json_response({"status": "loading"}, status=503)
    return web.json_response({"status": "ready", "connections": len(state.connections)})


async def _close_all(app: web.Application) -> None:
    """On shutdown every live socket gets 1001 (going away)."""
    state = app[STATE_KEY]
    await asyncio.gather(
        *(conn.close(1001) for conn in list(state.connections.values())),
        return_exceptions=True,
    )
