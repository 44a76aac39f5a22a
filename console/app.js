// The admin console: plain DOM (every text goes through textContent, never HTML), talking only to the management
// API of this origin with the admin token kept in sessionStorage (this tab only), sent as a bearer header.
// The entry module: the page for each URL fragment, and signing in and out.
import { showConnection, showFailures, showSettings } from "./account.js";
import { showActivity, showOverview } from "./activity.js";
import { $, api, run, say, state, store } from "./core.js";
import { showGroup, showGroups, showUser, showUsers } from "./directory.js";
import { showScopes } from "./scopes.js";

// Sign in and out -------------------------------------------------------------------------------------------

export const pages = { overview: (preset) => showOverview(preset), users: () => showUsers(1), groups: () => showGroups(1),
  scopes: showScopes, activity: (preset) => showActivity("", preset), failures: showFailures,
  settings: () => showSettings(), connection: showConnection };

// Every page has its own URL fragment (#users, #user/<id>, #group/<identifier>, ...): links are real links, and the
// back button and a reload return to the page. Never the token: it stays in sessionStorage.
export function go(hash) {
  if (window.location.hash === hash) run(route);
  else window.location.hash = hash;
}

export async function route() {
  if (!state.token) return;
  const [path, query] = window.location.hash.replace(/^#/, "").split("?");
  const [name, ...rest] = path.split("/");
  const id = decodeURIComponent(rest.join("/"));
  if (name === "user" && id) return showUser(id);
  if (name === "group" && id) return showGroup(id);
  return (pages[name] || pages.overview)(query === undefined ? null : new URLSearchParams(query));
}

export function signedIn() {
  $("sign-in").hidden = true;
  $("nav").hidden = false;
  $("who").textContent = `account ${state.account}`;
}

export function signOut() {
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

export async function signIn() {
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
