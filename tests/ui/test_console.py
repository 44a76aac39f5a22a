"""The admin console in a real browser: headless Chromium (Debian's package, driven by Playwright for Python) against
the local host with real storage. Each step is what an admin does; screenshots of every page go to docs/console/
(docs/console.md shows them)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from shared.storage.accounts_table import AccountStore
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.scim import SCIM, new_account, new_token
from tests.support.work import stuck_member_add

pytestmark = pytest.mark.ui
playwright_api = pytest.importorskip("playwright.sync_api")
SHOTS = ROOT / "docs" / "console"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ZONE = "Asia/Kolkata"
ZONE_OFFSET = timedelta(hours=5, minutes=30)  # no daylight saving there


@pytest.fixture
def browser_page() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        # a zone far from UTC, so a time shown in UTC instead of the browser's zone is caught
        page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="en-US", timezone_id=ZONE)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # script errors and CSP violations (the browser also logs each refused request, 401/409, as an "error")
        page.on("console", lambda message: errors.append(message.text)
                if message.type == "error" and "Failed to load resource" not in message.text else None)
        page.errors = errors
        yield page
        browser.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def signed_out_view_only(page: Any) -> None:
    """Signed out (or refused): the sign-in form only, no navigation and no "Sign out", at a desktop's and at a
    phone's width (#38)."""
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        assert page.locator("#sign-in").is_visible(), width
        assert not page.locator("#nav").is_visible() and not page.locator("#sign-out").is_visible(), width
        assert not page.locator("nav button[data-page=users]").is_visible(), width
    page.set_viewport_size({"width": 1280, "height": 800})


def message(page: Any) -> str:
    return str(page.locator("#message").inner_text())


