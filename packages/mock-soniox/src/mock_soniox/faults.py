"""Fault injection: one grammar, ``NAME[:key=value[,key=value...]]``, armed three ways.

A connection carries specs in its URL (``?fault=SPEC``, repeatable) or in ``X-Mock-Fault`` headers;
tests and the admin API add global rules to the :class:`FaultRegistry`. At the handshake the
registry decides which faults this connection gets (``times=N`` and ``p=F,seed=S`` are settled
there, once per connection), and a :class:`ConnectionFaults` plan then fires them as the
connection's progress counters reach their triggers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import DEFAULT_MESSAGES, ProtocolError

if TYPE_CHECKING:
    from .connection import Connection, StreamFault

logger = logging.getLogger("mock_soniox")

ENDPOINTS = ("stt", "tts")
TRIGGERS = ("after_ms", "after_frames", "after_streams")
COMMON_KEYS = ("times", "p", "seed", "endpoint")

# The keys each fault takes besides COMMON_KEYS (the order is the canonical order), and the
# ones it cannot do without.
_KEYS: dict[str, tuple[str, ...]] = {
    "refuse": ("status",),
    "delay_accept": ("ms",),
    "drop": TRIGGERS,
    "close": ("code", *TRIGGERS),
    "stall": TRIGGERS,
    "error": ("code", "after_ms", "after_frames", "stream"),
    "no_audio_end": ("stream",),
    "conn_error": ("code", *TRIGGERS),
    "slow": ("rtf", "stream"),
    "delay": ("ms",),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "delay_accept": ("ms",),
    "error": ("code",),
    "conn_error": ("code",),
    "slow": ("rtf",),
    "delay": ("ms",),
}
FAULT_NAMES = tuple(_KEYS)

# Faults that end or freeze the whole connection once their trigger is reached.
CONNECTION_FAULTS = ("drop", "close", "stall", "error", "conn_error")
STREAM_FAULTS = ("error", "no_audio_end", "slow")  # on the TTS endpoint

# Close codes a server may put on the wire (RFC 6455 §7.4; 1005/1006/1015 are never sent).
SENDABLE_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015), *range(3000, 5000)})


class FaultSpecError(ValueError):
    """A fault spec that does not parse, or that names something the endpoint cannot do."""


@dataclass(frozen=True)
class FaultSpec:
    """One parsed spec. ``text`` is its canonical form: the identity ``times=`` counts by."""

    name: str
    params: tuple[tuple[str, int | float], ...]
    text: str

    def get(self, key: str, default: float | None = None) -> Any:
        for k, v in self.params:
            if k == key:
                return v
        return default

    def has(self, key: str) -> bool:
        return any(k == key for k, _ in self.params)

    @property
    def trigger(self) -> tuple[str, float] | None:
        """The ``after_*`` key and its value, or None when the fault is due at once."""
        for key in TRIGGERS:
            if self.has(key):
                return key, float(self.get(key))
        return None

    @property
    def endpoint(self) -> str | None:
        value = self.get("endpoint")
        return None if value is None else ENDPOINTS[int(value)]

    def unsupported_on(self, endpoint: str) -> str | None:
        """Why this fault cannot apply on ``endpoint`` (None when it can)."""
        if self.endpoint is not None and self.endpoint != endpoint:
            return f"it is limited to endpoint={self.endpoint}"
        if endpoint == "stt":
            if self.name in ("no_audio_end", "slow", "conn_error"):
                return f"{self.name} is a TTS fault"
            if self.has("stream") or self.has("after_streams"):
                return "STT connections have no streams"
        if (
            endpoint == "tts"
            and self.name == "error"
            and (self.has("after_ms") or self.has("after_frames"))
        ):
            return "TTS errors target a stream (stream=K); use conn_error for the connection"
        return None


def parse_fault(spec: str) -> FaultSpec:
    """Parse ``NAME[:key=value,...]``; raise :class:`FaultSpecError` saying what is wrong."""
    text = spec.strip()
    if not text:
        raise FaultSpecError("empty fault spec")
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in _KEYS:
        raise FaultSpecError(f"unknown fault {name!r} in {text!r}; known: {', '.join(FAULT_NAMES)}")
    allowed = (*_KEYS[name], *COMMON_KEYS)
    values: dict[str, int | float] = {}
    for part in rest.split(",") if rest.strip() else []:
        key, eq, raw = part.partition("=")
        key, raw = key.strip(), raw.strip()
        if not eq or not key or not raw:
            raise FaultSpecError(f"{text!r}: expected key=value, got {part.strip()!r}")
        if key not in allowed:
            raise FaultSpecError(
                f"{text!r}: {name} takes no {key!r}; it takes {', '.join(allowed)}"
            )
        if key in values:
            raise FaultSpecError(f"{text!r}: {key!r} given twice")
        values[key] = _value(text, key, raw)
    missing = [k for k in _REQUIRED.get(name, ()) if k not in values]
    if missing:
        raise FaultSpecError(f"{text!r}: {name} needs {', '.join(k + '=...' for k in missing)}")
    triggers = [k for k in values if k in TRIGGERS or k == "stream"]
    if len(triggers) > 1:
        raise FaultSpecError(f"{text!r}: give at most one of {', '.join(triggers)}")
    params = tuple((k, values[k]) for k in allowed if k in values)  # canonical: declared order
    canonical = name + (":" + ",".join(f"{k}={_show(k, v)}" for k, v in params) if params else "")
    return FaultSpec(name, params, canonical)


def parse_faults(specs: Iterable[str]) -> list[FaultSpec]:
    """Several specs; one header or query value may hold several separated by ``;``."""
    return [parse_fault(one) for spec in specs for one in spec.split(";") if one.strip()]


def _value(text: str, key: str, raw: str) -> int | float:
    def bad(expected: str) -> FaultSpecError:
        return FaultSpecError(f"{text!r}: {key} must be {expected}, got {raw!r}")

    if key == "endpoint":
        if raw not in ENDPOINTS:
            raise bad("stt or tts")
        return ENDPOINTS.index(raw)
    if key in ("p", "rtf", "ms", "after_ms"):
        try:
            number = float(raw)
        except ValueError:
            raise bad("a number") from None
        if key == "p" and not 0.0 <= number <= 1.0:
            raise bad("between 0 and 1")
        if key == "rtf" and not number > 0:
            raise bad("a positive number (2 = half real-time speed)")
        if number < 0 or number != number or number == float("inf"):
            raise bad("a finite number >= 0")
        return number
    try:
        integer = int(raw)
    except ValueError:
        raise bad("an integer") from None
    if key == "status" and not 400 <= integer <= 599:
        raise bad("an HTTP error status (400-599)")
    if key == "code" and not (100 <= integer <= 599 or 1000 <= integer <= 4999):
        raise bad("an error code (400-599) or a close code (1000-4999)")
    if key in ("times", "stream") and integer < 1:
        raise bad("an integer >= 1")
    if key in ("after_frames", "after_streams") and integer < 0:
        raise bad("an integer >= 0")
    return integer


def _show(key: str, value: int | float) -> str:
    if key == "endpoint":
        return ENDPOINTS[int(value)]
    if isinstance(value, float) and value.is_integer() and key not in ("p", "rtf"):
        return str(int(value))
    return str(value)


def check_applicable(spec: FaultSpec, endpoint: str) -> None:
    """Raise :class:`FaultSpecError` when ``spec`` cannot fire on ``endpoint``."""
    reason = spec.unsupported_on(endpoint)
    if reason is not None:
        raise FaultSpecError(f"{spec.text!r} cannot apply to the {endpoint} endpoint: {reason}")
    if spec.name == "close":
        code = int(spec.get("code", 1000))
        if code not in SENDABLE_CLOSE_CODES:
            raise FaultSpecError(
                f"{spec.text!r}: {code} is not a close code a server can send "
                "(1000-1003, 1007-1014, 3000-4999; use drop for 1006)"
            )
    if spec.name in ("error", "conn_error") and not 400 <= int(spec.get("code")) <= 599:
        raise FaultSpecError(f"{spec.text!r}: error codes are 400-599")


@dataclass
class FaultRule:
    """A fault armed globally (fixture or admin API) for every matching new connection."""

    id: str
    spec: FaultSpec
    fired: int = 0

    def describe(self) -> dict[str, Any]:
        times = self.spec.get("times")
        return {
            "id": self.id,
            "spec": self.spec.text,
            "fired": self.fired,
            "healed": times is not None and self.fired >= int(times),
        }


class FaultRegistry:
    """Global rules plus the ``times``/``p`` bookkeeping for specs that connections carry."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rules: dict[str, FaultRule] = {}
        self._ids = itertools.count(1)
        self._fired: dict[str, int] = {}  # carried spec text -> connections it fired on
        self._rngs: dict[str, random.Random] = {}

    def add(self, spec: str | FaultSpec) -> FaultRule:
        parsed = parse_fault(spec) if isinstance(spec, str) else spec
        if parsed.name in ("close", "error", "conn_error"):
            # Validate codes now so the caller hears about it, not a later connection.
            for endpoint in ENDPOINTS:
                if parsed.unsupported_on(endpoint) is None:
                    check_applicable(parsed, endpoint)
        rule = FaultRule(f"f{next(self._ids)}", parsed)
        self._rules[rule.id] = rule
        return rule

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def clear(self) -> None:
        """Forget every rule and every ``times``/``p`` count: the next connection starts fresh."""
        self._rules.clear()
        self._fired.clear()
        self._rngs.clear()

    def arm(self, endpoint: str, carried: Iterable[FaultSpec]) -> list[FaultSpec]:
        """The faults a new ``endpoint`` connection gets: its own specs, then global rules.

        Carried specs that cannot apply here raise :class:`FaultSpecError` (the client asked for
        something impossible); global rules that cannot apply are simply skipped.
        """
        carried = list(carried)
        for spec in carried:
            check_applicable(spec, endpoint)  # all or nothing: no count moves for a bad request
        armed: list[FaultSpec] = []
        for spec in carried:
            fired = self._fired.get(spec.text, 0)
            if self._fires(spec, fired):
                self._fired[spec.text] = fired + 1
                armed.append(spec)
        for rule in self._rules.values():
            if rule.spec.unsupported_on(endpoint) is not None:
                continue
            if self._fires(rule.spec, rule.fired, key=rule.id):
                rule.fired += 1
                armed.append(rule.spec)
        return armed

    def _fires(self, spec: FaultSpec, fired: int, key: str | None = None) -> bool:
        times = spec.get("times")
        if times is not None and fired >= int(times):
            return False  # healed
        p = spec.get("p")
        if p is None:
            return True
        rng_key = key or spec.text
        rng = self._rngs.get(rng_key)
        if rng is None:
            rng = self._rngs[rng_key] = random.Random(int(spec.get("seed", self.seed)))
        return rng.random() < float(p)


