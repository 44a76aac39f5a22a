"""Federated client assertions (RFC 7523 §2.2): the identity provider's JWT, checked against its published keys.

Keys come from the client's JWKS URL, or from the `jwks_uri` of the issuer's OpenID configuration, over https (plain
http only to the loopback interface). They are cached per JWKS URL by `kid`; an assertion naming an unknown `kid`
refreshes that cache at most once a minute, so a flood of made-up `kid`s costs at most one fetch a minute per issuer.
A fetch is bounded (3 s to connect, 5 s to answer, 256 KiB) and anything wrong with it (down, slow, not JSON, not a
JWKS) refuses the assertion with a clean `invalid_client`, never a 5xx. Verification is PyJWT's: the algorithm must be
an asymmetric one the key allows (its `alg` when the JWKS names one, else the key type's family), so `none`, HS* (a
public key used as an HMAC secret) and an `alg` the key does not match are refused before any signature check.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
import requests

from shared.domain.oauth import ASYMMETRIC_ALGORITHMS, CLOCK_SKEW, MAX_ASSERTION_CHARACTERS, Federation, OAuthError, check_key_url

log = logging.getLogger("scim.oauth")

REFRESH_SECONDS = 60.0
MAX_KEY_SET_AGE = 3600.0
MAX_JWKS_BYTES = 256 * 1024
TIMEOUT = (3.0, 5.0)
FAMILIES = {"RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), "EC": ("ES256", "ES384", "ES512")}


def _refused(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401)


@dataclass
class _Keys:
    by_kid: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None


class JwksVerifier:
    """The AssertionVerifier of shared/domain/oauth.py, over HTTP."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, session: requests.Session | None = None) -> None:
        self._clock = clock
        self._session = session or requests.Session()
        self._keys: dict[str, _Keys] = {}
        self._jwks_uris: dict[str, str] = {}
        self._lock = threading.Lock()
        self.fetches = 0
        """How many times a JWKS or an OpenID configuration was fetched (tests assert the bound)."""

    def verify(self, assertion: str, federation: Federation, now: datetime) -> dict[str, Any]:
        if not assertion or len(assertion) > MAX_ASSERTION_CHARACTERS:
            raise OAuthError("invalid_request", f"client_assertion must be a JWT of at most {MAX_ASSERTION_CHARACTERS} "
                                                "characters")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise _refused("client_assertion is not a JWT") from None
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in ASYMMETRIC_ALGORITHMS:
            raise _refused(f"assertions signed with {algorithm!r} are refused: use an asymmetric algorithm "
                           f"({', '.join(ASYMMETRIC_ALGORITHMS)})")
        if not isinstance(kid, str) or not kid or len(kid) > 256:
            raise _refused("the assertion's header names no key (kid)")
        jwk = self._key(federation, kid)
        allowed = (jwk["alg"],) if isinstance(jwk.get("alg"), str) else FAMILIES.get(str(jwk.get("kty")), ())
        if algorithm not in allowed:
            raise _refused(f"key {kid!r} does not allow {algorithm}")
        try:
            return self._checked(assertion, jwt.PyJWK(jwk, algorithm=algorithm), algorithm, federation, now)
        except OAuthError:
            raise
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise _refused(f"the assertion was refused: {exc}") from None

    @staticmethod
    def _checked(assertion: str, key: jwt.PyJWK, algorithm: str, federation: Federation, now: datetime) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            assertion, key=key.key, algorithms=[algorithm], audience=federation.audience, issuer=federation.issuer,
            leeway=CLOCK_SKEW.total_seconds(), options={"require": ["exp", "iat", "iss", "sub", "aud"]})
        if claims.get("sub") != federation.subject:
            raise _refused("the assertion's subject is not the one configured for this client")
        issued = claims.get("iat")
        if not isinstance(issued, int | float) or issued > now.timestamp() + CLOCK_SKEW.total_seconds():
            raise _refused("the assertion was issued in the future")
        return claims

    def _key(self, federation: Federation, kid: str) -> dict[str, Any]:
        """The key named `kid`: from the cache, refreshed on an unknown kid (at most once a minute) and when the set
        is older than `MAX_KEY_SET_AGE` (a key the issuer withdrew stops working then; if that refresh fails, the
        cached set still serves)."""
        uri = self._jwks_uri(federation)
        with self._lock:
            keys = self._keys.setdefault(uri, _Keys())
            found = keys.by_kid.get(kid)
            age = None if keys.fetched_at is None else self._clock() - keys.fetched_at
            due = age is None or (age >= REFRESH_SECONDS and found is None) or age >= MAX_KEY_SET_AGE
            if due:
                keys.fetched_at = self._clock()
        if not due:
            if found is not None:
                return found
            raise _refused(f"no key {kid!r} in the issuer's key set (refreshed at most once a minute)")
        try:
            fetched = self._fetch(uri)
        except OAuthError:
            if found is not None:
                return found
            raise
        by_kid = {k["kid"]: k for k in fetched.get("keys", []) if isinstance(k, dict) and isinstance(k.get("kid"), str)}
        with self._lock:
            self._keys[uri] = _Keys(by_kid, self._clock())
        if kid not in by_kid:
            raise _refused(f"no key {kid!r} in the issuer's key set")
        return by_kid[kid]

    def _jwks_uri(self, federation: Federation) -> str:
        if federation.jwks_uri:
            return federation.jwks_uri
        with self._lock:
            known = self._jwks_uris.get(federation.issuer)
        if known:
            return known
        configuration = self._fetch(federation.issuer.rstrip("/") + "/.well-known/openid-configuration")
        uri = configuration.get("jwks_uri")
        if not isinstance(uri, str):
            raise _refused("the issuer's OpenID configuration names no jwks_uri")
        try:
            check_key_url(uri)
        except ValueError as exc:
            raise _refused(str(exc)) from None
        with self._lock:
            self._jwks_uris[federation.issuer] = uri
        return uri

    def _fetch(self, url: str) -> dict[str, Any]:
        self.fetches += 1
        try:
            with self._session.get(url, timeout=TIMEOUT, stream=True, allow_redirects=False) as response:
                if response.status_code != 200:
                    raise _refused(f"the issuer's keys could not be read ({url} answered {response.status_code})")
                body = response.raw.read(MAX_JWKS_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            log.warning("could not fetch %s: %s", url, type(exc).__name__)
            raise _refused(f"the issuer's keys could not be read ({url}: {type(exc).__name__})") from None
        if len(body) > MAX_JWKS_BYTES:
            raise _refused(f"the issuer's key set at {url} is larger than {MAX_JWKS_BYTES} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise _refused(f"the issuer's keys at {url} are not JSON") from None
        if not isinstance(document, dict):
            raise _refused(f"the issuer's keys at {url} are not a JSON object")
        return document
