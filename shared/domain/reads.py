"""Reads issued at once: the independent reads of one answer cost one round trip's time."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_reads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="scim-access")
"""A pool of its own, not the storage layer's (roundtrips.in_parallel): a read issued here may fan out there, and a
task waiting on work queued behind it in the same pool could wait for ever."""


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """The reads of one answer, issued at once: they are independent, so the answer costs one round trip's time.
    Each runs in a copy of the caller's context, so the request's round-trip count and trace include it."""
    futures = [_reads.submit(contextvars.copy_context().run, call) for call in calls]
    return [f.result() for f in futures]
