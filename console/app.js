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

// Times: the admin's own time zone and a relative hint; the exact UTC time on hover and focus.
const LOCAL_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const RELATIVE_TIME = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const TIME_UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600],
  ["minute", 60], ["second", 1]];

function relativeTime(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  const [unit, size] = TIME_UNITS.find(([, length]) => Math.abs(seconds) >= length) || ["second", 1];
  return RELATIVE_TIME.format(Math.round(seconds / size), unit);
}

function when(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return el("span", {}, iso || "—");
  const utc = `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
  return el("time", { datetime: date.toISOString(), title: utc, "aria-label": `${LOCAL_TIME.format(date)}, ${utc}`,
    tabindex: 0 }, `${LOCAL_TIME.format(date)} (${relativeTime(date)})`);
}

// Text from an identity provider can be anything, 8,000 characters without a space included: shown cut to its
// cell with an ellipsis, the whole value on hover and on focus (and copyable), never widening the page.
function clip(text) {
  const value = text === undefined || text === null ? "" : String(text);
  return el("span", { class: "clip", title: value, tabindex: 0 }, value);
}

function link(hash, text) { return el("a", { href: hash, class: "clip", title: text }, text); }

function table(headings, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length }, "Nothing here."))])));
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.flatMap(([name, value]) => [el("dt", {}, name),
    el("dd", {}, value instanceof Node ? value : clip(value === undefined || value === null || value === "" ? "—" : value))]));
}

function show(title, ...content) {
  const page = $("page");
  page.replaceChildren(el("h2", {}, title), ...content);
  page.hidden = false;
}

function pager(data, reload) {
  const start = data.startIndex, count = data.itemsPerPage, total = data.totalResults;
  if (!total) return el("div", { class: "row" }, "0 of 0");
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
    el("td", {}, link(`#user/${encodeURIComponent(user.id)}`, user.email)),
    el("td", {}, clip(user.fullName)), el("td", {}, user.status), el("td", {}, userBadges(user))));
  show("Users",
    el("div", { class: "row" },
      el("input", { id: "user-filter", placeholder: "name or email", "aria-label": "search users by name or email",
        value: filter }),
      el("select", { id: "user-source", "aria-label": "managed by" }, ["", "scim", "adopted", "native"].map((s) =>
        el("option", { value: s, selected: s === source }, s || "any source"))),
      el("button", { onclick: () => run(() => showUsers(1)) }, "Search")),
    table(["Email", "Full name", "Status", "Managed by"], rows), pager(data, (s) => run(() => showUsers(s))));
}

async function showUser(id) {
  setCurrent("users");
  const path = `/users/${encodeURIComponent(id)}`;
  const [user, access] = await Promise.all([api("GET", path), api("GET", `${path}/access`)]);
  const inScimGroup = user.groups.some((g) => g.managedBy === "scim");
  const managed = user.source === "scim" || Boolean(user.adopted);
  const locks = [];
  if (managed) locks.push("Deleted, disabled and enabled only in the identity provider (unassign them there).");
  if (inScimGroup) locks.push("In a group provisioned by Entra: email, full name and group assignments are changed in Entra.");
  const changer = user.lastChangedBy;
  const resource = el("pre", { id: "scim-resource" });
  show(`User ${user.email}`,
    facts([["Email", user.primaryEmail], ["Full name", user.fullName], ["userName", user.userName],
      ["externalId", user.externalId], ["Status", user.status], ["Managed by", userBadges(user)],
      ["Created", when(user.created)], ["Last changed", when(user.lastModified)],
      ["Last changed through", changer ? `token ${changer.keyId} (${changer.idp})` : "not by an identity provider"]]),
    el("ul", {}, locks.map((text) => el("li", {}, text))),
    el("h3", {}, "Groups"),
    table(["Group", "Identifier", "Managed by"], user.groups.map((g) =>
      el("tr", {}, el("td", {}, link(`#group/${encodeURIComponent(g.identifier)}`, g.name)), el("td", {}, clip(g.identifier)),
        el("td", {}, g.managedBy)))),
    el("h3", {}, "Access"), accessView(access),
    el("h3", {}, "History"), el("ol", { id: "history", class: "timeline" }),
    el("div", { class: "row" }, el("button", { id: "history-older", hidden: true }, "Older events")),
    el("details", { ontoggle: (event) => { if (event.target.open && !resource.textContent) run(async () => {
      resource.textContent = JSON.stringify(await api("GET", `${path}/scim`), null, 2);
    }); } }, el("summary", {}, "The SCIM resource, as the identity provider reads it"), resource),
    el("div", { class: "row" },
      el("button", { onclick: () => run(async () => {
        await api("PATCH", path, { active: user.status !== "active" });
        await showUser(id);
        say(`${user.email} is now ${user.status === "active" ? "disabled" : "active"}.`);
      }) }, user.status === "active" ? "Disable" : "Enable"),
      el("button", { onclick: () => run(async () => {
        await api("DELETE", path);
        say(`Deleted ${user.email}.`);
        go("#users");
      }) }, "Delete")));
  await showHistory(id, "");
}

