"""The request shapes of Microsoft's own SCIM test collection (AzureAD/SCIMReferenceCode PostmanCollection.json,
reference §3.1), replayed over HTTP: its capitalised keys, string booleans, garbage attributes, unquoted filter
values, trailing slashes and string member ids. Run on an account with UPDATE_EMAILS_VIA_SCIM on, as the collection
expects userName changes to apply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from shared.domain.accounts import UPDATE_EMAILS_VIA_SCIM
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import CREDENTIALS, ScimClient, credential, new_account

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture(params=CREDENTIALS)
def client(request: pytest.FixtureRequest, scim_host: DevHost, accounts: AccountStore) -> Iterator[ScimClient]:
    """Each flow runs with a Secret Token and with an OAuth access token (what Microsoft's validation now asks)."""
    account = new_account(accounts, features=frozenset({UPDATE_EMAILS_VIA_SCIM}))
    with requests.Session() as session:
        yield ScimClient(scim_host.base_url, account.id, credential(request.param, accounts, scim_host.base_url,
                                                                    account.id), session)


def test_endpoint_and_user_tests(client: ScimClient) -> None:
    assert client.get("/Users").status_code == 200 and client.get("/Groups").status_code == 200
    assert client.get("/ResourceTypes").json()["Resources"][0]["endpoint"] == "/Users"
    assert "User Account" in client.get("/Schemas").text
    first = client.post("/Users", {"schemas": [CORE], "userName": "UserName123", "active": True,
                                   "displayName": "BobIsAmazing",
                                   "emails": [{"Primary": True, "type": "work", "value": "testing@bob.com"}]})
    assert first.status_code == 201
    id1 = first.json()["id"]
    assert first.json()["emails"][0]["primary"] is True
    second = client.post("/Users", {"schemas": [CORE, ENTERPRISE], "userName": "UserName222", "active": True,
                                    ENTERPRISE: {"Department": "bob", "Manager": {"Value": "SuzzyQ"}}})
    assert second.status_code == 201
    id2 = second.json()["id"]
    assert second.json()[ENTERPRISE] == {"department": "bob", "manager": {
        "value": "SuzzyQ", "$ref": f"{client.tenant_url}/Users/SuzzyQ"}}
    assert id1 in client.get("/Users?attributes=userName,emails").text
    assert id1 in client.get("/Users/?filter=DisplayName+eq+%22BobIsAmazing%22").text
    client.patch(f"/Users/{id1}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "userName", "value": "ryan3"}]})
    assert client.get(f"/Users/{id1}").json()["userName"] == "ryan3"
    replaced = client.put(f"/Users/{id2}", {"schemas": [CORE], "userName": "UserName222", "name": {"formatted": "NewName"}})
    assert replaced.status_code == 200 and client.get(f"/Users/{id2}").json()["name"]["formatted"] == "NewName"
    assert client.delete(f"/Users/{id1}").status_code == 204 and client.delete(f"/Users/{id2}").status_code == 204


def test_group_tests(client: ScimClient) -> None:
    group1 = client.post("/Groups", {"schemas": [GROUP], "displayName": "Group1DisplayName", "members": []}).json()["id"]
    id3 = client.post("/Users", {"userName": "UserName333"}).json()["id"]
    id4 = client.post("/Users", {"userName": "UserName444"}).json()["id"]
    group2 = client.post("/Groups", {"schemas": [GROUP], "displayName": "GroupDisplayName2",
                                     "members": [{"value": id3, "display": "VP"}]})
    assert group2.status_code == 201
    group3 = client.post("/Groups", {"schemas": [GROUP], "displayName": "GroupDisplayName3"}).json()["id"]
    put = client.put(f"/Groups/{group3}", {"schemas": [GROUP], "displayName": "putName",
                                            "members": [{"value": id3}, {"value": id4}]})
    assert put.status_code == 200 and id3 in client.get(f"/Groups/{group3}").text
    add = {"schemas": [PATCH], "Operations": [{"name": "addMember", "op": "add", "path": "members",
                                               "value": [{"displayName": "new User", "value": id4}]}]}
    assert client.patch(f"/Groups/{group1}", add).status_code == 204
    assert client.patch(f"/Groups/{group1}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{id4}"]'}]}).status_code == 204
    assert client.patch(f"/Groups/{group1}", add).status_code == 204
    assert "new User" in client.get(f"/Groups/{group1}").text
    assert client.patch(f"/Groups/{group1}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": "members"}]}).status_code == 204
    assert "new User" not in client.get(f"/Groups/{group1}").text
    for path in (f"/Users/{id3}", f"/Users/{id4}", f"/Groups/{group1}", f"/Groups/{group2.json()['id']}", f"/Groups/{group3}"):
        assert client.delete(path).status_code == 204