def test_an_admin_works_through_the_console(browser_page: Any, scim_host: DevHost, accounts: AccountStore,
                                            azurite: Azurite, scim_prefix: str) -> None:
    page = browser_page
    account = console_account(accounts, scim_host)
    admin_token, scim_token, tenant = account.admin_token, account.scim_token, account.tenant
    scim = {"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM}
    manage = f"{scim_host.base_url}/api/manage/account/{account.id}"
    admin = {"Authorization": f"Bearer {admin_token}"}
    provisioned = requests.post(f"{tenant}/Users", json={"userName": "entra.user@contoso.test"}, headers=scim,
                                timeout=30).json()["id"]
    requests.post(f"{tenant}/Users", json={"userName": "entra.user@contoso.test"}, headers=scim, timeout=30)  # 409
    requests.post(f"{manage}/groups", json={"name": "Native Team"}, headers=admin, timeout=30)
    group = requests.post(f"{tenant}/Groups", json={"displayName": "Stuck"}, headers=scim, timeout=30).json()["id"]
    stuck_work = stuck_member_add(azurite.connection_string, scim_prefix, account.id, group, provisioned)

    response = requests.get(f"{scim_host.base_url}/api/console/", timeout=30)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert requests.get(f"{scim_host.base_url}/api/console/../function_app.py", timeout=30).status_code == 404

    page.goto(f"{scim_host.base_url}/api/console/")
    page.fill("#account", account.id)
    signed_out_view_only(page)
    for refused in ("scim.0123456789abcdef.wrong", scim_token):  # a wrong token, then a SCIM-scoped one
        page.fill("#token", refused)
        page.click("#sign-in-button")
        page.wait_for_selector("#message:has-text('Refused')")
        assert "not an admin token" in message(page)
        signed_out_view_only(page)
    shot(page, "sign-in-refused")
    page.fill("#token", admin_token)
    page.click("#sign-in-button")
    page.wait_for_selector("h2:has-text('Overview')")  # the landing page
    page.click("nav button[data-page=users]")
    page.wait_for_selector("text=entra.user@contoso.test")
    assert page.locator("tr", has_text="entra.user@contoso.test").locator(".badge.locked").count() == 1
    assert admin_token not in page.url
    shot(page, "users")

    page.click("text=entra.user@contoso.test")
    page.wait_for_selector("h2:has-text('User entra.user@contoso.test')")
    page.click("button:has-text('Delete')")
    page.wait_for_selector("#message:has-text('Refused')")
    assert "Entra" in message(page)
    shot(page, "user-locked")

    page.click("nav button[data-page=groups]")
    page.fill("input[aria-label='new name for Native Team']", "Native Team, renamed")
    page.click("tr:has-text('Native Team') button:has-text('Rename')")
    page.wait_for_selector("td:has-text('Native Team, renamed')")
    member = requests.post(f"{manage}/users", json={"email": "native.member@contoso.test"}, headers=admin,
                           timeout=30).json()["id"]
    row = page.locator("tr", has_text="Native Team, renamed")
    row.locator("input[placeholder='user id']").fill(member)
    row.locator("button:has-text('Add member')").click()
    page.wait_for_selector("#message:has-text('Added to')")
    assert page.locator("tr", has_text="Native Team, renamed").locator("td").nth(2).inner_text() == "1"
    row = page.locator("tr", has_text="Native Team, renamed")
    row.locator("input[placeholder='user id']").fill(member)
    row.locator("button:has-text('Remove member')").click()
    page.wait_for_selector("#message:has-text('Removed from')")
    assert page.locator("tr", has_text="Native Team, renamed").locator("td").nth(2).inner_text() == "0"
    shot(page, "groups")

    page.click("nav button[data-page=scopes]")  # orgs and projects, a group placed there, a role, a person's access
    page.fill("#new-org", "eng")
    page.click("button:has-text('Create org')")
    page.wait_for_selector(f"td .clip:text-is('{account.id}:eng')")
    page.select_option("#project-org", "eng")
    page.fill("#new-project", "web")
    page.click("button:has-text('Create project')")
    page.wait_for_selector(f"td .clip:text-is('{account.id}:eng:web')")
    placed = requests.post(f"{tenant}/Groups", headers=scim, timeout=30, json={
        "displayName": "Web Team", "harnessScopes": f"{account.id}:eng:web,{account.id}:ops",
        "members": [{"value": provisioned}]}).json()["id"]
    page.select_option("#assign-scope", f"{account.id}:eng:web")
    page.select_option("#assign-role", "_project_admin")
    page.select_option("#assign-resource-group", "_all_project_level_resources")
    page.select_option("#assign-type", "group")
    page.fill("#assign-principal", placed)
    page.click("button:has-text('Assign')")
    page.wait_for_selector("#message:has-text('Role assigned')")
    assert page.locator("tr", has_text=f"group {placed}").locator("td").nth(1).inner_text() == "_project_admin"
    shot(page, "scopes")
    page.click("nav button[data-page=groups]")
    page.click("a:has-text('Web Team')")
    page.wait_for_selector("h2:has-text('Group Web Team')")
    assert "pending" in page.locator("tr", has_text=f"{account.id}:ops").inner_text()
    assert "active" in page.locator("tr", has_text=f"{account.id}:eng:web").first.inner_text()
    assert page.locator("#placement-scopes").count() == 0  # placed by the IdP: not editable here
    shot(page, "group")
    page.click("nav button[data-page=users]")
    page.click("text=entra.user@contoso.test")
    page.wait_for_selector("td:text-is('_project_admin')")
    assert page.locator("tr", has_text="_project_admin").locator("td").nth(3).inner_text() == "group Web Team"
    assert page.locator("tr", has_text=f"{account.id}:eng:web").first.locator("td").nth(1).inner_text() == "group Web Team"
    shot(page, "user-access")

    page.click("nav button[data-page=activity]")
    page.select_option("#activity-outcome", "failure")
    page.click("button:has-text('Filter')")
    page.wait_for_selector("tr.failure:has-text('Users.Create')")
    shot(page, "activity")

    page.click("nav button[data-page=failures]")
    page.wait_for_selector("text=Pending work (1)")
    page.click("#redrive")
    page.wait_for_selector("#message:has-text('Re-drove 1')")
    for _ in range(60):
        page.click("button:has-text('Refresh')")
        if page.locator("text=Pending work (0)").count():
            break
        page.wait_for_timeout(500)
    assert page.locator("text=Pending work (0)").count() == 1, stuck_work
    shot(page, "failures")

    page.click("nav button[data-page=settings]")
    page.select_option("#token-idp", "okta")
    page.click("button:has-text('Create token')")
    page.wait_for_selector("#new-token")
    created = page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"scim\.[0-9a-f]{16}\.\S+", created)
    key_id = created.split(".")[1]
    shot(page, "settings")
    page.click(f"tr:has-text('{key_id}') button:has-text('Revoke')")
    page.wait_for_selector(f"tr:has-text('{key_id}') td:has-text('revoked')")
    assert created not in page.content()  # the secret was shown once

    page.click("nav button[data-page=connection]")
    assert page.locator("#tenant-url").inner_text() == tenant.replace(scim_host.base_url, page.evaluate("location.origin"))
    page.fill("#scim-token", scim_token)
    page.click("button:has-text('Test connection')")
    page.wait_for_selector("#message:has-text('Connection OK')")
    shot(page, "connection")
    assert re.search(r"/api/oauth/account/[^/]+/token$", page.locator("#token-url").inner_text())
    page.select_option("#client-idp", "okta")
    page.click("button:has-text('Create client with a secret')")
    page.wait_for_selector("#new-secret")
    client_secret = page.locator("#new-secret").inner_text().strip()
    page.wait_for_selector("td:has-text('okta')")
    page.click("button:has-text('Add secret')")
    page.wait_for_selector("#message:has-text('put it in the identity provider')")
    assert client_secret not in page.content()  # each secret is shown once
    shot(page, "connection-oauth")

    page.click("#sign-out")
    page.wait_for_selector("#sign-in:not([hidden])")
    signed_out_view_only(page)
    assert page.evaluate("sessionStorage.length") == 0
    assert page.errors == [], page.errors


