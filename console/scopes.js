// Orgs, projects and role assignments.
import { $, api, clip, el, run, say, setCurrent, show, state, table, when } from "./core.js";

// Scopes and role assignments -------------------------------------------------------------------------------

export async function showScopes() {
  setCurrent("scopes");
  const [orgs, assignments, roles, resourceGroups] = await Promise.all([api("GET", "/orgs"), api("GET", "/role-assignments"),
    api("GET", "/roles"), api("GET", "/resource-groups")]);
  const projects = await Promise.all(orgs.orgs.map((o) => api("GET", `/orgs/${encodeURIComponent(o.identifier)}/projects`)));
  const scopes = [];
  orgs.orgs.forEach((o, n) => { scopes.push(o); scopes.push(...projects[n].projects); });
  const remove = (scope) => el("button", { onclick: () => run(async () => {
    const path = scope.org ? `/orgs/${encodeURIComponent(scope.org)}/projects/${encodeURIComponent(scope.identifier)}`
      : `/orgs/${encodeURIComponent(scope.identifier)}`;
    await api("DELETE", path);
    await showScopes();
    say(`Deleted ${scope.scope}: its role assignments and direct members went with it.`);
  }) }, "Delete");
  const options = (id, values, label) => el("select", { id, "aria-label": label }, values.map((v) => el("option", { value: v }, v)));
  show("Scopes",
    table(["Scope", "Name", "Level", "Created", ""], scopes.map((x) => el("tr", {},
      el("td", {}, clip(x.scope)), el("td", {}, clip(x.name)), el("td", {}, x.level), el("td", {}, when(x.created)), el("td", {}, remove(x))))),
    el("div", { class: "row" },
      el("input", { id: "new-org", "aria-label": "new org identifier", placeholder: "org identifier" }),
      el("button", { onclick: () => run(async () => {
        await api("POST", "/orgs", { identifier: $("new-org").value.trim() });
        await showScopes();
        say("Org created.");
      }) }, "Create org"),
      options("project-org", orgs.orgs.map((o) => o.identifier), "org of the new project"),
      el("input", { id: "new-project", "aria-label": "new project identifier", placeholder: "project identifier" }),
      el("button", { onclick: () => run(async () => {
        await api("POST", `/orgs/${encodeURIComponent($("project-org").value)}/projects`, { identifier: $("new-project").value.trim() });
        await showScopes();
        say("Project created.");
      }) }, "Create project")),
    el("h3", {}, "Role assignments"),
    table(["Scope", "Role", "Resource group", "Principal", ""], assignments.roleAssignments.map((a) => el("tr", {},
      el("td", {}, clip(a.scope)), el("td", {}, a.role), el("td", {}, a.resourceGroup),
      el("td", {}, clip(`${a.principal.type} ${a.principal.id}`)),
      el("td", {}, el("button", { onclick: () => run(async () => {
        await api("DELETE", `/role-assignments/${encodeURIComponent(a.id)}`);
        await showScopes();
        say(`Removed ${a.role} at ${a.scope}.`);
      }) }, "Remove"))))),
    el("div", { class: "row" },
      options("assign-scope", [state.account, ...scopes.map((x) => x.scope)], "scope"),
      options("assign-role", roles.roles.map((r) => r.identifier), "role"),
      options("assign-resource-group", resourceGroups.resourceGroups.map((r) => r.identifier), "resource group"),
      options("assign-type", ["group", "user"], "principal type"),
      el("input", { id: "assign-principal", "aria-label": "group identifier or user id", placeholder: "group identifier or user id" }),
      el("button", { onclick: () => run(async () => {
        await api("POST", "/role-assignments", { scope: $("assign-scope").value, role: $("assign-role").value,
          resourceGroup: $("assign-resource-group").value,
          principal: { type: $("assign-type").value, id: $("assign-principal").value.trim() } });
        await showScopes();
        say("Role assigned.");
      }) }, "Assign")));
}

