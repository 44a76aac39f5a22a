"""The activity log's aggregation, as pure functions: a flood of refused authentications becomes one record per key
id and minute, and the overview's figures are the sums of what was recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.activity import ActivityRecord, HourCounts, hour_of
from shared.domain.administration import last_seen_by_token, overview_view
from shared.domain.tokens import mint
from shared.storage.activity_table import RefusalGate

NOW = datetime(2026, 12, 6, 10, 30, 15, tzinfo=UTC)


def record(operation: str, status: int, at: datetime, actor: str = "k1", idp: str = "entra") -> ActivityRecord:
    return ActivityRecord(time=at, operation=operation, method="GET", resource_type="User", resource_id="u",
                          external_id="", status=status, scim_type="", detail="", duration_ms=1.0,
                          invocation_id=f"inv-{at.timestamp()}", integration="current", queued=False, idp=idp,
                          actor=actor)


def test_a_refusal_flood_is_the_first_refusal_then_one_record_per_key_and_minute() -> None:
    gate = RefusalGate()
    minute = NOW.replace(second=0, microsecond=0)
    admitted = [gate.admit("acct", record("Users.List", 401, minute + timedelta(milliseconds=10 * n), actor="bad"))
                for n in range(3000)]
    assert admitted.count(True) == 1 and admitted[0] is True  # the first at once, then counted
    assert gate.admit("acct", record("Users.List", 401, minute, actor="other")) is True  # per key id
    assert gate.admit("other-acct", record("Users.List", 401, minute, actor="bad")) is True  # per account
    assert gate.closed(minute + timedelta(seconds=59)) == []  # the minute is not over
    [(account, aggregated)] = gate.closed(minute + timedelta(minutes=1))
    assert account == "acct" and aggregated.count == 2999 and aggregated.actor == "bad"
    assert "2999 more refused" in aggregated.detail
    assert gate.closed(minute + timedelta(minutes=5)) == []  # handed back once
    assert gate.admit("acct", record("Users.List", 401, minute + timedelta(minutes=1), actor="bad")) is True


def test_the_overview_sums_the_hourly_counts_of_every_instance() -> None:
    scim = mint("acct", "scim", NOW - timedelta(days=1)).record
    okta = mint("acct", "scim", NOW - timedelta(days=1), idp="okta").record
    one, two = HourCounts(hour_of(NOW)), HourCounts(hour_of(NOW))  # the same hour, counted by two instances
    earlier = HourCounts(hour_of(NOW - timedelta(hours=3)))
    for n in range(5):
        one.add(record("Users.Create", 201, NOW - timedelta(minutes=n), actor=scim.key_id))
    two.add(record("Users.Create", 409, NOW - timedelta(minutes=1), actor=okta.key_id, idp="okta"))
    two.add(record("Manage.Users.List", 200, NOW, actor="admin-key"))  # the admin audit is not provisioning
    earlier.add(record("Groups.Patch", 204, NOW - timedelta(hours=3), actor=scim.key_id))
    earlier.add(record("Groups.Patch", 500, NOW - timedelta(hours=3), actor=scim.key_id))
    merged = HourCounts(hour_of(NOW))
    merged.merge(one)
    merged.merge(two)
    view = overview_view("24h", NOW, [earlier, merged], [scim, okta], 1, 2, 0, [], 3)
    assert view["requests"] == {"total": 8, "succeeded": 6, "failed": 2, "failureShare": 0.25}
    assert {o["operation"]: (o["succeeded"], o["failed"]) for o in view["operations"]} == {
        "Users.Create": (5, 1), "Groups.Patch": (1, 1)}
    assert len(view["series"]) == 25 and sum(b["succeeded"] for b in view["series"]) == 6
    assert [b["byKind"] for b in view["series"] if b["failed"]] == [
        {"Groups": {"succeeded": 1, "failed": 1}}, {"Users": {"succeeded": 5, "failed": 1}}]
    assert [(i["idp"], i["keyId"], i["quiet"]) for i in view["identityProviders"]] == [
        ("entra", scim.key_id, False), ("okta", okta.key_id, False)]
    assert view["work"] == {"pending": 1, "givenUpUnreported": 2, "givenUpReported": 0, "pendingPlacements": 3,
                            "digestsSent": 0, "lastDigest": None}
    week = overview_view("7d", NOW, [earlier, merged], [scim, okta], 0, 0, 0, [], 0)
    assert week["bucket"] == "day" and len(week["series"]) == 8 and week["series"][-1]["succeeded"] == 6
    assert last_seen_by_token([earlier, merged])["admin-key"] == NOW
    flood = HourCounts(hour_of(NOW))
    for n in range(500):  # refused requests with made-up key ids: counted, but the overview lists the newest 20
        flood.add(record("Users.List", 401, NOW - timedelta(seconds=n), actor=f"made-up-{n:03d}"))
    flooded = overview_view("24h", NOW, [merged, flood], [scim, okta], 0, 0, 0, [], 0)
    unknown = [t["keyId"] for t in flooded["tokens"] if t["state"] == "unknown key id"]
    assert flooded["unknownKeyIds"] == 200 + 1 and len(unknown) == 20  # the hour kept 200 of the 500, + admin-key
    assert unknown[:2] == ["admin-key", "made-up-000"]
    assert {t["keyId"] for t in flooded["tokens"]} >= {scim.key_id, okta.key_id}
