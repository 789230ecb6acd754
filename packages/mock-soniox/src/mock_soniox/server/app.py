"""The aiohttp application: routes, health checks and the handshake both endpoints share."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable

from aiohttp import web

from ..auth import SUBPROTOCOL, handshake_auth
from ..connection import Connection, MutableWebSocketResponse, new_connection_id
from ..errors import MSG_BAD_KEY, ProtocolError, error_frame
from ..faults import ConnectionFaults, FaultSpecError, HandshakeFaults, parse_faults
from ..fixtures.replay.select import preload
from ..fixtures.replay.stt import stt_source_factory
from ..fixtures.replay.tts import tts_source_factory
from ..protocol import STT_PATH, TTS_PATH
from ..settings import Settings
from ..state import STATE_KEY, MockState
from ..stt.session import bad_key_message
from ..stt.session import run_session as run_stt_session
from ..tts.session import run_session as run_tts_session
from . import admin, events, ui

logger = logging.getLogger("mock_soniox")

Session = Callable[[Connection], Awaitable[None]]
# With several worker processes every response says which one answered (its pid).
WORKER_HEADER = "X-Mock-Worker"


def create_app(settings: Settings | None = None, *, workers: int = 1) -> web.Application:
    """The mock as an aiohttp app: serve it, or hand it to ``aiohttp_client``.

    ``workers`` > 1: this app is one of that many processes sharing a port (``serve
    --workers``): responses name the process (``X-Mock-Worker``) and admin changes are refused.
    """
    state = MockState(settings or Settings())
    state.workers = workers
    # Recorded fixtures first; the replay sources fall back to the synthetic ones.
    state.stt_source_factory = stt_source_factory
    state.tts_source_factory = tts_source_factory
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get(STT_PATH, _websocket_route(state, "stt", _stt_session(state)))
    app.router.add_get(TTS_PATH, _websocket_route(state, "tts", _tts_session(state)))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    admin.add_routes(app)
    events.add_routes(app)
    ui.add_routes(app)
    app.on_startup.append(_preload_fixtures)
    app.on_shutdown.append(_close_all)
    if workers > 1:
        app.on_response_prepare.append(_name_worker)
    return app


async def _name_worker(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[WORKER_HEADER] = str(os.getpid())


def _stt_session(state: MockState) -> Session:
    def run(conn: Connection) -> Awaitable[None]:
        return run_stt_session(conn, state.stt_source_factory, state.stt_sessions_by_key)

    return run


def _tts_session(state: MockState) -> Session:
    def run(conn: Connection) -> Awaitable[None]:
        return run_tts_session(conn, state.tts_source_factory, state.tts_usage)

    return run


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
            return web.json_response({"error_message": _bad_key(endpoint, auth.key)}, status=401)
        ws = MutableWebSocketResponse(
            protocols=(SUBPROTOCOL,) if auth.source == "subprotocol" else (),
            max_msg_size=settings.max_msg_size,
            autoping=True,
            # Never wait in aiohttp's drain: Connection.writable() applies the back-pressure.
            writer_limit=2**62,
        )
        await ws.prepare(request)
        conn = Connection(endpoint, request, ws, auth, settings=settings, journal=state.journal)
        conn.faults = ConnectionFaults(handshake.armed)
        state.connections[conn.id] = conn
        conn.record_event("open", {"auth": auth.source, "faults": conn.faults.specs()})
        try:
            if auth.conflict:
                await conn.fail(ProtocolError(400, "Send the API key in one place only."))
            elif bad_key:
                await conn.fail(ProtocolError(401, _bad_key(endpoint, auth.key)))
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


def _bad_key(endpoint: str, key: str | None) -> str:
    """Each endpoint's published wording for a refused key (STT: protocol A9; TTS: 8.5)."""
    return bad_key_message(key or "") if endpoint == "stt" else MSG_BAD_KEY


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
    return web.json_response(
        {
            "status": "ready",
            "connections": len(state.connections),
            "pid": os.getpid(),
            "workers": state.workers,
        }
    )


async def _preload_fixtures(app: web.Application) -> None:
    """Read the fixture library off the loop before serving; /readyz says when it is done."""

    state = app[STATE_KEY]
    state.ready = False
    try:
        await asyncio.to_thread(preload, state.settings)
    finally:
        state.ready = True


async def _close_all(app: web.Application) -> None:
    """On shutdown every live socket gets 1001 (going away)."""
    state = app[STATE_KEY]
    await asyncio.gather(
        *(conn.close(1001) for conn in list(state.connections.values())),
        return_exceptions=True,
    )
