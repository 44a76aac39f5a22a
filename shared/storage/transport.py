"""The storage clients' HTTP transport: azure-core's `HttpTransport` over urllib3's connection pool, without
`requests` in between.

Why: on the Entra workload the storage HTTP stack is the largest share of the host's CPU, and a quarter of it was
`requests` itself (preparing each request again: URL parsing, cookie jars, settings merges, hooks) on top of the
urllib3 pool that does the actual work. The pool, its keep-alive connections (and their check for a dropped
connection before reuse), timeouts and content-length enforcement stay urllib3's, configured as
`requests`' adapter configured them; errors map to azure-core's errors exactly as azure-core's `RequestsTransport`
maps the same urllib3 errors, so its retry policy decides on them as before. `tests/storage/test_transport.py`
pins the azure-core response internals this uses and checks the mapping against real sockets.

Every answer is read whole (a storage answer here is bounded: a page of at most 1,000 entities or a `$batch` of
at most 100 operations), so a "streamed" request gets its body already read; nothing here downloads blobs.
"""

from __future__ import annotations

import threading
from typing import Any

import certifi
import urllib3
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

POOL_CONNECTIONS = 32
"""Keep-alive connections per storage endpoint: request threads plus the 16-thread existence checks."""
NO_RETRIES = Retry(total=False, redirect=False, raise_on_status=False)
"""Retries are azure-core's policy's (urllib3's would retry under it): one instance, taken as is on every call."""


class StorageResponse(HttpResponseImpl):
    """azure-core's response over a urllib3 response whose body is already read."""

    def __init__(self, request: Any, raw: urllib3.BaseHTTPResponse) -> None:
        headers = raw.headers  # HTTPHeaderDict: case-insensitive, as azure-core's own transports give them
        super().__init__(request=request, internal_response=raw, status_code=raw.status, reason=raw.reason or "",
                         headers=headers, content_type=headers.get("Content-Type"),
                         stream_download_generator=None)
        self._content = raw.data
        self._is_stream_consumed = True
        self._is_closed = True

    def read(self) -> bytes:
        return self._content or b""

    def iter_bytes(self, **kwargs: Any) -> Any:
        yield self.read()

    iter_raw = iter_bytes


class PooledTransport(HttpTransport[Any, StorageResponse]):
    """One transport shared by every storage client of the process (its pool is, so connections are reused across
    clients); not owned by any of them, so a client closing cannot close it for the others."""

    def __init__(self, pools: Pools, connection_timeout: float, read_timeout: float) -> None:
        self._pools = pools
        self._connection_timeout = connection_timeout
        self._read_timeout = read_timeout
        self._timeout = urllib3.Timeout(connect=connection_timeout, read=read_timeout)

    def send(self, request: Any, **kwargs: Any) -> StorageResponse:
        timeout = self._timeout
        if "connection_timeout" in kwargs or "read_timeout" in kwargs:  # the retry policy's remaining time
            timeout = urllib3.Timeout(connect=kwargs.get("connection_timeout", self._connection_timeout),
                                      read=kwargs.get("read_timeout", self._read_timeout))
        body = _body(request)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "content-length"}
        if body is not None:  # as requests sets it: the length of what goes out, whatever the SDK estimated
            headers["Content-Length"] = str(len(body))
        elif request.method not in ("GET", "HEAD"):
            headers["Content-Length"] = "0"  # storage refuses a bodiless write without one (411)
        try:
            pool, target = self._pools.for_url(request.url)
            raw = pool.urlopen(request.method, target, body=body, headers=headers, retries=NO_RETRIES,
                               redirect=False, preload_content=True, timeout=timeout)
        # As azure-core's RequestsTransport maps the same urllib3 errors (requests wraps them, nothing more):
        except NewConnectionError as error:  # (a ConnectTimeoutError subclass: first)
            raise ServiceRequestError(error, error=error) from error
        except ConnectTimeoutError as error:
            raise ServiceRequestTimeoutError(error, error=error) from error
        except ReadTimeoutError as error:
            raise ServiceResponseTimeoutError(error, error=error) from error
        except (ProtocolError, DecodeError) as error:  # dropped after the request went out, or a broken answer
            raise ServiceResponseError(error, error=error) from error
        except HTTPError as error:  # TLS, proxy, location errors: the request did not get through
            raise ServiceRequestError(error, error=error) from error
        return StorageResponse(request, raw)

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass  # shared: the pool lives as long as the process

    def __enter__(self) -> PooledTransport:
        return self

    def __exit__(self, *args: object) -> None:
        pass


def _body(request: Any) -> bytes | None:
    content = request.content
    if content is None:
        return None
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    raise TypeError(f"storage requests carry bytes or text, not {type(content).__name__}")


class Pools:
    """A keep-alive pool per storage endpoint (scheme, host and port: the table and the queue service), made on first
    use and kept for the process. Requests go to their endpoint's pool with the path and query alone, so urllib3
    does not parse the whole URL again to find the pool (it did, twice per call, through a PoolManager)."""

    def __init__(self) -> None:
        self._pools: dict[str, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def for_url(self, url: str) -> tuple[urllib3.HTTPConnectionPool, str]:
        scheme, _, rest = url.partition("://")
        authority, _, target = rest.partition("/")
        origin = f"{scheme}://{authority}"
        pool = self._pools.get(origin)
        if pool is None:
            with self._lock:
                pool = self._pools.get(origin)
                if pool is None:
                    tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": certifi.where()} if scheme == "https" else {}
                    pool = urllib3.connection_from_url(origin, maxsize=POOL_CONNECTIONS, block=False,
                                                       retries=NO_RETRIES, **tls)
                    self._pools[origin] = pool
        return pool, "/" + target


_pools = Pools()


def shared_transport(connection_timeout: float, read_timeout: float) -> PooledTransport:
    """A transport over the process's connection pools."""
    return PooledTransport(_pools, connection_timeout, read_timeout)
