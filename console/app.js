// The admin console: plain DOM (every text goes through textContent, never HTML), talking only to the management
// API of this origin with the admin token kept in sessionStorage (this tab only), sent as a bearer header.
"use strict";

const store = window.sessionStorage;
const state = { account: store.getItem("scimAccount") || "", token: store.getItem("scimAdminToken") || "" };
const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(child === undefined || child === null ? "" : String(child)));
  }
  return node;
}

function say(text, error = false) {
  const message = $("message");
  message.textContent = text;
  message.className = error ? "error" : "";
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`/api/manage/account/${encodeURIComponent(state.account)}${path}`,
    { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data && data.error ? data.error.message : `HTTP ${response.status}`);
    error.status = response.status;
    error.code = data && data.error ? data.error.code : "";
    throw error;
  }
  return data;
}

function badge(kind, text) { return el("span", { class: `badge ${kind}` }, text); }

function table(headings, rows) {
  return el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length }, "Nothing here."))]));
}

function show(title, ...content) {
  const page = $("page");
  page.replaceChildren(el("h2", {}, title), ...content);
  page.hidden = false;
}

function pager(data, reload) {
  const start = data.startIndex, count = data.itemsPerPage, total = data.totalResults;
  return el("div", { class: "row" },
    el("button", { disabled: start <= 1, onclick: () => reload(Math.max(1, start - 50)) }, "Previous"),
    `${total ? start : 0}–${start + count - 1} of ${total}`,
    el("button", { disabled: start + count > total, onclick: () => reload(start + count) }, "Next"));
}

async function run(action) {
  try { await action(); } catch (error) {
    if (error.status === 401) { signOut(); say("Your token was refused (revoked or expired): sign in again.", true); }
    else say(`Refused: ${error.message}`, true);
  }
}

function setCurrent(name) {
  for (const button of document.querySelectorAll("nav button[data-page]")) {
    button.classList.toggle("current", button.dataset.page === name);
  }
}

// Users -----------------------------------------------------------------------------------------------------

function userBadges(user) {
  if (user.source === "scim") return badge("locked", `SCIM-managed (${user.integrations.join(", ") || "current"})`);
  if (user.adopted) return badge("adopted", `adopted by ${user.adopted.by}${user.adopted.at ? `, ${user.adopted.at}` : ""}`);
  return badge("native", "native");
}

async function showUsers(start = 1) {
  setCurrent("users");
  const filter = ($("user-filter") || {}).value || "";
  const source = ($("user-source") || {}).value || "";
  const params = new URLSearchParams({ startIndex: start, count: 50 });
  if (filter) params.set("filter", filter);
  if (source) params.set("source", source);
  const data = await api("GET", `/users?${params}`);
  const rows = data.users.map((user) => el("tr", {},
    el("td", {}, el("button", { onclick: () => run(() => showUser(user.id)) }, user.email)),
    el("td", {}, user.fullName), el("td", {}, user.status), el("td", {}, userBadges(user))));
  show("Users",
    el("div", { class: "row" },
      el("input", { id: "user-filter", placeholder: "name or email", value: filter }),
      el("select", { id: "user-source" }, ["", "scim", "adopted", "native"].map((s) =>
        el("option", { value: s, selected: s === source }, s || "any source"))),
      el("button", { onclick: () => run(() => showUsers(1)) }, "Search")),
    table(["Email", "Full name", "Status", "Managed by"], rows), pager(data, (s) => run(() => showUsers(s))));
}

