// The directory pages: users (with their access and history) and groups (with their members and placements).
import { go } from "./app.js";
import { $, api, badge, clip, el, facts, link, pager, run, say, setCurrent, show, state, table, when } from "./core.js";

// Users -----------------------------------------------------------------------------------------------------

export function userBadges(user) {
  if (user.source === "scim") return badge("locked", `SCIM-managed (${user.integrations.join(", ") || "current"})`);
  if (user.adopted) return badge("adopted", `adopted by ${user.adopted.by}${user.adopted.at ? `, ${user.adopted.at}` : ""}`);
  return badge("native", "native");
}

export async function showUsers(start = 1) {
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

export async function showUser(id) {
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
export async function showHistory(id, cursor) {
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

export async function showGroups(start = 1) {
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

export async function showGroup(identifier, start = 1, search = "") {
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

export function reason(via) {
  return via.type === "direct" ? "direct" : `group ${via.name || via.id}`;
}

export function accessView(access) {
  if (!access.active) return el("p", {}, "Deactivated: no access anywhere.");
  return el("div", {},
    table(["Member of", "Why"], access.scopes.map((s) =>
      el("tr", {}, el("td", {}, s.scope), el("td", {}, s.via.map(reason).join(", "))))),
    table(["Scope", "Role", "Resource group", "Through", "Inherited from"], access.assignments.map((a) =>
      el("tr", {}, el("td", {}, a.scope), el("td", {}, a.role), el("td", {}, a.resourceGroup), el("td", {}, reason(a.via)),
        el("td", {}, a.inheritedFrom || "")))));
}

