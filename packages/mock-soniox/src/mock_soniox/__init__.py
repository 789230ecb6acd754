"""A protocol-faithful mock of the Soniox STT and TTS websocket APIs."""

from .fixtures.replay.events import assert_fixtures_consumed
from .journal import Journal, JournalEntry
from .server.app import create_app
from .server.runner import MockServer, ThreadedMockServer
from .settings import Settings
from .state import MockState, state_of
from .version import __version__

__all__ = [
    "Journal",
    "JournalEntry",
    "MockServer",
    "MockState",
    "Settings",
    "ThreadedMockServer",
    "__version__",
    "assert_fixtures_consumed",
    "create_app",
    "state_of",
]
