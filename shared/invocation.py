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
    notify_to: str = ""
    """The account's notification address once the request is authenticated: carried by queued retries, so the
    admins can be told about given-up work even while table storage is down."""


_current: ContextVar[Invocation | None] = ContextVar("invocation", default=None)
_queued: ContextVar[list[bool] | None] = ContextVar("queued", default=None)


@contextmanager
def invocation(operation: str, invocation_id: str) -> Iterator[None]:
    token = _current.set(Invocation(operation, invocation_id))
    queued_token = _queued.set([False])
    try:
        yield
    finally:
        _current.reset(token)
        _queued.reset(queued_token)


def mark_queued() -> None:
    """Part of this invocation's work was left to the retry queue (shown in the activity log)."""
    flag = _queued.get()
    if flag is not None:
        flag[0] = True


def was_queued() -> bool:
    flag = _queued.get()
    return bool(flag and flag[0])


def current() -> Invocation:
    return _current.get() or Invocation("unknown", "")


def set_notify_to(address: str | None) -> None:
    now = current()
    _current.set(Invocation(now.operation, now.invocation_id, address or ""))
