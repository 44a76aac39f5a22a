"""Indexes function_app.py the way the Python worker does and checks what the Functions host would accept."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from croniter import croniter

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_HTTP_ROUTES = {
    "scim_service_provider_config": ("scim/account/{accountId}/ServiceProviderConfig", {"GET"}),
    "scim_resource_types": ("scim/account/{accountId}/ResourceTypes/{id?}", {"GET"}),
    "scim_schemas": ("scim/account/{accountId}/Schemas/{id?}", {"GET"}),
    "scim_unknown_path": ("scim/account/{accountId}/{*path}", None),
    "scim_users_list": ("scim/account/{accountId}/Users", {"GET"}),
    "scim_users_create": ("scim/account/{accountId}/Users", {"POST"}),
    "scim_users_search": ("scim/account/{accountId}/Users/.search", {"POST"}),
    "scim_user_get": ("scim/account/{accountId}/Users/{id}", {"GET"}),
    "scim_user_replace": ("scim/account/{accountId}/Users/{id}", {"PUT"}),
    "scim_user_patch": ("scim/account/{accountId}/Users/{id}", {"PATCH"}),
    "scim_user_delete": ("scim/account/{accountId}/Users/{id}", {"DELETE"}),
    "scim_groups_list": ("scim/account/{accountId}/Groups", {"GET"}),
    "scim_groups_create": ("scim/account/{accountId}/Groups", {"POST"}),
    "scim_groups_search": ("scim/account/{accountId}/Groups/.search", {"POST"}),
    "scim_group_get": ("scim/account/{accountId}/Groups/{id}", {"GET"}),
    "scim_group_replace": ("scim/account/{accountId}/Groups/{id}", {"PUT"}),
    "scim_group_patch": ("scim/account/{accountId}/Groups/{id}", {"PATCH"}),
    "scim_group_delete": ("scim/account/{accountId}/Groups/{id}", {"DELETE"}),
    "scim_root_search": ("scim/account/{accountId}/.search", {"POST"}),
    "manage_users_list": ("manage/account/{accountId}/users", {"GET"}),
    "manage_users_create": ("manage/account/{accountId}/users", {"POST"}),
    "manage_user_get": ("manage/account/{accountId}/users/{id}", {"GET"}),
    "manage_user_scim": ("manage/account/{accountId}/users/{id}/scim", {"GET"}),
    "manage_user_history": ("manage/account/{accountId}/users/{id}/history", {"GET"}),
    "manage_user_edit": ("manage/account/{accountId}/users/{id}", {"PATCH"}),
    "manage_user_delete": ("manage/account/{accountId}/users/{id}", {"DELETE"}),
    "manage_groups_list": ("manage/account/{accountId}/groups", {"GET"}),
    "manage_groups_create": ("manage/account/{accountId}/groups", {"POST"}),
    "manage_group_get": ("manage/account/{accountId}/groups/{id}", {"GET"}),
    "manage_group_members": ("manage/account/{accountId}/groups/{id}/members", {"GET"}),
    "manage_group_rename": ("manage/account/{accountId}/groups/{id}", {"PATCH"}),
    "manage_group_delete": ("manage/account/{accountId}/groups/{id}", {"DELETE"}),
    "manage_group_member_add": ("manage/account/{accountId}/groups/{id}/members/{userId}", {"PUT"}),
    "manage_group_member_remove": ("manage/account/{accountId}/groups/{id}/members/{userId}", {"DELETE"}),
    "manage_sso_check": ("manage/account/{accountId}/sso/check", {"POST"}),
    "manage_activity": ("manage/account/{accountId}/activity", {"GET"}),
    "manage_overview": ("manage/account/{accountId}/overview", {"GET"}),
    "manage_settings_get": ("manage/account/{accountId}/settings", {"GET"}),
    "manage_settings_change": ("manage/account/{accountId}/settings", {"PATCH"}),
    "manage_tokens_list": ("manage/account/{accountId}/tokens", {"GET"}),
    "manage_tokens_create": ("manage/account/{accountId}/tokens", {"POST"}),
    "manage_token_revoke": ("manage/account/{accountId}/tokens/{keyId}", {"DELETE"}),
    "manage_failures": ("manage/account/{accountId}/failures", {"GET"}),
    "manage_failures_redrive": ("manage/account/{accountId}/failures/redrive", {"POST"}),
    "manage_unknown_path": ("manage/account/{accountId}/{*path}", None),
    "manage_orgs_list": ("manage/account/{accountId}/orgs", {"GET"}),
    "manage_orgs_create": ("manage/account/{accountId}/orgs", {"POST"}),
    "manage_org_delete": ("manage/account/{accountId}/orgs/{org}", {"DELETE"}),
    "manage_projects_list": ("manage/account/{accountId}/orgs/{org}/projects", {"GET"}),
    "manage_projects_create": ("manage/account/{accountId}/orgs/{org}/projects", {"POST"}),
    "manage_project_delete": ("manage/account/{accountId}/orgs/{org}/projects/{project}", {"DELETE"}),
    "manage_group_placements_set": ("manage/account/{accountId}/groups/{id}/placements", {"PUT"}),
    "manage_scope_members_list": ("manage/account/{accountId}/scopes/{scope}/members", {"GET"}),
    "manage_scope_member_add": ("manage/account/{accountId}/scopes/{scope}/members/{userId}", {"PUT"}),
    "manage_scope_member_remove": ("manage/account/{accountId}/scopes/{scope}/members/{userId}", {"DELETE"}),
    "manage_role_assignments_list": ("manage/account/{accountId}/role-assignments", {"GET"}),
    "manage_role_assignments_create": ("manage/account/{accountId}/role-assignments", {"POST"}),
    "manage_role_assignment_delete": ("manage/account/{accountId}/role-assignments/{id}", {"DELETE"}),
    "manage_user_access": ("manage/account/{accountId}/users/{id}/access", {"GET"}),
    "manage_roles_list": ("manage/account/{accountId}/roles", {"GET"}),
    "manage_resource_groups_list": ("manage/account/{accountId}/resource-groups", {"GET"}),
    "health": ("health", {"GET"}),
    "oauth_token": ("oauth/account/{accountId}/token", {"POST"}),
    "scim_bulk": ("scim/account/{accountId}/Bulk", {"POST"}),
    "manage_oauth_clients_list": ("manage/account/{accountId}/oauth-clients", {"GET"}),
    "manage_oauth_clients_create": ("manage/account/{accountId}/oauth-clients", {"POST"}),
    "manage_oauth_client_revoke": ("manage/account/{accountId}/oauth-clients/{clientId}", {"DELETE"}),
    "manage_oauth_client_secret_add": ("manage/account/{accountId}/oauth-clients/{clientId}/secrets", {"POST"}),
    "manage_oauth_client_secret_revoke": ("manage/account/{accountId}/oauth-clients/{clientId}/secrets/{secretId}",
                                          {"DELETE"}),
    "console": ("console/{*path}", {"GET"}),
}
EXPECTED_OTHER_TRIGGERS = {"retry_operations": "queueTrigger", "notify_failed_operations": "queueTrigger",
                           "reconcile": "timerTrigger"}
TRIGGER_ANNOTATIONS = {"httpTrigger": func.HttpRequest, "timerTrigger": func.TimerRequest,
                       "queueTrigger": func.QueueMessage}


@pytest.fixture(scope="module")
def indexed() -> list[dict[str, Any]]:
    """`get_functions()` is not idempotent (a second call raises), so the app is indexed once per module."""
    import function_app

    registers = [v for v in vars(function_app).values() if isinstance(v, func.FunctionRegister)]
    assert len(registers) == 1, "exactly one FunctionApp, as the worker requires"
    return [{"name": f.get_function_name(), "bindings": [json.loads(b) for b in f.get_raw_bindings()],
             "function": f.get_user_function()} for f in registers[0].get_functions()]


def _trigger(entry: dict[str, Any]) -> dict[str, Any]:
    [trigger] = [b for b in entry["bindings"] if b["type"].endswith("Trigger")]
    return dict(trigger)


def test_function_names_are_unique_and_each_has_one_trigger(indexed: list[dict[str, Any]]) -> None:
    names = [e["name"] for e in indexed]
    assert len(names) == len(set(names))
    for entry in indexed:
        assert len([b for b in entry["bindings"] if b["type"].endswith("Trigger")]) == 1, entry["name"]


def test_parameters_match_bindings_as_the_worker_checks(indexed: list[dict[str, Any]]) -> None:
    for entry in indexed:
        signature = inspect.signature(entry["function"])
        declared = set(signature.parameters) - {"context"}
        bound = {b["name"] for b in entry["bindings"] if b["name"] != "$return"}
        assert declared == bound, entry["name"]
        trigger = _trigger(entry)
        annotation = signature.parameters[trigger["name"]].annotation
        assert annotation in (TRIGGER_ANNOTATIONS[trigger["type"]], TRIGGER_ANNOTATIONS[trigger["type"]].__name__,
                              f"func.{TRIGGER_ANNOTATIONS[trigger['type']].__name__}"), entry["name"]
        if "context" in signature.parameters:
            assert signature.parameters["context"].annotation in (func.Context, "func.Context")


def test_http_routes_are_accepted_by_the_host(indexed: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str]] = set()
    for entry in indexed:
        trigger = _trigger(entry)
        if trigger["type"] != "httpTrigger":
            continue
        route = trigger.get("route") or entry["name"]
        assert not route.strip("/").lower().startswith("admin"), f"{route} conflicts with the host's built-in routes"
        assert trigger["authLevel"] == "ANONYMOUS", "SCIM authenticates bearer tokens in the app"
        for method in trigger.get("methods") or ["*"]:
            key = (route.lower(), method.upper())
            assert key not in seen, f"duplicate route and method {key}"
            seen.add(key)


def test_timer_schedules_are_valid_ncrontab(indexed: list[dict[str, Any]]) -> None:
    settings = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for entry in indexed:
        trigger = _trigger(entry)
        if trigger["type"] == "timerTrigger":
            schedule = re.sub(r"%([^%]+)%", lambda m: settings[m.group(1)], trigger["schedule"])
            assert len(schedule.split()) == 6, "six fields, seconds first"
            assert croniter.is_valid(schedule, second_at_beginning=True), schedule


def test_connections_and_setting_references_exist_in_the_sample_settings(indexed: list[dict[str, Any]]) -> None:
    settings = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for entry in indexed:
        for binding in entry["bindings"]:
            if "connection" in binding:
                assert (binding["connection"] or "AzureWebJobsStorage") in settings
            for value in binding.values():
                for reference in re.findall(r"%([^%]+)%", str(value)):
                    assert reference in settings, f"%{reference}% of {entry['name']} is not in the sample settings"


def test_the_expected_functions_and_routes_are_registered(indexed: list[dict[str, Any]]) -> None:
    http = {}
    other = {}
    for entry in indexed:
        trigger = _trigger(entry)
        if trigger["type"] == "httpTrigger":
            methods = trigger.get("methods")
            http[entry["name"]] = (trigger["route"], set(methods) if methods else None)
        else:
            other[entry["name"]] = trigger["type"]
    assert http == EXPECTED_HTTP_ROUTES
    assert other == EXPECTED_OTHER_TRIGGERS
