"""Bearer-token authentication for one account's routes.

Every failure (no header, malformed, unknown, revoked, expired, wrong scope, another account's token,
unknown account) is the same 401, so a caller learns nothing about what exists.

Token and account rows are cached per instance for `AUTH_CACHE_SECONDS`: a revocation or an account
change takes effect on every instance within that bound. The hash comparison runs on every request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from shared.domain import times
from shared.domain.accounts import Account, is_valid_account_id
from shared.domain.oauth import OAuthClient
from shared.domain.tokens import TokenRecord, key_id_of, matches
from shared.errors import Unauthorized


class AccountLookup(Protocol):
    def get(self, account_id: str) -> Account | None: ...
    def get_token(self, account_id: str, key_id: str) -> TokenRecord | None: ...
    def get_client(self, account_id: str, client_id: str) -> OAuthClient | None: ...


MISS_SECONDS = 60.0
MAX_CACHED = 10_000
"""Per instance: a key id that names no token of the account, and an account id, are looked up at most once a minute
(then answered from memory), so a flood of made-up or wrong tokens costs at most one storage read per key id and
minute. A new token has a new random key id, never remembered as missing, so it works at once. Bounded: the oldest
entries go first."""
CLIENT_CACHE_SECONDS = 60
"""An OAuth client's row is re-read at least this often: revoking it, or the secret an access token was issued
through, stops that token within this bound (and within AUTH_CACHE_SECONDS when that is shorter)."""


class Authenticator:
    def __init__(self, store: AccountLookup, cache_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = cache_seconds
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, TokenRecord, Account]] = {}
        self._clients: dict[tuple[str, str], tuple[float, OAuthClient | None]] = {}
        self._misses: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._accounts: OrderedDict[str, tuple[float, Account | None]] = OrderedDict()
        self._reading: dict[tuple[str, str], threading.Event] = {}
        """Keys being read from storage now: others asking for the same key wait for that read."""
        self._lock = threading.Lock()

    def authenticate_token(self, account_id: str, authorization: str | None, scope: str) -> tuple[Account, TokenRecord]:
        """The account and the token record (its integration) of a valid `scope` token; raises Unauthorized."""
        token = _bearer(authorization)
        key_id = key_id_of(token) if token else None
        if token is None or key_id is None or not is_valid_account_id(account_id):
            raise Unauthorized()
        found = self._lookup(account_id, key_id)
        if found is None:
            raise Unauthorized()
        record, account = found
        now = times.now()
        if not matches(record, token) or not record.is_usable(scope, now):
            raise Unauthorized()
        if record.client_id:
            client = self._client(account_id, record.client_id)
            if client is None or not client.credential_usable(record.credential, now):
                raise Unauthorized()
        return account, record

    def _client(self, account_id: str, client_id: str) -> OAuthClient | None:
        now = self._clock()
        with self._lock:
            hit = self._clients.get((account_id, client_id))
        if hit is not None and now - hit[0] < min(self._ttl, CLIENT_CACHE_SECONDS):
            return hit[1]
        client = self._store.get_client(account_id, client_id)
        with self._lock:
            if len(self._clients) > 10_000:
                self._clients.clear()
            self._clients[(account_id, client_id)] = (now, client)
        return client

    def refused_account(self, account_id: str) -> Account | None:
        """The account a refused request named, so the refusal can be recorded there; None when the id names no
        account (nothing is recorded for those: an unknown id must not make us write). Read at most once a minute
        per account id."""
        if not is_valid_account_id(account_id):
            return None
        now = self._clock()
        with self._lock:
            hit = self._accounts.get(account_id)
        if hit is not None and now - hit[0] < MISS_SECONDS:
            return hit[1]
        account = self._store.get(account_id)
        with self._lock:
            _remember(self._accounts, account_id, (now, account))
        return account

    def _lookup(self, account_id: str, key_id: str) -> tuple[TokenRecord, Account] | None:
        """From the caches, else from storage. Requests arriving together with the same new key id wait for the
        first one's read instead of each reading (a flood's requests come in bursts); if that read failed, each
        reads for itself, as before (an outage answers every one of them at once)."""
        key = (account_id, key_id)
        with self._lock:
            known, cached = self._cached(key)
            reading = None if known else self._reading.get(key)
            if not known and reading is None:
                self._reading[key] = threading.Event()
        if known:
            return cached
        if reading is not None:
            reading.wait(timeout=10)
            with self._lock:
                known, cached = self._cached(key)
            return cached if known else self._read(account_id, key_id, self._clock())
        try:
            return self._read(account_id, key_id, self._clock())
        finally:
            with self._lock:
                self._reading.pop(key).set()

    def _cached(self, key: tuple[str, str]) -> tuple[bool, tuple[TokenRecord, Account] | None]:
        """(known, answer): a cached token and its account, or None for a key id known to be missing."""
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return True, (hit[1], hit[2])
        missed = self._misses.get(key)
        if missed is not None and now - missed < MISS_SECONDS:
            return True, None
        return False, None

    def _read(self, account_id: str, key_id: str, now: float) -> tuple[TokenRecord, Account] | None:
        record = self._store.get_token(account_id, key_id)
        account = self._store.get(account_id) if record is not None else None
        if record is None:  # a key id no token of the account has: remembered (an account still missing is not)
            with self._lock:
                _remember(self._misses, (account_id, key_id), now)
            return None
        if account is None:
            return None
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: unknown-token floods cannot grow it (misses are not cached)
                self._cache.clear()
            self._cache[(account_id, key_id)] = (now, record, account)
        return record, account


def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > MAX_CACHED:
        cache.popitem(last=False)


def presented_key_id(authorization: str | None) -> str:
    """The key id of the bearer token presented, if it parses (never the secret), for the audit record."""
    token = _bearer(authorization)
    return (key_id_of(token) or "") if token else ""


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value