// A person's story from the activity log, newest first: created, changed, deactivated, groups joined and left,
// refused requests that carried their externalId.
async function showHistory(id, cursor) {
  const params = new URLSearchParams({ count: 50 });
  if (cursor) params.set("cursor", cursor);
  const data = await api("GET", `/users/${encodeURIComponent(id)}/history?${params}`);
  const list = $("history");
  if (!list) return;
  for (const event of data.history) {
    const group = event.what.startsWith("joined group") || event.what.startsWith("left group");
    list.append(el("li", { class: event.status >= 400 ? "failure" : "" }, when(event.time), " ",
      el("strong", {}, group ? event.what.replace(/ group .*/, " group ") : event.what),
      group ? link(`#group/${encodeURIComponent(event.resourceId)}`, event.resourceId) : "",
      ` · ${event.idp || "admin"} ${event.actor ? `(token ${event.actor})` : ""}`,
      event.externalId && event.status >= 400 ? ` · externalId ${event.externalId}` : "",
      event.access.length ? el("div", { class: "access-change" }, event.access.join("; ")) : "",
      event.detail && event.status >= 400 ? el("div", {}, clip(event.detail)) : ""));
  }
  if (!list.children.length) list.append(el("li", {}, "Nothing in the activity log about this user."));
  const older = $("history-older");
  older.hidden = !data.nextCursor;
  older.onclick = () => run(() => showHistory(id, data.nextCursor));
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
      ? el("td", {}, badge("locked", "SCIM-managed"), "Change it in the identity provider.")
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
    return el("tr", {}, el("td", {}, link(`#group/${id}`, group.name)), el("td", {}, clip(group.identifier)),
      el("td", {}, String(group.memberCount)), actions);
  });
  show("Groups",
    el("div", { class: "row" }, el("input", { id: "group-filter", placeholder: "name", "aria-label": "search groups by name", value: filter }),
      el("button", { onclick: () => run(() => showGroups(1)) }, "Search")),
    table(["Name", "Identifier (Harness)", "Members", ""], rows), pager(data, (s) => run(() => showGroups(s))));
}

async function showGroup(identifier, start = 1, search = "") {
  setCurrent("groups");
  const id = encodeURIComponent(identifier);
  const params = new URLSearchParams({ startIndex: start, count: 50 });
  if (search) params.set("filter", search);
  const [group, members] = await Promise.all([api("GET", `/groups/${id}`), api("GET", `/groups/${id}/members?${params}`)]);
  const placedByIdp = group.harnessScopes !== null;
  const reload = (from) => run(() => showGroup(identifier, from, $("member-search").value.trim()));
  show(`Group ${group.name}`,
    facts([["Display name", group.name], ["Identifier (Harness)", group.identifier], ["externalId", group.externalId],
      ["Managed by", badge(group.managedBy === "scim" ? "locked" : "native", group.managedBy === "scim" ? "SCIM-managed" : "native")],
      ["Members", String(group.memberCount)], ["Created", when(group.created)], ["Last changed", when(group.lastModified)]]),
    el("h3", {}, "Members"),
    el("div", { class: "row" },
      el("input", { id: "member-search", "aria-label": "search the members by email or name", placeholder: "email or name",
        value: search, onkeydown: (event) => { if (event.key === "Enter") reload(1); } }),
      el("button", { onclick: () => reload(1) }, "Search members")),
    table(["Email", "Full name", "Status"], members.members.map((m) => el("tr", {},
      el("td", {}, link(`#user/${encodeURIComponent(m.id)}`, m.email)), el("td", {}, clip(m.fullName)), el("td", {}, m.status)))),
    pager(members, reload),
    el("h3", {}, "Placements"),
    el("p", {}, placedByIdp ? `Placed by the identity provider (harnessScopes ${group.harnessScopes}): change them there.`
      : "The identity provider sends no harnessScopes for this group: place it here."),
    table(["Scope", "State", "Owner", "Since"], group.placements.map((p) => el("tr", { class: p.state === "pending" ? "failure" : "" },
      el("td", {}, clip(p.scope)), el("td", {}, p.state === "pending" ? "pending: the org or project does not exist yet" : "active"),
      el("td", {}, p.owner), el("td", {}, when(p.since))))),
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
      el("tr", {}, el("td", {}, clip(a.scope)), el("td", {}, a.role), el("td", {}, a.resourceGroup)))),
    el("button", { onclick: () => go("#scopes") }, "Assign roles on the Scopes page"));
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

