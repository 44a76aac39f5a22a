// The activity log and the overview built from its hourly counts.
import { go } from "./app.js";
import { $, LOCAL_TIME, api, badge, clip, el, run, setCurrent, show, table, when } from "./core.js";

// Activity --------------------------------------------------------------------------------------------------

export const ACTIVITY_FILTERS = ["since", "until", "outcome", "operation", "resourceId", "idp"];
export const ACTIVITY_KINDS = [["provisioning", "Provisioning (SCIM)"], ["audit", "Admin audit"], ["all", "All"]];

export async function showActivity(cursor = "", preset = null) {
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

export const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

// The chart is SVG drawn here (no library to load, nothing inline for the CSP to refuse): a bar per hour or day,
// successes and failures stacked; each bar names its numbers on hover and focus, and the same figures are in the
// table below it for screen readers.
export function chart(series, bucket) {
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

export function figure(label, value, hash, warn = false) {
  return el("a", { class: warn ? "figure warn" : "figure", href: hash }, el("span", { class: "value" }, value),
    el("span", { class: "label" }, label));
}

export async function showOverview(preset = null) {
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

