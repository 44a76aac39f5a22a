"""Blueprint: per-account discovery endpoints (RFC 7644 §4) and the SCIM 404 for unknown paths."""

from __future__ import annotations

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, run_scim
from shared.domain import discovery
from shared.domain.bulk import MAX_OPERATIONS
from shared.domain.cursors import CURSOR_TIMEOUT_SECONDS
from shared.errors import MethodNotAllowed, NotFound

bp = func.Blueprint()

TENANT = "scim/account/{accountId}"


@bp.route(route=f"{TENANT}/ServiceProviderConfig", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def scim_service_provider_config(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "ServiceProviderConfig.Get", _service_provider_config)


@bp.route(route=f"{TENANT}/ResourceTypes/{{id?}}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def scim_resource_types(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "ResourceTypes.Get", _resource_types)


@bp.route(route=f"{TENANT}/Schemas/{{id?}}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def scim_schemas(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Schemas.Get", _schemas)


@bp.route(route=f"{TENANT}/{{*path}}", auth_level=func.AuthLevel.ANONYMOUS)
def scim_unknown_path(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Unknown", _unknown)


def _service_provider_config(req: ApiRequest) -> ApiResponse:
    settings = req.services.settings
    return ApiResponse(200, discovery.service_provider_config(req.tenant_url, settings.page_size_max,
                                                               settings.max_body_bytes, settings.page_size_default,
                                                               CURSOR_TIMEOUT_SECONDS, MAX_OPERATIONS))


def _resource_types(req: ApiRequest) -> ApiResponse:
    type_id = req.route.get("id")
    if type_id:
        found = discovery.resource_type(req.tenant_url, type_id)
        if found is None:
            raise NotFound(f"No resource type {type_id!r}; this server has: {', '.join(discovery.RESOURCE_TYPES)}.")
        return ApiResponse(200, found)
    types = [discovery.resource_type(req.tenant_url, t) for t in discovery.RESOURCE_TYPES]
    return ApiResponse(200, discovery.list_response([t for t in types if t]))


def _schemas(req: ApiRequest) -> ApiResponse:
    schema_id = req.route.get("id")
    if schema_id:
        found = discovery.schema(req.tenant_url, schema_id)
        if found is None:
            raise NotFound(f"No schema {schema_id!r}.")
        return ApiResponse(200, found)
    schemas = [discovery.schema(req.tenant_url, s) for s in discovery.SCHEMAS]
    return ApiResponse(200, discovery.list_response([s for s in schemas if s]))


ENDPOINT_METHODS = {"serviceproviderconfig": "GET", "resourcetypes": "GET", "schemas": "GET",
                    "users": "GET, POST, PUT, PATCH, DELETE", "groups": "GET, POST, PUT, PATCH, DELETE"}


def _unknown(req: ApiRequest) -> ApiResponse:
    endpoint = req.route.get("path", "").strip("/").split("/")[0].lower()
    if endpoint in ENDPOINT_METHODS:  # a known endpoint, asked with a method it does not serve
        raise MethodNotAllowed(f"{req.method} is not supported here; use {ENDPOINT_METHODS[endpoint]}.",
                               headers={"Allow": ENDPOINT_METHODS[endpoint]})
    raise NotFound(f"No SCIM endpoint at /{req.route.get('path', '')}; "
                   "this server has /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas.")
