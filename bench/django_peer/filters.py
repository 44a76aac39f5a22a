"""Filter (and, through django-scim2's adapters, PATCH path) maps for the attributes Entra sends that the defaults
leave out: a group's displayName, a user's displayName."""

from __future__ import annotations

from django_scim.filters import GroupFilterQuery as DefaultGroupFilterQuery
from django_scim.filters import UserFilterQuery as DefaultUserFilterQuery


class UserFilterQuery(DefaultUserFilterQuery):
    attr_map = {**DefaultUserFilterQuery.attr_map, ("displayName", None, None): "display_name"}


class GroupFilterQuery(DefaultGroupFilterQuery):
    attr_map = {("displayName", None, None): "scim_display_name"}
