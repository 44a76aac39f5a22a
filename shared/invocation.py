"""What the current invocation is (operation name, invocation id), readable anywhere below the trigger without
passing it through every call: failure records and emails name the invocation an admin can look up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Invocation:
    operation: str
    invocation_id: str


_current: ContextVar[Invocation | None] = ContextVar("invocation", default=None)


@contextmanager
def invocation(operation: str, invocation_id: str) -> Iterator[None]:
    token = _current.set(Invocation(operation, invocation_id))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Invocation:
    return _current.get() or Invocation("unknown", "")
