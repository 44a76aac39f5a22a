"""Invokes one function as the worker does: binds the trigger value to its parameter, injects `context`
when declared, runs `async def` functions on an event loop, and logs the invocation like the host."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext as AbstractRetryContext

from devhost.app_loader import IndexedFunction
from devhost.telemetry import invocation_context, traceparent

log = logging.getLogger("devhost")


class RetryContext(AbstractRetryContext):
    def __init__(self, retry_count: int = 0, max_retry_count: int = 0) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> Any:  # the host sets it only after a failed attempt; never here
        return None


class TraceContext:
    """`context.trace_context` as the worker fills it: the W3C traceparent of the host's invocation."""

    def __init__(self, trace_parent: str) -> None:
        self.trace_parent = trace_parent
        self.trace_state = ""
        self.attributes: dict[str, str] = {}


class Context(func.Context):
    def __init__(self, function: IndexedFunction, invocation_id: str, app_dir: str, retry: RetryContext,
                 trace_parent: str = "") -> None:
        self._function = function
        self._invocation_id = invocation_id
        self._app_dir = app_dir
        self._retry = retry
        self._trace = TraceContext(trace_parent)

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return None

    @property
    def function_name(self) -> str:
        return self._function.name

    @property
    def function_directory(self) -> str:
        return self._app_dir

    @property
    def trace_context(self) -> Any:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return self._retry


def invoke(function: IndexedFunction, trigger_value: Any, reason: str, app_dir: str,
           retry: RetryContext | None = None) -> Any:
    """Runs the function once; returns its result or raises its exception (after logging it)."""
    invocation_id = str(uuid.uuid4())
    parent = traceparent()
    kwargs: dict[str, Any] = {str(function.trigger["name"]): trigger_value}
    if "context" in function.parameters:
        kwargs["context"] = Context(function, invocation_id, app_dir, retry or RetryContext(), parent)
    log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason, invocation_id)
    started = time.perf_counter()
    try:
        with invocation_context(parent):
            result = function.user_function(**kwargs)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
    except Exception as exc:
        log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s: %s", function.name, invocation_id,
                  (time.perf_counter() - started) * 1000, type(exc).__name__, exc)
        raise
    log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", function.name, invocation_id,
             (time.perf_counter() - started) * 1000)
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable
