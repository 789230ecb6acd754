"""Serving the mock: ``app`` (routes, handshake, health), ``admin`` (``/__admin/``), ``runner``."""
