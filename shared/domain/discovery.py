"""Discovery documents (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas.

They describe what this server really does; every claim here is honoured by the code (for example
`etag.supported` because If-Match and If-None-Match are honoured, `sort` because sortBy is (cheaply on userName and a
group's displayName: shared/domain/sorting.py), `bulk` with its limits, `changePassword` off because it is not
implemented).
"""

from __future__ import annotations

from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
HARNESS_GROUP_SCHEMA = "urn:ietf:params:scim:schemas:extension:harness:2.0:Group"
LIST_RESPONSE_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def _attr(name: str, type_: str = "string", *, multi: bool = False, required: bool = False,
          case_exact: bool = False, mutability: str = "readWrite", returned: str = "default",
          uniqueness: str = "none", sub: list[dict[str, Any]] | None = None,
          canonical: list[str] | None = None, refs: list[str] | None = None, description: str = "") -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name, "type": type_, "multiValued": multi, "description": description or name,
        "required": required, "mutability": mutability, "returned": returned,
    }
    if type_ in ("string", "reference", "binary"):
        attribute["caseExact"] = case_exact
        attribute["uniqueness"] = uniqueness
    if sub:
        attribute["subAttributes"] = sub
    if canonical:
        attribute["canonicalValues"] = canonical
    if refs:
        attribute["referenceTypes"] = refs
    return attribute


