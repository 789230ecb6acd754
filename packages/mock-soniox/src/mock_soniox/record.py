"""The recording proxy: clients talk to it as to Soniox, it relays every frame both ways as it
arrives (never holding a stream back) and writes each connection out as a fixture.

Modes, as pytest-recording's: ``none`` never goes upstream (everything is replayed, or synthetic
when nothing matches); ``once`` records only while the output directory has no fixture for the
endpoint, then replays; ``new_episodes`` replays a connection that names an existing fixture and
records the rest; ``all`` records every connection (overwriting a fixture of the same name).
Replaying goes through an in-process mock serving the output directory.

API keys never reach a fixture: the Authorization header and the subprotocol are not recorded,
and ``api_key`` in config frames is written as REDACTED. With ``SONIOX_API_KEY`` (or
``api_key=``) the proxy authenticates upstream itself (Bearer header; a client's in-message key
is dropped), so clients can use any placeholder key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from .audio import RAW_FORMATS, parse_wav_header
from .auth import SUBPROTOCOL, HandshakeAuth, handshake_auth, is_loopback_name
from .fixtures.library import iter_fixture_paths
from .fixtures.model import Direction
from .fixtures.replay.select import FIXTURE_HEADER, FIXTURE_PREFIX, FIXTURE_QUERY, STRICT_HEADER
from .fixtures.writer import FixtureWriter
from .protocol import REAL_STT_URL as REAL_STT_URL  # re-exported: `record` names them
from .protocol import REAL_TTS_URL as REAL_TTS_URL
from .protocol import STT_PATH, TTS_PATH
from .server.runner import MockServer
from .settings import Settings

logger = logging.getLogger("mock_soniox.record")

MODES = ("none", "once", "new_episodes", "all")
API_KEY_ENV = "SONIOX_API_KEY"
# Client headers the proxy passes on (besides auth); everything else stays local.
_FORWARD_HEADERS = ("User-Agent",)
_MOCK_HEADERS = (FIXTURE_HEADER, STRICT_HEADER, "X-Mock-Fault")

_names = itertools.count(1)


@dataclass
class RecordOptions:
    out_dir: Path
    mode: str = "new_episodes"
    stt_upstream: str = REAL_STT_URL
    tts_upstream: str = REAL_TTS_URL
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 300.0  # close both sides after this long with no frame either way

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"record mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.out_dir = Path(self.out_dir)

    @classmethod
    def from_env(cls, out_dir: str | Path, **overrides: Any) -> RecordOptions:
        values = {k: v for k, v in overrides.items() if v is not None}
        values.setdefault("api_key", os.environ.get(API_KEY_ENV) or None)
        return cls(Path(out_dir), **values)


class _SttClock:
    """The client's audio clock, from the config and the bytes it has streamed."""

    def __init__(self) -> None:
        self.bytes_per_ms = 0.0
        self.sent = 0
        self.header = b""
        self.container = False

    def configure(self, config: dict[str, Any]) -> None:
        fmt = config.get("audio_format") or "auto"
        rate = config.get("sample_rate")
        channels = config.get("num_channels") or 1
        if fmt in RAW_FORMATS and isinstance(rate, int) and isinstance(channels, int):
            self.bytes_per_ms = RAW_FORMATS[fmt].width * rate * channels / 1000
        else:
            self.container = True  # WAV: read its header; other containers stay at 0

    def feed(self, data: bytes) -> None:
        if self.container and not self.bytes_per_ms:
            self.header += data
            info = parse_wav_header(self.header)
            if info is not None:
                width = RAW_FORMATS[info.fmt].width
                self.bytes_per_ms = width * info.sample_rate * info.channels / 1000
                self.sent = len(self.header) - info.data_offset
                self.header = b""
            return
        self.sent += len(data)

    @property
    def ms(self) -> float:
        return self.sent / self.bytes_per_ms if self.bytes_per_ms else 0.0


