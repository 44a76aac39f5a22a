"""Sorting list results (RFC 7644 §3.4.2.3): `sortBy` an attribute path, `sortOrder` ascending (the default) or
descending. Strings compare case-insensitively unless the attribute is caseExact; a multi-valued attribute sorts by
its primary value, else its first; resources without a value come last in either order.

What it costs: Users by userName and Groups by displayName, ascending, are read in order from their index rows, so a
page costs a page (cursor and index paging alike). Any other sort reads the candidates and sorts them in memory: a
filter answered by an index (a handful), or an account of at most SORT_LIMIT resources of that type; over that it is
refused with a 400 `tooMany` naming the bound, never a scan of a large account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.domain.filters import AttrPath, parse_path, target_of, values_at
from shared.domain.schema import ResourceSchema
from shared.errors import InvalidPath, InvalidValue

SORT_LIMIT = 10_000
ORDERS = ("ascending", "descending")


@dataclass(frozen=True)
class Sort:
    path: AttrPath
    descending: bool

    @property
    def text(self) -> str:
        return f"{self.path.text} {'descending' if self.descending else 'ascending'}"

    def is_on(self, attribute: str) -> bool:
        """Whether this is an ascending sort on a core attribute that an index keeps in order."""
        return (not self.descending and self.path.extension is None and self.path.sub is None
                and self.path.attribute.name == attribute)


def parse_sort(sort_by: str | None, sort_order: str | None, schema: ResourceSchema) -> Sort | None:
    order = (sort_order or "ascending").strip().lower()
    if order not in ORDERS:
        raise InvalidValue(f"sortOrder must be ascending or descending; got {sort_order!r}.")
    if not sort_by or not sort_by.strip():
        return None
    try:
        path = parse_path(sort_by.strip(), schema)
    except InvalidPath as exc:
        raise InvalidValue(f"sortBy names no attribute of this resource type: {exc.detail}") from None
    if path.value_filter is not None:
        raise InvalidValue("sortBy is an attribute path without a filter (e.g. emails.value).")
    return Sort(path, order == "descending")


def sorted_by(items: list[Any], sort: Sort, render: Callable[[Any], dict[str, Any]]) -> list[Any]:
    attribute = target_of(sort.path)

    def value(item: Any) -> Any:
        found = [v for v in values_at(sort.path, render(item)) if v is not None and v != ""]
        if not found:
            return None
        first = found[0]
        return first.casefold() if isinstance(first, str) and not attribute.case_exact else first

    keyed = [(value(item), item) for item in items]
    present = [pair for pair in keyed if pair[0] is not None]
    missing = [item for key, item in keyed if key is None]
    present.sort(key=lambda pair: (type(pair[0]).__name__, pair[0]), reverse=sort.descending)
    return [item for _, item in present] + missing
