"""The fault grammar: ``NAME[:key=value,...]`` parsed into a :class:`FaultSpec`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass


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


def grammar() -> dict[str, Any]:
    """Every fault with its own keys and the required ones, plus the keys every fault takes."""
    return {
        "faults": {
            name: {"keys": list(keys), "required": list(_REQUIRED.get(name, ()))}
            for name, keys in _KEYS.items()
        },
        "common_keys": list(COMMON_KEYS),
        "endpoints": list(ENDPOINTS),
    }


# Bounds that keep a fault from holding a connection (or a test) for longer than anyone means.
MAX_MS = 3_600_000
MAX_RTF = 100.0
MAX_COUNT = 1_000_000

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
        if key in ("ms", "after_ms") and number > MAX_MS:
            raise bad(f"at most {MAX_MS} (one hour)")
        if key == "rtf" and number > MAX_RTF:
            raise bad(f"at most {MAX_RTF:g}")
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
    if integer > MAX_COUNT:
        raise bad(f"at most {MAX_COUNT}")
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
