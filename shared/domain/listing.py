"""List and query parameters (RFC 7644 §3.4.2) and the ListResponse, shared by Users and Groups."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from shared.domain.cursors import Cursor, CursorSigner, query_digest
from shared.domain.discovery import LIST_RESPONSE_SCHEMA
from shared.domain.filters import Filter, indexed_equality, parse_filter
from shared.domain.ports import PagePositions
from shared.domain.resource import attribute_list
from shared.domain.schema import ResourceSchema
from shared.domain.sorting import SORT_LIMIT, Sort, parse_sort, sorted_by
from shared.errors import InvalidCount, InvalidCursor, InvalidValue, NotFound, TooMany


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
    filter_text: str | None = None
    cursor: str | None = None
    """None: index paging (RFC 7644). "": the first page of cursor paging (RFC 9865); else the cursor sent."""
    sort: Sort | None = None

    @property
    def shape(self) -> str | None:
        """What a cursor and a remembered position are bound to besides the resource type: filter and sort."""
        if self.sort is None:
            return self.filter_text
        return f"{self.filter_text or ''}\nsortBy {self.sort.text}"


def parse_list_query(params: QueryParameters, schema: ResourceSchema, default_count: int, max_count: int) -> ListQuery:
    """Index paging: startIndex is 1-based and values below 1 act as 1; count defaults to `default_count`, is capped
    at `max_count`, and a negative count acts as 0 (RFC 7644 §3.4.2.4). Cursor paging, asked for by a `cursor`
    parameter (empty for the first page): count outside 0..`max_count` is `invalidCount` (RFC 9865 §2.3), and
    startIndex beside it is refused."""
    raw_filter = params.get("filter")
    cursor = params.get("cursor")
    if cursor is not None:
        cursor = cursor.strip()
        if (params.get("startIndex") or "").strip():
            raise InvalidValue("cursor and startIndex cannot be used together: page either by cursor or by index.")
        count = _integer(params.get("count"), "count", default_count)
        if not 0 <= count <= max_count:
            raise InvalidCount(f"count must be between 0 and {max_count} (maxPageSize) with cursor paging; got {count}.")
    else:
        count = min(max_count, max(0, _integer(params.get("count"), "count", default_count)))
    return ListQuery(
        filter=parse_filter(raw_filter, schema) if raw_filter and raw_filter.strip() else None,
        start_index=max(1, _integer(params.get("startIndex"), "startIndex", 1)),
        count=count,
        attributes=attribute_list(params.get("attributes")),
        excluded=attribute_list(params.get("excludedAttributes")),
        filter_text=raw_filter.strip() if raw_filter and raw_filter.strip() else None,
        cursor=cursor,
        sort=parse_sort(params.get("sortBy"), params.get("sortOrder"), schema),
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
    found = indexed_candidates(query_filter, lookups)
    return scan() if found is None else found


def indexed_candidates(query_filter: Filter | None,
                       lookups: dict[str, Callable[[str], T | None | Iterable[T]]]) -> list[T] | None:
    """What the point read answers when the filter pins an indexed attribute with `eq`; None when none does."""
    indexed = indexed_equality(query_filter) if query_filter else None
    if indexed is None or indexed[0] not in lookups:
        return None
    try:
        found = lookups[indexed[0]](indexed[1])
    except NotFound:
        return []
    if found is None:
        return []
    return found if isinstance(found, list) else [found]  # type: ignore[list-item]


def indexed_page(found: list[Any], keep: Callable[[Any], bool], query: ListQuery,
                 render: Callable[[Any], dict[str, Any]]) -> Page:
    """A page of what a point read found (a handful, sorted if asked): one page either way, so a cursor request
    gets no nextCursor; a cursor sent with such a filter was never issued for it."""
    if query.cursor:
        raise InvalidCursor("The cursor belongs to another query: this filter's results are a single page.")
    if query.sort is not None:
        found, keep = sorted_by([item for item in found if keep(item)], query.sort, render), (lambda _: True)
    page = paginate(found, keep, 1 if query.cursor is not None else query.start_index, query.count)
    page.by_cursor = query.cursor is not None
    return page


def sorted_in_memory(listing: Listing[Any], positions: PagePositions, account_id: str, resource_type: str,
                     query: ListQuery, keep: Callable[[Any], bool] | None,
                     render: Callable[[Any], dict[str, Any]]) -> Page:
    """A sort no index keeps: every resource of the type is read and sorted, so only while there are at most
    SORT_LIMIT of them (else 400 tooMany naming the bound). Cursors carry the offset into the sorted result."""
    assert query.sort is not None
    total = listing.count()
    if total > SORT_LIMIT:
        raise TooMany(f"Sorting by {query.sort.path.text} reads every {resource_type.lower()}: this account has "
                      f"{total}, more than {SORT_LIMIT} (the sort limit). Sort by an indexed attribute (userName, "
                      "a group's displayName, ascending) or filter by userName, externalId, id or displayName eq.")
    ordered = sorted_by([item for item in _walk(listing) if keep is None or keep(item)], query.sort, render)
    if query.cursor is None:
        return paginate(ordered, lambda _: True, query.start_index, query.count)
    digest = query_digest(resource_type, query.shape)
    signer = CursorSigner(positions.signing_key())
    offset = int(signer.read(query.cursor, account_id, digest, query.count)) if query.cursor else 0
    window = ordered[offset:offset + query.count]
    following = offset + len(window)
    cursor = signer.issue(Cursor(account_id, digest, str(following), query.count)) \
        if window and following < len(ordered) else None
    return Page(len(ordered), 1, window, cursor, by_cursor=True)


@dataclass
class Page:
    total: int | None
    """None where it is not known without a scan (a filtered cursor page): omitted, as RFC 9865 allows."""
    start_index: int
    items: list[Any]
    next_cursor: str | None = None
    by_cursor: bool = False


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
    response: dict[str, Any] = {"schemas": [LIST_RESPONSE_SCHEMA]}
    if page.total is not None:
        response["totalResults"] = page.total
    if not page.by_cursor:
        response["startIndex"] = page.start_index
    response["itemsPerPage"] = len(resources)
    if page.next_cursor:
        response["nextCursor"] = page.next_cursor
    response["Resources"] = resources
    return response


class Listing(Protocol[T]):
    """One resource type of one account, in the store's id order (UserStore/GroupStore bound to an account)."""

    def page(self, start: str | None, limit: int) -> tuple[list[T], str | None]: ...

    def skip(self, start: str | None, offset: int) -> str | None: ...

    def count(self) -> int: ...


