// Keys: the list with spend against budget, and create, edit, disable/enable, rotate, revoke.

import { api } from "../api.js";
import { meter } from "../charts.js";
import { confirmDialog, modal, secretDialog } from "../dialogs.js";
import { amount, badge, field, h, notice, replace, short, usd, utc } from "../dom.js";

const STATES = { active: "good", disabled: "muted", expired: "warn", revoked: "bad" };
const LIMITS = [["rpm", "RPM", "requests per minute"], ["tpm", "TPM", "tokens per minute"],
  ["max_concurrency", "Max concurrency", "requests in flight at once"]];

function number(name, value, attrs = {}) {
  return h("input", { type: "number", name, min: 1, step: 1, value: value ?? "", placeholder: "no limit", ...attrs });
}

function keyFields(key = {}) {
  const period = h("select", { name: "budget_period" },
    [["", "in total"], ["daily", "per UTC day"], ["monthly", "per UTC month"]].map(([value, label]) =>
      h("option", { value, selected: (key.budget_period || "") === value }, label)));
  const expires = key.expires_at ? new Date(key.expires_at).toISOString().slice(0, 16) : "";
  return [
    h("div.row", {},
      field("Budget (USD)", h("input", { type: "number", name: "budget", min: 0, step: "any",
        value: key.budget ?? "", placeholder: "no budget" })),
      field("Budget period", period)),
    h("div.row", {}, LIMITS.map(([name, label, hint]) => field(label, number(name, key[name]), hint))),
    field("Models", h("input", { name: "models", value: (key.models || []).join(", "),
      placeholder: "every model" }), "comma-separated model ids"),
    field("Expires (UTC)", h("input", { type: "datetime-local", name: "expires_at", value: expires })),
  ];
}

/** The form's settings as the admin API takes them; an empty field clears its setting. */
function settings(form) {
  const value = (name) => form.elements[name].value.trim();
  const models = value("models").split(",").map((m) => m.trim()).filter(Boolean);
  const body = {
    budget: value("budget") || null,
    budget_period: value("budget_period") || null,
    models: models.length ? models : null,
    expires_at: value("expires_at") ? new Date(value("expires_at") + "Z").toISOString() : null,
  };
  for (const [name] of LIMITS) body[name] = value(name) ? parseInt(value(name), 10) : null;
  return body;
}

/** A form dialog that stays open, with the API's message, until `submit` succeeds. */
function formDialog(title, fields, action, submit) {
  return modal(title, (settle) => {
    const form = h("form.stack", {}, fields, h("div.buttons", {},
      h("button.ghost", { type: "button", onclick: () => settle(undefined) }, "Cancel"),
      h("button.primary", { type: "submit" }, action)));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        settle(await submit(form));
      } catch (error) {
        notice(form, error.message);
      }
    });
    return form;
  });
}

function limitsText(key) {
  const parts = LIMITS.filter(([name]) => key[name]).map(([name, label]) =>
    name === "max_concurrency" ? `${key[name]} at once` : `${short(key[name])} ${label.toLowerCase()}`);
  return parts.length ? parts.join(" · ") : "none";
}

function budgetCell(key) {
  const spend = amount(key.spend);
  if (key.budget === null || key.budget === undefined) return h("td.num", {}, usd(spend), h("small", {}, "no budget"));
  const budget = amount(key.budget), share = budget ? spend / budget : 1;
  const tone = share >= 1 ? "bad" : share >= 0.8 ? "warn" : "good";
  return h("td.num", {}, `${usd(spend)} / ${usd(budget)}`,
    h("small", {}, key.budget_period || "total"), meter(share, tone));
}

export function renderKeys(view) {
  let showRevoked = false;
  const body = h("tbody");
  const summary = h("p.summary");

  async function load() {
    try {
      const { data } = await api.keys();
      const shown = data.filter((k) => showRevoked || k.status !== "revoked");
      const active = data.filter((k) => k.status === "active").length;
      summary.textContent = `${active} active of ${data.length} key${data.length === 1 ? "" : "s"}`;
      replace(body, shown.length ? shown.map(row) : h("tr", {}, h("td.empty", { colspan: 7 }, "No keys yet.")));
      notice(view, "");
    } catch (error) {
      notice(view, error.message);
    }
  }

  async function act(work) {
    try {
      await work();
    } catch (error) {
      notice(view, error.message);
    }
    await load();
  }

  function row(key) {
    const live = key.status !== "revoked";
    const actions = live ? [
      h("button.small", { type: "button", onclick: () => edit(key) }, "Edit"),
      h("button.small", { type: "button", onclick: () => act(() => api.updateKey(key.name, { disabled: !key.disabled })) },
        key.disabled ? "Enable" : "Disable"),
      h("button.small", { type: "button", onclick: () => rotate(key) }, "Rotate"),
      h("button.small.danger", { type: "button", onclick: () => revoke(key) }, "Revoke"),
    ] : [];
    return h("tr", { dataset: { key: key.name }, class: live ? "" : "revoked" },
      h("td", {}, h("strong", {}, key.name), h("small", {}, "created " + utc(key.created_at).slice(0, 10))),
      h("td.mono", {}, key.prefix + "…"),
      h("td", {}, key.models ? key.models.map((m) => h("span.chip", {}, m)) : h("span.muted", {}, "all models")),
      h("td.limits", {}, limitsText(key),
        key.expires_at ? h("small", {}, "expires " + utc(key.expires_at).slice(0, 16)) : null),
      budgetCell(key),
      h("td", {}, badge(key.status, STATES[key.status] || "muted")),
      h("td.actions", {}, actions));
  }

  async function create() {
    const name = h("input", { name: "name", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._:@\\-]{0,199}",
      placeholder: "team-a", autocomplete: "off" });
    const created = await formDialog("New key", [field("Name", name), keyFields()], "Create key",
      (form) => api.createKey({ name: form.elements.name.value.trim(), ...settings(form) }));
    if (created) {
      await load();
      await secretDialog("Key created", created.name, created.key);
    }
  }

  async function edit(key) {
    const done = await formDialog(`Edit ${key.name}`, keyFields(key), "Save",
      (form) => api.updateKey(key.name, settings(form)));
    if (done) await load();
  }

  async function rotate(key) {
    if (!await confirmDialog(`Rotate ${key.name}?`,
      "A new secret replaces the current one, which stops working at once.", "Rotate", "primary")) return;
    await act(async () => {
      const rotated = await api.rotateKey(key.name);
      await secretDialog("Key rotated", rotated.name, rotated.key);
    });
  }

  async function revoke(key) {
    if (!await confirmDialog(`Revoke ${key.name}?`,
      "Requests with this key fail from now on. A revoked key cannot be used again; its usage stays on record.",
      "Revoke key")) return;
    await act(() => api.revokeKey(key.name));
  }

  const toggle = h("input", { type: "checkbox", onchange: (e) => { showRevoked = e.target.checked; load(); } });
  replace(view,
    h("div.head", {}, h("h1", {}, "Keys"), summary,
      h("label.check", {}, toggle, "Show revoked"),
      h("button.primary", { type: "button", onclick: create }, "New key")),
    h("div.card.flush", {}, h("table.grid", {},
      h("thead", {}, h("tr", {}, ["Name", "Key", "Models", "Limits", "Spend / budget", "State", ""].map(
        (title) => h("th", {}, title)))),
      body)));
  load();
}
