"""A bounded, thread-safe record of every frame both ways, to assert on in tests."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

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


class Journal:
    """Ring buffer of :class:`JournalEntry`; cheap enough to leave on, switchable for load runs."""

    def __init__(self, max_entries: int = 100_000, enabled: bool = True) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._listeners: list[Callable[[JournalEntry], None]] = []
        self.enabled = enabled

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
        entry = JournalEntry(
            next(self._seq),
            time.monotonic(),
            conn_id,
            endpoint,
            direction,
            kind,
            data,
            stream_id,
            fixture,
            fault,
        )
        with self._lock:
            self._entries.append(entry)
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

    def resize(self, max_entries: int) -> None:
        with self._lock:
            self._entries = deque(self._entries, maxlen=max_entries)

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

    def select(
        self,
        *,
        direction: Direction | None = None,
        kind: str | None = None,
        conn_id: str | None = None,
        endpoint: str | None = None,
        stream_id: str | None = None,
    ) -> list[JournalEntry]:
        return [
            e
            for e in self.entries()
            if (direction is None or e.direction == direction)
            and (kind is None or e.kind == kind)
            and (conn_id is None or e.conn_id == conn_id)
            and (endpoint is None or e.endpoint == endpoint)
            and (stream_id is None or e.stream_id == stream_id)
        ]
