"""Tokens: random, 256-bit, stored only as a hash, located by key id, compared in constant time."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.tokens import hash_token, key_id_of, matches, mint

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_minted_token_is_random_and_only_its_hash_is_recorded() -> None:
    first, second = mint("acme", "scim", NOW), mint("acme", "scim", NOW)
    assert first.token != second.token and first.record.key_id != second.record.key_id
    assert first.token not in repr(first.record)
    assert first.record.hash == hash_token(first.token)
    secret = first.token.split(".")[2]
    assert len(secret) >= 43  # 32 random bytes, base64url


def test_key_id_is_parsed_only_from_well_formed_tokens() -> None:
    minted = mint("acme", "scim", NOW)
    assert key_id_of(minted.token) == minted.record.key_id
    for bad in ["", "scim", "scim..x", "other.0123456789abcdef.x", "scim.XYZ.x", "scim.0123456789abcdef"]:
        assert key_id_of(bad) is None


def test_matches_only_the_exact_token() -> None:
    minted = mint("acme", "scim", NOW)
    assert matches(minted.record, minted.token)
    assert not matches(minted.record, minted.token + "x")


def test_usable_only_for_its_scope_until_expiry_or_revocation() -> None:
    record = mint("acme", "scim", NOW, expires_in_days=2).record
    assert record.is_usable("scim", NOW + timedelta(days=1))
    assert not record.is_usable("admin", NOW)
    assert not record.is_usable("scim", NOW + timedelta(days=2))


def test_bad_scope_or_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="scope"):
        mint("acme", "root", NOW)
    with pytest.raises(ValueError, match="at least 1"):
        mint("acme", "scim", NOW, expires_in_days=0)