// Activity --------------------------------------------------------------------------------------------------

const ACTIVITY_FILTERS = ["since", "until", "outcome", "operation", "resourceId", "idp"];
const ACTIVITY_KINDS = [["provisioning", "Provisioning (SCIM)"], ["audit", "Admin audit"], ["all", "All"]];

async function showActivity(cursor = "", preset = null) {
  setCurrent("activity");
  const values = {};
  for (const name of ACTIVITY_FILTERS) {
    const input = $(`activity-${name}`);
    const value = preset ? preset.get(name) : input && input.value;
    if (value) values[name] = value;
  }
  const kind = (preset && preset.get("kind")) || ($("activity-tabs") || { dataset: {} }).dataset.kind || "provisioning";
  const params = new URLSearchParams({ count: 50, kind, ...values });
  if (cursor) params.set("cursor", cursor);
  const data = await api("GET", `/activity?${params}`);
  const field = (name, label) => el("input", { id: `activity-${name}`, placeholder: label, "aria-label": label,
    value: values[name] || "" });
  const rows = data.activity.map((record) => el("tr", { class: record.status >= 400 ? "failure" : "" },
    el("td", {}, when(record.time)), el("td", {}, record.operation),
    el("td", {}, String(record.status) + (record.count > 1 ? ` ×${record.count}` : "")),
    el("td", {}, clip(`${record.resourceType} ${record.resourceId}`)), el("td", {}, clip(record.idp || record.actor)),
    el("td", {}, el("details", {}, el("summary", {}, clip(record.detail || "details")),
      el("pre", {}, JSON.stringify(record, null, 2))),
      record.queued || record.status >= 500
        ? el("button", { onclick: () => go("#failures") }, "See failures") : "")));
  show("Activity",
    el("div", { id: "activity-tabs", role: "tablist", "aria-label": "which records", "data-kind": kind, class: "row" },
      ACTIVITY_KINDS.map(([value, label]) => el("button", { role: "tab", "aria-selected": String(value === kind),
        class: value === kind ? "tab current" : "tab", onclick: () => {
          $("activity-tabs").dataset.kind = value;
          run(() => showActivity());
        } }, label))),
    el("div", { class: "row" }, field("since", "since (ISO time)"), field("until", "until (ISO time)"),
      el("select", { id: "activity-outcome", "aria-label": "outcome" }, ["", "success", "failure"].map((o) =>
        el("option", { value: o, selected: o === (values.outcome || "") }, o || "any outcome"))),
      field("operation", "operation prefix"), field("resourceId", "resource id"),
      el("select", { id: "activity-idp", "aria-label": "identity provider" }, ["", "entra", "okta", "onelogin"].map((i) =>
        el("option", { value: i, selected: i === (values.idp || "") }, i || "any identity provider"))),
      el("button", { onclick: () => run(() => showActivity()) }, "Filter")),
    table(["Time", "Operation", "Status", "Resource", "IdP / who", "Detail"], rows),
    data.nextCursor ? el("button", { onclick: () => run(() => showActivity(data.nextCursor)) }, "Older") : "");
}

