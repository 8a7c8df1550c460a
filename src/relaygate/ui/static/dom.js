// DOM building and number/date formatting shared by the views. Text always goes in as text
// nodes, never as HTML, so a key name or an error message cannot inject markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** h("tag.class", {attrs, onclick}, ...children): an HTML element. */
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const element = document.createElement(tag || "div");
  if (classes.length) element.className = classes.join(" ");
  return build(element, attrs, children);
}

/** s("rect", {attrs}, ...children): an SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return build(parent, {}, children);
}

/** A JSON number or string amount (the API may send either) as a number. */
export function amount(value) {
  const n = typeof value === "number" ? value : parseFloat(value ?? "0");
  return Number.isFinite(n) ? n : 0;
}

export function usd(value) {
  const n = amount(value);
  if (n === 0) return "$0";
  if (Math.abs(n) >= 1) return "$" + n.toFixed(2);
  const text = n.toFixed(Math.abs(n) >= 0.01 ? 4 : 6).replace(/0+$/, "");
  return "$" + (text.length - text.indexOf(".") < 3 ? n.toFixed(2) : text); // cents at least
}

export function count(value) {
  return (value ?? 0).toLocaleString("en-US");
}

/** 1234567 → "1.2M": axis labels and tiles, where the exact count is in the tooltip. */
export function short(value) {
  const n = Math.abs(value);
  for (const [size, unit] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
    if (n >= size) return (value / size).toFixed(n >= size * 10 ? 0 : 1).replace(/\.0$/, "") + unit;
  }
  return String(Math.round(value * 100) / 100);
}

export function ms(value) {
  if (value === null || value === undefined) return "–";
  return value >= 1000 ? (value / 1000).toFixed(2) + " s" : Math.round(value) + " ms";
}

/** An ISO-8601 time as "2026-03-01 14:05:09" in UTC, the zone every page uses. */
export function utc(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toISOString().slice(0, 19).replace("T", " ");
}

export function today(offsetDays = 0) {
  return new Date(Date.now() + offsetDays * 86400e3).toISOString().slice(0, 10);
}

/** Every UTC day from `since` to `until` inclusive, as YYYY-MM-DD. */
export function daysBetween(since, until) {
  const days = [];
  for (let t = Date.parse(since + "T00:00:00Z"); t <= Date.parse(until + "T00:00:00Z"); t += 86400e3) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

export function badge(text, tone) {
  return h("span.badge." + tone, {}, text);
}

/** A red notice at the top of a view; empty text removes it. */
export function notice(container, text) {
  const old = container.querySelector(":scope > .notice");
  if (old) old.remove();
  if (text) container.prepend(h("div.notice", { role: "alert" }, text));
}

export function field(label, input, hint) {
  return h("label.field", {}, h("span", {}, label), input, hint ? h("small", {}, hint) : null);
}
