"""Pausing Python's cyclic garbage collector around bulk work.

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