// Overview ----------------------------------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// The chart is SVG drawn here (no library to load, nothing inline for the CSP to refuse): a bar per hour or day,
// successes and failures stacked; each bar names its numbers on hover and focus, and the same figures are in the
// table below it for screen readers.
function chart(series, bucket) {
  const width = 720, height = 180, left = 36, bottom = 20, top = 8;
  const peak = Math.max(1, ...series.map((b) => b.succeeded + b.failed));
  const step = (width - left) / Math.max(1, series.length);
  const y = (value) => top + (height - top - bottom) * (1 - value / peak);
  const label = (b) => {
    const start = new Date(b.start);
    const text = bucket === "hour" ? LOCAL_TIME.format(start) : start.toLocaleDateString();
    return `${text}: ${b.succeeded} succeeded, ${b.failed} failed`;
  };
  const bars = series.map((b, n) => svg("g", { class: "bar", tabindex: 0, "data-start": b.start,
    "data-succeeded": b.succeeded, "data-failed": b.failed, role: "img", "aria-label": label(b) },
  svg("title", {}, label(b)),
  svg("rect", { class: "ok", x: left + n * step + 1, width: Math.max(1, step - 2), y: y(b.succeeded + b.failed) + (y(0) - y(b.failed)),
    height: y(0) - y(b.succeeded) }),
  svg("rect", { class: "failed", x: left + n * step + 1, width: Math.max(1, step - 2), y: y(b.succeeded + b.failed),
    height: y(0) - y(b.failed) })));
  const axis = [svg("line", { class: "axis", x1: left, x2: width, y1: y(0), y2: y(0) }),
    svg("text", { class: "tick", x: left - 4, y: y(peak) + 4, "text-anchor": "end" }, String(peak)),
    svg("text", { class: "tick", x: left - 4, y: y(0), "text-anchor": "end" }, "0")];
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "group",
    "aria-label": `Requests per ${bucket}, successes and failures` }, ...axis, ...bars);
}

function figure(label, value, hash, warn = false) {
  return el("a", { class: warn ? "figure warn" : "figure", href: hash }, el("span", { class: "value" }, value),
    el("span", { class: "label" }, label));
}

async function showOverview(preset = null) {
  setCurrent("overview");
  const window_ = (preset && preset.get("window")) || "24h";
  const data = await api("GET", `/overview?window=${encodeURIComponent(window_)}`);
  const since = encodeURIComponent(data.from);
  const share = `${(data.requests.failureShare * 100).toFixed(1)} %`;
  const work = data.work;
  show("Overview",
    el("div", { class: "row", role: "group", "aria-label": "time window" }, ["24h", "7d", "30d"].map((w) =>
      el("a", { href: `#overview?window=${w}`, class: w === window_ ? "tab current" : "tab",
        "aria-current": w === window_ ? "page" : false }, `last ${w}`))),
    el("div", { class: "figures" },
      figure("requests", data.requests.total.toLocaleString(), `#activity?since=${since}`),
      figure("failed", data.requests.failed.toLocaleString(), `#activity?outcome=failure&since=${since}`,
        data.requests.failed > 0),
      figure("share of failures (Entra quarantines on a high one)", share, `#activity?outcome=failure&since=${since}`,
        data.requests.failureShare >= 0.1),
      figure("work queued", String(work.pending), "#failures", work.pending > 0),
      figure("given up", String(work.givenUpUnreported + work.givenUpReported), "#failures",
        work.givenUpUnreported + work.givenUpReported > 0),
      figure("placements waiting for a scope", String(work.pendingPlacements), "#failures", work.pendingPlacements > 0),
      figure("digest emails sent", String(work.digestsSent), "#failures")),
    el("h3", {}, "Identity providers"),
    table(["Identity provider", "Last request", "Token", ""], data.identityProviders.map((idp) => el("tr", {},
      el("td", {}, idp.idp), el("td", {}, when(idp.lastSeen)), el("td", {}, clip(idp.keyId)),
      el("td", {}, idp.quiet ? badge("locked", "quiet for over an hour") : "")))),
    el("h3", {}, `Requests per ${data.bucket}`),
    el("div", { class: "chart-box" }, chart(data.series, data.bucket)),
    el("p", { class: "legend" }, el("span", { class: "swatch ok" }), " succeeded ", el("span", { class: "swatch failed" }),
      " failed"),
    el("details", {}, el("summary", {}, "The chart's figures"),
      table(["From", "Succeeded", "Failed"], data.series.map((b) => el("tr", {}, el("td", {}, when(b.start)),
        el("td", {}, String(b.succeeded)), el("td", {}, String(b.failed)))))),
    el("h3", {}, "By operation"),
    table(["Operation", "Succeeded", "Failed"], data.operations.map((o) => el("tr", {},
      el("td", {}, el("a", { href: `#activity?operation=${encodeURIComponent(o.operation)}&since=${since}` }, o.operation)),
      el("td", {}, o.succeeded.toLocaleString()),
      el("td", {}, o.failed ? el("a", { href: `#activity?operation=${encodeURIComponent(o.operation)}&outcome=failure&since=${since}` },
        o.failed.toLocaleString()) : "0")))),
    el("h3", {}, "Tokens last seen"),
    table(["Key id", "Identity provider", "Last request", "State"], data.tokens.map((t) => el("tr", {},
      el("td", {}, clip(t.keyId)), el("td", {}, t.idp), el("td", {}, when(t.lastSeen)), el("td", {}, t.state)))),
    data.unknownKeyIds > 20 ? el("p", { class: "failure" }, `${data.unknownKeyIds.toLocaleString()} key ids that are no `
      + "token of this account were presented (the newest 20 above): someone is guessing, see the refused requests.") : "");
}

