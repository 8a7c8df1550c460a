// Small SVG charts drawn from plain arrays: stacked bars and lines over a row of labels (days).
// Every mark carries a <title> (the browser's tooltip) and data-series/-label/-value attributes.

import { h, s, short } from "./dom.js";

export const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];
const W = 720, H = 240, M = { right: 12, top: 14, bottom: 28 };

/** A round step for about `ticks` gridlines up to `max`. */
function niceStep(max, ticks) {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((f) => f * power).find((step) => step >= raw);
}

/** An axis label with as many decimals as the gridline step has; thousands shortened (12k). */
export function tick(value, step) {
  if (value === 0 || value >= 1000) return short(value);
  const text = String(Number(step.toPrecision(2)));
  return value.toFixed(text.includes(".") ? text.split(".")[1].length : 0);
}

function frame(labels, max, axisLabel) {
  const step = niceStep(max || 1, 4);
  const top = Math.max(step, Math.ceil((max || 1) / step) * step);
  const ticks = [];
  for (let i = 0; i * step <= top + step / 2; i++) ticks.push([i * step, axisLabel(i * step, step)]);
  const left = Math.max(36, 12 + 7 * Math.max(...ticks.map(([, text]) => text.length))); // room for the labels
  const plotW = W - left - M.right, plotH = H - M.top - M.bottom;
  const y = (v) => M.top + plotH - (v / top) * plotH;
  const band = plotW / Math.max(labels.length, 1);
  const x = (i) => left + band * (i + 0.5);
  const marks = ticks.map(([v, text]) => [
    s("line", { class: "gridline", x1: left, x2: W - M.right, y1: y(v), y2: y(v) }),
    s("text", { class: "tick", x: left - 6, y: y(v) + 4, "text-anchor": "end" }, text)]);
  const every = Math.ceil(labels.length / 10);
  labels.forEach((label, i) => {
    if ((labels.length - 1 - i) % every === 0) { // counted from the last day, which is always labelled
      marks.push(s("text", { class: "tick", x: x(i), y: H - 8, "text-anchor": "middle" }, label.slice(5)));
    }
  });
  return { y, x, band, marks };
}

function figure(title, svg, series) {
  const legend = h("ul.legend", {},
    series.map((one, i) => h("li", {}, h("i.swatch", { dataset: { color: i % PALETTE.length } }), one.name)));
  return h("figure.chart", {}, h("figcaption", {}, title), svg, series.length > 1 ? legend : null);
}

function empty(title) {
  return h("figure.chart.empty", {}, h("figcaption", {}, title), h("p", {}, "Nothing in this range."));
}

function mark(tag, attrs, one, label, value, format) {
  const text = `${label} · ${one.name}: ${format(value)}`;
  return s(tag, { ...attrs, class: tag === "rect" ? "bar" : "point",
    "data-series": one.name, "data-label": label, "data-value": value }, s("title", {}, text));
}

/** Bars per label, one segment per series stacked in order. */
export function barChart({ title, labels, series, format = short, axis = tick }) {
  const totals = labels.map((_, i) => series.reduce((sum, one) => sum + one.values[i], 0));
  if (!series.length || Math.max(0, ...totals) === 0) return empty(title);
  const { y, x, band, marks: grid } = frame(labels, Math.max(...totals), axis);
  const width = Math.max(2, Math.min(36, band * 0.7));
  const marks = [];
  labels.forEach((label, i) => {
    let base = 0;
    series.forEach((one, k) => {
      const value = one.values[i];
      if (!value) return;
      marks.push(mark("rect", { x: x(i) - width / 2, y: y(base + value), width, height: y(base) - y(base + value),
        fill: PALETTE[k % PALETTE.length] }, one, label, value, format));
      base += value;
    });
  });
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title }, grid, marks);
  return figure(title, svg, series);
}

/** One line per series, with a point per label. */
export function lineChart({ title, labels, series, format = short, axis = tick }) {
  const max = Math.max(0, ...series.flatMap((one) => one.values));
  if (!series.length || max === 0) return empty(title);
  const { y, x, marks: grid } = frame(labels, max, axis);
  const lines = series.map((one, k) => {
    const color = PALETTE[k % PALETTE.length];
    const points = one.values.map((v, i) => `${x(i)},${y(v)}`).join(" ");
    return s("g", { class: "series" },
      s("polyline", { points, fill: "none", stroke: color, "stroke-width": 2 }),
      one.values.map((v, i) => mark("circle", { cx: x(i), cy: y(v), r: labels.length > 40 ? 2 : 3.5, fill: color },
        one, labels[i], v, format)));
  });
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title }, grid, lines);
  return figure(title, svg, series);
}

/** A thin horizontal bar for a share (0..1) inside a table cell. */
export function meter(share, tone = "") {
  const width = Math.max(0, Math.min(1, share)) * 100;
  return s("svg", { class: "meter " + tone, viewBox: "0 0 100 6", preserveAspectRatio: "none" },
    s("rect", { class: "track", width: 100, height: 6, rx: 3 }),
    s("rect", { class: "fill", width, height: 6, rx: 3 }));
}
