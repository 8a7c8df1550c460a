// Providers: every deployment's circuit, error rate, latency and load, refreshed every few seconds.

import { api } from "../api.js";
import { meter } from "../charts.js";
import { badge, count, h, ms, notice, replace } from "../dom.js";

const REFRESH_MS = 5000;
const STATES = { closed: ["closed", "good"], half_open: ["half-open", "warn"], open: ["open", "bad"] };
const ORDER = { open: 0, half_open: 1, closed: 2 };

function rateCell(rate) {
  const tone = rate >= 0.25 ? "bad" : rate >= 0.05 ? "warn" : "good";
  return h("td.num.rate", {}, (rate * 100).toFixed(1) + "%", meter(rate, tone));
}

function row(d) {
  const [label, tone] = STATES[d.state] || [d.state, "muted"];
  return h("tr", { dataset: { provider: d.provider, model: d.model, state: d.state } },
    h("td", {}, h("strong", {}, d.provider)),
    h("td.mono", {}, d.model),
    h("td", {}, badge(label, tone)),
    h("td.num", {}, count(d.requests)),
    h("td.num", {}, count(d.failures)),
    rateCell(d.error_rate || 0),
    h("td.num", {}, ms(d.latency_p50_ms)),
    h("td.num", {}, ms(d.latency_p95_ms)),
    h("td.num", {}, count(d.in_flight)));
}

export function renderProviders(view) {
  const body = h("tbody");
  const summary = h("p.summary");

  async function load() {
    try {
      const { data } = await api.providers();
      data.sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.provider.localeCompare(b.provider)
        || a.model.localeCompare(b.model));
      const open = data.filter((d) => d.state !== "closed").length;
      summary.textContent = `${data.length} deployment${data.length === 1 ? "" : "s"}`
        + (open ? ` · ${open} not closed` : " · all circuits closed") + " · counted since the gateway started";
      replace(body, data.length ? data.map(row)
        : h("tr", {}, h("td.empty", { colspan: 9 }, "No deployments to show yet.")));
      notice(view, "");
    } catch (error) {
      notice(view, error.message);
    }
  }

  replace(view,
    h("div.head", {}, h("h1", {}, "Providers"), summary),
    h("div.card.flush", {}, h("table.grid", {},
      h("thead", {}, h("tr", {}, [["Provider"], ["Model"], ["Circuit"], ["Requests", 1], ["Failures", 1],
        ["Error rate", 1], ["Latency p50", 1], ["Latency p95", 1], ["In flight", 1]].map(([t, num]) =>
        h(num ? "th.num" : "th", {}, t)))),
      body)),
    h("p.hint", {}, "Latency is the time to the first byte of the answer, over recent requests."));
  load();
  const timer = setInterval(load, REFRESH_MS);
  return () => clearInterval(timer);
}
