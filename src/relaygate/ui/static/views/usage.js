// Usage: spend and tokens per UTC day, split by model or by key, with totals for the range.

import { api } from "../api.js";
import { barChart, lineChart, meter, tick } from "../charts.js";
import { amount, count, daysBetween, field, h, notice, replace, short, today, usd } from "../dom.js";

const MAX_SERIES = 7; // more lines than this stop being readable: the rest is summed as "other"
const TOKENS = ["prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens"];

/** Per series (a model or a key) its totals, and its values per day; biggest spenders first. */
function seriesOf(rows, split, days) {
  const by = new Map();
  for (const row of rows) {
    const name = row[split] ?? "–";
    const one = by.get(name) || { name, requests: 0, cost: 0, tokens: 0, perDay: new Map(),
      ...Object.fromEntries(TOKENS.map((t) => [t, 0])) };
    const cost = amount(row.cost), tokens = row.prompt_tokens + row.completion_tokens;
    one.requests += row.requests;
    one.cost += cost;
    one.tokens += tokens;
    for (const t of TOKENS) one[t] += row[t];
    const day = one.perDay.get(row.day) || { cost: 0, tokens: 0 };
    day.cost += cost;
    day.tokens += tokens;
    one.perDay.set(row.day, day);
    by.set(name, one);
  }
  const all = [...by.values()].sort((a, b) => b.cost - a.cost || b.tokens - a.tokens || a.name.localeCompare(b.name));
  const values = (one, what) => days.map((d) => one.perDay.get(d)?.[what] || 0);
  const top = all.slice(0, MAX_SERIES), rest = all.slice(MAX_SERIES);
  const chartSeries = (what) => {
    const series = top.map((one) => ({ name: one.name, values: values(one, what) }));
    if (rest.length) {
      series.push({ name: `${rest.length} other`, values: days.map((_, i) =>
        rest.reduce((sum, one) => sum + values(one, what)[i], 0)) });
    }
    return series;
  };
  return { all, chartSeries };
}

function tile(label, value, detail) {
  return h("div.tile", {}, h("span", {}, label), h("strong", {}, value), detail ? h("small", {}, detail) : null);
}

function breakdown(all, split, totalCost) {
  const head = [split === "model" ? "Model" : "Key", "Requests", "Prompt", "Completion", "Reasoning", "Cached",
    "Cost", "Share"];
  return h("table.grid.breakdown", {},
    h("thead", {}, h("tr", {}, head.map((t, i) => h(i ? "th.num" : "th", {}, t)))),
    h("tbody", {}, all.map((one, i) => h("tr", { dataset: { series: one.name } },
      h("td", {}, h("i.swatch", { dataset: { color: i < MAX_SERIES ? i : MAX_SERIES } }), one.name),
      h("td.num", {}, count(one.requests)),
      TOKENS.map((t) => h("td.num", {}, count(one[t]))),
      h("td.num", {}, usd(one.cost)),
      h("td.share", {}, meter(totalCost ? one.cost / totalCost : 0))))));
}

/** The filter form; its key field suggests the database's keys (configured keys can be typed). */
function filters(state, apply) {
  const names = h("datalist", { id: "usage-keys" });
  api.keys().then(({ data }) => replace(names, data.map((k) => h("option", { value: k.name }))), () => {});
  const form = h("form.filters", {},
    field("Since", h("input", { type: "date", name: "since", value: state.since, required: true })),
    field("Until", h("input", { type: "date", name: "until", value: state.until, required: true })),
    field("Key", h("input", { name: "key", value: state.key, placeholder: "all keys", list: "usage-keys",
      autocomplete: "off" })), names,
    field("Model", h("input", { name: "model", value: state.model, placeholder: "all models" })),
    field("Split by", h("select", { name: "split" }, ["model", "key"].map((v) =>
      h("option", { value: v, selected: v === state.split }, v)))),
    h("button.primary", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const name of ["since", "until", "key", "model", "split"]) state[name] = form.elements[name].value.trim();
    apply();
  });
  return form;
}

export function renderUsage(view) {
  const state = { since: today(-13), until: today(), key: "", model: "", split: "model" };
  const content = h("div.stack");

  async function load() {
    try {
      const { data, total } = await api.usage({ since: state.since, until: state.until, key: state.key,
        model: state.model, group_by: `day,${state.split}` });
      draw(data, total);
      notice(view, "");
    } catch (error) {
      notice(view, error.message);
    }
  }

  function draw(rows, total) {
    const days = daysBetween(state.since, state.until);
    const { all, chartSeries } = seriesOf(rows, state.split, days);
    const cost = amount(total.cost);
    const tokens = all.reduce((sum, one) => sum + one.tokens, 0);
    const prompt = all.reduce((sum, one) => sum + one.prompt_tokens, 0);
    replace(content,
      h("div.tiles", {},
        tile("Spend", usd(cost), `${state.since} – ${state.until}`),
        tile("Requests", count(total.requests), total.requests ? `${usd(cost / total.requests)} each` : ""),
        tile("Tokens", short(tokens), `${short(prompt)} in · ${short(tokens - prompt)} out`),
        tile(state.split === "model" ? "Models" : "Keys", count(all.length), all[0] ? `most: ${all[0].name}` : "")),
      h("div.charts", {},
        h("div.card", {}, barChart({ title: `Spend per day by ${state.split} (USD)`, labels: days,
          series: chartSeries("cost"), format: usd, axis: (v, step) => "$" + tick(v, step) })),
        h("div.card", {}, lineChart({ title: `Tokens per day by ${state.split}`, labels: days,
          series: chartSeries("tokens"), format: count }))),
      h("div.card.flush", {}, all.length ? breakdown(all, state.split, cost)
        : h("p.empty", {}, "No usage in this range.")));
  }

  replace(view, h("div.head", {}, h("h1", {}, "Usage"), h("p.summary", {}, "UTC days, inclusive")),
    filters(state, load), content);
  load();
}