def _multi_valued(name: str, canonical: list[str], value_type: str = "string",
                  extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    sub = [_attr("value", value_type), _attr("display"), _attr("type", canonical=canonical),
           _attr("primary", "boolean"), *(extra or [])]
    return _attr(name, "complex", multi=True, sub=sub)


_ADDRESS_PARTS = ["formatted", "streetAddress", "locality", "region", "postalCode", "country"]

EXTERNAL_ID = _attr("externalId", case_exact=True, description=(
    "The identity provider's own id for the resource (RFC 7643 §3.1, a common attribute): listed here because "
    "Microsoft's validation of SCIM apps expects every attribute Entra's default mappings write to be discoverable "
    "in /Schemas. Case-exact, not unique; `externalId eq` is answered from an index."))

USER_ATTRIBUTES: list[dict[str, Any]] = [
    _attr("userName", required=True, uniqueness="server",
          description="Unique identifier for the user, typically the Entra userPrincipalName. "
                      "Unique per account, case-insensitively."),
    EXTERNAL_ID,
    _attr("name", "complex", sub=[_attr(n) for n in
                                  ["formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix"]]),
    *[_attr(n) for n in ["displayName", "nickName"]],
    _attr("profileUrl", "reference", refs=["external"]),
    *[_attr(n) for n in ["title", "userType", "preferredLanguage", "locale", "timezone"]],
    _attr("active", "boolean"),
    _attr("password", mutability="writeOnly", returned="never", description="Accepted and discarded: never stored or returned."),
    _multi_valued("emails", ["work", "home", "other"]),
    _multi_valued("phoneNumbers", ["work", "home", "mobile", "fax", "pager", "other"]),
    _multi_valued("ims", ["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    _multi_valued("photos", ["photo", "thumbnail"], "reference"),
    _attr("addresses", "complex", multi=True,
          sub=[*[_attr(n) for n in _ADDRESS_PARTS], _attr("type", canonical=["work", "home", "other"]),
               _attr("primary", "boolean")]),
    _attr("groups", "complex", multi=True, mutability="readOnly",
          sub=[_attr("value", mutability="readOnly"), _attr("$ref", "reference", mutability="readOnly", refs=["Group"]),
               _attr("display", mutability="readOnly"), _attr("type", mutability="readOnly", canonical=["direct"])]),
    _multi_valued("entitlements", []),
    _multi_valued("roles", []),
    _multi_valued("x509Certificates", [], "binary"),
]

ENTERPRISE_USER_ATTRIBUTES: list[dict[str, Any]] = [
    *[_attr(n) for n in ["employeeNumber", "costCenter", "organization", "division", "department"]],
    _attr("manager", "complex", sub=[_attr("value"), _attr("$ref", "reference", refs=["User"]),
                                     _attr("displayName", mutability="readOnly")]),
]

GROUP_ATTRIBUTES: list[dict[str, Any]] = [
    _attr("displayName", required=True, uniqueness="server",
          description="Group name, unique among the account's provisioned groups, case-insensitively."),
    EXTERNAL_ID,
    _attr("members", "complex", multi=True,
          sub=[_attr("value", mutability="immutable"), _attr("$ref", "reference", mutability="immutable", refs=["User"]),
               _attr("display", mutability="immutable"), _attr("type", mutability="immutable", canonical=["User"])]),
]

HARNESS_GROUP_ATTRIBUTES: list[dict[str, Any]] = [
    _attr("harnessScopes", description=(
        "Where the group is placed: comma-separated scopes `account[:org[:project]]` (the account id of the tenant "
        "URL, then Harness identifiers). Absent or empty: the account only. Also accepted as a top-level Group "
        "attribute, as Harness reads it. Returned sorted and deduplicated.")),
]

SCHEMAS: dict[str, tuple[str, str, list[dict[str, Any]]]] = {
    USER_SCHEMA: ("User", "User Account", USER_ATTRIBUTES),
    ENTERPRISE_USER_SCHEMA: ("EnterpriseUser", "Enterprise User", ENTERPRISE_USER_ATTRIBUTES),
    GROUP_SCHEMA: ("Group", "Group", GROUP_ATTRIBUTES),
    HARNESS_GROUP_SCHEMA: ("HarnessGroup", "Harness placement of a group", HARNESS_GROUP_ATTRIBUTES),
}

RESOURCE_TYPES: dict[str, dict[str, Any]] = {
    "User": {"name": "User", "endpoint": "/Users", "description": "User Account", "schema": USER_SCHEMA,
             "schemaExtensions": [{"schema": ENTERPRISE_USER_SCHEMA, "required": False}]},
    "Group": {"name": "Group", "endpoint": "/Groups", "description": "Group", "schema": GROUP_SCHEMA,
              "schemaExtensions": [{"schema": HARNESS_GROUP_SCHEMA, "required": False}]},
}


def service_provider_config(tenant_url: str, max_results: int, max_payload_bytes: int, default_page_size: int,
                            cursor_timeout_seconds: int, max_operations: int) -> dict[str, Any]:
    """`filter.maxResults` is the largest page; `bulk.maxPayloadSize` (RFC 7643 §5 requires it even when bulk is not
    supported) is the body limit of every request; `pagination` is RFC 9865's (index paging stays the default: the
    identity providers that page, Okta and OneLogin, page by index). The other limits have no place in SCIM: README
    lists them."""
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups",
        "patch": {"supported": True},
        "bulk": {"supported": True, "maxOperations": max_operations, "maxPayloadSize": max_payload_bytes},
        "filter": {"supported": True, "maxResults": max_results},
        "pagination": {"cursor": True, "index": True, "defaultPaginationMethod": "index",
                       "defaultPageSize": default_page_size, "maxPageSize": max_results,
                       "cursorTimeout": cursor_timeout_seconds},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
            "description": "Authentication with the account's Secret Token in the Authorization: Bearer header.",
        }, {
            "type": "oauth2", "name": "OAuth 2.0 client credentials", "primary": False,
            "specUri": "https://www.rfc-editor.org/info/rfc6749",
            "description": "An access token from the account's token endpoint, "
                           f"{tenant_url.replace('/scim/account/', '/oauth/account/')}/token, for a client secret "
                           "or a federated assertion (workload identity federation, RFC 7523), in the "
                           "Authorization: Bearer header.",
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{tenant_url}/ServiceProviderConfig"},
    }


def resource_type(tenant_url: str, type_id: str) -> dict[str, Any] | None:
    definition = RESOURCE_TYPES.get(type_id)
    if definition is None:
        return None
    return {"schemas": [RESOURCE_TYPE_SCHEMA], "id": type_id, **definition,
            "meta": {"resourceType": "ResourceType", "location": f"{tenant_url}/ResourceTypes/{type_id}"}}


def schema(tenant_url: str, schema_id: str) -> dict[str, Any] | None:
    definition = SCHEMAS.get(schema_id)
    if definition is None:
        return None
    name, description, attributes = definition
    return {"schemas": [SCHEMA_SCHEMA], "id": schema_id, "name": name, "description": description,
            "attributes": attributes, "meta": {"resourceType": "Schema", "location": f"{tenant_url}/Schemas/{schema_id}"}}


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schemas": [LIST_RESPONSE_SCHEMA], "totalResults": len(resources), "startIndex": 1,
            "itemsPerPage": len(resources), "Resources": resources}
