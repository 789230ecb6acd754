"""The aiohttp application: routes, shared state and the handshake both endpoints share."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from aiohttp import web

from .auth import SUBPROTOCOL, handshake_auth
from .connection import Connection, new_connection_id
from .errors import MSG_BAD_KEY, ProtocolError, error_frame
from .faults import (
    ConnectionFaults,
    FaultableWebSocketResponse,
    FaultRegistry,
    FaultSpecError,
    HandshakeFaults,
    parse_faults,
)
from .journal import Journal
from .settings import Settings
from .stt import SourceFactory as SttSourceFactory
from .stt import synthetic_source as stt_synthetic_source
from .tts_synth import TtsSourceFactory, synthetic_source_factory

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
        self.faults = FaultRegistry(settings.seed)
        # Picks each STT session's result source; fixtures replace it to replay recordings.
        self.stt_source_factory: SttSourceFactory = stt_synthetic_source
        # Picks each TTS stream's audio source; fixtures replace it to replay recordings.
        self.tts_source_factory: TtsSourceFactory = synthetic_source_factory
        self.ready = True

    def update(self, settings: Settings) -> None:
        """Swap in new settings; connections already open keep theirs."""
        self.settings = settings
        self.journal.enabled = settings.journal_enabled
        if settings.journal_max_entries != self.journal.max_entries:
            self.journal.resize(settings.journal_max_entries)
        self.faults.seed = settings.seed

    def reset(self) -> None:
        """Back to the settings the app was created with, and an empty journal."""
        self.update(self.defaults)
        self.journal.clear()
        self.faults.clear()


STATE_KEY = web.AppKey("mock_soniox_state", MockState)


def create_app(settings: Settings | None = None) -> web.Application:
    """The mock as an aiohttp app: serve it, or hand it to ``aiohttp_client``."""
    from . import admin, replay, stt, tts  # the endpoint modules import this one for types

    state = MockState(settings or Settings())
    replay.install(state)  # recorded fixtures first, the synthetic sources when none matches
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get(STT_PATH, _websocket_route(state, "stt", stt.run_session))
    app.router.add_get(TTS_PATH, _websocket_route(state, "tts", tts.run_session))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    admin.add_routes(app)
    app.on_startup.append(_preload_fixtures)
    app.on_shutdown.append(_close_all)
    return app


def state_of(app: web.Application) -> MockState:
    return app[STATE_KEY]


def _websocket_route(
    state: MockState, endpoint: str, session: Session
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        settings = state.settings
        handshake = await _handshake_faults(state, endpoint, request)
        if isinstance(handshake, web.StreamResponse):
            return handshake
        auth = handshake_auth(request)
        bad_key = auth.key is not None and not settings.key_allowed(auth.key)
        if bad_key and settings.reject_upgrade_on_auth_error:
            logger.info("%s: refused upgrade: unauthenticated", endpoint)
            return web.json_response({"error_message": MSG_BAD_KEY}, status=401)
        ws = FaultableWebSocketResponse(
            protocols=(SUBPROTOCOL,) if auth.source == "subprotocol" else (),
            max_msg_size=settings.max_msg_size,
            autoping=True,
        )
        await ws.prepare(request)
        conn = Connection(state, endpoint, request, ws, auth)
        conn.faults = ConnectionFaults(handshake.armed)
        state.connections[conn.id] = conn
        conn.record_event("open", {"auth": auth.source, "faults": conn.faults.specs()})
        try:
            if auth.conflict:
                await conn.fail(ProtocolError(400, "Send the API key in one place only."))
            elif bad_key:
                await conn.fail(ProtocolError(401, MSG_BAD_KEY))
            else:
                conn.faults.start(conn)
                if not await conn.check_faults():
                    await session(conn)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: internal error", conn.id)
            await conn.fail(ProtocolError(500, "Internal server error."))
        finally:
            state.connections.pop(conn.id, None)
            await conn.faults.stop()
            await conn.close(1000)
            conn.record_event("closed")
        return ws

    return handler


async def _handshake_faults(
    state: MockState, endpoint: str, request: web.Request
) -> HandshakeFaults | web.StreamResponse:
    """Arm this connection's faults; wait and/or refuse before the upgrade when they say so."""
    carried = [*request.query.getall("fault", []), *request.headers.getall("X-Mock-Fault", [])]
    try:
        armed = state.faults.arm(endpoint, parse_faults(carried))
    except FaultSpecError as exc:
        logger.info("%s: refused upgrade: bad fault spec: %s", endpoint, exc)
        return web.json_response(error_frame(400, f"Invalid fault: {exc}"), status=400)
    handshake = HandshakeFaults(armed)
    if not armed:
        return handshake
    delay_ms = handshake.accept_delay_ms
    if delay_ms > 0:
        await asyncio.sleep(state.settings.timer(delay_ms / 1000.0))
    refuse = handshake.refuse
    if refuse is not None:
        status = int(refuse.get("status", 503))
        conn_id = new_connection_id(endpoint)
        state.journal.record(
            conn_id, endpoint, "event", "refused", {"status": status}, fault=refuse.text
        )
        logger.info("%s: refused upgrade with %d (fault %s)", conn_id, status, refuse.text)
        return web.json_response(error_frame(status), status=status)
    return handshake


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    if not state.ready:
        return web.json_response({"status": "loading"}, status=503)
    return web.json_response({"status": "ready", "connections": len(state.connections)})


async def _preload_fixtures(app: web.Application) -> None:
    """Read the fixture library off the loop before serving; /readyz says when it is done."""
    from . import replay

    state = app[STATE_KEY]
    state.ready = False
    try:
        await asyncio.to_thread(replay.preload, state.settings)
    finally:
        state.ready = True


async def _close_all(app: web.Application) -> None:
    """On shutdown every live socket gets 1001 (going away)."""
    state = app[STATE_KEY]
    await asyncio.gather(
        *(conn.close(1001) for conn in list(state.connections.values())),
        return_exceptions=True,
    )