// Failures --------------------------------------------------------------------------------------------------

async function showFailures() {
  setCurrent("failures");
  const data = await api("GET", "/failures");
  const failureRows = (items) => items.map((f) => el("tr", {}, el("td", {}, when(f.lastAttempt)), el("td", {}, f.operation),
    el("td", {}, clip(`${f.resourceType} ${f.resourceId}`)), el("td", {}, clip(f.lastError))));
  show("Failures",
    el("div", { class: "row" }, el("button", { id: "redrive", onclick: () => run(async () => {
      const result = await api("POST", "/failures/redrive");
      say(`Re-drove ${result.queued} piece(s) of recorded work; the retry queue carries them out.`);
    }) }, "Re-drive pending work"), el("button", { onclick: () => run(showFailures) }, "Refresh")),
    el("h3", {}, `Pending work (${data.pending.length})`),
    table(["Since", "Kind", "Resource", "Operation"], data.pending.map((w) => el("tr", {},
      el("td", {}, when(w.created)), el("td", {}, w.kind), el("td", {}, clip(`${w.resourceType} ${w.resourceId}`)),
      el("td", {}, w.operation)))),
    el("h3", {}, `Placements waiting for their org or project (${data.pendingPlacements.length})`),
    table(["Group", "Scope", "Owner", "Since"], data.pendingPlacements.map((p) => el("tr", {},
      el("td", {}, clip(p.group)), el("td", {}, clip(p.scope)), el("td", {}, p.owner), el("td", {}, when(p.since))))),
    el("h3", {}, `Given up, not yet reported (${data.unreported.length})`),
    table(["Last attempt", "Operation", "Resource", "Last error"], failureRows(data.unreported)),
    el("h3", {}, `Given up, reported (${data.reported.length})`),
    table(["Last attempt", "Operation", "Resource", "Last error"], failureRows(data.reported)),
    el("h3", {}, "Digest emails sent"),
    table(["Sent", "Digest", "Failures"], data.digests.map((d) => el("tr", {},
      el("td", {}, when(d.sentAt)), el("td", {}, clip(d.digestId)), el("td", {}, String(d.failures))))));
}

// Settings and tokens ---------------------------------------------------------------------------------------

async function showSettings(secret = "") {
  setCurrent("settings");
  const settings = await api("GET", "/settings");
  const tokens = await api("GET", "/tokens");
  const choice = (id, options, label) => el("select", { id, "aria-label": label },
    options.map((o) => el("option", { value: o }, o)));
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
        el("td", {}, when(t.created)), el("td", {}, t.lastUsed ? when(t.lastUsed) : "not recently"),
        el("td", {}, t.expires ? when(t.expires) : "never"),
        el("td", {}, t.state),
        el("td", {}, t.state === "active" ? el("button", { onclick: () => run(async () => {
          await api("DELETE", `/tokens/${encodeURIComponent(t.keyId)}`);
          await showSettings();
          say(`Token ${t.keyId} revoked.`);
        }) }, "Revoke") : "")))),
    el("div", { class: "row" }, choice("token-scope", ["scim", "admin"], "token scope"),
      choice("token-idp", ["entra", "okta", "onelogin"], "identity provider"),
      choice("token-integration", ["current", "legacy"], "app integration"),
      el("input", { id: "token-days", placeholder: "expires in days (optional)", "aria-label": "expires in days (optional)" }),
      el("button", { onclick: () => run(async () => {
        const body = { scope: $("token-scope").value, idp: $("token-idp").value, integration: $("token-integration").value };
        if ($("token-days").value) body.expiresInDays = Number($("token-days").value);
        const created = await api("POST", "/tokens", body);
        await showSettings(created.token);
        say(`Token ${created.keyId} created.`);
      }) }, "Create token")));
}

