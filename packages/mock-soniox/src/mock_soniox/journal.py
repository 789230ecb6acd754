"""A bounded, thread-safe record of every frame both ways, to assert on in tests.

Bounded twice: by entry count and by bytes. What a client sent is kept as
:func:`~mock_soniox.sanitize.journal_view` makes it: keys redacted, long strings, large
containers and deep nesting cut, so a hostile client can neither grow the journal without bound
nor plant a key or a frame that breaks the export.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .sanitize import MAX_ECHO_CHARS, journal_view, redact_text

Direction = Literal["c2s", "s2c", "event"]


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    t: float  # time.monotonic() when recorded
    conn_id: str
    endpoint: str  # "stt" | "tts"
    direction: Direction
    kind: str  # text | binary | close | open | error ... ; for JSON text frames: its message kind
    data: Any  # parsed JSON for JSON text frames, the string otherwise, {"bytes": n} for binary
    stream_id: str | None = None
    fixture: str | None = None
    fault: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Values that differ on every run; :meth:`Journal.export` replaces them with a placeholder.
VOLATILE_KEYS = ("request_id",)


class Journal:
    """Ring buffer of :class:`JournalEntry`; cheap enough to leave on, switchable for load runs."""

    def __init__(
        self, max_entries: int = 100_000, enabled: bool = True, max_bytes: int = 64 * 2**20
    ) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=max_entries)
        self._sizes: deque[int] = deque(maxlen=max_entries)  # approximate bytes, per entry
        self._bytes = 0
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._listeners: list[Callable[[JournalEntry], None]] = []
        self.enabled = enabled
        self.dropped = 0  # entries the ring buffer has pushed out since the last clear()

    def record(
        self,
        conn_id: str,
        endpoint: str,
        direction: Direction,
        kind: str,
        data: Any = None,
        *,
        stream_id: str | None = None,
        fixture: str | None = None,
        fault: str | None = None,
    ) -> None:
        if not self.enabled:
            return
        view, size = journal_view(data)
        if stream_id is not None:
            stream_id, _ = redact_text(stream_id[: MAX_ECHO_CHARS + 1])  # a client's choice
        self.record_view(
            conn_id,
            endpoint,
            direction,
            kind,
            view,
            size,
            stream_id=stream_id,
            fixture=fixture,
            fault=fault,
        )

    def record_view(
        self,
        conn_id: str,
        endpoint: str,
        direction: Direction,
        kind: str,
        view: Any,
        size: int,
        *,
        stream_id: str | None = None,
        fixture: str | None = None,
        fault: str | None = None,
    ) -> None:
        """Record ``view`` as it is: it and ``stream_id`` must already be what
        :func:`journal_view` would keep (no key, bounded), ``size`` its approximate bytes.
        For the mock's own hot paths."""
        if not self.enabled:
            return
        if stream_id is not None and len(stream_id) > MAX_ECHO_CHARS:
            stream_id = stream_id[:MAX_ECHO_CHARS] + "..."
        entry = JournalEntry(
            next(self._seq),
            time.monotonic(),
            conn_id,
            endpoint,
            direction,
            kind,
            view,
            stream_id,
            fixture,
            fault,
        )
        size += 200  # the entry itself
        with self._lock:
            if len(self._entries) == self._entries.maxlen:
                self.dropped += 1
                self._bytes -= self._sizes[0]  # append() below pushes it out
            self._entries.append(entry)
            self._sizes.append(size)
            self._bytes += size
            while self._bytes > self.max_bytes and len(self._entries) > 1:
                self._entries.popleft()
                self._bytes -= self._sizes.popleft()
                self.dropped += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(entry)

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[JournalEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()
            self._bytes = 0
            self.dropped = 0

    @property
    def max_entries(self) -> int:
        maxlen = self._entries.maxlen
        assert maxlen is not None
        return maxlen

    def resize(self, max_entries: int) -> None:
        """Change the ring buffer's size, keeping the newest entries."""
        if max_entries < 1:
            raise ValueError(f"journal size must be >= 1, got {max_entries}")
        with self._lock:
            self.dropped += max(0, len(self._entries) - max_entries)
            self._entries = deque(self._entries, maxlen=max_entries)
            self._sizes = deque(self._sizes, maxlen=max_entries)
            self._bytes = sum(self._sizes)

    @property
    def size_bytes(self) -> int:
        """Approximately what the kept entries hold (the byte cap counts this)."""
        with self._lock:
            return self._bytes

    def subscribe(self, listener: Callable[[JournalEntry], None]) -> Callable[[], None]:
        """Call ``listener`` (from the server's thread) for every new entry; returns unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def client_frames(
        self, kind: str | None = None, *, conn_id: str | None = None, endpoint: str | None = None
    ) -> list[JournalEntry]:
        return self.select(direction="c2s", kind=kind, conn_id=conn_id, endpoint=endpoint)

    def server_frames(
        self, kind: str | None = None, *, conn_id: str | None = None, endpoint: str | None = None
    ) -> list[JournalEntry]:
        return self.select(direction="s2c", kind=kind, conn_id=conn_id, endpoint=endpoint)

    def events(
        self, kind: str | None = None, *, conn_id: str | None = None, endpoint: str | None = None
    ) -> list[JournalEntry]:
        """What happened besides frames: open, close, closed, abort, fault, refused..."""
        return self.select(direction="event", kind=kind, conn_id=conn_id, endpoint=endpoint)

    def faults_applied(self, *, conn_id: str | None = None) -> list[str]:
        """Fault specs that fired, in order (one per firing, per stream for stream faults)."""
        return [e.fault for e in self.events("fault", conn_id=conn_id) if e.fault is not None]

    def connection_ids(self, endpoint: str | None = None) -> list[str]:
        """Connections seen, in the order they first appear."""
        return list(dict.fromkeys(e.conn_id for e in self.select(endpoint=endpoint)))

    def stream_ids(self, conn_id: str | None = None) -> list[str]:
        """TTS stream ids seen, in the order they first appear."""
        return list(dict.fromkeys(e.stream_id for e in self.select(conn_id=conn_id) if e.stream_id))

    def select(
        self,
        *,
        direction: Direction | None = None,
        kind: str | None = None,
        conn_id: str | None = None,
        endpoint: str | None = None,
        stream_id: str | None = None,
        fault: str | None = None,
        where: Callable[[JournalEntry], bool] | None = None,
    ) -> list[JournalEntry]:
        return [
            e
            for e in self.entries()
            if (direction is None or e.direction == direction)
            and (kind is None or e.kind == kind)
            and (conn_id is None or e.conn_id == conn_id)
            and (endpoint is None or e.endpoint == endpoint)
            and (stream_id is None or e.stream_id == stream_id)
            and (fault is None or e.fault == fault)
            and (where is None or where(e))
        ]

    def export(
        self,
        entries: Iterable[JournalEntry] | None = None,
        *,
        events: bool = True,
        by_connection: bool = True,
    ) -> list[dict[str, Any]]:
        """A normalised list ready for a syrupy snapshot: nothing in it varies between runs.

        Connection ids become ``stt#1``, ``tts#1``... in order of appearance; times and sequence
        numbers go; ``request_id`` values become a placeholder. ``by_connection`` groups entries by
        connection (keeping each one's order), so concurrent connections do not make it flaky.
        """
        chosen = list(self.entries() if entries is None else entries)
        if not events:
            chosen = [e for e in chosen if e.direction != "event"]
        labels: dict[str, str] = {}
        per_endpoint: dict[str, int] = {}
        for e in chosen:
            if e.conn_id not in labels:
                per_endpoint[e.endpoint] = per_endpoint.get(e.endpoint, 0) + 1
                labels[e.conn_id] = f"{e.endpoint}#{per_endpoint[e.endpoint]}"
        if by_connection:
            order = {conn_id: i for i, conn_id in enumerate(labels)}
            chosen.sort(key=lambda e: order[e.conn_id])  # stable: keeps each connection's order
        out: list[dict[str, Any]] = []
        for e in chosen:
            item: dict[str, Any] = {"conn": labels[e.conn_id], "dir": e.direction, "kind": e.kind}
            if e.stream_id is not None:
                item["stream_id"] = e.stream_id
            if e.data is not None:
                item["data"] = _normalise(e.data)
            if e.fixture is not None:
                item["fixture"] = e.fixture
            if e.fault is not None:
                item["fault"] = e.fault
            out.append(item)
        return out

    async def wait_for(
        self, predicate: Callable[[JournalEntry], bool], within: float = 5.0
    ) -> JournalEntry:
        """The first entry (already recorded or still to come) matching ``predicate``.

        Safe across threads: the mock may record from its own loop. Raises TimeoutError after
        ``within`` seconds. The journal must be enabled.
        """
        loop = asyncio.get_running_loop()
        found: asyncio.Future[JournalEntry] = loop.create_future()

        def resolve(entry: JournalEntry) -> None:
            if not found.done():
                found.set_result(entry)

        def listener(entry: JournalEntry) -> None:
            if predicate(entry):
                with contextlib.suppress(RuntimeError):  # the waiting loop may be gone
                    loop.call_soon_threadsafe(resolve, entry)

        unsubscribe = self.subscribe(listener)
        try:
            for entry in self.entries():
                if predicate(entry):
                    return entry
            try:
                async with asyncio.timeout(within):
                    return await found
            except TimeoutError:
                raise TimeoutError(f"no journal entry matched within {within} s") from None
        finally:
            unsubscribe()


def _normalise(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: f"<{k}>" if k in VOLATILE_KEYS and v is not None else _normalise(v)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_normalise(v) for v in data]
    return data
