"""Operator command line, run from the project root against the configured storage.

    python manage.py accounts create ACCOUNT_ID [--name NAME] [--notification-email EMAIL] [--feature FLAG]...
    python manage.py accounts update ACCOUNT_ID [--notification-email EMAIL] [--enable-feature FLAG] [--disable-feature FLAG]
    python manage.py accounts show ACCOUNT_ID | accounts list
    python manage.py tokens create ACCOUNT_ID [--scope scim|admin] [--integration current|legacy]
                                   [--idp entra|okta|onelogin] [--expires-in-days N]
    python manage.py tokens list ACCOUNT_ID | tokens revoke ACCOUNT_ID KEY_ID
    python manage.py oauth-clients create ACCOUNT_ID [--idp entra|okta|onelogin] [--token-minutes 60] [--secret-years 2]
    python manage.py oauth-clients create ACCOUNT_ID --federated --issuer URL --subject SUB --audience AUD [--jwks-uri URL]
    python manage.py oauth-clients list ACCOUNT_ID | oauth-clients revoke ACCOUNT_ID CLIENT_ID
    python manage.py oauth-clients secrets add ACCOUNT_ID CLIENT_ID [--years 2] | secrets revoke ACCOUNT_ID CLIENT_ID SECRET_ID
    python manage.py retries list ACCOUNT_ID | retries redrive ACCOUNT_ID
    python manage.py reconcile [--account ACCOUNT_ID]
    python manage.py activity ACCOUNT_ID [--failures] [--since ISO] [--until ISO] [--resource-id ID] [--count N]
                                         [--operation PREFIX]
    python manage.py scopes list ACCOUNT_ID | scopes create ACCOUNT_ID SCOPE [--name NAME] | scopes delete ACCOUNT_ID SCOPE
    python manage.py roles list ACCOUNT_ID [--scope SCOPE] [--principal-id ID]
    python manage.py roles assign ACCOUNT_ID SCOPE ROLE RESOURCE_GROUP (--user USER_ID | --group GROUP_ID)
    python manage.py roles revoke ACCOUNT_ID ASSIGNMENT_ID
    python manage.py access ACCOUNT_ID USER_ID [--scope SCOPE]

Scopes are written as in harnessScopes: ACCOUNT_ID:ORG or ACCOUNT_ID:ORG:PROJECT.
State-changing commands (accounts create/update, tokens create/revoke, retries redrive, scopes create/delete, roles
assign/revoke) are recorded in the account's activity log as `CLI.*` operations by `cli:<OS user>`.

Storage comes from the environment, else from local.settings.json (or the sample), as for the app.
`tokens create` prints the token alone on the last line of stdout, `oauth-clients create` and `secrets add` the
client secret (the client id for a federated client); each is shown only this once.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devhost.local_settings import load_local_settings


class CommandError(Exception):
    """Bad input or a missing thing: printed as one line, exit code 1."""


AuditedChange = tuple[str, str, str]
"""What a state-changing command did, for the account's audit record: (resource type, resource id, detail)."""


def _stores() -> Any:
    from shared.config import Settings
    from shared.storage.accounts_table import AccountStore
    from shared.storage.clients import table_service
    from shared.storage.tables import Tables

    settings = Settings.from_env()
    return AccountStore(Tables(table_service(settings), settings.table_prefix))


def _account_json(account: Any) -> str:
    return json.dumps({
        "id": account.id, "name": account.name, "notificationEmail": account.notification_email,
        "features": sorted(account.features), "created": account.created.isoformat() if account.created else None,
    }, indent=2)


def accounts_create(args: argparse.Namespace) -> AuditedChange:
    from shared.domain.accounts import Account, validate_account_id, validate_email, validate_feature
    from shared.storage.accounts_table import AccountExists

    account = Account(
        id=validate_account_id(args.account_id), name=args.name or args.account_id,
        notification_email=validate_email(args.notification_email) if args.notification_email else None,
        features=frozenset(validate_feature(f) for f in args.feature), created=datetime.now(UTC))
    try:
        _stores().create(account)
    except AccountExists:
        raise CommandError(f"account {args.account_id!r} already exists") from None
    print(_account_json(account))
    return "Account", account.id, f"features {','.join(sorted(account.features)) or '-'}"