// Connection help -------------------------------------------------------------------------------------------

async function showConnection(secret = "") {
  setCurrent("connection");
  const tenant = `${window.location.origin}/api/scim/account/${state.account}`;
  const oauth = await api("GET", "/oauth-clients");
  const revoke = (path, what) => el("button", { onclick: () => run(async () => {
    await api("DELETE", path);
    await showConnection();
    say(`${what} revoked.`);
  }) }, "Revoke");
  const credentials = (c) => c.kind === "federated"
    ? `federated: ${c.federation.issuer} (subject ${c.federation.subject})`
    : c.secrets.map((s) => `${s.secretId} ${s.state}, expires ${when(s.expires)}`).join("; ");
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
    }) }, "Test connection"),
    el("h3", {}, "OAuth 2.0 clients"),
    el("p", {}, "Token URL (Entra's OAuth2 client credentials grant and workload identity federation):"),
    el("p", { class: "secret", id: "token-url" }, oauth.tokenUrl),
    secret ? el("div", {}, el("p", {}, "Copy the client secret now: it is shown this once."),
      el("p", { class: "secret", id: "new-secret" }, secret)) : "",
    table(["Client id", "IdP", "Credentials", "Token minutes", "Last used", "State", ""], oauth.clients.map((c) =>
      el("tr", {}, el("td", {}, c.clientId), el("td", {}, c.idp), el("td", {}, clip(credentials(c))),
        el("td", {}, String(c.tokenMinutes)), el("td", {}, c.lastUsed ? when(c.lastUsed) : "never"),
        el("td", {}, c.state),
        el("td", {}, c.state === "active" ? el("span", {},
          c.kind === "secret" ? el("button", { onclick: () => run(async () => {
            const added = await api("POST", `/oauth-clients/${encodeURIComponent(c.clientId)}/secrets`, {});
            await showConnection(added.secret);
            say(`Secret ${added.secretId} added to ${c.clientId}: put it in the identity provider, then revoke the old one.`);
          }) }, "Add secret") : "",
          ...(c.kind === "secret" ? c.secrets.filter((s) => s.state === "active").map((s) =>
            revoke(`/oauth-clients/${encodeURIComponent(c.clientId)}/secrets/${encodeURIComponent(s.secretId)}`,
              `Secret ${s.secretId}`)) : []),
          revoke(`/oauth-clients/${encodeURIComponent(c.clientId)}`, `Client ${c.clientId}`)) : "")))),
    el("div", { class: "row" },
      el("select", { id: "client-idp", "aria-label": "identity provider of the new client" },
        ["entra", "okta", "onelogin"].map((o) => el("option", { value: o }, o))),
      el("button", { onclick: () => run(async () => {
        const created = await api("POST", "/oauth-clients", { idp: $("client-idp").value });
        await showConnection(created.secret);
        say(`Client ${created.clientId} created.`);
      }) }, "Create client with a secret")));
}

// Sign in and out -------------------------------------------------------------------------------------------

const pages = { overview: (preset) => showOverview(preset), users: () => showUsers(1), groups: () => showGroups(1),
  scopes: showScopes, activity: (preset) => showActivity("", preset), failures: showFailures,
  settings: () => showSettings(), connection: showConnection };

// Every page has its own URL fragment (#users, #user/<id>, #group/<identifier>, ...): links are real links, and the
// back button and a reload return to the page. Never the token: it stays in sessionStorage.
function go(hash) {
  if (window.location.hash === hash) run(route);
  else window.location.hash = hash;
}

async function route() {
  if (!state.token) return;
  const [path, query] = window.location.hash.replace(/^#/, "").split("?");
  const [name, ...rest] = path.split("/");
  const id = decodeURIComponent(rest.join("/"));
  if (name === "user" && id) return showUser(id);
  if (name === "group" && id) return showGroup(id);
  return (pages[name] || pages.overview)(query === undefined ? null : new URLSearchParams(query));
}

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
  go(window.location.hash || "#overview");
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-button").addEventListener("click", () => signIn());
  $("sign-out").addEventListener("click", () => { signOut(); say("Signed out."); });
  for (const button of document.querySelectorAll("nav button[data-page]")) {
    button.addEventListener("click", () => { say(""); go(`#${button.dataset.page}`); });
  }
  window.addEventListener("hashchange", () => run(route));
  if (state.token && state.account) { signedIn(); run(route); }
});
