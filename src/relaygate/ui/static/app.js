// Entry point: sign-in, the navigation between views (#/usage, #/requests, #/providers, #/keys)
// and the provider-health pill in the header.

import { api, session, signIn } from "./api.js";
import { replace } from "./dom.js";
import { renderKeys } from "./views/keys.js";
import { renderProviders } from "./views/providers.js";
import { renderRequests } from "./views/requests.js";
import { renderUsage } from "./views/usage.js";

const VIEWS = { usage: renderUsage, requests: renderRequests, providers: renderProviders, keys: renderKeys };
const $ = (id) => document.getElementById(id);
let leaveView = null;

function showSignIn(message) {
  session.key = null;
  if (leaveView) leaveView();
  leaveView = null;
  $("shell").hidden = true;
  $("signin").hidden = false;
  $("signin-error").hidden = !message;
  $("signin-error").textContent = message || "";
  $("signin-form").key.focus();
}

async function refreshHealth() {
  const pill = $("health");
  try {
    const { data } = await api.providers();
    const open = data.filter((d) => d.state === "open").length;
    const probing = data.filter((d) => d.state === "half_open").length;
    pill.className = "health " + (open ? "bad" : probing ? "warn" : "good");
    pill.textContent = open ? `${open} circuit${open > 1 ? "s" : ""} open`
      : probing ? `${probing} circuit${probing > 1 ? "s" : ""} half-open` : "Providers healthy";
  } catch {
    pill.className = "health";
    pill.textContent = "";
  }
}

function route() {
  if (!session.key) return;
  const name = location.hash.replace(/^#\/?/, "").split("?")[0];
  if (!VIEWS[name]) {
    location.replace("#/usage");
    return;
  }
  if (leaveView) leaveView();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.view === name);
  }
  const view = replace($("view"));
  view.dataset.view = name;
  leaveView = VIEWS[name](view) || null;
  refreshHealth();
}

function showShell() {
  $("signin").hidden = true;
  $("shell").hidden = false;
  route();
}

$("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    await signIn(form.key.value.trim());
    form.reset();
    showShell();
  } catch (error) {
    const message = error.status === 401 ? "That admin key is not accepted. Check it and try again."
      : error.status === 403 ? "The admin API is off on this gateway: set admin_key in its configuration."
        : error.message;
    showSignIn(message);
  } finally {
    button.disabled = false;
  }
});

$("signout").addEventListener("click", () => showSignIn(""));
session.onExpired = showSignIn;
window.addEventListener("hashchange", route);
if (session.key) showShell();
else showSignIn("");
