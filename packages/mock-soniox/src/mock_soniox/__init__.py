"""A protocol-faithful mock of the Soniox STT and TTS websocket APIs."""

from .app import MockState, create_app, state_of
from .journal import Journal, JournalEntry
from .server import MockServer, ThreadedMockServer
from .settings import Settings
from .version import __version__

__all__ = [
    "Journal",
    "JournalEntry",
    "MockServer",
    "MockState",
    "Settings",
    "ThreadedMockServer",
    "__version__",
    "create_app",
    "state_of",
]
