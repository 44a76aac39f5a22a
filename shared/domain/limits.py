"""Limits on what a request may hold, checked before any work starts; each refusal names its limit.

Derived from what Table Storage accepts (measured against Azurite and documented for the service): a string
property holds at most 64 KiB (32,768 UTF-16 units), an entity 1 MiB, a transaction 100 operations. A member's
display and a group's name are stored as properties of their own, so an attribute value is capped at 8,192
characters (at most 32 KiB even if every character needs two UTF-16 units); resource documents are split over
several properties (`shared/storage/entities.py`) and capped as a whole. The rest bound the work per request.
The README's "Limits" table lists them; `/ServiceProviderConfig` advertises `filter.maxResults` and `bulk`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.errors import InvalidFilter, InvalidSyntax, InvalidValue, ScimError

MAX_JSON_DEPTH = 32
"""Nesting of objects and arrays in a request body (SCIM resources nest 5 deep at most)."""
MAX_STRING_CHARS = 8_192
"""Characters in one string value (attribute values, member displays, names)."""
MAX_FILTER_CHARS = 2_048
"""Characters in a filter or a PATCH path."""
MAX_FILTER_DEPTH = 16
"""Nesting of parentheses, `not` and `[...]` in a filter or PATCH path."""
MAX_FILTER_TERMS = 64
"""Comparisons joined by `and`/`or` in one filter or PATCH path."""
MAX_NUMBER_CHARS = 32
"""Characters in a number literal of a filter."""
MAX_PATCH_OPERATIONS = 100
"""Operations in one PATCH request."""
MAX_VALUES = 10_000
"""Elements of one JSON array in a body (the members named by one operation are the largest)."""
MAX_MEMBERS_PER_REQUEST = 10_000
"""Members named by one group request, across all its operations."""
MAX_MULTI_VALUED = 100
"""Values of one stored multi-valued attribute of a resource (emails, phoneNumbers, addresses, ...)."""


def check_document(document: Any) -> None:
    """Walks a parsed JSON body once (iteratively: no recursion on hostile nesting) and refuses strings that cannot
    be stored or encoded (lone UTF-16 surrogates, from `\\ud800` escapes or CESU-8 bytes), over-long strings, too
    many values in one array, and nesting beyond MAX_JSON_DEPTH. Error details name the place, never echo the
    value."""
    stack: list[tuple[Any, int, str]] = [(document, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if isinstance(value, str):
            check_text(value, where or "the body")
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise InvalidSyntax(f"The body nests deeper than {MAX_JSON_DEPTH} levels (limit: JSON nesting depth).")
            if isinstance(value, list):
                if len(value) > MAX_VALUES:
                    raise InvalidValue(f"{where or 'An array'} holds {len(value)} values; at most {MAX_VALUES} are "
                                       "accepted (limit: values per array).")
                stack.extend((item, depth + 1, where) for item in value)
            else:
                for key, item in value.items():
                    check_text(key, "an attribute name")
                    stack.append((item, depth + 1, key if len(key) <= 100 else "an attribute"))


def check_text(text: str, where: str) -> None:
    """A string that Table Storage can hold as it is and that encodes as UTF-8."""
    if len(text) > MAX_STRING_CHARS:
        raise InvalidValue(f"A value of {where} is {len(text)} characters long; at most {MAX_STRING_CHARS} are "
                           "accepted (limit: attribute value length).")
    if has_lone_surrogate(text):
        raise InvalidValue(f"A value of {where} holds an invalid character (a lone UTF-16 surrogate); send valid "
                           "Unicode text.")


def check_filter_text(text: str, error: type[ScimError] = InvalidFilter) -> None:
    if len(text) > MAX_FILTER_CHARS:
        raise error(f"The filter or path is {len(text)} characters long; at most {MAX_FILTER_CHARS} are accepted "
                    "(limit: filter length).")
    if has_lone_surrogate(text):
        raise error("The filter or path holds an invalid character (a lone UTF-16 surrogate).")


def check_multi_valued(attributes: dict[str, Any]) -> None:
    """No stored multi-valued attribute (top level or in an extension) holds more than MAX_MULTI_VALUED values."""
    for name, value in attributes.items():
        if isinstance(value, list) and len(value) > MAX_MULTI_VALUED:
            raise InvalidValue(f"{name} holds {len(value)} values; at most {MAX_MULTI_VALUED} are accepted "
                               "(limit: values per multi-valued attribute).")
        if isinstance(value, dict) and name.startswith("urn:"):
            check_multi_valued(value)


def check_query_value(name: str, value: str) -> None:
    """A query parameter or route value must be valid Unicode (its length is bounded by the URL's)."""
    if has_lone_surrogate(value):
        raise InvalidValue(f"The {name} parameter holds an invalid character (a lone UTF-16 surrogate).")


EARLIEST_TIME = datetime(1601, 1, 1, tzinfo=UTC)
"""Table Storage's DateTime range starts here and ends with year 9999 (UTC): a time parameter outside it is refused."""
LATEST_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def parse_time_parameter(raw: str, name: str) -> datetime:
    """An ISO 8601 date-time query parameter (`Z` or an offset; no offset means UTC), as an instant in UTC. Refused,
    naming the parameter, when it is not one or lies outside what storage can compare with (1601-01-01 to the end of
    9999, UTC): `0001-01-01T00:00:00+14:00` is valid ISO text whose instant Python cannot even represent."""
    check_query_value(name, raw)
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidValue(f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z.") from None
    out_of_range = InvalidValue(f"{name} is outside the supported range of times ({EARLIEST_TIME:%Y-%m-%d} to "
                                f"{LATEST_TIME:%Y-%m-%d}, UTC).")
    try:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:  # the instant falls before year 1 or after year 9999
        raise out_of_range from None
    if not EARLIEST_TIME <= moment <= LATEST_TIME:
        raise out_of_range
    return moment


def has_lone_surrogate(text: str) -> bool:
    """Text that UTF-8 cannot encode: checked wherever decoding can create it (JSON and filter-literal escapes,
    percent-decoded query values), since no storage key, property or response can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
