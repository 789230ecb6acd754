"""What tests of either endpoint share: the test key and fault URLs."""

from __future__ import annotations

from urllib.parse import quote

BEARER = {"Authorization": "Bearer test-key"}


def with_faults(url: str, *specs: str) -> str:
    """``url`` with each spec as a ``fault=`` query parameter (armed at the handshake)."""
    if not specs:
        return url
    return url + "?" + "&".join("fault=" + quote(spec, safe=":=,") for spec in specs)