class ConnectionFaults:
    """The faults armed on one connection, and the timer that fires time-based ones.

    The timer task is owned here: :meth:`start` creates it, :meth:`stop` cancels and awaits it.
    """

    def __init__(self, armed: Iterable[FaultSpec] = ()) -> None:
        self.armed = list(armed)
        self.pending = [s for s in self.armed if s.name in CONNECTION_FAULTS]
        self.delay = next((s for s in self.armed if s.name == "delay"), None)
        self.stall: FaultSpec | None = None  # set once a stall fired
        self._timer: asyncio.Task[None] | None = None
        self._firing = False
        self.fired: list[str] = []

    @classmethod
    def none(cls) -> ConnectionFaults:
        return cls()

    def specs(self) -> list[str]:
        return [s.text for s in self.armed]

    def stream_faults(self, conn: Connection, index: int) -> list[StreamFault]:
        from .connection import StreamFault

        if conn.endpoint != "tts":
            return []
        out: list[StreamFault] = []
        for spec in self.armed:
            if spec.name not in STREAM_FAULTS:
                continue
            target = spec.get("stream")
            if target is not None and int(target) != index:
                continue
            code = int(spec.get("code")) if spec.name == "error" else None
            rtf = float(spec.get("rtf")) if spec.name == "slow" else None
            out.append(StreamFault(spec.name, code=code, rtf=rtf, spec=spec.text))
            conn.record_event("fault", {"spec": spec.text, "stream": index}, fault=spec.text)
        return out

    # --- connection-level faults ---

    def _due(self, conn: Connection, spec: FaultSpec) -> bool:
        if spec.name == "error" and conn.endpoint == "tts":
            return False  # a stream fault there
        trigger = spec.trigger
        if trigger is None:
            return True
        key, value = trigger
        if key == "after_frames":
            return conn.frames_received >= value
        if key == "after_streams":
            return conn.streams_opened >= value
        if conn.endpoint == "stt":
            return conn.audio_ms >= value
        return self._elapsed_ms(conn) >= value

    @staticmethod
    def _elapsed_ms(conn: Connection) -> float:
        """TTS ``after_ms`` is time since the upgrade, under the connection's time scale."""
        real_ms = (time.monotonic() - conn.opened) * 1000.0
        scale = conn.settings.time_scale
        return real_ms / scale if scale > 0 else real_ms

    async def check(self, conn: Connection) -> bool:
        """Fire every fault whose trigger is reached; True when the connection is over."""
        for spec in list(self.pending):
            if spec in self.pending and self._due(conn, spec):
                self.pending.remove(spec)
                if await self._fire(conn, spec):
                    return True
        return False

    async def _fire(self, conn: Connection, spec: FaultSpec) -> bool:
        self.fired.append(spec.text)
        logger.info("%s: fault %s", conn.id, spec.text)
        conn.record_event("fault", {"spec": spec.text}, fault=spec.text)
        if spec.name == "drop":
            conn.abort()
            return True
        if spec.name == "stall":
            self.stall = spec
            if isinstance(conn.ws, FaultableWebSocketResponse):
                conn.ws.muted = True
            return False
        if spec.name == "close":
            await conn.close(int(spec.get("code", 1000)), fault=spec.text)
            return True
        code = int(spec.get("code"))  # error (STT) and conn_error (TTS): error frame, then close
        message = DEFAULT_MESSAGES.get(code, "Error.")
        await conn.fail(ProtocolError(code, message), fault=spec.text)
        return True

    # --- the timer, for faults that must fire while the client is silent ---

    def start(self, conn: Connection) -> None:
        timed = [s for s in self.pending if self._timed(conn, s)]
        if timed and self._timer is None:
            self._timer = asyncio.create_task(self._run_timer(conn), name=f"{conn.id}-faults")

    @staticmethod
    def _timed(conn: Connection, spec: FaultSpec) -> bool:
        trigger = spec.trigger
        return conn.endpoint == "tts" and trigger is not None and trigger[0] == "after_ms"

    async def _run_timer(self, conn: Connection) -> None:
        while not conn.closed:
            timed = [s for s in self.pending if self._timed(conn, s)]
            if not timed:
                return
            due_ms = min(float(s.get("after_ms")) for s in timed)
            wait_ms = due_ms - self._elapsed_ms(conn)
            if wait_ms > 0:
                await asyncio.sleep(conn.settings.timer(wait_ms / 1000.0))
                continue
            self._firing = True
            try:
                if await self.check(conn):
                    return
            finally:
                self._firing = False

    async def stop(self) -> None:
        """Cancel the timer (unless it is mid-fire: then let it finish) and await it."""
        task, self._timer = self._timer, None
        if task is None:
            return
        if not self._firing:
            task.cancel()
        # gather() hands back the timer's own CancelledError without swallowing a cancellation
        # of the caller (the handler's finally block) the way suppressing it would.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15.0):
                (outcome,) = await asyncio.gather(task, return_exceptions=True)
                if isinstance(outcome, Exception):
                    raise outcome

    # --- send side ---

    def send_delay_s(self, conn: Connection) -> float:
        """How long each server frame waits (``delay:ms=N``; real length at time scale 0)."""
        if self.delay is None:
            return 0.0
        return conn.settings.timer(float(self.delay.get("ms")) / 1000.0)


@dataclass
class HandshakeFaults:
    """What the handshake must do before upgrading: wait, refuse, or go ahead."""

    armed: list[FaultSpec] = field(default_factory=list)

    @property
    def refuse(self) -> FaultSpec | None:
        return next((s for s in self.armed if s.name == "refuse"), None)

    @property
    def accept_delay_ms(self) -> float:
        return sum(float(s.get("ms")) for s in self.armed if s.name == "delay_accept")


class FaultableWebSocketResponse(web.WebSocketResponse):
    """A server websocket that can stop answering pings once a ``stall`` fault fires."""

    muted = False

    async def pong(self, message: bytes = b"") -> None:
        if not self.muted:
            await super().pong(message)
