"""List and query parameters (RFC 7644 §3.4.2) and the ListResponse, shared by Users and Groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from shared.domain.discovery import LIST_RESPONSE_SCHEMA
from shared.domain.filters import Filter, indexed_equality, parse_filter
from shared.domain.resource import attribute_list
from shared.domain.schema import ResourceSchema
from shared.errors import InvalidValue, NotFound


class QueryParameters(Protocol):
    def get(self, name: str) -> str | None: ...


SEARCH_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


class SearchRequestParameters:
    """A POST `.search` body (RFC 7644 §3.4.3) read like query parameters, names case-insensitive."""

    def __init__(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidValue("A search request must be a JSON object.")
        self._fields = {k.lower(): v for k, v in body.items()}

    def get(self, name: str) -> str | None:
        value = self._fields.get(name.lower())
        if value is None:
            return None
        if isinstance(value, list):
            return ",".join(str(v) for v in value)
        return str(value)


@dataclass(frozen=True)
class ListQuery:
    filter: Filter | None
    start_index: int
    count: int
    attributes: list[str]
    excluded: list[str]


def parse_list_query(params: QueryParameters, schema: ResourceSchema, default_count: int, max_count: int) -> ListQuery:
    """startIndex is 1-based and values below 1 act as 1; count defaults to `default_count`, is capped at
    `max_count`, and a negative count acts as 0 (RFC 7644 §3.4.2.4)."""
    raw_filter = params.get("filter")
    return ListQuery(
        filter=parse_filter(raw_filter, schema) if raw_filter and raw_filter.strip() else None,
        start_index=max(1, _integer(params.get("startIndex"), "startIndex", 1)),
        count=min(max_count, max(0, _integer(params.get("count"), "count", default_count))),
        attributes=attribute_list(params.get("attributes")),
        excluded=attribute_list(params.get("excludedAttributes")),
    )


def _integer(raw: str | None, name: str, default: int) -> int:
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidValue(f"{name} must be an integer; got {raw!r}.") from None


T = TypeVar("T")


def candidates(query_filter: Filter | None, lookups: dict[str, Callable[[str], T | None | Iterable[T]]],
               scan: Callable[[], Iterable[T]]) -> Iterable[T]:
    """The resources a filter can match: when it pins an indexed attribute with `eq` (`lookups` names the point
    read for each), only what that read finds; otherwise a scan. The caller still applies the whole filter."""
    indexed = indexed_equality(query_filter) if query_filter else None
    if indexed is None or indexed[0] not in lookups:
        return scan()
    try:
        found = lookups[indexed[0]](indexed[1])
    except NotFound:
        return []
    if found is None:
        return []
    return found if isinstance(found, list) else [found]  # type: ignore[list-item]


@dataclass
class Page:
    total: int
    start_index: int
    items: list[Any]


def paginate(candidates: Iterable[Any], keep: Callable[[Any], bool], start_index: int, count: int) -> Page:
    """Counts every candidate that passes `keep` and holds only the requested window: memory stays bounded by
    `count` however many candidates stream past."""
    total = 0
    window: list[Any] = []
    for candidate in candidates:
        if not keep(candidate):
            continue
        total += 1
        if start_index <= total < start_index + count:
            window.append(candidate)
    return Page(total, start_index, window)


def list_response(page: Page, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": page.total, "startIndex": page.start_index,
            "itemsPerPage": len(resources), "Resources": resources}
