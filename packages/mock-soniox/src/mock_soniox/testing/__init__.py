"""Helpers for tests against the mock: the pytest plugin, STT and TTS clients, leak measurement.

``pytest_plugin`` is registered through the ``pytest11`` entry point (it needs pytest); the other
modules import nothing beyond the mock's own dependencies.
"""