def test_complex_attribute_tests(client: ScimClient) -> None:
    client.post("/Users", {"userName": "UserName111", "emails": [{"type": "work", "value": "emailName357"}]})
    assert "emailName357" in client.get('/Users?attributes=emails[type eq "work"]').text
    assert "emailName357" in client.get('/Users?attributes=emails[value eq "emailName357"]').text


def test_user_tests_with_garbage(client: ScimClient) -> None:
    omalley = client.post("/Users", {
        "schemas": [CORE], "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52", "userName": "OMalley", "active": True,
        "addresses": [{"country": None, "formatted": None, "locality": None, "postalCode": None, "primary": False,
                       "region": None, "streetAddress": None, "type": "work"}],
        "meta": {"resourceType": "User"}, "name": {"familyName": "Employee", "givenName": "Test"},
        "phoneNumbers": [{"primary": True, "type": "work", "value": "123-555-5555"}], "roles": []})
    assert omalley.status_code == 201 and omalley.json()["active"] is True
    first = omalley.json()["id"]
    emp1 = client.post("/Users", {"schemas": [CORE], "userName": "emp1", "active": "True",
                                  "externalId": "22fbc523-6032-4c5f-939d-5d4850cf3e52",
                                  "name": {"familyName": "Employee", "givenName": "One"},
                                  "emails": [{"type": "work", "value": "emp1@example.com"}]})
    assert emp1.status_code == 201 and emp1.json()["active"] is True
    listed = client.get("/Users").json()
    assert listed["totalResults"] == 2 and "OMalley" in str(listed)
    for n, domain in ((2, "example.org"), (3, "example.com")):
        assert client.post("/Users", {"userName": f"emp{n}", "name": {"familyName": "Employee"},
                                      "emails": [{"type": "work", "value": f"emp{n}@{domain}"}]}).status_code == 201
    assert client.post("/Users", {"schemas": [CORE], "name": {"familyName": "NoUserName"}}).status_code == 400
    assert client.request("POST", "/Users", data=b'{"schemas": [', headers={"Content-Type": "application/json"}
                          ).status_code == 400
    for _ in range(2):
        duplicate = client.post("/Users", {"userName": "emp3"})
        assert duplicate.status_code == 409 and "detail" in duplicate.json()
    assert client.put(f"/Users/{first}", {"schemas": [CORE], "userame": "typo"}).status_code == 400
    misspelled = client.put(f"/Users/{first}", {"schemas": [CORE], "userName": "OMalley", "adreses": [{"country": "x"}]})
    assert misspelled.status_code == 200 and "adreses" not in misspelled.text.lower()
    assert client.post("/Users", {"schemas": [CORE, ENTERPRISE], "userName": "emp4",
                                  ENTERPRISE: {"Department": "Sales"}}).status_code == 201
    renamed = client.patch(f"/Users/{first}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "userName", "value": "newusername"}]})
    assert renamed.status_code in (200, 204)
    assert client.patch(f"/Users/{first}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "active", "value": False}]}).status_code in (200, 204)
    after = client.get(f"/Users/{first}").json()
    assert after["userName"] == "newusername" and after["active"] is False
    assert client.put(f"/Users/{first}", {"schemas": [CORE], "userName": "OMalley", "active": False,
                                          "addresses": [{"country": "Germany", "type": "work"}]}).json()["userName"] == "OMalley"
    page = client.get("/Users?startIndex=1&count=2").json()
    assert page["totalResults"] == 5 and page["itemsPerPage"] == 2
    assert client.get("/Users?attributes=userName,emails").json()["totalResults"] == 5
    query = "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)"
    assert client.get("/Users", params={"filter": query}).json()["totalResults"] == 3  # emp1-3: OMalley, emp4 lack emails
    assert client.get("/Users", params={"filter": "userName sw O"}).json()["totalResults"] == 1
    assert client.get("/Users", params={"filter": "meta.Created gt 2015-10-10T14:38:21.8617979-07:00"}
                      ).json()["totalResults"] == 5


def test_group_tests_with_garbage(client: ScimClient) -> None:
    group = client.post("/Groups", {"schemas": [GROUP], "displayName": "Group 1"})
    assert group.status_code == 201
    group_id = group.json()["id"]
    for member in ("string id 1", "string id 2"):
        assert client.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
            {"op": "Add", "path": "members", "value": member}]}).status_code == 204
    assert client.get(f"/Groups/{group_id}").status_code == 200
    assert client.get(f"/Groups/{group_id}?excludedAttributes=members").status_code == 200
    put = client.put(f"/Groups/{group_id}", {"schemas": [GROUP], "displayName": "Tiffany Ortiz"})
    assert put.status_code == 200 and put.json()["displayName"] == "Tiffany Ortiz"
    assert client.delete(f"/Groups/{group_id}").status_code == 204
    assert client.get("/Groups").json()["Resources"] == []
