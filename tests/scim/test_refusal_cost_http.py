"""A refused token costs (almost) no storage (#39, part 3): over the local host, a flood of made-up and wrong tokens
reads storage at most once per key id and minute, counted from the host's own per-invocation records."""

from __future__ import annotations

import re
import secrets

import requests

from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import new_account, new_token


def refused_round_trips(log: str, account_id: str) -> list[int]:
    return [int(m.group(1)) for line in log.splitlines()
            if f"scim.account_id={account_id} " in line and "scim.status=401" in line
            and (m := re.search(r"scim\.storage_round_trips=(\d+)", line))]


def test_a_flood_of_wrong_tokens_reads_storage_once_per_key_id_and_minute(scim_host: DevHost,
                                                                          accounts: AccountStore) -> None:
    account = new_account(accounts)
    token = new_token(accounts, account.id)
    key_id = token.split(".")[1]
    url = f"{scim_host.base_url}/api/scim/account/{account.id}/Users"
    made_up = [f"scim.{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}" for _ in range(20)]
    floods = ([made_up[0]] * 100                                       # one unknown key id, again and again
              + made_up[1:] * 5                                         # 19 more unknown key ids, 5 times each
              + [f"scim.{key_id}.{secrets.token_urlsafe(32)}"] * 100)   # the real key id with wrong secrets
    offset = len(scim_host.log())
    with requests.Session() as session:
        for presented in floods:
            assert session.get(url, headers={"Authorization": f"Bearer {presented}"}, timeout=30).status_code == 401
        assert session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
        fresh = new_token(accounts, account.id)  # a new token works at once: its key id was never refused
        assert session.get(url, headers={"Authorization": f"Bearer {fresh}"}, timeout=30).status_code == 200
    import time
    time.sleep(0.5)  # the host writes its invocation records just after answering
    trips = refused_round_trips(scim_host.log()[offset:], account.id)
    assert len(trips) == len(floods)
    # at most: one token read per distinct key id (21), the account's read once for recording refusals, and the
    # real token's row once (with its account): far below one read per refusal (295 requests)
    assert sum(trips) <= 21 + 1 + 2, (sum(trips), len(floods))
