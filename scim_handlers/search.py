"""Blueprint: POST {tenant}/.search (RFC 7644 §3.4.3), a search across Users and Groups."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from typing import Any

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, run_scim
from shared.domain import groups, users
from shared.domain.filters import Filter, parse_filter
from shared.domain.listing import SearchRequestParameters, list_response, paginate, parse_list_query
from shared.domain.resource import project
from shared.domain.schema import GROUP, USER, ResourceSchema
from shared.errors import InvalidFilter, InvalidValue

bp = func.Blueprint()


@bp.route(route="scim/account/{accountId}/.search", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def scim_root_search(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Root.Search", _search)


def _filter_for(raw: str | None, schema: ResourceSchema) -> tuple[bool, Filter | None]:
    """(applies, filter): a filter naming attributes a resource type lacks matches none of that type."""
    if not raw or not raw.strip():
        return True, None
    try:
        return True, parse_filter(raw, schema)
    except InvalidFilter:
        return False, None


def _search(req: ApiRequest) -> ApiResponse:
    params = SearchRequestParameters(req.json())
    if params.get("sortBy"):
        raise InvalidValue("sortBy is offered on /Users, /Groups and their .search; the root .search returns users, "
                           "then groups.")
    if params.get("cursor") is not None:
        raise InvalidValue("cursor paging is offered on /Users, /Groups and their .search; the root .search pages by "
                           "startIndex.")
    settings = req.services.settings
    raw_filter = params.get("filter")
    user_applies, user_filter = _filter_for(raw_filter, USER)
    group_applies, group_filter = _filter_for(raw_filter, GROUP)
    if not user_applies and not group_applies:
        parse_filter(raw_filter or "", USER)  # raises the user-facing invalidFilter
    window = parse_list_query(_Unfiltered(params), USER, settings.page_size_default, settings.page_size_max)
    streams: list[Iterator[dict[str, Any]]] = []
    if user_applies:
        streams.append(users.render_user(u, req.tenant_url) for u in
                       users.matching_users(req.services.users, req.account, user_filter, req.tenant_url))
    if group_applies:
        streams.append(groups.render_group(g, req.tenant_url, None, req.account.id) for g in
                       groups.matching_groups(req.services.groups, req.account, group_filter, req.tenant_url))
    page = paginate(chain(*streams), lambda _: True, window.start_index, window.count)
    resources = [project(r, USER if r["meta"]["resourceType"] == "User" else GROUP, window.attributes, window.excluded)
                 for r in page.items]
    return ApiResponse(200, list_response(page, resources))


class _Unfiltered:
    """The search parameters without the filter (each resource type parses it for itself)."""

    def __init__(self, params: SearchRequestParameters) -> None:
        self._params = params

    def get(self, name: str) -> str | None:
        return None if name.lower() == "filter" else self._params.get(name)
