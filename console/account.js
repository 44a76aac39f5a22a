// The account's administration: failures, settings and tokens, and the connection help (OAuth clients).
import { $, api, clip, el, run, say, setCurrent, show, state, table, when } from "./core.js";

// Failures --------------------------------------------------------------------------------------------------

export async function showFailures() {
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

export async function showSettings(secret = "") {
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

export async function showConnection(secret = "") {
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