@dataclass(frozen=True)
class StoreListing(Generic[T]):
    """A Listing made of a store's methods bound to one account (and kind): what the use cases page through."""

    page: Callable[[str | None, int], tuple[list[T], str | None]]
    skip: Callable[[str | None, int], str | None]
    count: Callable[[], int]


READ_PER_PAGE = 1_000
SCAN_BUDGET = 10_000
"""Resources a filtered cursor page examines at most (10 storage pages): past it the page comes back short, with a
nextCursor from where it stopped, so no request scans a large account."""


def list_resources(listing: Listing[Any], positions: PagePositions, account_id: str, resource_type: str,
                   query: ListQuery, keep: Callable[[Any], bool] | None) -> Page:
    """A page of the account's resources of one type, unfiltered or filtered by `keep` (a filter no index
    answers). Cursor paging reads one page of storage from the cursor's position. Index paging reads the exact
    total from the counts, finds where `startIndex` starts from the positions remembered by the previous page of the
    same query (a sequential walk costs a page per page; a jump counts keys from the nearest remembered page, 1,000
    per round trip), and a filtered index page still scans, as before."""
    digest = query_digest(resource_type, query.shape)
    if query.cursor is not None:
        return _cursor_page(listing, positions, account_id, digest, query, keep)
    if keep is not None:
        return paginate(_walk(listing), keep, query.start_index, query.count)
    total = listing.count()
    if query.count == 0 or query.start_index > total:
        return Page(total, query.start_index, [])
    known: dict[int, str] = {}
    start: str | None = None
    if query.start_index > 1:
        known = positions.known(account_id, digest, query.start_index)
        start = known.get(query.start_index)
        if start is None:
            base = max((index for index in known if index < query.start_index), default=1)
            start = listing.skip(known.get(base), query.start_index - base)
            if start is None:
                return Page(total, query.start_index, [])
    items, following = listing.page(start, query.count)
    if following is not None:
        positions.remember(account_id, digest, known, query.start_index + len(items), following)
    return Page(total, query.start_index, items)


def _cursor_page(listing: Listing[Any], positions: PagePositions, account_id: str, digest: str, query: ListQuery,
                 keep: Callable[[Any], bool] | None) -> Page:
    signer = CursorSigner(positions.signing_key())
    start = signer.read(query.cursor, account_id, digest, query.count) if query.cursor else None
    if query.count == 0:
        return Page(listing.count() if keep is None else None, 1, [], None, by_cursor=True)
    if keep is None:
        items, following = listing.page(start, query.count)
        total: int | None = listing.count()
    else:
        items, following = _filtered_window(listing, start, query.count, keep)
        total = None
    cursor = signer.issue(Cursor(account_id, digest, following, query.count)) if following is not None else None
    return Page(total, 1, items, cursor, by_cursor=True)


def _filtered_window(listing: Listing[Any], start: str | None, count: int,
                     keep: Callable[[Any], bool]) -> tuple[list[Any], str | None]:
    """Up to `count` matches from `start`, and where the next page starts. Positions are the listing's own (an id,
    or an index key for a sorted listing): when the page fills inside a batch, the next item's position is asked of
    the listing (one key-only read), never derived from the item."""
    found: list[Any] = []
    examined = 0
    while True:
        batch, following = listing.page(start, min(READ_PER_PAGE, SCAN_BUDGET - examined))
        for offset, item in enumerate(batch):
            if len(found) == count:
                return found, listing.skip(start, offset)
            examined += 1
            if keep(item):
                found.append(item)
        if following is None or len(found) == count or examined >= SCAN_BUDGET:
            return found, following
        start = following


def _walk(listing: Listing[Any]) -> Iterator[Any]:
    start: str | None = None
    while True:
        batch, start = listing.page(start, READ_PER_PAGE)
        yield from batch
        if start is None:
            return
