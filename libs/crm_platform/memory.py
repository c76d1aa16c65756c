"""Python's cyclic garbage collector in long-running processes: out of the way after
start-up, and paused around bulk work.

A bulk use case (a 10,000-row import) creates hundreds of thousands of objects that
survive young collections, which makes CPython run full collections over every object
in the process again and again: measured at a quarter of an import's CPU. Reference
counting still frees what the work drops; only reference cycles wait, for the
collector's first run after the pause.

Green threads share the collector: the pause counts nesting, so two overlapping bulk
jobs keep it paused until the last one ends, and it is switched back on only if it was
on when the first pause began.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_depth = 0
_was_enabled = False


@contextmanager
def collector_paused() -> Iterator[None]:
    global _depth, _was_enabled
    if _depth == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()


def settle_after_startup() -> None:
    """Call once a process has started: everything alive by then (modules, SQLAlchemy
    and pydantic metadata, the nameko container) lives as long as the process, so it is
    moved out of the collector's reach, and young collections run less often. A full
    collection otherwise walked all of it again every few hundred requests, a pause that
    landed in the latency tail of whichever requests were in flight."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
