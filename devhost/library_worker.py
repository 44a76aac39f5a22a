"""Python 3.13 and later: the functions run inside azure-functions-runtime, the library worker that the Functions
host's bundled proxy worker loads in Azure, called through its own handlers with the host's messages.

What the proxy worker does, done the same way here: start the library's thread pool, hand it a WorkerInitRequest
(it indexes `function_app.py`), ask for the function metadata and load each function, then send one
InvocationRequest per invocation and read the InvocationResponse. The messages are the host's gRPC contract
(devhost/rpc). Everything between the request and the function's answer is the library's: which converter decodes
the HTTP request, timer value or queue message, the `context`, the thread pool for sync functions and the event
loop for async ones, the encoding of the return value, and what a raised exception becomes. This module only
builds the messages the host would send (devhost/worker.py says how the host converts each trigger) and reads the
answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure_functions_runtime as runtime

from devhost.rpc import protos
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

log = logging.getLogger("devhost")

HOST_VERSION = "4.1040.0"
"""The host version this local host stands in for (the Functions runtime 4.x that bundles the proxy worker)."""
HOST_CAPABILITIES: dict[str, str] = {}
"""The host's own capabilities in the WorkerInitRequest: none of the optional ones (function data cache, ...)."""
EXPECTED_WORKER_CAPABILITIES = frozenset({"RawHttpBodyBytes", "RpcHttpBodyOnly", "RpcHttpTriggerMetadataRemoved"})
"""What the host's conversion of a request (HttpCall, _trigger_data) assumes the worker declared; a worker that stops
declaring one would need the request converted differently, so starting fails instead."""


