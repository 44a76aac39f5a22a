"""The one error family of the service. Each error carries its HTTP status and SCIM `scimType`
(RFC 7644 §3.12); `scim_handlers.http_io._run` is the only place that turns them into responses (as a SCIM
error body, or the management API's JSON error: `Edge.error_body`).

Library errors (storage, JSON) are converted where they occur, so anything that is not a `ScimError`
reaching the edge is a bug and becomes a generic 500.
"""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """A missing or invalid app setting. The message names the setting."""


class ScimError(Exception):
    status: int = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    @property
    def code(self) -> str:
        """A stable code for the management API's JSON errors: the scimType, else the class name."""
        if self.scim_type:
            return self.scim_type
        name = type(self).__name__
        return name[0].lower() + name[1:] if name != "ScimError" else "internalError"


class InvalidSyntax(ScimError):
    """RFC 7644 §3.12: the request body is unparsable, syntactically incorrect, or violates the schema."""

    scim_type = "invalidSyntax"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class TooMany(ScimError):
    scim_type = "tooMany"


class InvalidCursor(ScimError):
    """RFC 9865 §2.3: not a cursor this service issued for this account and query."""

    scim_type = "invalidCursor"


class ExpiredCursor(ScimError):
    scim_type = "expiredCursor"


class InvalidCount(ScimError):
    """RFC 9865 §2.3: a cursor request's count outside 0..maxPageSize, or changed between pages."""

    scim_type = "invalidCount"


class Unauthorized(ScimError):
    status = 401

    DETAIL = "Authorization failure: a valid bearer token for this account is required."

    def __init__(self, detail: str = DETAIL) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="scim"'})


class NotFound(ScimError):
    status = 404


class MethodNotAllowed(ScimError):
    status = 405


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class ManagedByEntra(ScimError):
    """The Harness limitations: what Entra provisions is changed in Entra, not in the application."""

    status = 409


class LastAccountAdmin(ScimError):
    """The change would leave the account with nobody holding `_account_admin` (as in Harness)."""

    status = 409


class PreconditionFailed(ScimError):
    """If-Match did not match the current version (RFC 7644 §3.14)."""

    status = 412


class PayloadTooLarge(ScimError):
    status = 413


class UnsupportedMediaType(ScimError):
    status = 415


class InternalError(ScimError):
    """An unexpected failure (a bug): the client sees a generic detail with the invocation id, never a trace."""

    status = 500


class ServiceUnavailable(ScimError):
    """Storage could not take the first step of a write: nothing was applied; the client retries."""

    status = 503

    def __init__(self, detail: str, retry_after_seconds: int = 30) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})
