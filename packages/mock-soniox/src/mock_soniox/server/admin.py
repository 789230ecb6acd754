"""The control plane: JSON over HTTP under ``/__admin/``, served to loopback clients only.

Every operation is a plain function on :class:`MockState` run on the server's loop, so the pytest
fixture (``MockSoniox``) and the HTTP routes do exactly the same thing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from aiohttp import web

from .. import models
from ..auth import host_name, is_loopback, is_loopback_name, redact
from ..connection import Connection
from ..faults import SENDABLE_CLOSE_CODES, FaultSpecError, grammar
from ..fixtures.library import Library, library_for
from ..fixtures.model import Fixture
from ..fixtures.schema import FixtureError
from ..journal import Direction, JournalEntry
from ..settings import Settings
from ..state import MockState, state_of

logger = logging.getLogger("mock_soniox")

PREFIX = "/__admin"
FIXED_SETTINGS = ("host", "port")  # bound before anyone can patch them


class AdminError(ValueError):
    """A control-plane request that cannot be honoured; ``status`` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- operations (call them on the server's loop) ---


def connection_info(conn: Connection) -> dict[str, Any]:
    """One live connection; STT ones add their config, transcript and last result."""
    now = time.monotonic()
    info: dict[str, Any] = {
        "id": conn.id,
        "endpoint": conn.endpoint,
        "age_ms": round((now - conn.opened) * 1000.0, 1),
        "frames_received": conn.frames_received,
        "audio_ms": conn.audio_ms,
        "streams_opened": conn.streams_opened,
        "streams": [
            {
                "stream_id": s.stream_id,
                "model": s.model,
                "voice": s.voice,
                "age_ms": round((now - s.started) * 1000.0, 1),
                "state": s.state,
                "text": s.text,
                "text_chars": s.text_chars,
                "text_end": s.text_end,
                "audio_frames": s.audio_frames,
                "audio_bytes": s.audio_bytes,
                "audio_end": s.audio_end,
                "match": s.match,
            }
            for s in conn.streams.values()
        ],
        "faults": conn.faults.specs(),
        "faults_fired": list(conn.faults.fired),
        "stalled": conn.stalled,
        "fixture": conn.fixture,
        "match": conn.fixture or ("no match" if conn.no_match else None),
    }
    if conn.endpoint == "stt":
        info["config"] = conn.config
        info["transcript"] = conn.transcript
        info["last_result"] = conn.last_result
    return info


def list_connections(state: MockState) -> list[dict[str, Any]]:
    return [connection_info(c) for c in state.connections.values()]


def live_connection(state: MockState, conn_id: str) -> Connection:
    conn = state.connections.get(conn_id)
    if conn is None:
        raise AdminError(404, f"no live connection {conn_id!r}")
    return conn


def add_fault(state: MockState, spec: str) -> dict[str, Any]:
    """Arm ``spec`` for every new connection it applies to (until cleared or healed)."""
    try:
        rule = state.faults.add(spec)
    except FaultSpecError as exc:
        raise AdminError(400, str(exc)) from None
    logger.info("admin: fault %s armed as %s", rule.spec.text, rule.id)
    return rule.describe()


def list_faults(state: MockState) -> list[dict[str, Any]]:
    return [rule.describe() for rule in state.faults.rules()]


def fault_grammar() -> dict[str, Any]:
    """The fault names, the keys each takes and the required ones (what a form needs)."""
    return grammar()


def remove_fault(state: MockState, rule_id: str) -> None:
    if not state.faults.remove(rule_id):
        raise AdminError(404, f"no fault {rule_id!r}")


def clear_faults(state: MockState) -> None:
    state.faults.clear()


async def close_connection(state: MockState, conn_id: str, code: int = 1000) -> None:
    """Close a live connection with ``code``; 1006 cuts TCP instead (no close frame)."""
    conn = live_connection(state, conn_id)
    if code == 1006:
        conn.record_event("admin", {"op": "close", "code": code})
        conn.abort()
        return
    if code not in SENDABLE_CLOSE_CODES:
        raise AdminError(
            400, f"{code} is not a close code a server can send (1000-1003, 1007-1014, 3000-4999)"
        )
    conn.record_event("admin", {"op": "close", "code": code})
    await conn.close(code)


async def push(state: MockState, conn_id: str, frame: Any) -> None:
    """Send ``frame`` (a JSON object) to a live connection as if the server had produced it."""
    if not isinstance(frame, dict):
        raise AdminError(400, "a pushed frame must be a JSON object")
    conn = live_connection(state, conn_id)
    if conn.stalled:
        raise AdminError(409, f"connection {conn_id!r} is stalled: it sends nothing")
    if not await conn.send_json(frame, kind="push"):
        raise AdminError(409, f"connection {conn_id!r} is closing")


def settings_view(settings: Settings) -> dict[str, Any]:
    view = dataclasses.asdict(settings)
    view["api_keys"] = [redact(k) for k in settings.api_keys]
    return view


def patch_settings(state: MockState, changes: dict[str, Any]) -> Settings:
    """Change settings for connections opened from now on; every value is type-checked."""
    known = {f.name: f for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for name, value in changes.items():
        f = known.get(name)
        if f is None:
            raise AdminError(400, f"unknown setting {name!r}")
        if name in FIXED_SETTINGS:
            raise AdminError(400, f"{name} cannot change while the server is listening")
        values[name] = _coerce(name, str(f.type), value)
    if "models_file" in values:
        try:
            models.load(values["models_file"])
        except models.CatalogueError as exc:
            raise AdminError(400, str(exc)) from None
    try:
        new = dataclasses.replace(state.settings, **values)  # Settings checks every range
    except ValueError as exc:
        raise AdminError(400, str(exc)) from None
    state.update(new)
    return new


def _coerce(name: str, kind: str, value: Any) -> Any:
    def bad(expected: str) -> AdminError:
        return AdminError(400, f"{name} must be {expected}, got {value!r}")

    optional = kind.endswith("| None")
    if value is None:
        if optional:
            return None
        raise bad("set (not null)")
    base = kind.removesuffix("| None").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        return float(value)
    if base == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if base.startswith("tuple"):
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return tuple(value)
    return value


def _library(state: MockState) -> Library:
    settings = state.settings
    try:
        return library_for(settings.fixtures_dir, bundled=settings.fixtures_bundled)
    except FixtureError as exc:
        raise AdminError(409, f"cannot load fixtures: {exc}") from None


def _is_wav(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


def _wav_files(fixture: Fixture) -> list[dict[str, Any]]:
    """The fixture's side files a browser can play, with what each one holds."""
    labels: dict[str, str] = {}
    if fixture.endpoint == "stt":
        if fixture.input_audio_file:
            labels[fixture.input_audio_file] = "input"
    else:
        for stream in fixture.tts_streams():
            if stream.audio_file:
                labels[stream.audio_file] = f"stream {stream.ordinal}: {stream.key[3]}"
    return [
        {
            "file": file,
            "label": label,
            "url": f"{PREFIX}/fixtures/{quote(fixture.name)}/audio/{quote(file)}",
        }
        for file, label in labels.items()
        if _is_wav(fixture.side_file_path(file))
    ]


def list_fixtures(state: MockState) -> list[dict[str, Any]]:
    """The fixture library replay uses now: each fixture's summary and its playable WAVs."""
    library = _library(state)
    out = []
    for fixture in library.fixtures.values():
        item = fixture.summary()
        item["wavs"] = _wav_files(fixture)
        out.append(item)
    return sorted(out, key=lambda f: str(f["name"]))


def fixture_audio_path(state: MockState, name: str, file: str) -> Path:
    """A WAV side file of fixture ``name``: only one its header declares, inside its folder."""
    fixture = _library(state).get(name)
    if fixture is None:
        raise AdminError(404, f"no fixture {name!r}")
    declared = fixture.header.get("side_files", {})
    if file not in declared or "/" in file or "\\" in file or file in (".", ".."):
        raise AdminError(404, f"fixture {name!r} has no side file {file!r}")
    folder = fixture.directory.resolve()
    path = fixture.side_file_path(file).resolve()
    if path.parent != folder or not path.is_file():
        raise AdminError(404, f"fixture {name!r} has no side file {file!r}")
    if not _is_wav(path):
        raise AdminError(404, f"{file!r} of fixture {name!r} is not a WAV file")
    return path


def journal_query(state: MockState, query: dict[str, str]) -> dict[str, Any]:
    """The journal (filtered by ``direction kind conn_id endpoint stream_id fault``; ``limit``
    keeps the newest N) as JSON."""
    filters = ("direction", "kind", "conn_id", "endpoint", "stream_id", "fault")
    unknown = sorted(set(query) - {*filters, "format", "limit"})
    if unknown:
        raise AdminError(400, f"unknown journal filter(s): {', '.join(unknown)}")
    fmt = query.get("format", "raw")
    if fmt not in ("raw", "normalised", "normalized"):
        raise AdminError(400, "format must be raw or normalised")
    direction = query.get("direction")
    if direction not in (None, "c2s", "s2c", "event"):
        raise AdminError(400, "direction must be c2s, s2c or event")
    limit: int | None = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            limit = 0
        if limit < 1:
            raise AdminError(400, "limit must be a positive integer")
    journal = state.journal
    entries: list[JournalEntry] = journal.select(
        direction=cast(Direction | None, direction),
        kind=query.get("kind"),
        conn_id=query.get("conn_id"),
        endpoint=query.get("endpoint"),
        stream_id=query.get("stream_id"),
        fault=query.get("fault"),
    )
    if limit is not None:
        entries = entries[-limit:]  # the newest
    body: dict[str, Any] = {
        "enabled": journal.enabled,
        "max_entries": journal.max_entries,
        "dropped": journal.dropped,
    }
    if fmt == "raw":
        body["entries"] = [e.to_dict() for e in entries]
    else:
        body["entries"] = journal.export(entries)
    return body


# --- HTTP ---

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_dumps = functools.partial(json.dumps, default=str)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


def _admin(handler: Handler) -> Handler:
    """Guarded by :func:`_refusal`; :class:`AdminError` becomes a JSON error response."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            _refusal(request)
            _refuse_changes_to_one_worker(request)
            return await handler(request)
        except AdminError as exc:
            return _json({"error": exc.message}, exc.status)

    return wrapper


# For the other routes under /__admin/ (the event stream, the dashboard).
guarded = _admin


def _refusal(request: web.Request) -> None:
    """Refuse what a web page the developer happens to visit could send to the admin API.

    Loopback callers only; the ``Host`` must be a loopback name (a DNS-rebinding page has its
    own); no cross-origin ``Origin``; a body must be JSON, which a page cannot send cross-origin
    without a CORS preflight that the mock never answers.
    """
    if not is_loopback(request.remote):
        raise AdminError(403, "the admin API is served to loopback clients only")
    if not is_loopback_name(host_name(request.host)):
        raise AdminError(403, "the admin API answers only requests addressed to a loopback host")
    origin = request.headers.get("Origin")
    if origin is not None and not is_loopback_name(host_name(origin.partition("://")[2])):
        raise AdminError(403, "cross-origin requests to the admin API are refused")
    with_body = request.method not in ("GET", "HEAD") and request.body_exists
    if with_body and request.content_type != "application/json":
        raise AdminError(415, "admin request bodies must be JSON (Content-Type: application/json)")


def _refuse_changes_to_one_worker(request: web.Request) -> None:
    """With several worker processes a change would reach whichever one the kernel picked."""
    if request.method in ("GET", "HEAD"):
        return
    workers = _state(request).workers
    if workers > 1:
        raise AdminError(
            409,
            f"this mock runs {workers} worker processes, each with its own state, and this request"
            f" reached one of them (pid {os.getpid()}); set faults and settings when starting"
            " it (flags, MOCK_SONIOX_* variables) or per connection (?fault=), or run one worker",
        )


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return None
    text = await request.text()
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AdminError(400, f"request body is not JSON: {exc}") from None


def _state(request: web.Request) -> MockState:
    return state_of(request.app)


@_admin
async def _get_connections(request: web.Request) -> web.StreamResponse:
    return _json({"connections": list_connections(_state(request))})


@_admin
async def _get_connection(request: web.Request) -> web.StreamResponse:
    return _json(connection_info(live_connection(_state(request), request.match_info["id"])))


@_admin
async def _post_close(request: web.Request) -> web.StreamResponse:
    body = await _body(request) or {}
    code = body.get("code", 1000) if isinstance(body, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        raise AdminError(400, 'body must be {"code": <close code>}')
    await close_connection(_state(request), request.match_info["id"], code)
    return _json({"closed": request.match_info["id"], "code": code})


@_admin
async def _post_push(request: web.Request) -> web.StreamResponse:
    await push(_state(request), request.match_info["id"], await _body(request))
    return _json({"pushed": request.match_info["id"]})


@_admin
async def _get_faults(request: web.Request) -> web.StreamResponse:
    return _json({"faults": list_faults(_state(request))})


@_admin
async def _post_fault(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    spec = body.get("spec") if isinstance(body, dict) else None
    if not isinstance(spec, str) or not spec:
        raise AdminError(400, 'body must be {"spec": "NAME[:key=value,...]"}')
    return _json(add_fault(_state(request), spec), 201)


@_admin
async def _get_fault_grammar(request: web.Request) -> web.StreamResponse:
    return _json(fault_grammar())


@_admin
async def _delete_faults(request: web.Request) -> web.StreamResponse:
    clear_faults(_state(request))
    return _json({"faults": []})


@_admin
async def _delete_fault(request: web.Request) -> web.StreamResponse:
    remove_fault(_state(request), request.match_info["id"])
    return _json({"removed": request.match_info["id"]})


@_admin
async def _get_journal(request: web.Request) -> web.StreamResponse:
    return _json(journal_query(_state(request), dict(request.query)))


@_admin
async def _delete_journal(request: web.Request) -> web.StreamResponse:
    _state(request).journal.clear()
    return _json({"entries": []})


@_admin
async def _post_reset(request: web.Request) -> web.StreamResponse:
    _state(request).reset()
    return _json({"reset": True})


@_admin
async def _get_settings(request: web.Request) -> web.StreamResponse:
    return _json(settings_view(_state(request).settings))


@_admin
async def _patch_settings(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    if not isinstance(body, dict):
        raise AdminError(400, 'body must be a JSON object of settings, e.g. {"time_scale": 0}')
    return _json(settings_view(patch_settings(_state(request), body)))


@_admin
async def _get_fixtures(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    return _json({"fixtures": await asyncio.to_thread(list_fixtures, state)})


@_admin
async def _get_fixture_audio(request: web.Request) -> web.StreamResponse:
    name, file = request.match_info["name"], request.match_info["file"]
    path = await asyncio.to_thread(fixture_audio_path, _state(request), name, file)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get(f"{PREFIX}/connections", _get_connections)
    r.add_get(f"{PREFIX}/connections/{{id}}", _get_connection)
    r.add_post(f"{PREFIX}/connections/{{id}}/close", _post_close)
    r.add_post(f"{PREFIX}/connections/{{id}}/push", _post_push)
    r.add_get(f"{PREFIX}/faults", _get_faults)
    r.add_post(f"{PREFIX}/faults", _post_fault)
    r.add_get(f"{PREFIX}/faults/grammar", _get_fault_grammar)
    r.add_delete(f"{PREFIX}/faults", _delete_faults)
    r.add_delete(f"{PREFIX}/faults/{{id}}", _delete_fault)
    r.add_get(f"{PREFIX}/journal", _get_journal)
    r.add_delete(f"{PREFIX}/journal", _delete_journal)
    r.add_post(f"{PREFIX}/reset", _post_reset)
    r.add_get(f"{PREFIX}/settings", _get_settings)
    r.add_patch(f"{PREFIX}/settings", _patch_settings)
    r.add_get(f"{PREFIX}/fixtures", _get_fixtures)
    r.add_get(f"{PREFIX}/fixtures/{{name}}/audio/{{file}}", _get_fixture_audio)
