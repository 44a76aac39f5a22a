"""A static bearer token, compared in constant time; django-scim2's own middleware answers 401 to anyone else."""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AnonymousUser


class _Client:
    is_authenticated = True


class BearerToken:
    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self.expected = f"Bearer {os.environ['PEER_TOKEN']}".encode()

    def __call__(self, request: Any) -> Any:
        presented = request.META.get("HTTP_AUTHORIZATION", "").encode()
        request.user = _Client() if hmac.compare_digest(presented, self.expected) else AnonymousUser()
        return self.get_response(request)
