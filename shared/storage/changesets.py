"""Entity group transactions on the wire: the Table service's `$batch` body written and its answer read here, the
format Microsoft documents ("Performing entity group transactions": one multipart/mixed batch holding one
changeset of application/http sub-requests).

Why not the SDK's `submit_transaction` alone: it builds that body with the `email` package's generator, parses the
answer with its feed parser and starts thread pools to do so, on every transaction. Measured on a group PATCH of 10
members (31 operations): 62 % of the app's CPU for the request, about 13 of 21 ms (docs/benchmarks.md). Here the body
is joined as bytes and the answer split on its boundary.

What stays the SDK's: each sub-request is built by its `TableBatchOperations` (entity serialisation with EDM types,
key escaping, If-Match from an ETag), and the `$batch` request goes through the table client's own pipeline (auth,
retries, the round-trip count, telemetry). Those are azure-data-tables internals (`_table_batch.TableBatchOperations`,
`TableClient._client`, `._primary_hostname`, `._cosmos_endpoint`), pinned in requirements.txt:
tests/storage/test_changesets.py fails on an upgrade that moves them, and checks that the body written here equals
the SDK's own, part for part, and that both read Azurite's answers the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_INDEX = re.compile(r"^(\d+):")
"""The service prefixes a refused sub-request's message with its index: "3:The specified resource does not exist."."""


@dataclass(frozen=True)
class PartAnswer:
    """The answer to one sub-request."""

    status: int
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes


def encode(requests: Sequence[Any], batch_boundary: str, changeset_boundary: str, date: str) -> bytes:
    """The `$batch` body for `requests` (azure.core.rest.HttpRequest: method, url, headers, content), each stamped
    with `date` as the SDK's header policy does."""
    out = [f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset_boundary}\r\n\r\n".encode()]
    for number, request in enumerate(requests):
        headers = "".join(f"{name}: {value}\r\n" for name, value in request.headers.items())
        out.append(f"--{changeset_boundary}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
                   f"Content-ID: {number}\r\n\r\n{request.method} {request.url} HTTP/1.1\r\n{headers}"
                   f"x-ms-date: {date}\r\nDate: {date}\r\n\r\n".encode())
        content = request.content
        out.append(content if isinstance(content, bytes) else (content or "").encode())
        out.append(b"\r\n")
    out.append(f"--{changeset_boundary}--\r\n\r\n--{batch_boundary}--\r\n".encode())
    return b"".join(out)


def decode(content_type: str, body: bytes) -> list[PartAnswer]:
    """The sub-answers of a `$batch` answer, in order."""
    batch = _boundary(content_type)
    inner = _split(body, batch)
    if not inner:
        raise ValueError("a $batch answer without parts")
    headers, rest = _head(inner[0])
    if not headers.get("content-type", "").lower().startswith("multipart/mixed"):
        return [_answer(rest)]  # the batch was refused as a whole (one application/http part)
    changeset = _boundary(headers["content-type"])
    return [_answer(_head(part)[1]) for part in _split(rest, changeset)]


def _boundary(content_type: str) -> str:
    found = _BOUNDARY.search(content_type)
    if not found:
        raise ValueError(f"no multipart boundary in {content_type!r}")
    return found.group(1)


def _split(body: bytes, boundary: str) -> list[bytes]:
    """The parts between `--boundary` delimiters, up to the closing `--boundary--`."""
    delimiter = f"--{boundary}".encode()
    closing = body.find(delimiter + b"--")
    pieces = body[:closing if closing >= 0 else len(body)].split(delimiter)[1:]
    return [piece.removeprefix(b"\r\n").removeprefix(b"\n").removesuffix(b"\r\n").removesuffix(b"\n")
            for piece in pieces]


def _head(part: bytes) -> tuple[dict[str, str], bytes]:
    """(header fields, the rest) of a MIME part or an HTTP message after its start line."""
    end = part.find(b"\r\n\r\n")
    skip = 4
    if end < 0:
        end, skip = part.find(b"\n\n"), 2
    if end < 0:
        end, skip = len(part), 0
    headers: dict[str, str] = {}
    for line in part[:end].decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return headers, part[end + skip:]


def _answer(message: bytes) -> PartAnswer:
    """An application/http part's HTTP answer: `HTTP/1.1 204 No Content`, header fields, body."""
    line_end = message.find(b"\n")
    start = message[:line_end if line_end >= 0 else len(message)].decode("latin-1").split()
    if len(start) < 2 or not start[0].startswith("HTTP/") or not start[1].isdigit():
        raise ValueError("a $batch part without an HTTP status line")
    headers, body = _head(message[line_end + 1:] if line_end >= 0 else b"")
    return PartAnswer(int(start[1]), headers, body)


def storage_error(body: bytes) -> tuple[str, str, int | None]:
    """(error code, message, index of the refused operation) from an answer's JSON body (odata.error); empty and
    None where absent."""
    try:
        error = json.loads(body or b"{}").get("odata.error", {})
        code, message = str(error.get("code", "")), str(error.get("message", {}).get("value", ""))
    except (ValueError, AttributeError):
        return "", "", None
    index = _INDEX.match(message)
    return code, message, int(index.group(1)) if index else None


def new_boundaries() -> tuple[str, str]:
    return f"batch_{uuid.uuid4()}", f"changeset_{uuid.uuid4()}"


def http_date() -> str:
    return formatdate(usegmt=True)
