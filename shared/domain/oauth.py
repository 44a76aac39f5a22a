"""OAuth 2.0 client credentials for the SCIM routes (RFC 6749 §4.4), beside the Secret Token.

An admin makes a client per account: either with client secrets (several at once, each expiring in 1-3 years, so
one can be rotated while the other still works) or federated (workload identity federation: the identity provider
signs a JWT, RFC 7523 §2.2, checked against its published keys; nothing secret is stored anywhere). The token
endpoint trades a client's credential for an access token of the same account, valid 60-360 minutes (the client's
choice), which the SCIM routes accept exactly as a Secret Token of the client's identity provider.

Access tokens and secrets are stored as SHA-256 hashes (both carry 256 random bits: a fast hash is enough) and
compared in constant time. An access token names the client and the credential it was issued through, so revoking
either stops it (within the authentication cache's bound, at most 60 seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain.times import utc_iso_or_none
from shared.domain.tokens import IDPS, TokenRecord

ACCESS_TOKEN_PREFIX = "oat"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_MINUTES = (60, 360)
DEFAULT_TOKEN_MINUTES = 60
SECRET_YEARS = (1, 3)
DEFAULT_SECRET_YEARS = 2
MAX_ACTIVE_SECRETS = 5
MAX_REQUEST_BYTES = 16 * 1024
MAX_ASSERTION_CHARACTERS = 8 * 1024
CLOCK_SKEW = timedelta(minutes=5)
ACCESS_SCOPE = "scim"
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
"""What an assertion may be signed with (RFC 8725 §3.1): never `none`, never an HMAC (a public key is no secret)."""


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: `error` is the code, `status` the HTTP status (401 for invalid_client)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass(frozen=True)
class ClientSecret:
    secret_id: str
    hash: str
    created: datetime
    expires: datetime
    revoked: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.revoked is None and now < self.expires


@dataclass(frozen=True)
class Federation:
    issuer: str
    subject: str
    audience: str
    jwks_uri: str | None = None


@dataclass(frozen=True)
class OAuthClient:
    account_id: str
    client_id: str
    idp: str
    token_minutes: int
    created: datetime
    secrets: tuple[ClientSecret, ...] = ()
    federation: Federation | None = None
    revoked: datetime | None = None
    last_used: datetime | None = None

    @property
    def kind(self) -> str:
        return "federated" if self.federation else "secret"

    def credential_usable(self, credential: str, now: datetime) -> bool:
        """Whether an access token issued through `credential` (a secret id, or `federated`) still counts."""
        if self.revoked is not None:
            return False
        if credential == "federated":
            return self.federation is not None
        return any(s.secret_id == credential and s.usable(now) for s in self.secrets)


@dataclass(frozen=True)
class NewSecret:
    client: OAuthClient
    secret_id: str
    secret: str = field(repr=False)
    """Shown once, never stored."""


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _secret(years: int, now: datetime) -> tuple[ClientSecret, str]:
    if not SECRET_YEARS[0] <= years <= SECRET_YEARS[1]:
        raise ValueError(f"a client secret expires in {SECRET_YEARS[0]} to {SECRET_YEARS[1]} years; got {years}")
    text = secrets.token_urlsafe(32)
    secret_id = secrets.token_hex(4)
    return ClientSecret(secret_id, _hash(text), now, now + timedelta(days=365 * years)), text


def _checked(idp: str, token_minutes: int) -> None:
    if idp not in IDPS:
        raise ValueError(f"unknown identity provider {idp!r}; use one of {', '.join(IDPS)}")
    if not TOKEN_MINUTES[0] <= token_minutes <= TOKEN_MINUTES[1]:
        raise ValueError(f"access tokens live {TOKEN_MINUTES[0]} to {TOKEN_MINUTES[1]} minutes; got {token_minutes}")


def new_secret_client(account_id: str, idp: str, token_minutes: int, now: datetime,
                      years: int = DEFAULT_SECRET_YEARS) -> NewSecret:
    _checked(idp, token_minutes)
    secret, text = _secret(years, now)
    client = OAuthClient(account_id, "c-" + secrets.token_hex(8), idp, token_minutes, now, (secret,))
    return NewSecret(client, secret.secret_id, text)


def new_federated_client(account_id: str, idp: str, token_minutes: int, now: datetime, federation: Federation) -> OAuthClient:
    _checked(idp, token_minutes)
    for name, value in (("issuer", federation.issuer), ("subject", federation.subject), ("audience", federation.audience)):
        if not value or not value.strip():
            raise ValueError(f"a federated client needs its {name}")
    for url in (federation.issuer, federation.jwks_uri):
        if url is not None:
            check_key_url(url)
    return OAuthClient(account_id, "c-" + secrets.token_hex(8), idp, token_minutes, now, federation=federation)


def check_key_url(url: str) -> None:
    """Keys are fetched over https only (plain http to the loopback interface is allowed, for local issuers)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"):
        return
    raise ValueError(f"{url!r} is not an https URL")


