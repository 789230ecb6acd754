"""What tests of either endpoint share: the test key, fault URLs, waiting for journal counts."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote

from ..journal import Journal, JournalEntry

BEARER = {"Authorization": "Bearer test-key"}


def with_faults(url: str, *specs: str) -> str:
    """``url`` with each spec as a ``fault=`` query parameter (armed at the handshake)."""
    if not specs:
        return url
    return url + "?" + "&".join("fault=" + quote(spec, safe=":=,") for spec in specs)


async def wait_for_count(
    journal: Journal,
    predicate: Callable[[JournalEntry], bool],
    count: int,
    within: float = 5.0,
) -> list[JournalEntry]:
    """Wait until the journal holds ``count`` entries matching ``predicate``; return them all.

    Built on :meth:`Journal.wait_for`, so entries recorded on the server's thread are seen.
    """
    await journal.wait_for(
        lambda e: predicate(e) and len(journal.select(where=predicate)) >= count, within=within
    )
    return journal.select(where=predicate)
