"""The smallest models django-scim2's default adapters work with: a user with the SCIM columns, and a group whose
members are reachable as `group.user_set` (what the default group adapter reads)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class Group(AbstractSCIMGroupMixin):
    name = models.CharField(max_length=254)


class User(AbstractSCIMUserMixin, AbstractUser):
    display_name = models.CharField(max_length=254, blank=True, default="")
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)