def add_secret(client: OAuthClient, now: datetime, years: int = DEFAULT_SECRET_YEARS) -> NewSecret:
    if client.federation is not None:
        raise ValueError("a federated client has no secrets: its identity provider signs assertions instead")
    if sum(1 for s in client.secrets if s.usable(now)) >= MAX_ACTIVE_SECRETS:
        raise ValueError(f"a client has at most {MAX_ACTIVE_SECRETS} active secrets: revoke one first")
    secret, text = _secret(years, now)
    return NewSecret(replace(client, secrets=(*client.secrets, secret)), secret.secret_id, text)


def revoke_secret(client: OAuthClient, secret_id: str, now: datetime) -> OAuthClient:
    if not any(s.secret_id == secret_id for s in client.secrets):
        raise KeyError(secret_id)
    return replace(client, secrets=tuple(replace(s, revoked=s.revoked or now) if s.secret_id == secret_id else s
                                         for s in client.secrets))


class TokenRequest(BaseModel):
    """The token endpoint's form fields (RFC 6749 §4.4.2, RFC 7523 §2.2). Unknown fields are ignored, as RFC 6749
    §3.2 asks; every value is bounded before anything is looked up."""

    model_config = ConfigDict(extra="ignore", str_max_length=MAX_ASSERTION_CHARACTERS)

    grant_type: str | None = None
    client_id: str | None = Field(default=None, max_length=64)
    client_secret: str | None = Field(default=None, max_length=256)
    client_assertion_type: str | None = Field(default=None, max_length=128)
    client_assertion: str | None = None
    scope: str | None = Field(default=None, max_length=512)


