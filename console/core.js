// What every page uses: the session (account and admin token, this tab only), the management API call, DOM helpers
// that only ever set text (textContent, never HTML), times, and the page frame.
import { signOut } from "./app.js";

export const store = window.sessionStorage;
export const state = { account: store.getItem("scimAccount") || "", token: store.getItem("scimAdminToken") || "" };
export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
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

export function say(text, error = false) {
  const message = $("message");
  message.textContent = text;
  message.className = error ? "error" : "";
}

export async function api(method, path, body) {
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

export function badge(kind, text) { return el("span", { class: `badge ${kind}` }, text); }

// Times: the admin's own time zone and a relative hint; the exact UTC time on hover and focus.
export const LOCAL_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
export const RELATIVE_TIME = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
export const TIME_UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600],
  ["minute", 60], ["second", 1]];

export function relativeTime(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  const [unit, size] = TIME_UNITS.find(([, length]) => Math.abs(seconds) >= length) || ["second", 1];
  return RELATIVE_TIME.format(Math.round(seconds / size), unit);
}

export function when(iso) {
  const date = iso ? new Date(iso) : null;
  if (!date || Number.isNaN(date.getTime())) return el("span", {}, iso || "—");
  const utc = `${date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "")} UTC`;
  return el("time", { datetime: date.toISOString(), title: utc, "aria-label": `${LOCAL_TIME.format(date)}, ${utc}`,
    tabindex: 0 }, `${LOCAL_TIME.format(date)} (${relativeTime(date)})`);
}

// Text from an identity provider can be anything, 8,000 characters without a space included: shown cut to its
// cell with an ellipsis, the whole value on hover and on focus (and copyable), never widening the page.
export function clip(text) {
  const value = text === undefined || text === null ? "" : String(text);
  return el("span", { class: "clip", title: value, tabindex: 0 }, value);
}

export function link(hash, text) { return el("a", { href: hash, class: "clip", title: text }, text); }

export function table(headings, rows) {
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length }, "Nothing here."))])));
}

export function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.flatMap(([name, value]) => [el("dt", {}, name),
    el("dd", {}, value instanceof Node ? value : clip(value === undefined || value === null || value === "" ? "—" : value))]));
}

export function show(title, ...content) {
  const page = $("page");
  page.replaceChildren(el("h2", {}, title), ...content);
  page.hidden = false;
}

export function pager(data, reload) {
  const start = data.startIndex, count = data.itemsPerPage, total = data.totalResults;
  if (!total) return el("div", { class: "row" }, "0 of 0");
  return el("div", { class: "row" },
    el("button", { disabled: start <= 1, onclick: () => reload(Math.max(1, start - 50)) }, "Previous"),
    `${total ? start : 0}–${start + count - 1} of ${total}`,
    el("button", { disabled: start + count > total, onclick: () => reload(start + count) }, "Next"));
}

export async function run(action) {
  try { await action(); } catch (error) {
    if (error.status === 401) { signOut(); say("Your token was refused (revoked or expired): sign in again.", true); }
    else say(`Refused: ${error.message}`, true);
  }
}

export function setCurrent(name) {
  for (const button of document.querySelectorAll("nav button[data-page]")) {
    button.classList.toggle("current", button.dataset.page === name);
  }
}