async function showUser(id) {
  const [user, access] = await Promise.all([api("GET", `/users/${encodeURIComponent(id)}`),
    api("GET", `/users/${encodeURIComponent(id)}/access`)]);
  const inScimGroup = user.groups.some((g) => g.managedBy === "scim");
  const managed = user.source === "scim" || Boolean(user.adopted);
  const locks = [];
  if (managed) locks.push("Deleted, disabled and enabled only in the identity provider (unassign them there).");
  if (inScimGroup) locks.push("In a group provisioned by Entra: email, full name and group assignments are changed in Entra.");
  show(`User ${user.email}`,
    el("p", {}, userBadges(user), `status ${user.status}`),
    el("ul", {}, locks.map((text) => el("li", {}, text))),
    table(["Group", "Identifier", "Managed by"], user.groups.map((g) =>
      el("tr", {}, el("td", {}, g.name), el("td", {}, g.identifier), el("td", {}, g.managedBy)))),
    el("h3", {}, "Access"), accessView(access),
    el("div", { class: "row" },
      el("button", { onclick: () => run(async () => {
        await api("PATCH", `/users/${encodeURIComponent(id)}`, { active: user.status !== "active" });
        await showUser(id);
        say(`${user.email} is now ${user.status === "active" ? "disabled" : "active"}.`);
      }) }, user.status === "active" ? "Disable" : "Enable"),
      el("button", { onclick: () => run(async () => {
        await api("DELETE", `/users/${encodeURIComponent(id)}`);
        say(`Deleted ${user.email}.`);
        await showUsers(1);
      }) }, "Delete")));
}

// Groups ----------------------------------------------------------------------------------------------------

async function showGroups(start = 1) {
  setCurrent("groups");
  const filter = ($("group-filter") || {}).value || "";
  const params = new URLSearchParams({ startIndex: start, count: 50 });
  if (filter) params.set("filter", filter);
  const data = await api("GET", `/groups?${params}`);
  const rows = data.groups.map((group) => {
    const id = encodeURIComponent(group.identifier);
    const actions = group.managedBy === "scim"
      ? el("td", {}, badge("locked", "SCIM-managed"), "No rename, delete or member changes here: change it in the identity provider.")
      : el("td", {}, badge("native", "native"),
        el("input", { "aria-label": `new name for ${group.name}`, placeholder: "new name", class: "rename" }),
        el("button", { onclick: (event) => run(async () => {
          const name = event.target.previousElementSibling.value;
          await api("PATCH", `/groups/${id}`, { name });
          await showGroups(start);
          say(`Renamed to ${name}.`);
        }) }, "Rename"),
        el("input", { "aria-label": `user id for ${group.name}`, placeholder: "user id" }),
        el("button", { onclick: (event) => run(async () => {
          await api("PUT", `/groups/${id}/members/${encodeURIComponent(event.target.previousElementSibling.value)}`);
          await showGroups(start);
          say(`Added to ${group.name}.`);
        }) }, "Add member"),
        el("button", { onclick: (event) => run(async () => {
          const user = event.target.previousElementSibling.previousElementSibling.value;
          await api("DELETE", `/groups/${id}/members/${encodeURIComponent(user)}`);
          await showGroups(start);
          say(`Removed from ${group.name}.`);
        }) }, "Remove member"));
    return el("tr", {}, el("td", {}, el("button", { onclick: () => run(() => showGroup(group.identifier)) }, group.name)),
      el("td", {}, group.identifier),
      el("td", {}, String(group.members.length)), actions);
  });
  show("Groups",
    el("div", { class: "row" }, el("input", { id: "group-filter", placeholder: "name", value: filter }),
      el("button", { onclick: () => run(() => showGroups(1)) }, "Search")),
    table(["Name", "Identifier (Harness)", "Members", ""], rows), pager(data, (s) => run(() => showGroups(s))));
}

