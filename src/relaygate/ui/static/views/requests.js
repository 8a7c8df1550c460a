// Requests: the request log, newest first, filtered and paged; a row opens to show its attempts.

import { api } from "../api.js";
import { badge, count, field, h, ms, notice, replace, usd, utc } from "../dom.js";

const PAGE = 50;
const STATUSES = [["", "any"], ["ok", "ok"], ["error", "errors"], ...["400", "401", "403", "404", "429", "499",
  "500", "502", "503", "504"].map((c) => [c, c])];
const COLUMNS = ["Time (UTC)", "Key", "Model", "Provider", "Status", "Tokens in → out", "Cost", "Latency", "TTFT"];

function tone(status) {
  return status < 400 ? "good" : status < 500 ? "warn" : "bad";
}

/** A datetime-local value, read as UTC, in ISO-8601. */
function utcInput(value) {
  return value ? new Date(value + "Z").toISOString() : "";
}

function attemptsTable(attempts) {
  if (!attempts?.length) return h("p.muted", {}, "No upstream attempt (refused before routing).");
  return h("table.grid.attempts", {},
    h("thead", {}, h("tr", {}, ["#", "Provider", "Upstream model", "Status", "Latency", "Error"]
      .map((t) => h("th", {}, t)))),
    h("tbody", {}, attempts.map((a, i) => h("tr.attempt", {},
      h("td", {}, i + 1), h("td", {}, a.provider), h("td.mono", {}, a.model),
      h("td", {}, badge(String(a.status), tone(a.status))), h("td.num", {}, ms(a.latency_ms)),
      h("td", {}, a.error || "")))));
}

function detail(r) {
  const facts = [["Request id", r.request_id], ["Client's request id", r.client_request_id || "–"],
    ["Reasoning tokens", count(r.reasoning_tokens)],
    ["Cached tokens", count(r.cached_tokens)], ["Streamed", r.stream ? "yes" : "no"],
    ["Error code", r.error_code || "–"]];
  return h("tr.detail", { dataset: { detailOf: r.id } }, h("td", { colspan: COLUMNS.length },
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    attemptsTable(r.attempts)));
}

function row(r) {
  const tr = h("tr.request", { dataset: { id: r.id }, tabindex: 0, "aria-expanded": "false" },
    h("td.mono", {}, utc(r.created_at)),
    h("td", {}, r.key),
    h("td", {}, r.model, r.stream ? h("span.tag", {}, "stream") : null),
    h("td", {}, r.provider || "–", r.upstream_model && r.upstream_model !== r.model
      ? h("small", {}, r.upstream_model) : null),
    h("td", {}, badge(String(r.status), tone(r.status)), r.error_code ? h("small", {}, r.error_code) : null),
    h("td.num.tokens", {}, `${count(r.prompt_tokens)} → ${count(r.completion_tokens)}`),
    h("td.num", {}, usd(r.cost)),
    h("td.num", {}, ms(r.latency_ms)),
    h("td.num", {}, ms(r.ttft_ms)));
  const toggle = () => {
    const open = tr.nextElementSibling?.classList.contains("detail");
    if (open) tr.nextElementSibling.remove();
    else tr.after(detail(r));
    tr.setAttribute("aria-expanded", String(!open));
  };
  tr.addEventListener("click", toggle);
  tr.addEventListener("keydown", (e) => { if (e.key === "Enter") toggle(); });
  return tr;
}

function filters(apply) {
  const text = (name, placeholder) => h("input", { name, placeholder, autocomplete: "off" });
  const form = h("form.filters", {},
    field("Key", text("key", "any key")), field("Model", text("model", "any model")),
    field("Provider", text("provider", "any provider")),
    field("Status", h("select", { name: "status" }, STATUSES.map(([v, t]) => h("option", { value: v }, t)))),
    field("Since (UTC)", h("input", { type: "datetime-local", name: "since" })),
    field("Until (UTC)", h("input", { type: "datetime-local", name: "until" })),
    h("button.primary", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = (name) => form.elements[name].value.trim();
    apply({ key: value("key"), model: value("model"), provider: value("provider"), status: value("status"),
      since: utcInput(value("since")), until: utcInput(value("until")) });
  });
  return form;
}

export function renderRequests(view) {
  let params = {};
  let cursors = [null]; // `before` of each page seen, so "Newer" can step back
  const body = h("tbody");
  const newer = h("button.ghost", { type: "button", onclick: () => { cursors.pop(); load(); } }, "← Newer");
  const older = h("button.ghost", { type: "button" }, "Older →");
  const position = h("span.muted");

  async function load() {
    try {
      const before = cursors[cursors.length - 1];
      const { data, has_more: more } = await api.requests({ ...params, limit: PAGE, before });
      replace(body, data.length ? data.map(row)
        : h("tr", {}, h("td.empty", { colspan: COLUMNS.length }, "No requests match.")));
      newer.disabled = cursors.length === 1;
      older.disabled = !more;
      older.onclick = () => { cursors.push(data[data.length - 1].id); load(); };
      position.textContent = `page ${cursors.length}`;
      notice(view, "");
    } catch (error) {
      notice(view, error.message);
    }
  }

  replace(view,
    h("div.head", {}, h("h1", {}, "Requests"), h("p.summary", {}, "newest first · click a row for its attempts"),
      h("button.ghost", { type: "button", onclick: () => { cursors = [null]; load(); } }, "Refresh")),
    filters((given) => { params = given; cursors = [null]; load(); }),
    h("div.card.flush", {}, h("table.grid.log", {},
      h("thead", {}, h("tr", {}, COLUMNS.map((t, i) => h(i >= 5 ? "th.num" : "th", {}, t)))),
      body)),
    h("div.pager", {}, newer, position, older));
  load();
}