def accounts_update(args: argparse.Namespace) -> AuditedChange:
    from shared.domain.accounts import validate_account_id

    store = _stores()
    account = store.get(validate_account_id(args.account_id))
    if account is None:
        raise CommandError(f"no account {args.account_id!r}")
    updated = account.with_changes(notification_email=args.notification_email,
                                   enable=tuple(args.enable_feature), disable=tuple(args.disable_feature))
    store.update(updated)
    print(_account_json(updated))
    return "Account", updated.id, (f"notification email {'changed' if args.notification_email else 'kept'}; "
                                   f"features {','.join(sorted(updated.features)) or '-'}")


def accounts_show(args: argparse.Namespace) -> None:
    from shared.domain.accounts import validate_account_id

    account = _stores().get(validate_account_id(args.account_id))
    if account is None:
        raise CommandError(f"no account {args.account_id!r}")
    print(_account_json(account))


def accounts_list(args: argparse.Namespace) -> None:
    for account in _stores().all():
        print(f"{account.id}\t{account.name}\t{account.notification_email or '-'}\t{','.join(sorted(account.features)) or '-'}")


def tokens_create(args: argparse.Namespace) -> AuditedChange:
    from shared.domain.accounts import validate_account_id
    from shared.domain.tokens import mint

    store = _stores()
    if store.get(validate_account_id(args.account_id)) is None:
        raise CommandError(f"no account {args.account_id!r}")
    minted = mint(args.account_id, args.scope, datetime.now(UTC), args.expires_in_days, args.integration, args.idp)
    store.add_token(minted.record)
    expires = minted.record.expires.isoformat() if minted.record.expires else "never"
    print(f"key id {minted.record.key_id}, scope {minted.record.scope}, integration {minted.record.integration}, "
          f"identity provider {minted.record.idp}, expires {expires}. "
          "Copy the token now: it is not stored and cannot be shown again.")
    print(minted.token)
    record = minted.record
    return "Token", record.key_id, f"scope {record.scope}, integration {record.integration}, idp {record.idp}"


def tokens_list(args: argparse.Namespace) -> None:
    from shared.domain.accounts import validate_account_id

    store = _stores()
    if store.get(validate_account_id(args.account_id)) is None:
        raise CommandError(f"no account {args.account_id!r}")
    now = datetime.now(UTC)
    for token in store.list_tokens(args.account_id):
        expires = token.expires.isoformat() if token.expires else "never"
        print(f"{token.key_id}\t{token.scope}\t{token.integration}\t{token.idp}\t{token.state(now)}\t"
              f"created {token.created.isoformat()}\texpires {expires}")


def tokens_revoke(args: argparse.Namespace) -> AuditedChange:
    from shared.domain.accounts import validate_account_id

    if not _stores().revoke_token(validate_account_id(args.account_id), args.key_id, datetime.now(UTC)):
        raise CommandError(f"no token {args.key_id!r} in account {args.account_id!r}")
    print(f"revoked {args.key_id}")
    return "Token", args.key_id, "revoked"


def _client_store(account_id: str) -> Any:
    from shared.domain.accounts import validate_account_id

    store = _stores()
    if store.get(validate_account_id(account_id)) is None:
        raise CommandError(f"no account {account_id!r}")
    return store


def _existing_client(store: Any, account_id: str, client_id: str) -> Any:
    client = store.get_client(account_id, client_id)
    if client is None:
        raise CommandError(f"no OAuth client {client_id!r} in account {account_id!r}")
    return client


def _print_secret(new: Any) -> None:
    secret = next(s for s in new.client.secrets if s.secret_id == new.secret_id)
    print(f"client id {new.client.client_id}, secret id {new.secret_id}, expires {secret.expires.isoformat()}. "
          "Copy the secret now: it is not stored and cannot be shown again.")
    print(new.secret)