async function showGroup(identifier) {
  const id = encodeURIComponent(identifier);
  const group = await api("GET", `/groups/${id}`);
  const placedByIdp = group.harnessScopes !== null;
  show(`Group ${group.name}`,
    el("p", {}, badge(group.managedBy === "scim" ? "locked" : "native", group.managedBy === "scim" ? "SCIM-managed" : "native"),
      `identifier ${group.identifier}, ${group.members.length} member(s)`),
    el("h3", {}, "Placements"),
    el("p", {}, placedByIdp ? `Placed by the identity provider (harnessScopes ${group.harnessScopes}): change them there.`
      : "The identity provider sends no harnessScopes for this group: place it here."),
    table(["Scope", "State", "Owner", "Since"], group.placements.map((p) => el("tr", { class: p.state === "pending" ? "failure" : "" },
      el("td", {}, p.scope), el("td", {}, p.state === "pending" ? "pending: the org or project does not exist yet" : "active"),
      el("td", {}, p.owner), el("td", {}, p.since)))),
    placedByIdp ? "" : el("div", { class: "row" },
      el("input", { id: "placement-scopes", "aria-label": "scopes, comma-separated",
        placeholder: `${state.account}:org, ${state.account}:org:project`,
        value: group.placements.map((p) => p.scope).join(", ") }),
      el("button", { onclick: () => run(async () => {
        const scopes = $("placement-scopes").value.split(",").map((x) => x.trim()).filter(Boolean);
        await api("PUT", `/groups/${id}/placements`, { scopes });
        await showGroup(identifier);
        say(`Placed ${group.name}.`);
      }) }, "Save placements")),
    el("h3", {}, "Role assignments"),
    table(["Scope", "Role", "Resource group"], group.roleAssignments.map((a) =>
      el("tr", {}, el("td", {}, a.scope), el("td", {}, a.role), el("td", {}, a.resourceGroup)))),
    el("button", { onclick: () => run(showScopes) }, "Assign roles on the Scopes page"));
}

function reason(via) {
  return via.type === "direct" ? "direct" : `group ${via.name || via.id}`;
}

function accessView(access) {
  if (!access.active) return el("p", {}, "Deactivated: no access anywhere.");
  return el("div", {},
    table(["Member of", "Why"], access.scopes.map((s) =>
      el("tr", {}, el("td", {}, s.scope), el("td", {}, s.via.map(reason).join(", "))))),
    table(["Scope", "Role", "Resource group", "Through", "Inherited from"], access.assignments.map((a) =>
      el("tr", {}, el("td", {}, a.scope), el("td", {}, a.role), el("td", {}, a.resourceGroup), el("td", {}, reason(a.via)),
        el("td", {}, a.inheritedFrom || "")))));
}

// Scopes and role assignments -------------------------------------------------------------------------------

async function showScopes() {
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
      el("td", {}, x.scope), el("td", {}, x.name), el("td", {}, x.level), el("td", {}, x.created), el("td", {}, remove(x))))),
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
      el("td", {}, a.scope), el("td", {}, a.role), el("td", {}, a.resourceGroup),
      el("td", {}, `${a.principal.type} ${a.principal.id}`),
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

// Activity --------------------------------------------------------------------------------------------------

async function showActivity(cursor = "") {
  setCurrent("activity");
  const values = {};
  for (const name of ["since", "until", "outcome", "operation", "resourceId", "idp"]) {
    const input = $(`activity-${name}`);
    if (input && input.value) values[name] = input.value;
  }
  const params = new URLSearchParams({ count: 50, ...values });
  if (cursor) params.set("cursor", cursor);
  const data = await api("GET", `/activity?${params}`);
  const field = (name, placeholder) => el("input", { id: `activity-${name}`, placeholder, value: values[name] || "" });
  const rows = data.activity.map((record) => el("tr", { class: record.status >= 400 ? "failure" : "" },
    el("td", {}, record.time), el("td", {}, record.operation), el("td", {}, String(record.status)),
    el("td", {}, `${record.resourceType} ${record.resourceId}`), el("td", {}, record.idp || record.actor),
    el("td", {}, el("details", {}, el("summary", {}, record.detail || "details"),
      el("pre", {}, JSON.stringify(record, null, 2))),
      record.queued || record.status >= 500
        ? el("button", { onclick: () => run(showFailures) }, "See failures") : "")));
  show("Activity",
    el("div", { class: "row" }, field("since", "since (ISO time)"), field("until", "until (ISO time)"),
      el("select", { id: "activity-outcome" }, ["", "success", "failure"].map((o) =>
        el("option", { value: o, selected: o === (values.outcome || "") }, o || "any outcome"))),
      field("operation", "operation prefix"), field("resourceId", "resource id"),
      el("select", { id: "activity-idp" }, ["", "entra", "okta", "onelogin"].map((i) =>
        el("option", { value: i, selected: i === (values.idp || "") }, i || "any identity provider"))),
      el("button", { onclick: () => run(() => showActivity()) }, "Filter")),
    table(["Time", "Operation", "Status", "Resource", "IdP / who", "Detail"], rows),
    data.nextCursor ? el("button", { onclick: () => run(() => showActivity(data.nextCursor)) }, "Older") : "");
}