@dataclass(frozen=True)
class ConsoleAccount:
    id: str
    admin_token: str
    scim_token: str
    tenant: str


def console_account(accounts: AccountStore, scim_host: DevHost) -> ConsoleAccount:
    """A fresh account with an admin token (for the console) and a SCIM token (to provision it as an IdP would)."""
    account = new_account(accounts)
    return ConsoleAccount(account.id, new_token(accounts, account.id, scope="admin"), new_token(accounts, account.id),
                          f"{scim_host.base_url}/api/scim/account/{account.id}")


def sign_in(page: Any, scim_host: DevHost, account: ConsoleAccount) -> None:
    """Signs in with the admin token and waits for the landing page, the overview."""
    page.goto(f"{scim_host.base_url}/api/console/")
    page.fill("#account", account.id)
    page.fill("#token", account.admin_token)
    page.click("#sign-in-button")
    page.wait_for_selector("h2:has-text('Overview')")


def local_time_text(iso: str) -> str:
    """How the console must show a UTC time in the browser's zone (en-US, medium): e.g. 'Dec 6, 2026, 9:15:02 AM'."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")) + ZONE_OFFSET
    return f"{moment:%b} {moment.day}, {moment.year}, {moment.hour % 12 or 12}:{moment:%M:%S} {moment:%p}"


def search(page: Any, box: str, button: str, text: str) -> None:
    """Searches a list for `text` and waits for its one match (the pager says so once the list is redrawn)."""
    page.fill(box, text)
    page.click(f"button:has-text('{button}')")
    page.wait_for_selector("text=1–1 of 1")


def open_user(page: Any, email: str) -> None:
    """Follows a user's link and waits for their page."""
    page.click(f"a:has-text('{email}')")
    page.wait_for_selector(f"h2:has-text('User {email}')")


def facts_shown(page: Any) -> dict[str, str]:
    """The page's facts (a user's or group's `dl`) as a person reads them: name -> value."""
    return dict(zip(page.locator("dl.facts dt").all_inner_texts(), page.locator("dl.facts dd").all_inner_texts(),
                    strict=True))


def fits(page: Any) -> tuple[int, int]:
    """(document width, viewport width): a page wider than its viewport scrolls sideways."""
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return int(width), int(viewport)


