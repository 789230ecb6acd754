"""What the mock's own code still holds: a leak check that the test process's noise cannot fool.

RSS moves with allocator pools, client sessions and everything else a test process does; the
bytes still allocated from ``mock_soniox`` source lines after a workload do not.
"""

from __future__ import annotations

import contextlib
import gc
import tracemalloc
from collections.abc import Callable, Iterator

_MOCK_SOURCES = tracemalloc.Filter(True, "*mock_soniox*")


@contextlib.contextmanager
def mock_allocations() -> Iterator[Callable[[], int]]:
    """Trace allocations in the block; the callable says how many bytes the mock still holds."""
    tracemalloc.start()

    def held() -> int:
        gc.collect()
        snapshot = tracemalloc.take_snapshot().filter_traces([_MOCK_SOURCES])
        return sum(stat.size for stat in snapshot.statistics("filename"))

    try:
        yield held
    finally:
        tracemalloc.stop()
