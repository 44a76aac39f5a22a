"""Paging over the local host and Azurite: RFC 9865 cursors beside RFC 7644 index paging, with exact totals read
from the counts kept in the writes' own transactions, never from a scan of the account."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.domain.cursors import Cursor, CursorSigner
from shared.errors import ExpiredCursor
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import ScimClient, assert_scim_error, new_account, new_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def make_users(scim: ScimClient, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        response = scim.post("/Users", {"schemas": [USER], "userName": name, "active": True})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def walk_by_cursor(scim: ScimClient, path: str, count: int, **params: Any) -> tuple[list[str], list[dict[str, Any]]]:
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    cursor = ""
    while True:
        response = scim.get(path, params={"cursor": cursor, "count": count, **params})
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        ids += [r["id"] for r in page["Resources"]]
        if "nextCursor" not in page:
            return ids, pages
        cursor = page["nextCursor"]


def walk_by_index(scim: ScimClient, path: str, count: int) -> tuple[list[str], list[int]]:
    ids: list[str] = []
    totals = []
    start = 1
    while True:
        page = scim.get(path, params={"startIndex": start, "count": count}).json()
        totals.append(page["totalResults"])
        ids += [r["id"] for r in page["Resources"]]
        if not page["Resources"]:
            return ids, totals
        start += len(page["Resources"])


@pytest.fixture
def other(scim_host: DevHost, accounts: AccountStore) -> Iterator[ScimClient]:
    account = new_account(accounts)
    with requests.Session() as session:
        yield ScimClient(scim_host.base_url, account.id, new_token(accounts, account.id), session)


def test_cursor_pages_walk_every_user_once_in_the_order_index_paging_gives(scim: ScimClient) -> None:
    made = make_users(scim, [f"walker{n}@example.com" for n in range(7)])
    by_cursor, pages = walk_by_cursor(scim, "/Users", 3)
    assert by_cursor == sorted(made)
    assert [len(p["Resources"]) for p in pages] == [3, 3, 1]
    assert all(p["totalResults"] == 7 and p["itemsPerPage"] == len(p["Resources"]) for p in pages)
    assert all("startIndex" not in p and "previousCursor" not in p for p in pages)
    by_index, totals = walk_by_index(scim, "/Users", 3)
    assert by_index == by_cursor and set(totals) == {7}

    # .search takes the cursor in its body (RFC 9865 §2.1)
    first = scim.post("/Users/.search", {"cursor": "", "count": 4}).json()
    second = scim.post("/Users/.search", {"cursor": first["nextCursor"], "count": 4}).json()
    assert [r["id"] for r in first["Resources"] + second["Resources"]] == by_cursor
    assert "nextCursor" not in second


def test_groups_page_by_cursor_and_by_index_alike(scim: ScimClient) -> None:
    for n in range(5):
        assert scim.post("/Groups", {"schemas": [GROUP], "displayName": f"Pager {n}"}).status_code == 201
    by_cursor, pages = walk_by_cursor(scim, "/Groups", 2, excludedAttributes="members")
    assert len(by_cursor) == 5 and by_cursor == sorted(by_cursor)
    assert {p["totalResults"] for p in pages} == {5}
    assert walk_by_index(scim, "/Groups", 2)[0] == by_cursor


def test_a_filtered_cursor_walk_keeps_only_matches_and_omits_the_total(scim: ScimClient) -> None:
    made = make_users(scim, [f"{'keep' if n % 2 else 'drop'}{n}@example.com" for n in range(8)])
    kept, pages = walk_by_cursor(scim, "/Users", 2, filter='userName sw "keep"')
    assert kept == sorted(made[1::2])
    assert all("totalResults" not in p for p in pages)
    # an indexed equality is one page, with its exact total and no cursor
    single = scim.get("/Users", params={"cursor": "", "filter": 'userName eq "keep1@example.com"'}).json()
    assert single["totalResults"] == 1 and "nextCursor" not in single


def test_a_cursor_is_refused_outside_its_account_query_and_count(scim: ScimClient, other: ScimClient) -> None:
    make_users(scim, [f"bound{n}@example.com" for n in range(3)])
    make_users(other, [f"bound{n}@example.com" for n in range(3)])
    cursor = scim.get("/Users", params={"cursor": "", "count": 1}).json()["nextCursor"]

    assert_scim_error(other.get("/Users", params={"cursor": cursor, "count": 1}), 400, "invalidCursor")
    assert_scim_error(scim.get("/Users", params={"cursor": cursor, "count": 1, "filter": 'userName sw "b"'}),
                      400, "invalidCursor")
    assert_scim_error(scim.get("/Groups", params={"cursor": cursor, "count": 1}), 400, "invalidCursor")
    assert_scim_error(scim.get("/Users", params={"cursor": cursor, "count": 2}), 400, "invalidCount")
    encoded, signature = cursor.split(".")
    tampered = encoded[:-2] + ("AA" if encoded[-2:] != "AA" else "BB") + "." + signature
    for forged in (tampered, cursor + "x", "not-a-cursor", "a.b", "." * 3, "é"):
        assert_scim_error(scim.get("/Users", params={"cursor": forged, "count": 1}), 400, "invalidCursor")
    assert scim.get("/Users", params={"cursor": cursor, "count": 1}).status_code == 200  # still good where it belongs


def test_cursor_parameters_are_checked_before_any_read(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/Users", params={"cursor": "", "startIndex": 1}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users", params={"cursor": "", "count": 1001}), 400, "invalidCount")
    assert_scim_error(scim.get("/Users", params={"cursor": "", "count": -1}), 400, "invalidCount")
    assert_scim_error(scim.post("/.search", {"cursor": ""}), 400, "invalidValue")
    # index paging keeps RFC 7644's leniency: a count over the maximum is capped, not refused
    assert scim.get("/Users", params={"startIndex": 1, "count": 5000}).status_code == 200


def test_the_service_provider_config_advertises_both_paging_methods(scim: ScimClient) -> None:
    pagination = scim.get("/ServiceProviderConfig").json()["pagination"]
    assert pagination == {"cursor": True, "index": True, "defaultPaginationMethod": "index", "defaultPageSize": 100,
                          "maxPageSize": 1000, "cursorTimeout": 86400}


def test_an_expired_cursor_is_refused_as_expired() -> None:
    clock = [1_000_000.0]
    signer = CursorSigner(b"k" * 32, clock=lambda: clock[0])
    text = signer.issue(Cursor("acct", "query", "start-id", 100))
    assert signer.read(text, "acct", "query", 100) == "start-id"
    clock[0] += 86_401
    with pytest.raises(ExpiredCursor):
        signer.read(text, "acct", "query", 100)


def test_totals_stay_exact_through_concurrent_creates_and_deletes_on_two_hosts(
        scim: ScimClient, scim_host_b: DevHost) -> None:
    """Each count moves in the transaction of the write it counts: two instances creating and deleting at once
    leave totalResults equal to the users that exist (walked page by page)."""
    first = make_users(scim, [f"before{n}@example.com" for n in range(6)])
    scim.get("/Users", params={"count": 0})  # the count exists before the race
    on_b = ScimClient(scim_host_b.base_url, scim.account_id, scim.token, requests.Session())
    errors: list[str] = []

    def create(client: ScimClient, prefix: str) -> None:
        for n in range(8):
            response = client.post("/Users", {"schemas": [USER], "userName": f"{prefix}{n}@example.com"})
            if response.status_code != 201:
                errors.append(response.text)

    def delete(client: ScimClient, ids: list[str]) -> None:
        for user_id in ids:
            if client.delete(f"/Users/{user_id}").status_code != 204:
                errors.append(user_id)

    threads = [threading.Thread(target=create, args=(scim, "a")), threading.Thread(target=create, args=(on_b, "b")),
               threading.Thread(target=delete, args=(on_b, first[:3]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    walked, totals = walk_by_index(scim, "/Users", 5)
    assert len(walked) == 6 - 3 + 16 == len(set(walked))
    assert set(totals) == {19}
    assert on_b.get("/Users", params={"count": 0}).json()["totalResults"] == 19


def test_the_management_lists_page_by_cursor_too(scim: ScimClient, admin: Any) -> None:
    made = make_users(scim, [f"console{n}@example.com" for n in range(5)])
    for n in range(3):
        assert admin.request("POST", "/groups", json={"name": f"Native {n}"}).status_code == 201
    seen: list[str] = []
    cursor = ""
    while True:
        page = admin.request("GET", "/users", params={"cursor": cursor, "count": 2}).json()
        assert page["totalResults"] == 5 and "startIndex" not in page
        seen += [u["id"] for u in page["users"]]
        if not page["nextCursor"]:
            break
        cursor = page["nextCursor"]
    assert seen == sorted(made)
    first = admin.request("GET", "/groups", params={"cursor": "", "count": 2, "source": "native"}).json()
    second = admin.request("GET", "/groups", params={"cursor": first["nextCursor"], "count": 2, "source": "native"}).json()
    assert len(first["groups"]) == 2 and len(second["groups"]) == 1 and second["nextCursor"] is None
    assert admin.request("GET", "/users", params={"cursor": first["nextCursor"], "count": 2}).status_code == 400
    assert admin.request("GET", "/users", params={"cursor": "", "filter": "console"}).status_code == 400
    assert admin.request("GET", "/groups", params={"cursor": ""}).status_code == 400


def test_users_sort_by_username_page_by_page_in_either_paging_and_other_sorts_in_memory(scim: ScimClient) -> None:
    names = ["delta@example.com", "Alpha@example.com", "charlie@example.com", "BRAVO@example.com", "echo@example.com"]
    ids = dict(zip(names, make_users(scim, names), strict=True))
    scim.patch(f"/Users/{ids['echo@example.com']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                     "Operations": [{"op": "add", "path": "title", "value": "b"}]})
    scim.patch(f"/Users/{ids['Alpha@example.com']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                                      "Operations": [{"op": "add", "path": "title", "value": "A"}]})
    expected = sorted(names, key=str.casefold)
    by_index = []
    for start in (1, 3, 5):
        page = scim.get("/Users", params={"sortBy": "userName", "startIndex": start, "count": 2}).json()
        by_index += [r["userName"] for r in page["Resources"]]
        assert page["totalResults"] == 5
    assert by_index == expected
    by_cursor, _ = walk_by_cursor(scim, "/Users", 2, sortBy="userName")
    assert [next(n for n, i in ids.items() if i == found) for found in by_cursor] == expected
    descending = scim.get("/Users", params={"sortBy": "userName", "sortOrder": "descending"}).json()
    assert [r["userName"] for r in descending["Resources"]] == expected[::-1]
    titled = scim.get("/Users", params={"sortBy": "title", "sortOrder": "descending", "count": 3}).json()
    assert [r.get("title") for r in titled["Resources"]] == ["b", "A", None]  # case-insensitive; missing last
    assert titled["totalResults"] == 5
    searched = scim.post("/Users/.search", {"sortBy": "userName", "sortOrder": "descending", "count": 1}).json()
    assert searched["Resources"][0]["userName"] == "echo@example.com"
    assert_scim_error(scim.get("/Users", params={"sortBy": "noSuchAttribute"}), 400, "invalidValue")
    assert_scim_error(scim.get("/Users", params={"sortBy": "userName", "sortOrder": "sideways"}), 400, "invalidValue")
    # a cursor of one sort is refused by another
    first = scim.get("/Users", params={"cursor": "", "count": 2, "sortBy": "userName"}).json()
    assert_scim_error(scim.get("/Users", params={"cursor": first["nextCursor"], "count": 2}), 400, "invalidCursor")


def test_groups_sort_by_display_name(scim: ScimClient) -> None:
    for name in ("beta", "Alpha", "gamma"):
        assert scim.post("/Groups", {"schemas": [GROUP], "displayName": name}).status_code == 201
    page = scim.get("/Groups", params={"sortBy": "displayName", "excludedAttributes": "members"}).json()
    assert [r["displayName"] for r in page["Resources"]] == ["Alpha", "beta", "gamma"]
    assert [r["displayName"] for r in scim.get("/Groups", params={
        "sortBy": "displayName", "sortOrder": "descending"}).json()["Resources"]] == ["gamma", "beta", "Alpha"]
    assert scim.get("/ServiceProviderConfig").json()["sort"] == {"supported": True}


def test_a_sort_no_index_keeps_is_refused_over_the_limit_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.domain import listing, users
    from shared.domain.accounts import Account
    from shared.domain.schema import USER
    from shared.errors import TooMany
    from shared.storage.memory import MemoryPagePositions, MemoryState, MemoryUserStore

    store, account = MemoryUserStore(MemoryState()), Account(id="sorts", name="Sorts", notification_email=None)
    for n in range(4):
        users.create_user(store, account, {"userName": f"s{n}@example.com"})
    monkeypatch.setattr(listing, "SORT_LIMIT", 3)
    query = listing.parse_list_query({"sortBy": "title"}, USER, 100, 1000)
    with pytest.raises(TooMany) as refused:
        users.list_users(store, account, query, "https://t", MemoryPagePositions())
    assert "3" in refused.value.detail and "title" in refused.value.detail
    by_name = listing.parse_list_query({"sortBy": "userName"}, USER, 100, 1000)  # indexed: no limit
    assert len(users.list_users(store, account, by_name, "https://t", MemoryPagePositions()).items) == 4


def test_sorts_with_filters_and_both_pagings(scim: ScimClient) -> None:
    names = [f"{prefix}{n}@example.com" for prefix in ("keep", "drop") for n in range(4)]
    make_users(scim, names)
    kept = sorted((n for n in names if n.startswith("keep")), key=str.casefold, reverse=True)
    # a non-indexed sort (descending userName is sorted in memory), with a filter, by cursor and by index
    walked, pages = walk_by_cursor(scim, "/Users", 3, sortBy="userName", sortOrder="descending",
                                   filter='userName sw "keep"')
    assert len(walked) == 4 and {p["totalResults"] for p in pages} == {4}
    by_index = []
    for start in (1, 4):
        page = scim.get("/Users", params={"sortBy": "userName", "sortOrder": "descending", "startIndex": start,
                                          "count": 3, "filter": 'userName sw "keep"'}).json()
        by_index += [r["userName"] for r in page["Resources"]]
    assert by_index == kept
    # the indexed sort with a filter
    ascending = scim.get("/Users", params={"sortBy": "userName", "filter": 'userName sw "keep"'}).json()
    assert [r["userName"] for r in ascending["Resources"]] == kept[::-1]
    # an indexed equality filter with a sort: its one page, sorted
    single = scim.get("/Users", params={"sortBy": "title", "filter": 'userName eq "keep1@example.com"'}).json()
    assert [r["userName"] for r in single["Resources"]] == ["keep1@example.com"]


def test_a_filtered_cursor_walk_in_username_order_continues_where_it_stopped(scim: ScimClient) -> None:
    """The page fills inside a storage batch: the next cursor is the listing's own position (the userName index key
    for a userName sort), so the walk neither skips nor repeats anyone."""
    names = [f"{'in' if n % 3 else 'out'}-{chr(ord('a') + n)}@example.com" for n in range(12)]
    make_users(scim, names)
    walked, _ = walk_by_cursor(scim, "/Users", 2, sortBy="userName", filter='userName sw "in"')
    got = [scim.get(f"/Users/{user_id}").json()["userName"] for user_id in walked]
    assert got == sorted(n for n in names if n.startswith("in"))