class Recorder:
    """The proxy application; ``replay`` is the mock that serves what is not recorded."""

    def __init__(self, options: RecordOptions, replay: MockServer | None = None) -> None:
        self.options = options
        self.replay = replay
        self.app = web.Application()
        self.app.router.add_get(STT_PATH, self._handler("stt"))
        self.app.router.add_get(TTS_PATH, self._handler("tts"))
        self.app.router.add_get("/healthz", self._healthz)
        self.http: aiohttp.ClientSession | None = None
        self.written: list[Path] = []
        self._wrote = asyncio.Condition()
        self.app.on_startup.append(self._start)
        self.app.on_cleanup.append(self._stop)

    async def _start(self, app: web.Application) -> None:
        self.http = aiohttp.ClientSession()

    async def _stop(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    async def wait_written(self, count: int, timeout_s: float = 10.0) -> list[Path]:
        """Wait until ``count`` fixtures were written (a fixture is written after its close)."""
        async with asyncio.timeout(timeout_s), self._wrote:
            await self._wrote.wait_for(lambda: len(self.written) >= count)
        return list(self.written)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "mode": self.options.mode})

    # --- Routing ---

    def _records(self, endpoint: str, name: str | None) -> bool:
        mode = self.options.mode
        if mode == "all":
            return True
        if mode == "none" or self.replay is None:
            return False
        existing = {
            p.stem for p in iter_fixture_paths(self.options.out_dir) if _endpoint_of(p) == endpoint
        }
        if mode == "once":
            return not existing
        return name is None or name not in existing  # new_episodes

    def _upstream_url(self, endpoint: str, record: bool, request: web.Request) -> str:
        if record:
            return self.options.stt_upstream if endpoint == "stt" else self.options.tts_upstream
        assert self.replay is not None
        base = self.replay.stt_url if endpoint == "stt" else self.replay.tts_url
        return f"{base}?{request.query_string}" if request.query_string else base

    def _upstream_auth(
        self, request: web.Request, auth: HandshakeAuth, record: bool
    ) -> tuple[dict[str, str], tuple[str, ...]]:
        headers = {h: request.headers[h] for h in _FORWARD_HEADERS if h in request.headers}
        if not record:
            headers.update({h: request.headers[h] for h in _MOCK_HEADERS if h in request.headers})
        protocols: tuple[str, ...] = ()
        if record and self.options.api_key:
            headers["Authorization"] = f"Bearer {self.options.api_key}"
        elif auth.source == "header" and auth.key:
            headers["Authorization"] = f"Bearer {auth.key}"
        elif auth.source == "subprotocol" and auth.key:
            protocols = (SUBPROTOCOL, auth.key)
        return headers, protocols

    # --- One connection ---

    def _handler(self, endpoint: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._proxy(endpoint, request)

        return handler

    async def _proxy(self, endpoint: str, request: web.Request) -> web.StreamResponse:
        assert self.http is not None
        name = request.query.get(FIXTURE_QUERY) or request.headers.get(FIXTURE_HEADER)
        record = await asyncio.to_thread(self._records, endpoint, name)  # reads the directory
        url = self._upstream_url(endpoint, record, request)
        auth = handshake_auth(request)
        headers, protocols = self._upstream_auth(request, auth, record)
        try:
            async with asyncio.timeout(self.options.connect_timeout_s):
                upstream = await self.http.ws_connect(
                    url, headers=headers, protocols=protocols, max_msg_size=0, autoping=True
                )
        except aiohttp.WSServerHandshakeError as exc:
            logger.info("%s: upstream refused the upgrade: HTTP %d", endpoint, exc.status)
            return web.Response(status=exc.status, text=f"upstream refused: HTTP {exc.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("%s: cannot reach upstream %s: %s", endpoint, url, type(exc).__name__)
            return web.Response(status=502, text="upstream unreachable")
        client = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,) if auth.source == "subprotocol" else (),
            max_msg_size=0,
            autoping=True,
        )
        try:
            await client.prepare(request)
            writer = None
            if record:
                writer = FixtureWriter(
                    _safe_name(name) or _new_name(endpoint),
                    endpoint,
                    notes=f"recorded from {url}",
                )
                if auth.source == "header":
                    writer.redacted("authorization_header")
                elif auth.source == "subprotocol":
                    writer.redacted("subprotocol")
            await _Relay(endpoint, client, upstream, writer, self.options, named=bool(name)).run()
            if writer is not None and writer.frames:
                path = await asyncio.to_thread(writer.write, self.options.out_dir)
                async with self._wrote:
                    self.written.append(path)
                    self._wrote.notify_all()
                logger.info("%s: recorded %s (%d frames)", endpoint, path, len(writer.frames))
        finally:
            await upstream.close()
            await client.close()
        return client


def _endpoint_of(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline())
    except (OSError, json.JSONDecodeError):
        return None
    endpoint = header.get("endpoint") if isinstance(header, dict) else None
    return endpoint if isinstance(endpoint, str) else None


def _safe_name(name: str | None) -> str | None:
    if not name:
        return None
    cleaned = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name.strip())[:128]
    return cleaned.lstrip(".-_") or None


def _new_name(endpoint: str) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{endpoint}-{stamp}-{os.getpid()}-{next(_names)}"


