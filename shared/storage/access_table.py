"""Orgs and projects, role assignments and direct scope memberships in Table Storage (table `<prefix>access`,
PartitionKey = account id). Kept apart from `<prefix>resources`: nothing here has to change in one transaction with
a user or a group (what is in effect is derived when read: `shared/domain/scopes.py`), and the resources partition's
reconcile scan stays as it is.

RowKeys:
    s:<scope>                   an org (`O`) or project (`O:P`): Name, Created, Generation, Parent (a project's
                                org's generation)
    a:<assignment id>           a role assignment: Scope, Role, ResourceGroup, PrincipalType, PrincipalId, Created,
                                PrincipalSince, ScopeGeneration, PlacementGeneration
    u:<user id>:a:<id>          the same, by its user principal     } a user's own rows are one range read
    u:<user id>:m:<scope>       the user's direct membership       }
    g:<group id>:a:<id>         the same, by its group principal: every group's assignments are one range read
    m:<scope>|<user id>         the scope's direct members (`|` never occurs in a scope, so an org's range does not
                                hold its projects' members)
    ~admin-removals             the last-admin guard: removals of `_account_admin` holders claimed lately (Claims,
                                JSON), written conditionally by every such removal (shared/domain/access.py)
An assignment and its index row are written and deleted in one transaction, as are a membership's two rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.domain.scopes import AdminRemovals, DirectMembership, Principal, RoleAssignment, ScopeRecord
from shared.errors import NotFound, Uniqueness
from shared.storage.keys import key_part, rows_with_prefix
from shared.storage.tables import ACCESS, Tables
from shared.storage.transactions import TransactionFailed, storage_errors, submit, submit_tolerating_missing

ADMIN_REMOVALS = "~admin-removals"
SCOPE = "s:"
ASSIGNMENT = "a:"
BY_GROUP = "g:"


def _user_prefix(user_id: str) -> str:
    return f"u:{key_part(user_id)}:"


def _index_key(assignment: RoleAssignment) -> str:
    if assignment.principal.type == "user":
        return f"{_user_prefix(assignment.principal.id)}a:{assignment.id}"
    return f"{BY_GROUP}{key_part(assignment.principal.id)}:a:{assignment.id}"


def _assignment_entity(account_id: str, row_key: str, a: RoleAssignment) -> dict[str, Any]:
    return {"PartitionKey": account_id, "RowKey": row_key, "Scope": a.scope, "Role": a.role,
            "ResourceGroup": a.resource_group, "PrincipalType": a.principal.type, "PrincipalId": a.principal.id,
            "AssignmentId": a.id, "Created": a.created, "PrincipalSince": a.principal_since,
            "ScopeGeneration": a.scope_generation, "PlacementGeneration": a.placement_generation}


def _assignment(row: Any) -> RoleAssignment:
    return RoleAssignment(row["AssignmentId"], row["Scope"], row["Role"], row["ResourceGroup"],
                          Principal(row["PrincipalType"], row["PrincipalId"]), row["Created"], row["PrincipalSince"],
                          row.get("ScopeGeneration") or "", row.get("PlacementGeneration") or "")


def _membership_rows(account_id: str, m: DirectMembership) -> list[dict[str, Any]]:
    data = {"PartitionKey": account_id, "Scope": m.scope, "UserId": m.user_id, "Created": m.created,
            "ScopeGeneration": m.scope_generation}
    return [{**data, "RowKey": f"{_user_prefix(m.user_id)}m:{m.scope}"},
            {**data, "RowKey": f"m:{m.scope}|{key_part(m.user_id)}"}]


def _membership(row: Any) -> DirectMembership:
    return DirectMembership(row["Scope"], row["UserId"], row["Created"], row.get("ScopeGeneration") or "")


class TableAccessStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> Any:
        return self._tables.get(ACCESS)

    @storage_errors
    def create_scope(self, account_id: str, record: ScopeRecord) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._table.create_entity({"PartitionKey": account_id, "RowKey": SCOPE + record.scope, "Name": record.name,
                                       "Created": record.created, "Generation": record.generation,
                                       "Parent": record.parent})
        except ResourceExistsError:
            raise Uniqueness(f"{record.scope!r} exists.") from None

    @storage_errors
    def scopes(self, account_id: str) -> list[ScopeRecord]:
        rows = rows_with_prefix(self._table, account_id, SCOPE, results_per_page=1000)
        return [ScopeRecord(row["RowKey"][len(SCOPE):], row.get("Name", ""), row["Created"],
                            row.get("Generation") or "", row.get("Parent") or "") for row in rows]

    @storage_errors
    def delete_scope(self, account_id: str, scope: str) -> bool:
        return self._delete_rows(account_id, [SCOPE + scope])

    @storage_errors
    def add_assignment(self, account_id: str, assignment: RoleAssignment) -> None:
        try:
            submit(self._table, [("create", _assignment_entity(account_id, ASSIGNMENT + assignment.id, assignment)),
                                 ("upsert", _assignment_entity(account_id, _index_key(assignment), assignment))])
        except TransactionFailed as failed:
            if failed.error_code == "EntityAlreadyExists":
                raise Uniqueness(f"Role assignment {assignment.id!r} exists.") from None
            raise

    @storage_errors
    def get_assignment(self, account_id: str, assignment_id: str) -> RoleAssignment:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _assignment(self._table.get_entity(account_id, ASSIGNMENT + key_part(assignment_id)))
        except ResourceNotFoundError:
            raise NotFound(f"No role assignment with id {assignment_id!r}.") from None

    @storage_errors
    def assignments(self, account_id: str) -> list[RoleAssignment]:
        return [_assignment(r) for r in rows_with_prefix(self._table, account_id, ASSIGNMENT, results_per_page=1000)]

    @storage_errors
    def assignments_of(self, account_id: str, user_id: str) -> tuple[list[RoleAssignment], list[DirectMembership]]:
        assignments, memberships = [], []
        for row in rows_with_prefix(self._table, account_id, _user_prefix(user_id), results_per_page=1000):
            if "AssignmentId" in row:
                assignments.append(_assignment(row))
            else:
                memberships.append(_membership(row))
        return assignments, memberships

    @storage_errors
    def group_assignments(self, account_id: str) -> list[RoleAssignment]:
        return [_assignment(r) for r in rows_with_prefix(self._table, account_id, BY_GROUP, results_per_page=1000)]

    @storage_errors
    def assignments_of_group(self, account_id: str, group_id: str) -> list[RoleAssignment]:
        return [_assignment(r) for r in rows_with_prefix(self._table, account_id, f"{BY_GROUP}{key_part(group_id)}:a:",
                                                         results_per_page=1000)]

    @storage_errors
    def delete_assignments(self, account_id: str, assignments: list[RoleAssignment]) -> None:
        for a in assignments:
            submit_tolerating_missing(self._table, [
                ("delete", {"PartitionKey": account_id, "RowKey": ASSIGNMENT + a.id}),
                ("delete", {"PartitionKey": account_id, "RowKey": _index_key(a)})], guarded=0)

    @storage_errors
    def add_membership(self, account_id: str, membership: DirectMembership) -> None:
        submit(self._table, [("upsert", row) for row in _membership_rows(account_id, membership)])

    @storage_errors
    def remove_membership(self, account_id: str, scope: str, user_id: str) -> bool:
        return self._delete_rows(account_id, [f"m:{scope}|{key_part(user_id)}", f"{_user_prefix(user_id)}m:{scope}"])

    @storage_errors
    def scope_memberships(self, account_id: str, scope: str) -> list[DirectMembership]:
        return [_membership(r) for r in rows_with_prefix(self._table, account_id, f"m:{scope}|", results_per_page=1000)]

    @storage_errors
    def delete_memberships(self, account_id: str, memberships: list[DirectMembership]) -> None:
        for m in memberships:
            submit_tolerating_missing(self._table, [("delete", row) for row in _membership_rows(account_id, m)],
                                      guarded=0)

    @storage_errors
    def admin_removals(self, account_id: str) -> AdminRemovals:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self._table.get_entity(account_id, ADMIN_REMOVALS)
        except ResourceNotFoundError:
            return AdminRemovals({}, None)
        claims = {claim: datetime.fromisoformat(at) for claim, at in json.loads(row.get("Claims") or "{}").items()}
        return AdminRemovals(claims, row.metadata["etag"])

    @storage_errors
    def claim_admin_removal(self, account_id: str, seen: AdminRemovals, claims: dict[str, datetime]) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        row = {"PartitionKey": account_id, "RowKey": ADMIN_REMOVALS,
               "Claims": json.dumps({claim: at.isoformat() for claim, at in claims.items()})}
        try:
            if seen.etag is None:
                self._table.create_entity(row)
            else:
                self._table.update_entity(row, mode="replace", etag=seen.etag,
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    def _delete_rows(self, account_id: str, row_keys: list[str]) -> bool:
        """Deletes the rows in one transaction; False (the others still deleted) when the first was not there."""
        operations: list[tuple[Any, ...]] = [("delete", {"PartitionKey": account_id, "RowKey": k}) for k in row_keys]
        try:
            submit_tolerating_missing(self._table, operations, guarded=1)
        except TransactionFailed as failed:
            if failed.error_code != "ResourceNotFound" or failed.index != 0:
                raise
            submit_tolerating_missing(self._table, operations[1:], guarded=0)
            return False
        return True
