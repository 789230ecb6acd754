"""What the handlers of one mock app share: settings, journal, live connections, faults."""

from __future__ import annotations

from collections import Counter

from aiohttp import web

from .connection import Connection
from .faults import FaultRegistry
from .journal import Journal
from .settings import Settings
from .stt.source import SourceFactory as SttSourceFactory
from .stt.source import synthetic_source as stt_synthetic_source
from .tts.session import TtsKeyUsage
from .tts.source import TtsSourceFactory
from .tts.source import synthetic_source_factory as tts_synthetic_source


class MockState:
    """Everything the handlers share; one per application."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.defaults = settings
        self.journal = Journal(
            settings.journal_max_entries, settings.journal_enabled, settings.journal_max_bytes
        )
        self.connections: dict[str, Connection] = {}
        self.stt_sessions_by_key: Counter[str] = Counter()
        self.tts_usage = TtsKeyUsage()  # per-key TTS connections and streams (opt-in limits)
        self.faults = FaultRegistry(settings.seed)
        # Picks each STT session's result source; the server installs fixture replay here.
        self.stt_source_factory: SttSourceFactory = stt_synthetic_source
        # Picks each TTS stream's audio source; the server installs fixture replay here.
        self.tts_source_factory: TtsSourceFactory = tts_synthetic_source
        self.ready = True
        # How many processes serve this port (``serve --workers N``); each has its own state.
        self.workers = 1

    def update(self, settings: Settings) -> None:
        """Swap in new settings; connections already open keep theirs."""
        self.settings = settings
        self.journal.enabled = settings.journal_enabled
        if settings.journal_max_entries != self.journal.max_entries:
            self.journal.resize(settings.journal_max_entries)
        self.journal.max_bytes = settings.journal_max_bytes
        self.faults.seed = settings.seed

    def reset(self) -> None:
        """Back to the settings the app was created with, and an empty journal."""
        self.update(self.defaults)
        self.journal.clear()
        self.faults.clear()


STATE_KEY = web.AppKey("mock_soniox_state", MockState)


def state_of(app: web.Application) -> MockState:
    """The state of an app made by :func:`mock_soniox.create_app`."""
    return app[STATE_KEY]