// Failures --------------------------------------------------------------------------------------------------

async function showFailures() {
  setCurrent("failures");
  const data = await api("GET", "/failures");
  const failureRows = (items) => items.map((f) => el("tr", {}, el("td", {}, f.lastAttempt), el("td", {}, f.operation),
    el("td", {}, `${f.resourceType} ${f.resourceId}`), el("td", {}, f.lastError)));
  show("Failures",
    el("div", { class: "row" }, el("button", { id: "redrive", onclick: () => run(async () => {
      const result = await api("POST", "/failures/redrive");
      say(`Re-drove ${result.queued} piece(s) of recorded work; the retry queue carries them out.`);
    }) }, "Re-drive pending work"), el("button", { onclick: () => run(showFailures) }, "Refresh")),
    el("h3", {}, `Pending work (${data.pending.length})`),
    table(["Since", "Kind", "Resource", "Operation"], data.pending.map((w) => el("tr", {},
      el("td", {}, w.created), el("td", {}, w.kind), el("td", {}, `${w.resourceType} ${w.resourceId}`),
      el("td", {}, w.operation)))),
    el("h3", {}, `Placements waiting for their org or project (${data.pendingPlacements.length})`),
    table(["Group", "Scope", "Owner", "Since"], data.pendingPlacements.map((p) => el("tr", {},
      el("td", {}, p.group), el("td", {}, p.scope), el("td", {}, p.owner), el("td", {}, p.since)))),
    el("h3", {}, `Given up, not yet reported (${data.unreported.length})`),
    table(["Last attempt", "Operation", "Resource", "Last error"], failureRows(data.unreported)),
    el("h3", {}, `Given up, reported (${data.reported.length})`),
    table(["Last attempt", "Operation", "Resource", "Last error"], failureRows(data.reported)),
    el("h3", {}, "Digest emails sent"),
    table(["Sent", "Digest", "Failures"], data.digests.map((d) => el("tr", {},
      el("td", {}, d.sentAt), el("td", {}, d.digestId), el("td", {}, String(d.failures))))));
}

// Settings and tokens ---------------------------------------------------------------------------------------