def oauth_clients_create(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import oauth

    store = _client_store(args.account_id)
    now = datetime.now(UTC)
    if args.federated:
        if not (args.issuer and args.subject and args.audience):
            raise CommandError("a federated client needs --issuer, --subject and --audience")
        client = oauth.new_federated_client(args.account_id, args.idp, args.token_minutes, now,
                                            oauth.Federation(args.issuer, args.subject, args.audience, args.jwks_uri))
        store.save_client(client)
        print(f"client id {client.client_id} (federated: issuer {args.issuer}, subject {args.subject}, "
              f"audience {args.audience}); access tokens live {client.token_minutes} minutes")
        print(client.client_id)
        return "OAuthClient", client.client_id, f"federated, issuer {args.issuer}, subject {args.subject}, idp {args.idp}"
    new = oauth.new_secret_client(args.account_id, args.idp, args.token_minutes, now, args.secret_years)
    store.save_client(new.client)
    _print_secret(new)
    return "OAuthClient", new.client.client_id, f"client secret {new.secret_id}, idp {args.idp}"


def oauth_clients_list(args: argparse.Namespace) -> None:
    store = _client_store(args.account_id)
    now = datetime.now(UTC)
    for client in store.clients(args.account_id):
        state = "revoked" if client.revoked else "active"
        used = client.last_used.isoformat() if client.last_used else "never"
        if client.federation:
            detail = f"federated issuer {client.federation.issuer} subject {client.federation.subject}"
        else:
            detail = ", ".join(f"secret {s.secret_id} {'active' if s.usable(now) else 'revoked or expired'} "
                               f"until {s.expires.date().isoformat()}" for s in client.secrets)
        print(f"{client.client_id}	{client.idp}	{state}	{client.token_minutes} min	last used {used}	{detail}")


def oauth_clients_revoke(args: argparse.Namespace) -> AuditedChange:
    from dataclasses import replace

    store = _client_store(args.account_id)
    client = _existing_client(store, args.account_id, args.client_id)
    store.save_client(replace(client, revoked=client.revoked or datetime.now(UTC)))
    print(f"revoked {args.client_id}: its access tokens stop working within 60 seconds")
    return "OAuthClient", args.client_id, "revoked"


def oauth_secrets_add(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import oauth

    store = _client_store(args.account_id)
    new = oauth.add_secret(_existing_client(store, args.account_id, args.client_id), datetime.now(UTC), args.years)
    store.save_client(new.client)
    _print_secret(new)
    return "OAuthClient", args.client_id, f"secret {new.secret_id} added"


def oauth_secrets_revoke(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import oauth

    store = _client_store(args.account_id)
    try:
        client = oauth.revoke_secret(_existing_client(store, args.account_id, args.client_id), args.secret_id,
                                     datetime.now(UTC))
    except KeyError:
        raise CommandError(f"no secret {args.secret_id!r} on client {args.client_id!r}") from None
    store.save_client(client)
    print(f"revoked secret {args.secret_id} of {args.client_id}: access tokens issued through it stop within 60 seconds")
    return "OAuthClient", args.client_id, f"secret {args.secret_id} revoked"


def _retry_context() -> Any:
    from scim_handlers.services import services

    return services().retry_context()


def retries_list(args: argparse.Namespace) -> None:
    from shared.domain.accounts import validate_account_id

    ctx = _retry_context()
    if ctx.accounts.get(validate_account_id(args.account_id)) is None:
        raise CommandError(f"no account {args.account_id!r}")
    pending = ctx.pending.pending(args.account_id)
    print(f"pending work: {len(pending)}")
    for work in pending:
        print(f"  {work.id}\t{work.kind}\t{work.resource_type} {work.resource_id}\t{work.operation}\t"
              f"since {work.created.isoformat()}\tinvocation {work.invocation_id or '-'}")
    for title, failures in (("given up, not yet reported", ctx.failures.unreported(args.account_id)),
                            ("given up, reported", ctx.failures.reported(args.account_id))):
        print(f"{title}: {len(failures)}")
        for failure in failures:
            print(f"  {failure.last_attempt.isoformat()}\t{failure.operation}\t{failure.resource_type} "
                  f"{failure.resource_id}\twork {failure.work_id}\t{failure.last_error}")


def retries_redrive(args: argparse.Namespace) -> AuditedChange:
    from shared.domain.accounts import validate_account_id
    from shared.domain.retries import redrive

    ctx = _retry_context()
    if ctx.accounts.get(validate_account_id(args.account_id)) is None:
        raise CommandError(f"no account {args.account_id!r}")
    count = redrive(ctx, args.account_id)
    print(f"queued {count} piece(s) of recorded work on scim-retry")
    return "Work", "", f"re-drove {count} piece(s) of recorded work"


def reconcile_now(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from scim_handlers.services import services
    from shared.domain.reconcile import run_reconcile

    svc = services()
    if args.account and svc.accounts.get(args.account) is None:
        raise CommandError(f"no account {args.account!r}")
    summary = run_reconcile(svc.reconcile_context(), datetime.now(UTC), only_account=args.account)
    print(json.dumps(summary.as_dict(), indent=2))


def activity(args: argparse.Namespace) -> None:
    from scim_handlers.services import services
    from shared.domain.accounts import validate_account_id

    svc = services()
    if svc.accounts.get(validate_account_id(args.account_id)) is None:
        raise CommandError(f"no account {args.account_id!r}")
    from shared.domain.limits import parse_time_parameter
    from shared.errors import ScimError

    try:
        since = parse_time_parameter(args.since, "--since") if args.since else None
        until = parse_time_parameter(args.until, "--until") if args.until else None
    except ScimError as exc:
        raise CommandError(exc.detail) from None
    records, _ = svc.activity.query(args.account_id, since, until, "failure" if args.failures else None,
                                    args.resource_id, args.count, None, args.operation)
    for r in records:
        outcome = f"{r.status}" + (f" {r.scim_type}" if r.scim_type else "") + (" queued" if r.queued else "")
        print(f"{r.time.isoformat()}\t{r.operation}\t{r.resource_type} {r.resource_id}\t{outcome}\t"
              f"{r.duration_ms:.0f} ms\t{r.invocation_id}\t{'' if r.is_audit else r.idp}"
              f"\t{r.actor}" + (f"\t{r.detail}" if r.detail else ""))


def _account(args: argparse.Namespace) -> Any:
    from scim_handlers.services import services
    from shared.domain.accounts import validate_account_id

    svc = services()
    account = svc.accounts.get(validate_account_id(args.account_id))
    if account is None:
        raise CommandError(f"no account {args.account_id!r}")
    return svc, account


def scopes_list(args: argparse.Namespace) -> None:
    from shared.domain import scope_admin

    svc, account = _account(args)
    for org in scope_admin.list_scopes(svc.access, account):
        print(f"{scope_admin.scope_view(account, org)['scope']}\t{org.name}")
        for project in scope_admin.list_scopes(svc.access, account, org.scope):
            print(f"{scope_admin.scope_view(account, project)['scope']}\t{project.name}")


def scopes_create(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import scope_admin, scopes

    svc, account = _account(args)
    scope = scopes.parse_scope(args.scope, account.id)
    if not scope:
        raise CommandError("the account scope exists already; create ACCOUNT_ID:ORG or ACCOUNT_ID:ORG:PROJECT")
    org, _, project = scope.partition(":")
    body = {"identifier": project or org, "name": args.name or project or org}
    record = scope_admin.create_project(svc.access, account, org, body) if project \
        else scope_admin.create_org(svc.access, account, body)
    print(scope_admin.scope_view(account, record)["scope"])
    return ("Project" if project else "Org", record.scope, f"created {args.scope}")


def scopes_delete(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import scope_admin, scopes

    svc, account = _account(args)
    scope = scopes.parse_scope(args.scope, account.id)
    scope_admin.delete_scope(svc.access, svc.groups, account, scope, svc.retry_queue)
    return ("Project" if ":" in scope else "Org", scope, f"deleted {args.scope}")


def roles_list(args: argparse.Namespace) -> None:
    from shared.domain import assignments, scopes

    svc, account = _account(args)
    wanted = assignments.AssignmentFilter(scope=scopes.parse_scope(args.scope, account.id) if args.scope else None,
                                          principal_id=args.principal_id)
    for a in assignments.list_assignments(svc.access, svc.users, svc.groups, account, wanted):
        view = assignments.assignment_view(account, a)
        print(f"{a.id}\t{view['scope']}\t{a.role}\t{a.resource_group}\t{a.principal.type} {a.principal.id}")


def roles_assign(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import assignments

    svc, account = _account(args)
    principal = {"type": "user", "id": args.user} if args.user else {"type": "group", "id": args.group}
    created = assignments.create_assignment(svc.access, svc.users, svc.groups, account, {
        "scope": args.scope, "role": args.role, "resourceGroup": args.resource_group, "principal": principal})
    print(created.id)
    return ("RoleAssignment", created.id, f"{args.role} at {args.scope} to {principal['type']} {principal['id']}")


def roles_revoke(args: argparse.Namespace) -> AuditedChange:
    from shared.domain import assignments

    svc, account = _account(args)
    removed = assignments.delete_assignment(svc.access, svc.users, svc.groups, account, args.assignment_id)
    return ("RoleAssignment", removed.id, f"revoked {removed.role} of {removed.principal.type} {removed.principal.id}")


def user_access(args: argparse.Namespace) -> None:
    from shared.domain import access

    svc, account = _account(args)
    print(json.dumps(access.user_access(svc.access, svc.users, svc.groups, account, args.user_id, args.scope), indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python manage.py", description="Operator commands of the SCIM service.")
    groups = parser.add_subparsers(dest="group", required=True)

    accounts = groups.add_parser("accounts").add_subparsers(dest="command", required=True)
    create = accounts.add_parser("create")
    create.add_argument("account_id")
    create.add_argument("--name")
    create.add_argument("--notification-email")
    create.add_argument("--feature", action="append", default=[])
    create.set_defaults(run=accounts_create, audit="CLI.Accounts.Create")
    update = accounts.add_parser("update")
    update.add_argument("account_id")
    update.add_argument("--notification-email")
    update.add_argument("--enable-feature", action="append", default=[])
    update.add_argument("--disable-feature", action="append", default=[])
    update.set_defaults(run=accounts_update, audit="CLI.Accounts.Update")
    show = accounts.add_parser("show")
    show.add_argument("account_id")
    show.set_defaults(run=accounts_show)
    accounts.add_parser("list").set_defaults(run=accounts_list)

    tokens = groups.add_parser("tokens").add_subparsers(dest="command", required=True)
    tcreate = tokens.add_parser("create")
    tcreate.add_argument("account_id")
    tcreate.add_argument("--scope", choices=["scim", "admin"], default="scim")
    tcreate.add_argument("--expires-in-days", type=int)
    tcreate.add_argument("--integration", choices=["current", "legacy"], default="current",
                         help="the app integration this provisioning token belongs to (NextGen = current, FirstGen = legacy)")
    tcreate.add_argument("--idp", choices=["entra", "okta", "onelogin"], default="entra",
                         help="the identity provider the token is given to (shown in the activity log and telemetry)")
    tcreate.set_defaults(run=tokens_create, audit="CLI.Tokens.Create")
    tlist = tokens.add_parser("list")
    tlist.add_argument("account_id")
    tlist.set_defaults(run=tokens_list)
    revoke = tokens.add_parser("revoke")
    revoke.add_argument("account_id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=tokens_revoke, audit="CLI.Tokens.Revoke")

    clients = groups.add_parser("oauth-clients", help="OAuth 2.0 clients (client credentials, workload identity "
                                "federation)").add_subparsers(dest="command", required=True)
    ccreate = clients.add_parser("create")
    ccreate.add_argument("account_id")
    ccreate.add_argument("--idp", choices=["entra", "okta", "onelogin"], default="entra")
    ccreate.add_argument("--token-minutes", type=int, default=60, help="access token lifetime, 60 to 360")
    ccreate.add_argument("--secret-years", type=int, default=2, help="the first secret's lifetime, 1 to 3 years")
    ccreate.add_argument("--federated", action="store_true", help="no secret: the identity provider signs assertions")
    ccreate.add_argument("--issuer")
    ccreate.add_argument("--subject")
    ccreate.add_argument("--audience")
    ccreate.add_argument("--jwks-uri")
    ccreate.set_defaults(run=oauth_clients_create, audit="CLI.OAuthClients.Create")
    clist = clients.add_parser("list")
    clist.add_argument("account_id")
    clist.set_defaults(run=oauth_clients_list)
    crevoke = clients.add_parser("revoke")
    crevoke.add_argument("account_id")
    crevoke.add_argument("client_id")
    crevoke.set_defaults(run=oauth_clients_revoke, audit="CLI.OAuthClients.Revoke")
    client_secrets = clients.add_parser("secrets").add_subparsers(dest="secrets_command", required=True)
    sadd = client_secrets.add_parser("add")
    sadd.add_argument("account_id")
    sadd.add_argument("client_id")
    sadd.add_argument("--years", type=int, default=2, help="1 to 3")
    sadd.set_defaults(run=oauth_secrets_add, audit="CLI.OAuthClients.Secrets.Add")
    srevoke = client_secrets.add_parser("revoke")
    srevoke.add_argument("account_id")
    srevoke.add_argument("client_id")
    srevoke.add_argument("secret_id")
    srevoke.set_defaults(run=oauth_secrets_revoke, audit="CLI.OAuthClients.Secrets.Revoke")

    retries = groups.add_parser("retries").add_subparsers(dest="command", required=True)
    rlist = retries.add_parser("list")
    rlist.add_argument("account_id")
    rlist.set_defaults(run=retries_list)
    rdrive = retries.add_parser("redrive")
    rdrive.add_argument("account_id")
    rdrive.set_defaults(run=retries_redrive, audit="CLI.Retries.Redrive")

    reconcile = groups.add_parser("reconcile")
    reconcile.add_argument("--account")
    reconcile.set_defaults(run=reconcile_now)

    log = groups.add_parser("activity", help="the provisioning activity log, newest first")
    log.add_argument("account_id")
    log.add_argument("--failures", action="store_true")
    log.add_argument("--since")
    log.add_argument("--until")
    log.add_argument("--resource-id")
    log.add_argument("--count", type=int, default=50)
    log.add_argument("--operation", help="a prefix: Users.Create, Manage. (admin API), CLI. (these commands)")
    log.set_defaults(run=activity)

    scope_commands = groups.add_parser("scopes", help="orgs and projects").add_subparsers(dest="command", required=True)
    slist = scope_commands.add_parser("list")
    slist.add_argument("account_id")
    slist.set_defaults(run=scopes_list)
    screate = scope_commands.add_parser("create")
    screate.add_argument("account_id")
    screate.add_argument("scope", help="ACCOUNT_ID:ORG or ACCOUNT_ID:ORG:PROJECT")
    screate.add_argument("--name")
    screate.set_defaults(run=scopes_create, audit="CLI.Scopes.Create")
    sdelete = scope_commands.add_parser("delete")
    sdelete.add_argument("account_id")
    sdelete.add_argument("scope")
    sdelete.set_defaults(run=scopes_delete, audit="CLI.Scopes.Delete")

    roles = groups.add_parser("roles", help="role assignments").add_subparsers(dest="command", required=True)
    rolelist = roles.add_parser("list")
    rolelist.add_argument("account_id")
    rolelist.add_argument("--scope")
    rolelist.add_argument("--principal-id")
    rolelist.set_defaults(run=roles_list)
    assign = roles.add_parser("assign")
    assign.add_argument("account_id")
    assign.add_argument("scope")
    assign.add_argument("role")
    assign.add_argument("resource_group")
    who = assign.add_mutually_exclusive_group(required=True)
    who.add_argument("--user")
    who.add_argument("--group")
    assign.set_defaults(run=roles_assign, audit="CLI.RoleAssignments.Create")
    unassign = roles.add_parser("revoke")
    unassign.add_argument("account_id")
    unassign.add_argument("assignment_id")
    unassign.set_defaults(run=roles_revoke, audit="CLI.RoleAssignments.Delete")

    who_can = groups.add_parser("access", help="a user's effective access, with its reasons")
    who_can.add_argument("account_id")
    who_can.add_argument("user_id")
    who_can.add_argument("--scope")
    who_can.set_defaults(run=user_access)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    load_local_settings(Path(__file__).resolve().parent)
    from azure.core.exceptions import AzureError

    from shared.domain.accounts import AccountError
    from shared.errors import ConfigurationError, ScimError

    try:
        change = args.run(args)
    except (CommandError, AccountError, ConfigurationError, ValueError, ScimError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        _audit(args, 400, ("", "", f"refused: {exc}"))
        return 1
    except AzureError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: storage: {first_line}", file=sys.stderr)
        return 1
    _audit(args, 200, change)
    return 0


def _audit(args: argparse.Namespace, status: int, change: AuditedChange | None) -> None:
    """Records a state-changing command (set_defaults(audit=...)) in the account's activity log, who ran it
    (`cli:<OS user>`) and what it did; nothing for reads, or for an account that does not exist."""
    operation = getattr(args, "audit", None)
    if not operation or change is None:
        return
    import getpass
    import uuid

    from scim_handlers.services import services
    from shared.domain.activity import ActivityRecord

    try:
        svc = services()
        account_id = str(getattr(args, "account_id", "") or "")
        if not account_id or svc.accounts.get(account_id) is None:
            return
        resource_type, resource_id, detail = change
        svc.activity.record(account_id, ActivityRecord(
            time=datetime.now(UTC), operation=operation, method="CLI", resource_type=resource_type,
            resource_id=resource_id, external_id="", status=status, scim_type="", detail=detail, duration_ms=0.0,
            invocation_id=uuid.uuid4().hex, integration="", queued=False, idp="", actor=f"cli:{getpass.getuser()}"))
        svc.activity.flush()
    except Exception as exc:  # the change itself is done; say that its audit record is missing
        print(f"warning: the audit record could not be written: {exc}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