@dataclass
class WorkerRequest:
    """What the proxy worker passes the library's handlers: the host's StreamingMessage and, on init, the protos
    module and the host's address."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


class LibraryWorker:
    description = f"azure-functions-runtime {runtime.version.VERSION} (the library worker of Python 3.13+)"

    def __init__(self, app_dir: Path, script: str = "function_app.py") -> None:
        self.rpc = protos()
        if str(app_dir) not in sys.path:  # the proxy worker runs with the app's folder on the path
            sys.path.insert(0, str(app_dir))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="library-worker", daemon=True)
        self._thread.start()
        runtime.start_threadpool_executor()
        init = self._call(runtime.worker_init_request(WorkerRequest(
            "WorkerInitRequest",
            self.rpc.StreamingMessage(worker_init_request=self.rpc.WorkerInitRequest(
                host_version=HOST_VERSION, capabilities=HOST_CAPABILITIES, function_app_directory=str(app_dir),
                worker_directory=str(Path(runtime.__file__).parent))),
            {"protos": self.rpc, "host": "127.0.0.1"})))
        _raise_on_failure(init.result, f"indexing {app_dir / script}")
        missing = EXPECTED_WORKER_CAPABILITIES - set(init.capabilities)
        if missing:
            raise RuntimeError(f"the worker no longer declares {sorted(missing)}: the host's conversions here assume them")
        metadata = self._call(runtime.functions_metadata_request(WorkerRequest(
            "WorkerMetadataRequest", self.rpc.StreamingMessage(
                functions_metadata_request=self.rpc.FunctionsMetadataRequest(function_app_directory=str(app_dir))))))
        _raise_on_failure(metadata.result, "function metadata")
        self.functions = [self._load(entry) for entry in metadata.function_metadata_results]

    def _load(self, metadata: Any) -> IndexedFunction:
        answer = self._call(runtime.function_load_request(WorkerRequest(
            "FunctionLoadRequest", self.rpc.StreamingMessage(function_load_request=self.rpc.FunctionLoadRequest(
                function_id=metadata.function_id, metadata=metadata)))))
        _raise_on_failure(answer.result, f"loading {metadata.name}")
        return IndexedFunction.from_raw_bindings(metadata.name, metadata.function_id, list(metadata.raw_bindings),
                                                 self._retry_policy(metadata))

    def _retry_policy(self, metadata: Any) -> RetryPolicy | None:
        """The host reads `@app.retry` from the metadata's retry_options, not from the raw bindings."""
        if not metadata.HasField("retry_options"):
            return None
        options = metadata.retry_options
        strategy = self.rpc.RpcRetryOptions.RetryStrategy.Name(options.retry_strategy)
        return RetryPolicy(strategy=strategy, max_retry_count=options.max_retry_count,
                           delay=options.delay_interval.ToTimedelta().total_seconds(),
                           minimum=options.minimum_interval.ToTimedelta().total_seconds(),
                           maximum=options.maximum_interval.ToTimedelta().total_seconds())

    def run(self, invocation: Invocation) -> HttpAnswer | None:
        function = invocation.function
        data, metadata = self._trigger_data(invocation)
        request = self.rpc.InvocationRequest(
            invocation_id=invocation.invocation_id, function_id=function.function_id,
            input_data=[self.rpc.ParameterBinding(name=str(function.trigger["name"]), data=data)],
            trigger_metadata=metadata,
            trace_context=self.rpc.RpcTraceContext(trace_parent=invocation.trace_parent, trace_state=""),
            retry_context=self.rpc.RetryContext(retry_count=invocation.attempt.retry_count,
                                                max_retry_count=invocation.attempt.max_retry_count))
        answer = self._call(runtime.invocation_request(WorkerRequest(
            "FunctionInvocationRequest", self.rpc.StreamingMessage(invocation_request=request))))
        if answer.result.status != self.rpc.StatusResult.Success:
            raise InvocationFailed(answer.result.exception.message)
        if function.trigger_type != "httpTrigger":
            return None
        return self._http_answer(answer.return_value)

    def _call(self, handler: Coroutine[Any, Any, Any]) -> Any:
        """Runs one of the library's handlers on the worker's event loop, as the proxy worker's dispatcher does."""
        return asyncio.run_coroutine_threadsafe(handler, self._loop).result()

    def _trigger_data(self, invocation: Invocation) -> tuple[Any, dict[str, Any]]:
        """The trigger's TypedData and trigger metadata, as the host sends them to a Python worker."""
        rpc, call = self.rpc, invocation.call
        if isinstance(call, HttpCall):
            # RawHttpBodyBytes and RpcHttpBodyOnly (the worker's capabilities): the body as bytes, no raw body;
            # RpcHttpTriggerMetadataRemoved: no copy of the request in the metadata.
            http = rpc.RpcHttp(method=call.method, url=call.url, headers=call.headers, query=call.query,
                               params=call.route_params)
            if call.body is not None:
                http.body.CopyFrom(rpc.TypedData(bytes=call.body))
            return rpc.TypedData(http=http), {}
        if isinstance(call, TimerCall):
            return rpc.TypedData(json=json.dumps(call.as_json())), {}
        if isinstance(call, QueueCall):
            return _queue_body(rpc, call.body), {
                name: rpc.TypedData(**{kind: text}) for name, (kind, text) in call.trigger_metadata().items()}
        raise TypeError(f"no trigger data for {type(call).__name__}")

    def _http_answer(self, value: Any) -> HttpAnswer:
        """The host's side of the worker's RpcHttp answer: status, headers and body as the front end writes them."""
        if value.WhichOneof("data") != "http":  # a str or bytes returned directly: 200 with that body
            return HttpAnswer(200, [("Content-Type", "text/plain; charset=utf-8")], _typed_bytes(value))
        http = value.http
        headers = list(http.headers.items())
        headers += [("Set-Cookie", _cookie_text(cookie)) for cookie in http.cookies]
        return HttpAnswer(int(http.status_code or 200), headers, _typed_bytes(http.body))


def _queue_body(rpc: Any, body: bytes) -> Any:
    """A queue message's body as the host binds it: text when it is UTF-8, else bytes."""
    try:
        return rpc.TypedData(string=body.decode("utf-8"))
    except UnicodeDecodeError:
        return rpc.TypedData(bytes=body)


def _typed_bytes(value: Any) -> bytes:
    kind = value.WhichOneof("data")
    if kind in ("bytes", "stream"):
        return bytes(getattr(value, kind))
    if kind in ("string", "json"):
        return str(getattr(value, kind)).encode("utf-8")
    if kind in ("int", "double"):
        return str(getattr(value, kind)).encode("ascii")
    return b""


def _cookie_text(cookie: Any) -> str:
    text = f"{cookie.name}={cookie.value}"
    if cookie.HasField("path"):
        text += f"; path={cookie.path.value}"
    if cookie.HasField("domain"):
        text += f"; domain={cookie.domain.value}"
    if cookie.HasField("secure") and cookie.secure.value:
        text += "; secure"
    if cookie.HasField("http_only") and cookie.http_only.value:
        text += "; httponly"
    return text


def _raise_on_failure(result: Any, what: str) -> None:
    if result.status != protos().StatusResult.Success:
        raise RuntimeError(f"the worker refused {what}: {result.exception.message}")