async function showSettings(secret = "") {
  setCurrent("settings");
  const settings = await api("GET", "/settings");
  const tokens = await api("GET", "/tokens");
  const choice = (id, options) => el("select", { id }, options.map((o) => el("option", { value: o }, o)));
  show("Settings",
    el("label", {}, "Notification email", el("input", { id: "notification-email", value: settings.notificationEmail || "" })),
    el("label", {}, el("input", { id: "update-emails", type: "checkbox", checked: settings.updateEmailsViaScim }),
      " UPDATE_EMAILS_VIA_SCIM: apply userName and email changes sent by the identity provider"),
    el("button", { onclick: () => run(async () => {
      const email = $("notification-email").value.trim();
      await api("PATCH", "/settings", { notificationEmail: email || null, updateEmailsViaScim: $("update-emails").checked });
      say("Settings saved.");
    }) }, "Save settings"),
    el("h3", {}, "Tokens"),
    secret ? el("div", {}, el("p", {}, "Copy the new token now: it is shown this once."), el("p", { class: "secret", id: "new-token" }, secret)) : "",
    table(["Key id", "Scope", "Integration", "IdP", "Created", "Last used", "Expires", "State", ""], tokens.tokens.map((t) =>
      el("tr", {}, el("td", {}, t.keyId), el("td", {}, t.scope), el("td", {}, t.integration), el("td", {}, t.idp),
        el("td", {}, t.created), el("td", {}, t.lastUsed || "not recently"), el("td", {}, t.expires || "never"),
        el("td", {}, t.state),
        el("td", {}, t.state === "active" ? el("button", { onclick: () => run(async () => {
          await api("DELETE", `/tokens/${encodeURIComponent(t.keyId)}`);
          await showSettings();
          say(`Token ${t.keyId} revoked.`);
        }) }, "Revoke") : "")))),
    el("div", { class: "row" }, choice("token-scope", ["scim", "admin"]), choice("token-idp", ["entra", "okta", "onelogin"]),
      choice("token-integration", ["current", "legacy"]),
      el("input", { id: "token-days", placeholder: "expires in days (optional)" }),
      el("button", { onclick: () => run(async () => {
        const body = { scope: $("token-scope").value, idp: $("token-idp").value, integration: $("token-integration").value };
        if ($("token-days").value) body.expiresInDays = Number($("token-days").value);
        const created = await api("POST", "/tokens", body);
        await showSettings(created.token);
        say(`Token ${created.keyId} created.`);
      }) }, "Create token")));
}

// Connection help -------------------------------------------------------------------------------------------

function showConnection() {
  setCurrent("connection");
  const tenant = `${window.location.origin}/api/scim/account/${state.account}`;
  show("Connection",
    el("p", {}, "Tenant URL for Entra, Okta (SCIM connector base URL) and OneLogin (SCIM Base URL):"),
    el("p", { class: "secret", id: "tenant-url" }, tenant),
    el("p", {}, "Test connection does what Entra's Test Connection does: it looks up a user that does not exist with a SCIM token."),
    el("label", {}, "SCIM token", el("input", { id: "scim-token", type: "password", autocomplete: "off" })),
    el("button", { onclick: () => run(async () => {
      const filter = `userName eq "${crypto.randomUUID()}"`;
      const response = await fetch(`${tenant}/Users?filter=${encodeURIComponent(filter)}`,
        { headers: { Authorization: `Bearer ${$("scim-token").value}` } });
      say(response.ok ? `Connection OK: ${response.status}, as Entra expects.`
        : `Connection refused: ${response.status} (a wrong, revoked or admin-scoped token).`, !response.ok);
    }) }, "Test connection"));
}

// Sign in and out -------------------------------------------------------------------------------------------

const pages = { users: showUsers, groups: showGroups, scopes: showScopes, activity: showActivity, failures: showFailures,
  settings: showSettings, connection: showConnection };

function signedIn() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").textContent = `account ${state.account}`;
}

function signOut() {
  store.removeItem("scimAdminToken");
  store.removeItem("scimAccount");
  state.token = state.account = "";
  $("page").hidden = true;
  $("page").replaceChildren();
  $("nav").hidden = true;
  $("who").textContent = "";
  $("sign-in").hidden = false;
  $("token").value = "";
}

async function signIn() {
  state.account = $("account").value.trim();
  state.token = $("token").value.trim();
  try {
    await api("GET", "/settings");
  } catch (error) {
    state.token = "";
    say(error.status === 401
      ? `Refused: this is not an admin token of account ${state.account} (a SCIM token, or a wrong, expired or revoked one).`
      : `Refused: ${error.message}`, true);
    return;
  }
  store.setItem("scimAccount", state.account);
  store.setItem("scimAdminToken", state.token);
  signedIn();
  say("");
  await run(() => showUsers(1));
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-button").addEventListener("click", () => signIn());
  $("sign-out").addEventListener("click", () => { signOut(); say("Signed out."); });
  for (const button of document.querySelectorAll("nav button[data-page]")) {
    button.addEventListener("click", () => { say(""); run(() => pages[button.dataset.page]()); });
  }
  if (state.token && state.account) { signedIn(); run(() => showUsers(1)); }
});
