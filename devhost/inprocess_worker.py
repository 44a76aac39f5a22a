"""Python 3.11 and 3.12: the functions run in this process as the worker bundled with the host runs them there.

azure-functions-runtime needs Python 3.13, so on older Pythons this worker does the bundled worker's steps itself,
with the same library converters it uses: index `function_app.py` (exactly one `FunctionRegister`,
`get_functions()` once), turn the host's trigger data into the `Datum` values the worker reads from the gRPC
message (devhost/worker.py builds that data, for both workers), decode them with azure-functions' binding registry,
inject `context`, run sync functions on a thread pool with the host's trace context attached in that thread (the
bundled worker's `_run_sync_func`) and async ones on an event loop, and encode the return value with the `http`
converter. tests/devhost/test_workers.py holds both workers to the same answers for the same calls on 3.13.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions import meta
from azure.functions._abc import RetryContext as AbstractRetryContext

from devhost.telemetry import configure_like_the_worker, invocation_context
from devhost.worker import (
    HttpAnswer,
    HttpCall,
    IndexedFunction,
    Invocation,
    InvocationFailed,
    QueueCall,
    RetryPolicy,
    TimerCall,
)

Datum = meta.Datum


class InProcessWorker:
    description = f"in process, azure-functions {func.__version__} converters (the bundled worker's path)"

    def __init__(self, app_dir: Path, script: str = "function_app.py") -> None:
        configure_like_the_worker()  # before the app is imported, as the worker's init does
        if str(app_dir) not in sys.path:
            sys.path.insert(0, str(app_dir))
        module = importlib.import_module(Path(script).stem)
        registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
        if len(registers) != 1:
            raise ValueError(f"{script} must define exactly one FunctionApp; found {len(registers)}")
        self._app_dir = str(app_dir)
        self._user_functions: dict[str, tuple[Any, bool]] = {}
        """function id -> (the user's function, whether it declares `context`): read once, at indexing."""
        self.functions: list[IndexedFunction] = []
        for function in registers[0].get_functions():
            name = str(function.get_function_name())
            function_id = str(uuid.uuid5(uuid.NAMESPACE_OID, name))
            user_function = function.get_user_function()
            self._user_functions[function_id] = (user_function,
                                                 "context" in inspect.signature(user_function).parameters)
            self.functions.append(IndexedFunction.from_raw_bindings(
                name, function_id, function.get_raw_bindings(),
                RetryPolicy.from_settings(function.get_settings_dict("retry_policy"))))
        self._pool = ThreadPoolExecutor(thread_name_prefix="worker")  # the worker's default pool size
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="worker-loop", daemon=True).start()

    def run(self, invocation: Invocation) -> HttpAnswer | None:
        function = invocation.function
        user_function, wants_context = self._user_functions[function.function_id]
        datum, metadata = _trigger_datum(invocation.call)
        converter = func.get_binding_registry().get(function.trigger_type)
        try:
            arguments: dict[str, Any] = {str(function.trigger["name"]): converter.decode(
                datum, trigger_metadata=metadata)}
            if wants_context:
                arguments["context"] = _Context(function, invocation, self._app_dir)
            if inspect.iscoroutinefunction(user_function):
                result = asyncio.run_coroutine_threadsafe(user_function(**arguments), self._loop).result()
            else:
                result = self._pool.submit(_run_sync, invocation.trace_parent, user_function, arguments).result()
            if function.trigger_type != "httpTrigger":
                if result is not None:
                    raise RuntimeError(f"function {function.name!r} without a $return binding returned a value")
                return None
            return _http_answer(func.get_binding_registry().get("http").encode(result, expected_type=None))
        except Exception as exc:  # the worker answers Failure with the exception's message
            raise InvocationFailed(f"{type(exc).__name__}: {exc}") from exc


def _run_sync(trace_parent: str, user_function: Any, arguments: dict[str, Any]) -> Any:
    with invocation_context(trace_parent):
        return user_function(**arguments)


def _trigger_datum(call: HttpCall | TimerCall | QueueCall) -> tuple[Any, dict[str, Any]]:
    """The Datum values the worker reads from the host's TypedData (`Datum.from_typed_data`)."""
    if isinstance(call, HttpCall):
        def texts(values: dict[str, str]) -> dict[str, Any]:
            return {name: Datum(value, "string") for name, value in values.items()}

        return Datum({"method": Datum(call.method, "string"), "url": Datum(call.url, "string"),
                      "headers": texts(call.headers), "query": texts(call.query),
                      "params": texts(call.route_params),
                      "body": Datum(call.body or b"", "bytes")}, "http"), {}
    if isinstance(call, TimerCall):
        return Datum(json.dumps(call.as_json()), "json"), {}
    try:
        body: Any = Datum(call.body.decode("utf-8"), "string")
    except UnicodeDecodeError:
        body = Datum(call.body, "bytes")
    return body, {name: Datum(text, kind) for name, (kind, text) in call.trigger_metadata().items()}


def _http_answer(datum: Any) -> HttpAnswer:
    """The host's side of the `http` converter's answer (the worker sends it as RpcHttp)."""
    if datum.type != "http":  # a str or bytes returned directly
        value = datum.value if isinstance(datum.value, bytes) else str(datum.value).encode("utf-8")
        return HttpAnswer(200, [("Content-Type", "text/plain; charset=utf-8")], value)
    value = datum.value
    body = value["body"].value
    return HttpAnswer(int(value["status_code"].value or 200),
                      [(name, header.value) for name, header in value["headers"].items()],
                      body if isinstance(body, bytes) else str(body or "").encode("utf-8"))


class _RetryContext(AbstractRetryContext):
    def __init__(self, retry_count: int, max_retry_count: int) -> None:
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


class _TraceContext:
    def __init__(self, trace_parent: str) -> None:
        self.trace_parent = trace_parent
        self.trace_state = ""
        self.attributes: dict[str, str] = {}


class _Context(func.Context):
    """`context` with the fields the worker fills from the InvocationRequest."""

    _local = threading.local()

    def __init__(self, function: IndexedFunction, invocation: Invocation, app_dir: str) -> None:
        self._function = function
        self._invocation = invocation
        self._app_dir = app_dir
        self._retry = _RetryContext(invocation.attempt.retry_count, invocation.attempt.max_retry_count)
        self._trace = _TraceContext(invocation.trace_parent)

    @property
    def invocation_id(self) -> str:
        return self._invocation.invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._local

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
    def retry_context(self) -> Any:
        return self._retry