def test_user_and_group_pages_show_the_resource_and_no_text_widens_a_page(
        browser_page: Any, scim_host: DevHost, accounts: AccountStore) -> None:
    page = browser_page
    account = console_account(accounts, scim_host)
    scim_token, tenant = account.scim_token, account.tenant
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM})

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = session.post(f"{tenant}{path}", json=body, timeout=30)
        assert response.status_code == 201, response.text
        return dict(response.json())

    sent = {"userName": "pat.doe@contoso.test", "externalId": "7d1c-pat-ext", "active": True,
            "name": {"givenName": "Pat", "familyName": "Doe", "formatted": "Pat Doe"},
            "emails": [{"value": "pat.work@contoso.test", "type": "work", "primary": True}]}
    pat = post("/Users", sent)
    wide_name = "W" * 8000  # one unbroken word
    wide = post("/Users", {"userName": "wide@contoso.test", "displayName": wide_name})
    staff = [post("/Users", {"userName": f"m{n:03d}@contoso.test", "displayName": f"Member {n:03d}"})["id"]
             for n in range(300)]
    group = post("/Groups", {"displayName": "All Staff", "externalId": "grp-all-staff"})
    for start in range(0, 300, 100):  # Entra's way: members added by PATCH, 100 at a time
        response = session.patch(f"{tenant}/Groups/{group['id']}", timeout=60, json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": i} for i in staff[start:start + 100]]}]})
        assert response.status_code == 204, response.text
    response = session.patch(f"{tenant}/Groups/{group['id']}", timeout=60, json={
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": pat["id"]}, {"value": wide["id"]}]}]})
    assert response.status_code == 204, response.text

    sign_in(page, scim_host, account)
    page.click("nav button[data-page=users]")
    page.wait_for_selector("h2:has-text('Users')")

    search(page, "#user-filter", "Search", "pat.doe")
    open_user(page, "pat.doe@contoso.test")
    assert page.url.endswith(f"#user/{pat['id']}")
    shown = facts_shown(page)
    assert shown.get("Email") == "pat.work@contoso.test" and shown["Full name"] == "Pat Doe", shown
    assert shown["userName"] == "pat.doe@contoso.test" and shown["externalId"] == "7d1c-pat-ext"
    assert shown["Status"] == "active" and "SCIM-managed" in shown["Managed by"]
    assert shown["Last changed through"] == f"token {scim_token.split('.')[1]} (entra)"
    created = page.locator("dl.facts dd time").first
    assert created.get_attribute("datetime")[:19] == pat["meta"]["created"][:19]
    assert created.inner_text().replace("\u202f", " ").startswith(local_time_text(pat["meta"]["created"]))
    assert created.get_attribute("title") == pat["meta"]["created"][:19].replace("T", " ") + " UTC"
    page.wait_for_selector("#history li:has-text('joined group')")  # a person's story, newest first
    assert [re.sub(r".*\) ", "", t, count=1).split(" · ")[0] for t in page.locator("#history li").all_inner_texts()] == [
        f"joined group {group['id']}", "created"]
    page.click("summary:has-text('The SCIM resource')")
    page.wait_for_selector("#scim-resource:has-text('7d1c-pat-ext')")
    assert page.locator("#scim-resource").inner_text().count('"externalId": "7d1c-pat-ext"') == 1
    shot(page, "user-page")

    assert page.locator("a:has-text('All Staff')").get_attribute("href") == f"#group/{group['id']}"
    page.click("nav button[data-page=groups]")  # the group opened from the list, by its link
    page.wait_for_selector("h2:has-text('Groups')")
    page.click("tr:has-text('All Staff') a:has-text('All Staff')")
    page.wait_for_selector("h2:has-text('Group All Staff')")
    assert page.url.endswith(f"#group/{group['id']}")
    shown = facts_shown(page)
    assert (shown["Display name"], shown["Identifier (Harness)"], shown["externalId"], shown["Members"]) == (
        "All Staff", group["id"], "grp-all-staff", "302")
    rows = page.locator("h3:has-text('Members') ~ div.table-wrap").first.locator("tbody tr")
    assert rows.count() == 50 and "1–50 of 302" in page.inner_text("#page")
    first_page = rows.locator("td:first-child").all_inner_texts()
    page.click("button:has-text('Next')")
    page.wait_for_selector("text=51–100 of 302")
    assert not set(rows.locator("td:first-child").all_inner_texts()) & set(first_page)
    shot(page, "group-page")

    search(page, "#member-search", "Search members", "m150@")
    open_user(page, "m150@contoso.test")
    assert page.url.endswith(f"#user/{staff[150]}")
    page.go_back()  # the back button returns to the group page
    page.wait_for_selector("h2:has-text('Group All Staff')")
    page.reload()  # and so does a reload
    page.wait_for_selector("h2:has-text('Group All Staff')")
    assert page.url.endswith(f"#group/{group['id']}")

    for width in (1280, 390):  # the 8,000-character name is in the group's members, the users list and its page
        page.set_viewport_size({"width": width, "height": 800})
        search(page, "#member-search", "Search members", "wide@")
        assert fits(page)[0] <= fits(page)[1], (width, fits(page))
        page.goto(f"{scim_host.base_url}/api/console/#users")
        page.wait_for_selector("h2:has-text('Users')")
        search(page, "#user-filter", "Search", "wide@")
        assert fits(page)[0] <= fits(page)[1], (width, fits(page))
        clipped = page.locator("tr", has_text="wide@contoso.test").locator(".clip").nth(1)
        assert clipped.get_attribute("title") == wide_name  # the whole value on hover (and copyable)
        open_user(page, "wide@contoso.test")
        assert fits(page)[0] <= fits(page)[1], (width, fits(page))
        if width == 390:
            shot(page, "user-page-narrow")
        page.goto(f"{scim_host.base_url}/api/console/#group/{group['id']}")
        page.wait_for_selector("h2:has-text('Group All Staff')")
    assert page.errors == [], page.errors


def accessibility_problems(page: Any) -> list[str]:
    """axe-core (from the npm registry, node_modules) run in the page: its serious and critical violations. Loaded
    through the DevTools protocol, so the console's CSP (script-src 'self') stays as it is."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;0")
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`)""")
    return list(found)


def test_the_overview_shows_what_was_sent_and_every_page_passes_axe(
        browser_page: Any, scim_host: DevHost, accounts: AccountStore) -> None:
    page = browser_page
    account = console_account(accounts, scim_host)
    scim_token, tenant = account.scim_token, account.tenant
    scim = {"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM}
    with requests.Session() as session:
        ids = [session.post(f"{tenant}/Users", json={"userName": f"o{n}@contoso.test"}, headers=scim, timeout=30)
               .json()["id"] for n in range(8)]
        for _ in range(3):
            assert session.post(f"{tenant}/Users", json={"userName": "o1@contoso.test"}, headers=scim,
                                timeout=30).status_code == 409
        group = session.post(f"{tenant}/Groups", headers=scim, timeout=30, json={
            "displayName": "Overview Team", "members": [{"value": i} for i in ids]}).json()["id"]
        for _ in range(50):  # a flood of refusals: each counted, not each logged
            assert session.get(f"{tenant}/Users", headers={"Authorization": "Bearer scim.0123456789abcdef.x"},
                               timeout=30).status_code == 401
    sent = {"succeeded": 9, "failed": 53}

    sign_in(page, scim_host, account)
    for _ in range(30):  # the counts are written in the background, every half second
        bars = page.locator("svg.chart g.bar")
        shown = {kind: sum(int(v) for v in bars.evaluate_all(f"(bars) => bars.map((b) => b.dataset.{kind})"))
                 for kind in ("succeeded", "failed")}
        if shown == sent:
            break
        page.wait_for_timeout(500)
        page.click("nav button[data-page=overview]")
        page.wait_for_selector("h2:has-text('Overview')")
    assert shown == sent
    figures = dict(zip(page.locator(".figure .label").all_inner_texts(), page.locator(".figure .value").all_inner_texts(),
                       strict=True))
    assert (figures["requests"], figures["failed"]) == ("62", "53")
    assert figures["share of failures (Entra quarantines on a high one)"] == "85.5 %"
    assert page.locator("tr", has_text="Users.Create").locator("td").nth(1).inner_text() == "8"
    entra = page.locator("tr", has_text=scim_token.split(".")[1]).first
    assert "entra" in entra.inner_text()
    last = page.locator("h3:has-text('Identity providers') + div time").first
    assert last.get_attribute("title", timeout=1000).endswith(" UTC")
    assert accessibility_problems(page) == []
    shot(page, "overview")

    page.click("a.figure:has-text('failed')")  # a figure opens the filtered detail
    page.wait_for_selector("h2:has-text('Activity')")
    page.wait_for_selector("tr.failure")
    assert page.locator("#activity-outcome").input_value() == "failure"
    statuses = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert statuses and all(s.split(" ")[0] in ("409", "401") for s in statuses)
    refusals = [s for s in statuses if s.startswith("401")]  # the flood: its first refusal, then one record a minute
    assert 1 <= len(refusals) <= 2 and statuses.count("409") == 3, statuses
    assert accessibility_problems(page) == []
    page.click("button[role=tab]:has-text('Admin audit')")
    page.wait_for_selector("button[role=tab][aria-selected=true]:has-text('Admin audit')")
    assert all(op.startswith("Manage.") for op in page.locator("tbody tr td:nth-child(2)").all_inner_texts()
               if op != "Nothing here.")
    shot(page, "activity-audit")

    for hash_ in ("#users", f"#user/{ids[0]}", f"#group/{group}", "#groups", "#failures", "#settings", "#scopes",
                  "#connection"):
        page.goto(f"{scim_host.base_url}/api/console/{hash_}")
        page.wait_for_selector("#page h2")
        page.wait_for_timeout(300)
        assert accessibility_problems(page) == [], hash_
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"{scim_host.base_url}/api/console/#overview")
    page.wait_for_selector("svg.chart")
    assert fits(page)[0] <= fits(page)[1]
    assert accessibility_problems(page) == []
    shot(page, "overview-narrow")
    assert page.errors == [], page.errors
