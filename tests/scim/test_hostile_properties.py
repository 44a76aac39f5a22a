"""Property-based hostile input (Hypothesis) over every route of both APIs, through the local host on real sockets.

For any generated request: the answer is not a 5xx; an error is in the route's format (SCIM Error on the SCIM
routes, `{"error": ...}` on the management API) and never carries a traceback; a refused request leaves every
stored row of the account exactly as it was (values and ETags); and another account's rows never change at all.

The runs are derandomized (the same examples on every CI run, so the suite does not flake); set
`HYPOTHESIS_PROFILE=explore` for a long, randomized search.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.http_server import MAX_URL_CHARS
from shared.storage.accounts_table import AccountStore
from shared.storage.tables import RESOURCES
from tests.support.devhost import DevHost
from tests.support.scim import SCIM, new_account, new_token

settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2_000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

# Text that has hurt SCIM servers: key-forbidden and quote characters, surrogate escapes, long runs, near-ids.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "'", '"', "\\", "/", "#", "?", "%", ":", "\x00", "\ud800", "a" * 9000, "é" * 5000,
                     "u:", "g:", "gm:", "un:", "ROW'KEY", "../..", "00000000", "null", "true", "1e999"]),
)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=False, allow_infinity=False), hostile_text)
json_values = st.recursive(json_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(hostile_text, st.sampled_from(
        ["value", "display", "type", "primary", "op", "path"])), inner, max_size=4)), max_leaves=16)

# String literals as a filter or PATCH path carries them: any code point, and JSON escapes (lone surrogates among
# them) that only decoding turns into text, so a check made on the raw text alone misses them.
literal_pieces = st.one_of(
    st.characters(exclude_categories=()),  # surrogates included
    st.sampled_from(["\\ud800", "\\udfff", "\\uD800", "\\uDBFF\\uDFFF", "\\ud83d\\ude00", "\\u0000", "\\\\",
                     '\\"', "\\/", "\\n", "\\u00e9", "\\u12", "\\x41", "\\", "%", "%5C", "'"]))
string_literals = st.lists(literal_pieces, max_size=8).map(lambda parts: '"' + "".join(parts) + '"')

# Times from ISO 8601's grammar as datetime.fromisoformat reads it, at the ends of the calendar, with the extreme
# offsets that push an instant past year 1 or year 9999 once it is taken to UTC.
OFFSETS = [None, UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=14)),
           timezone(timedelta(hours=23, minutes=59)), timezone(-timedelta(hours=23, minutes=59, seconds=59)),
           timezone(timedelta(minutes=1)), timezone(-timedelta(microseconds=1))]
instants = st.datetimes(timezones=st.sampled_from(OFFSETS)) | st.sampled_from(OFFSETS[1:]).flatmap(
    lambda tz: st.sampled_from([datetime.min.replace(tzinfo=tz), datetime.max.replace(tzinfo=tz)]))
iso_times = st.one_of(
    st.builds(lambda moment, sep, spec: moment.isoformat(sep, spec), instants, st.sampled_from(["T", " ", "t"]),
              st.sampled_from(["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"])),
    instants.map(lambda moment: moment.isoformat().replace("+00:00", "Z")),
    instants.map(lambda moment: moment.strftime("%Y%m%dT%H%M%S") + (moment.strftime("%z") or "")),
    st.dates(min_value=date(1, 1, 1)).map(date.isoformat),
    st.sampled_from(["1601-01-01T00:00:00Z", "1600-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z",
                     "2026-W05-6", "2026-13-01", "2026-02-30T00:00Z", "2026-01-01T24:00:00", "+002026-01-01",
                     "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00,5Z"]))

ATTRIBUTES = ["userName", "displayName", "active", "externalId", "emails", "emails.value", "name.givenName",
              "members", "members.value", "title", "phoneNumbers", "id", "meta.version", "groups", "schemas",
              "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"]
filter_tokens = st.one_of(st.sampled_from(ATTRIBUTES + [
    "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not", "(", ")", "[", "]", '"x"', '"',
    "true", "false", "null", "1", "-0.5e3", "value", "type", '"work"', "meta.lastModified", "meta.created"]),
    hostile_text, string_literals, iso_times.map(lambda text: f'"{text}"'))
filters = st.lists(filter_tokens, max_size=12).map(" ".join)
paths = st.one_of(st.sampled_from(ATTRIBUTES), filters,
                  st.builds(lambda a, f: f"{a}[{f}]", st.sampled_from(["emails", "members", "phoneNumbers"]), filters))
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "Add", "Replace", "Remove", "copy", "", "ADD"])},
    optional={"path": paths, "value": json_values})
patch_bodies = st.one_of(
    st.fixed_dictionaries({"schemas": st.just([PATCH]), "Operations": st.lists(operations, max_size=5)}),
    st.fixed_dictionaries({}, optional={"schemas": json_values, "Operations": json_values}))
resource_bodies = st.fixed_dictionaries({}, optional={
    "schemas": st.one_of(json_values, st.just(["urn:ietf:params:scim:schemas:core:2.0:User"])),
    "userName": json_values, "displayName": json_values, "externalId": json_values, "active": json_values,
    "emails": json_values, "members": json_values, "id": json_values, "name": json_values, "groups": json_values})
query_params = st.fixed_dictionaries({}, optional={
    "filter": filters, "startIndex": hostile_text, "count": st.one_of(hostile_text, st.integers().map(str)),
    "attributes": st.one_of(hostile_text, st.sampled_from(ATTRIBUTES)), "excludedAttributes": hostile_text})


def url_part(text: str) -> str:
    """Percent-encoded as a hostile client would send it: lone surrogates as their (invalid) UTF-8 bytes."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def encoded(body: Any) -> bytes:
    """Python's json keeps lone surrogates as \\ud800 escapes, which is what a hostile client sends."""
    return json.dumps(body).encode()


