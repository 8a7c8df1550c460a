// Modal dialogs on the native <dialog> element: confirmations, forms and the shown-once key.

import { h } from "./dom.js";

/** Shows a dialog; resolves with what `settle` was called with (undefined when dismissed). */
export function modal(title, build) {
  return new Promise((resolve) => {
    const dialog = h("dialog.modal", { "aria-label": title });
    const settle = (value) => { resolve(value); dialog.close(); };
    dialog.addEventListener("close", () => { resolve(undefined); dialog.remove(); });
    dialog.append(h("h2", {}, title), ...[build(settle)].flat());
    document.body.append(dialog);
    dialog.showModal();
  });
}

export function confirmDialog(title, text, action, tone = "danger") {
  return modal(title, (settle) => [
    h("p", {}, text),
    h("div.buttons", {},
      h("button.ghost", { type: "button", onclick: () => settle(false) }, "Cancel"),
      h("button." + tone, { type: "button", onclick: () => settle(true) }, action)),
  ]).then(Boolean);
}

async function copy(input, button) {
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    document.execCommand("copy"); // pages served over plain http to another host have no clipboard API
  }
  button.textContent = "Copied";
}

/** The secret of a new or rotated key, shown this once. */
export function secretDialog(title, name, secret) {
  return modal(title, (settle) => {
    const input = h("input.secret", { readonly: true, value: secret, "aria-label": "New key", spellcheck: "false" });
    const button = h("button", { type: "button", onclick: () => copy(input, button) }, "Copy");
    return [
      h("p", {}, "The key for ", h("strong", {}, name), " is shown this once. Store it now."),
      h("div.copyrow", {}, input, button),
      h("div.buttons", {}, h("button.primary", { type: "button", onclick: () => settle(true) }, "Done")),
    ];
  });
}