def parse_token_request(fields: Mapping[str, list[str]]) -> TokenRequest:
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:
        raise OAuthError("invalid_request", f"parameters sent more than once: {', '.join(repeated)}")
    try:
        request = TokenRequest.model_validate({name: values[0] for name, values in fields.items()})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise OAuthError("invalid_request", f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    if request.grant_type is None:
        raise OAuthError("invalid_request", "grant_type is required")
    if request.grant_type != "client_credentials":
        raise OAuthError("unsupported_grant_type", "only grant_type=client_credentials is supported")
    return request


class AssertionVerifier(Protocol):
    def verify(self, assertion: str, federation: Federation, now: datetime) -> dict[str, Any]:
        """The assertion's claims once its signature, issuer, subject, audience and times are proven; raises
        OAuthError otherwise."""


class ClientDirectory(Protocol):
    def get_client(self, account_id: str, client_id: str) -> OAuthClient | None: ...

    def clients(self, account_id: str) -> list[OAuthClient]: ...


@dataclass(frozen=True)
class Authenticated:
    client: OAuthClient
    credential: str
    """The secret id, or `federated`."""


def authenticate_client(directory: ClientDirectory, verifier: AssertionVerifier, account_id: str,
                        request: TokenRequest, basic: tuple[str, str] | None, now: datetime) -> Authenticated:
    """client_secret_basic, client_secret_post or a federated assertion: exactly one of them (RFC 6749 §2.3)."""
    methods = [basic is not None, request.client_secret is not None, request.client_assertion is not None]
    if sum(methods) > 1:
        raise OAuthError("invalid_request", "use one client authentication method per request")
    if sum(methods) == 0:
        raise invalid_client("client authentication is required")
    if request.client_assertion is not None:
        if request.client_assertion_type != CLIENT_ASSERTION_TYPE:
            raise OAuthError("invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}")
        return _federated(directory, verifier, account_id, request, now)
    client_id, secret = basic if basic is not None else (request.client_id or "", request.client_secret or "")
    if basic is not None and request.client_id not in (None, client_id):
        raise OAuthError("invalid_request", "client_id differs from the one in the Authorization header")
    client = directory.get_client(account_id, client_id) if _plausible_client_id(client_id) else None
    presented = _hash(secret)
    matched = [s for s in (client.secrets if client else ()) if hmac.compare_digest(s.hash, presented)]
    if client is None or client.revoked is not None or not matched or not matched[0].usable(now):
        raise invalid_client("unknown client, wrong secret, or a revoked or expired one")
    return Authenticated(client, matched[0].secret_id)


def _federated(directory: ClientDirectory, verifier: AssertionVerifier, account_id: str, request: TokenRequest,
               now: datetime) -> Authenticated:
    if request.client_id is not None:
        client = directory.get_client(account_id, request.client_id) if _plausible_client_id(request.client_id) else None
        candidates = [client] if client is not None else []
    else:
        candidates = [c for c in directory.clients(account_id) if c.federation is not None]
    candidates = [c for c in candidates if c.federation is not None and c.revoked is None]
    if not candidates:
        raise invalid_client("no federated client of this account matches")
    failure: OAuthError | None = None
    for client in candidates[:5]:
        assert client.federation is not None
        try:
            verifier.verify(request.client_assertion or "", client.federation, now)
        except OAuthError as refused:
            failure = refused
            continue
        return Authenticated(client, "federated")
    raise failure or invalid_client("the assertion matches no federated client")


def _plausible_client_id(client_id: str) -> bool:
    return len(client_id) == 18 and client_id.startswith("c-") and all(c in "0123456789abcdef" for c in client_id[2:])


SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
"""RFC 6749 §3.3: a scope is space-separated tokens of these characters."""


def check_scope(requested: str | None, client: OAuthClient) -> None:
    """Any well-formed scope is accepted and the token's scope is `scim`, whatever was asked (RFC 6749 §3.3 lets the
    server grant a different scope and say so in the answer): identity providers send their own scope values
    (Entra: the audience with `/.default`). A malformed one is invalid_scope."""
    if requested is None or not requested.strip():
        return
    if any(not SCOPE_TOKEN.fullmatch(token) for token in requested.split(" ") if token):
        raise OAuthError("invalid_scope", "scope must be space-separated tokens of printable ASCII without \" or \\")


@dataclass(frozen=True)
class IssuedToken:
    record: TokenRecord
    token: str = field(repr=False)
    expires_in: int


def issue_access_token(authenticated: Authenticated, now: datetime) -> IssuedToken:
    client = authenticated.client
    key_id = secrets.token_hex(8)
    token = f"{ACCESS_TOKEN_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"
    lifetime = timedelta(minutes=client.token_minutes)
    record = TokenRecord(client.account_id, key_id, _hash(token), ACCESS_SCOPE, now, now + lifetime, idp=client.idp,
                         client_id=client.client_id, credential=authenticated.credential)
    return IssuedToken(record, token, int(lifetime.total_seconds()))


def token_response(issued: IssuedToken) -> dict[str, Any]:
    return {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in,
            "scope": ACCESS_SCOPE}


def error_response(error: OAuthError) -> dict[str, str]:
    return {"error": error.error, "error_description": error.description}



class FederationBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    issuer: str = Field(max_length=512)
    subject: str = Field(max_length=256)
    audience: str = Field(max_length=512)
    jwks_uri: str | None = Field(default=None, max_length=512, alias="jwksUri")


class ClientBody(BaseModel):
    """`POST oauth-clients`: `{"idp", "tokenMinutes", "secretYears", "federation": {issuer, subject, audience,
    jwksUri}}`, all optional (an Entra client with a secret, 60-minute tokens, a 2-year secret)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    idp: str = "entra"
    token_minutes: int = Field(default=DEFAULT_TOKEN_MINUTES, alias="tokenMinutes")
    secret_years: int = Field(default=DEFAULT_SECRET_YEARS, alias="secretYears")
    federation: FederationBody | None = None


class SecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    years: int = DEFAULT_SECRET_YEARS


def body_of(model: type[BaseModel], body: Any) -> Any:
    """The management API's body as `model`, or ValueError naming the first problem (mapped to a 400)."""
    try:
        return model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}") from None


def client_view(client: OAuthClient, now: datetime) -> dict[str, Any]:
    """A client as the console lists it: never a secret's hash."""
    view: dict[str, Any] = {"clientId": client.client_id, "kind": client.kind, "idp": client.idp,
                            "tokenMinutes": client.token_minutes, "created": utc_iso_or_none(client.created),
                            "revoked": utc_iso_or_none(client.revoked), "lastUsed": utc_iso_or_none(client.last_used),
                            "state": "revoked" if client.revoked else "active"}
    if client.federation is not None:
        view["federation"] = {"issuer": client.federation.issuer, "subject": client.federation.subject,
                              "audience": client.federation.audience, "jwksUri": client.federation.jwks_uri}
    else:
        view["secrets"] = [{"secretId": s.secret_id, "created": utc_iso_or_none(s.created), "expires": utc_iso_or_none(s.expires),
                            "revoked": utc_iso_or_none(s.revoked),
                            "state": "revoked" if s.revoked else ("expired" if now >= s.expires else "active")}
                           for s in client.secrets]
    return view