bodies = st.one_of(patch_bodies.map(encoded), resource_bodies.map(encoded), json_values.map(encoded),
                   st.binary(max_size=64))


@dataclass
class Target:
    host: DevHost
    accounts: AccountStore
    account_id: str
    token: str
    admin_token: str
    user_id: str
    group_id: str
    bystander: str
    session: requests.Session
    bystander_user: str = ""

    def rows(self, account_id: str | None = None) -> dict[str, Any]:
        """Every stored row of the account's SCIM data, with its ETag (so even an unchanged rewrite shows)."""
        table = self.accounts._tables.get(RESOURCES)
        return {row["RowKey"]: {**row, "etag": row.metadata["etag"]}
                for row in table.query_entities("PartitionKey eq @pk", parameters={"pk": account_id or self.account_id})}

    def send(self, api: str, method: str, path: str, body: bytes | None, params: dict[str, str]) -> requests.Response:
        if api == "scim":
            url, token, content_type = f"{self.host.base_url}/api/scim/account/{self.account_id}", self.token, SCIM
        else:
            url, token, content_type = (f"{self.host.base_url}/api/manage/account/{self.account_id}", self.admin_token,
                                        "application/json")
        query = "&".join(f"{k}={url_part(v)}" for k, v in params.items())
        return self.session.request(method, url + path + (f"?{query}" if query else ""), data=body, timeout=120,
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": content_type})

    def check(self, api: str, method: str, path: str, body: bytes | None = None,
              params: dict[str, str] | None = None) -> requests.Response:
        before = self.rows()
        response = self.send(api, method, path, body, params or {})
        if len(response.request.path_url) > MAX_URL_CHARS:  # refused by the host itself, before the app runs
            assert response.status_code == 414 and self.rows() == before
            return response
        assert response.status_code < 500, (method, path, body, params, response.status_code, response.text[:500])
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            if api == "scim":
                assert response.headers["Content-Type"].startswith(SCIM)
                error = response.json()
                assert error["schemas"] == [ERROR] and error["status"] == str(response.status_code), error
            else:
                assert response.json()["error"]["status"] == response.status_code, response.text[:500]
            assert self.rows() == before, (method, path, body, params, response.status_code, response.text[:300])
        return response


@pytest.fixture
def target(scim_host: DevHost, accounts: AccountStore) -> Iterator[Target]:
    account = new_account(accounts)
    bystander = new_account(accounts)
    with requests.Session() as session:
        t = Target(scim_host, accounts, account.id, new_token(accounts, account.id),
                   new_token(accounts, account.id, scope="admin"), "", "", bystander.id, session)
        other = requests.post(f"{scim_host.base_url}/api/scim/account/{bystander.id}/Users", timeout=30,
                              data=encoded({"userName": "bystander@contoso.test"}),
                              headers={"Authorization": f"Bearer {new_token(accounts, bystander.id)}",
                                       "Content-Type": SCIM})
        user = t.send("scim", "POST", "/Users", encoded({"userName": "ann@contoso.test", "displayName": "Ann"}), {})
        t.user_id = user.json()["id"]
        group = t.send("scim", "POST", "/Groups",
                       encoded({"displayName": "Engineering Team", "members": [{"value": t.user_id}]}), {})
        t.group_id = group.json()["id"]
        assert other.status_code == user.status_code == group.status_code == 201
        t.bystander_user = other.json()["id"]
        bystanders_rows = t.rows(bystander.id)
        yield t
        assert t.rows(bystander.id) == bystanders_rows  # nothing any request did reached another account


def resource_id(t: Target, kind: str, mangle: str) -> str:
    """The real id, a prefix or extension of it, or hostile text, URL-encoded as a path segment."""
    real = t.user_id if kind == "user" else t.group_id
    choices = {"real": real, "prefix": real[:8], "longer": real + "0", "upper": real.upper(), "other": mangle}
    return url_part(choices.get(mangle, mangle))


ids = st.one_of(st.sampled_from(["real", "prefix", "longer", "upper"]), hostile_text.filter(bool))


@given(method=st.sampled_from(["GET", "PUT", "PATCH", "DELETE"]), kind=st.sampled_from(["user", "group"]),
       which=ids, body=bodies, params=query_params)
def test_scim_resource_routes(target: Target, method: str, kind: str, which: str, body: bytes,
                              params: dict[str, str]) -> None:
    path = f"/{'Users' if kind == 'user' else 'Groups'}/{resource_id(target, kind, which)}"
    if method == "DELETE" and which == "real":
        method = "GET"  # a delete of the seeded resource is legitimate; it would leave nothing to aim at
    response = target.check("scim", method, path, None if method in ("GET", "DELETE") else body, params)
    if which in ("prefix", "longer", "upper"):
        assert response.status_code in (400, 404, 414), response.text[:300]  # never another resource


@given(method=st.sampled_from(["GET", "POST"]), collection=st.sampled_from(["/Users", "/Groups", ""]),
       body=bodies, params=query_params, search=st.booleans())
def test_scim_collection_and_search_routes(target: Target, method: str, collection: str, body: bytes,
                                           params: dict[str, str], search: bool) -> None:
    if search or not collection:
        target.check("scim", "POST", f"{collection}/.search", body)
    else:
        target.check("scim", method, collection, body if method == "POST" else None, params)


@given(path=st.sampled_from(["/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas",
                             "/Bulk", "/Me", "/Users/.search/x"]), extra=hostile_text, params=query_params)
def test_scim_discovery_and_unknown_routes(target: Target, path: str, extra: str, params: dict[str, str]) -> None:
    target.check("scim", "GET", path + ("/" + url_part(extra) if extra else ""), None, params)


@given(route=st.sampled_from([("GET", "/users"), ("POST", "/users"), ("GET", "/users/{user}"),
                              ("PATCH", "/users/{user}"), ("GET", "/groups"), ("POST", "/groups"),
                              ("GET", "/groups/{group}"), ("PATCH", "/groups/{group}"),
                              ("PUT", "/groups/{group}/members/{user}"), ("DELETE", "/groups/{group}/members/{user}"),
                              ("POST", "/sso/check"), ("GET", "/activity"), ("GET", "/nothing-here"),
                              ("GET", "/orgs"), ("POST", "/orgs"), ("DELETE", "/orgs/{group}"),
                              ("POST", "/orgs/{group}/projects"), ("PUT", "/groups/{group}/placements"),
                              ("GET", "/scopes/{scope}/members"), ("PUT", "/scopes/{scope}/members/{user}"),
                              ("GET", "/role-assignments"), ("POST", "/role-assignments"),
                              ("DELETE", "/role-assignments/{group}"), ("GET", "/users/{user}/access"),
                              ("GET", "/users/{user}/scim"), ("GET", "/groups/{group}/members"),
                              ("GET", "/overview"), ("GET", "/users/{user}/history")]),
       user=ids, group=ids, scope=st.one_of(hostile_text, st.sampled_from(["{a}", "{a}:o1", "{a}:o1:p1", "x:o1"])),
       body=st.one_of(bodies, st.fixed_dictionaries({}, optional={
           "name": json_values, "email": json_values, "userName": json_values, "displayName": json_values,
           "identifier": json_values, "scopes": json_values, "scope": json_values, "role": json_values,
           "resourceGroup": json_values, "principal": json_values}).map(encoded)),
       params=st.fixed_dictionaries({}, optional={"since": hostile_text | iso_times, "until": hostile_text | iso_times,
                                                  "cursor": hostile_text,
                                                  "count": hostile_text, "outcome": hostile_text,
                                                  "resourceId": hostile_text, "filter": hostile_text,
                                                  "startIndex": hostile_text, "window": hostile_text,
                                                  "kind": hostile_text}))
def test_management_routes(target: Target, route: tuple[str, str], user: str, group: str, scope: str, body: bytes,
                           params: dict[str, str]) -> None:
    method, template = route
    path = template.format(user=resource_id(target, "user", user), group=resource_id(target, "group", group),
                           scope=url_part(scope.replace("{a}", target.account_id)))
    target.check("manage", method, path, body if method in ("POST", "PATCH", "PUT") else None, params)


@given(collection=st.sampled_from(["/Users", "/Groups"]),
       attribute=st.sampled_from(["userName", "externalId", "id", "displayName", "members.value", "emails.value",
                                  "meta.lastModified", "meta.created"]),
       operator=st.sampled_from(["eq", "ne", "co", "sw", "gt", "le"]),
       literal=st.one_of(string_literals, iso_times.map(lambda text: f'"{text}"')), in_body=st.booleans())
def test_filter_literals_with_escapes_and_times(target: Target, collection: str, attribute: str, operator: str,
                                                literal: str, in_body: bool) -> None:
    """Indexed equalities are answered by point reads on keys built from the decoded literal: the text must be
    checked after decoding, wherever the filter arrives (a URL's query or a .search body)."""
    text = f"{attribute} {operator} {literal}"
    if in_body:
        target.check("scim", "POST", f"{collection}/.search", encoded({"filter": text}))
    else:
        target.check("scim", "GET", collection, None, {"filter": text})


@given(path=st.builds(lambda attribute, literal: f"{attribute}[value eq {literal}]",
                      st.sampled_from(["members", "emails", "phoneNumbers"]), string_literals),
       kind=st.sampled_from(["user", "group"]), op=st.sampled_from(["remove", "replace", "add"]))
def test_patch_paths_with_escaped_literals(target: Target, path: str, kind: str, op: str) -> None:
    resource = f"/Users/{target.user_id}" if kind == "user" else f"/Groups/{target.group_id}"
    target.check("scim", "PATCH", resource, encoded({"schemas": [PATCH], "Operations": [
        {"op": op, "path": path, "value": "x" if op != "remove" else None}]}))


@given(params=st.fixed_dictionaries({}, optional={"since": iso_times | hostile_text, "until": iso_times}))
def test_activity_time_parameters(target: Target, params: dict[str, str]) -> None:
    response = target.check("manage", "GET", "/activity", None, params)
    assert response.status_code in (200, 400, 414), response.text[:300]


bulk_paths = st.sampled_from(["/Users", "/Groups", "/Users/{user}", "/Groups/{group}", "/Users/{bystander}",
                              "/Users/bulkId:a", "/Groups/bulkId:b", "/Users/bulkId:missing", "../Users", "",
                              "https://elsewhere/Users", "/Users/{user}/x"])
bulk_operations = st.fixed_dictionaries({"method": st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET", "post"]),
                                         "path": bulk_paths},
                                        optional={"bulkId": st.one_of(st.sampled_from(["a", "b"]), hostile_text),
                                                  "version": st.one_of(hostile_text, st.integers()),
                                                  "data": st.one_of(patch_bodies, resource_bodies, json_values)})


@given(operations_=st.lists(bulk_operations, max_size=6), fail_on_errors=st.one_of(st.none(), st.integers(-2, 3)),
       many=st.booleans())
def test_bulk_requests(target: Target, operations_: list[dict[str, Any]], fail_on_errors: int | None,
                       many: bool) -> None:
    """Hostile bulk requests: malformed operations, references to other accounts' ids and to bulkIds that are not
    there, odd failOnErrors, or a thousand operations on one group. Never a 5xx; the bystander account untouched
    (the fixture checks); a refused bulk request changes nothing."""
    def fill(path: str) -> str:
        return path.format(user=target.user_id, group=target.group_id, bystander=target.bystander_user)

    operations = [{**op, "path": fill(op["path"])} for op in operations_]
    if many:  # a thousand operations on one group: over maxOperations, refused before any work
        operations = [{"method": "PATCH", "path": f"/Groups/{target.group_id}",
                       "data": {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]}}] * 1000
    body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations}
    if fail_on_errors is not None:
        body["failOnErrors"] = fail_on_errors
    response = target.check("scim", "POST", "/Bulk", encoded(body))
    if many:
        assert response.status_code == 413
    if response.status_code == 200:
        assert all(int(op["status"]) < 500 for op in response.json()["Operations"]), response.text[:500]