class _Relay:
    """Two pumps, one per direction; whichever ends first ends the other (closing both)."""

    def __init__(
        self,
        endpoint: str,
        client: web.WebSocketResponse,
        upstream: aiohttp.ClientWebSocketResponse,
        writer: FixtureWriter | None,
        options: RecordOptions,
        *,
        named: bool,
    ) -> None:
        self.named = named  # the fixture name came with the handshake
        self.endpoint = endpoint
        self.client = client
        self.upstream = upstream
        self.writer = writer
        self.options = options
        self.t0 = time.monotonic()
        self.last_activity = self.t0
        self.clock = _SttClock() if endpoint == "stt" else None
        self.configured = False

    def _t_ms(self) -> float:
        return (time.monotonic() - self.t0) * 1000.0

    def _audio_ms(self) -> float | None:
        return self.clock.ms if self.clock is not None else None

    async def run(self) -> None:
        to_server = asyncio.create_task(self._pump_client(), name="record:c2s")
        to_client = asyncio.create_task(self._pump_upstream(), name="record:s2c")
        watchdog = asyncio.create_task(self._watch_idle(), name="record:idle")
        tasks = (to_server, to_client, watchdog)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                logger.warning("%s: relay error: %r", self.endpoint, result)

    async def _watch_idle(self) -> None:
        limit = self.options.idle_timeout_s
        while True:
            await asyncio.sleep(max(0.05, self.last_activity + limit - time.monotonic()))
            if time.monotonic() - self.last_activity >= limit:
                logger.info("%s: no frames for %gs, closing", self.endpoint, limit)
                await self.upstream.close(code=1001)
                await self.client.close(code=1001)
                return

    async def _pump_client(self) -> None:
        async for msg in self.client:
            self.last_activity = time.monotonic()
            if msg.type == WSMsgType.TEXT:
                text: str = msg.data
                forwarded = self._authenticate(text)
                await self.upstream.send_str(forwarded)
                self._record_text("c2s", text)
            elif msg.type == WSMsgType.BINARY:
                data: bytes = msg.data
                await self.upstream.send_bytes(data)
                if self.clock is not None:
                    self.clock.feed(data)
                if self.writer is not None:
                    self.writer.add_binary("c2s", self._t_ms(), data, audio_ms=self._audio_ms())
            else:
                break
        code = self.client.close_code or 1000
        if self.writer is not None:
            self.writer.add_close("c2s", self._t_ms(), code)
        await self.upstream.close(code=code)

    async def _pump_upstream(self) -> None:
        async for msg in self.upstream:
            self.last_activity = time.monotonic()
            if msg.type == WSMsgType.TEXT:
                await self.client.send_str(msg.data)
                self._record_text("s2c", msg.data)
            elif msg.type == WSMsgType.BINARY:
                await self.client.send_bytes(msg.data)
                if self.writer is not None:
                    self.writer.add_binary("s2c", self._t_ms(), msg.data)
            else:
                break
        code = self.upstream.close_code or 1000
        if self.writer is not None:
            self.writer.add_close("s2c", self._t_ms(), code)
        await self.client.close(code=code)

    def _authenticate(self, text: str) -> str:
        """With a key of our own (sent as a header), a client's in-message placeholder key is
        dropped on the way up: the service rejects a key sent in two places."""
        if not self.options.api_key or '"api_key"' not in text:
            return text
        with contextlib.suppress(json.JSONDecodeError):
            data = json.loads(text)
            if isinstance(data, dict) and "api_key" in data:
                del data["api_key"]
                return json.dumps(data)
        return text

    def _record_text(self, direction: Direction, text: str) -> None:
        if self.clock is not None and direction == "c2s" and not self.configured:
            with contextlib.suppress(json.JSONDecodeError):
                config = json.loads(text)
                if isinstance(config, dict):
                    self.configured = True
                    self.clock.configure(config)
                    if self.writer is not None:
                        self._name_from_config(config)
                        self.writer.set_audio_format(
                            config.get("audio_format"),
                            config.get("sample_rate"),
                            config.get("num_channels"),
                        )
                        if isinstance(config.get("model"), str):
                            self.writer.header["model"] = config["model"]
        if self.writer is not None:
            self.writer.add_text(direction, self._t_ms(), text, audio_ms=self._audio_ms())

    def _name_from_config(self, config: dict[str, Any]) -> None:
        assert self.writer is not None
        ref = config.get("client_reference_id")
        if isinstance(ref, str) and ref.startswith(FIXTURE_PREFIX):
            name = _safe_name(ref[len(FIXTURE_PREFIX) :])
            if name and not self.named:
                self.writer.name = name


@contextlib.asynccontextmanager
async def running_recorder(
    options: RecordOptions,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    replay_settings: Settings | None = None,
    allow_remote: bool = False,
) -> AsyncIterator[tuple[Recorder, str]]:
    """The recorder (and its replay mock) serving on ``host:port``; yields it and its base URL.

    The replay mock runs on a free loopback port with ``replay_settings`` (its fixtures directory
    is always the recorder's output directory). The recorder spends its user's key on whoever
    connects, so it binds a non-loopback ``host`` only with ``allow_remote``.
    """
    if not allow_remote and not is_loopback_name(host):
        raise ValueError(
            f"the recorder relays to Soniox with your key: refusing to listen on {host!r}"
            " (not loopback) without --allow-remote"
        )
    async with contextlib.AsyncExitStack() as stack:
        replay: MockServer | None = None
        if options.mode != "all":
            base = replay_settings or Settings()
            settings = dataclasses.replace(
                base, host="127.0.0.1", port=0, fixtures_dir=str(options.out_dir)
            )
            replay = await stack.enter_async_context(MockServer(settings))
        recorder = Recorder(options, replay)
        runner = web.AppRunner(recorder.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]  # the bound port when asked for 0
        yield recorder, f"ws://{bound_host}:{bound_port}"
