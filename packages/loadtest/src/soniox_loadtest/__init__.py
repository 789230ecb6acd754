"""Locust load tests for Soniox shared TTS connections and STT sessions."""

from .version import __version__

__all__ = ["__version__"]
