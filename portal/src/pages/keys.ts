/** API keys: create (the secret is revealed in this tab only), reveal again within this tab,
 * copy, rotate with a grace period, revoke. The secret reaches the DOM only inside the reveal
 * element while it is shown. */

import { type ApiKeyFieldsFragment, ApiKeysDocument, MySubscriptionsDocument, type Reveal } from "@aforo/storefront";

import type { App, Page } from "../app";
import { BASE } from "../app";
import { button, field, form, h, messageOf, value, when } from "../dom";

/** The reveal panel of one key: Show/Hide toggle the secret into its <code>; Copy; Forget. */
function revealPanel(app: App, reveal: Reveal, name: string, fresh: boolean): HTMLElement {
  const secret = h("code", { class: "secret", id: `secret-${reveal.keyId}`, "aria-live": "polite" });
  const panel = h("div", { class: "reveal", role: "group", "aria-label": `Secret of ${name}` });
  const toggle = button("Show secret", () => {
    if (secret.textContent) {
      reveal.hide(secret);
      toggle.textContent = "Show secret";
      toggle.setAttribute("aria-pressed", "false");
    } else if (reveal.show(secret)) {
      toggle.textContent = "Hide secret";
      toggle.setAttribute("aria-pressed", "true");
    }
  }, { "aria-pressed": "false", "aria-controls": secret.id });
  const copy = button("Copy secret", async () => {
    try {
      await reveal.copy();
      app.say(`Secret of ${name} copied.`);
    } catch (err) {
      app.say(messageOf(err));
    }
  });
  const forget = button("I have saved it", () => {
    reveal.hide(secret);
    reveal.forget();
    panel.replaceChildren(h("p", {}, "The secret is gone from this tab. Rotate the key for a new one."));
  });
  panel.append(
    h("p", {}, fresh
      ? "Save this secret now: it is shown only in this browser tab and never again."
      : "This tab still holds the secret (until the tab is closed)."),
    secret, h("div", { class: "row" }, toggle, copy, forget),
  );
  return panel;
}

function keyRow(app: App, key: ApiKeyFieldsFragment, fresh: boolean, refresh: (justNow?: string) => Promise<void>): HTMLElement {
  const reveal = app.sf.reveal(key.id);
  const live = key.status === "ACTIVE" || key.status === "ROTATING";
  const grace = h("select", { id: `grace-${key.id}`, name: "grace" },
    [["300", "5 minutes"], ["3600", "1 hour"], ["86400", "1 day"], ["0", "none"]].map(([v, t]) => h("option", { value: v! }, t!)));
  const actions = live
    ? h("div", { class: "row" },
        h("label", { for: grace.id }, "Old secret keeps working for"), grace,
        button(`Rotate ${key.name}`, async () => {
          try {
            const r = await app.sf.rotateApiKey(key.id, Number(grace.value));
            await refresh(r.apiKey.id);
            app.say(`Rotated ${key.name}: the old secret works until ${when(r.previousKeyExpiresAt)}.`);
          } catch (err) { app.say(messageOf(err)); }
        }),
        button(`Revoke ${key.name}`, async () => {
          if (!window.confirm(`Revoke ${key.name}? Requests with it fail at once.`)) return;
          try {
            await app.sf.revokeApiKey(key.id);
            app.say(`Revoked ${key.name}.`);
            await refresh();
          } catch (err) { app.say(messageOf(err)); }
        }, { class: "danger" }))
    : null;
  return h("li", { class: "key card", "data-key": key.id },
    h("h3", {}, key.name),
    h("dl", {},
      h("dt", {}, "Key"), h("dd", {}, h("code", {}, `${key.prefix}…${key.last4}`)),
      h("dt", {}, "Status"), h("dd", {}, key.status.toLowerCase()),
      h("dt", {}, "Plan"), h("dd", {}, key.subscriptions.map((s) => s.plan.name).join(", ") || "—"),
      h("dt", {}, "Created"), h("dd", {}, when(key.createdAt)),
      h("dt", {}, "Last used"), h("dd", {}, when(key.lastUsedAt)),
      key.expiresAt ? [h("dt", {}, "Expires"), h("dd", {}, when(key.expiresAt))] : null),
    reveal.available && live ? revealPanel(app, reveal, key.name, fresh) : null,
    actions);
}

export const keys: Page = {
  title: "API keys",
  nav: "Keys",
  signedIn: true,
  async render(app, main) {
    main.append(h("h1", {}, "API keys"));
    const subs = (await app.sf.request(MySubscriptionsDocument, { first: 100 })).mySubscriptions
      .filter((s) => s.status === "ACTIVE");
    const list = h("ul", { class: "keys", "aria-label": "Your keys" });
    // `justNow`: the key created or rotated this moment (its panel says to save the secret).
    const refresh = async (justNow?: string): Promise<void> => {
      const { apiKeys } = await app.sf.request(ApiKeysDocument, { first: 100 });
      list.replaceChildren(...apiKeys.map((k) => keyRow(app, k, k.id === justNow, refresh)));
      if (apiKeys.length === 0) list.append(h("li", {}, "No keys yet."));
    };
    if (subs.length === 0) {
      main.append(h("p", {}, "Subscribe to a plan first: ", h("a", { href: `${BASE}products` }, "products and plans"), "."));
    } else {
      main.append(
        h("h2", {}, "Create a key"),
        form("Create a key", [
          field("Name", "name", { required: true, placeholder: "Production server" }),
          field("Subscription", "subscriptionId", {}, "select", subs.map((s) => [s.id, s.plan.name])),
        ], "Create key", async (f) => {
          const { apiKey } = await app.sf.createApiKey({ name: value(f, "name"), subscriptionId: value(f, "subscriptionId") });
          f.reset();
          await refresh(apiKey.id);
          app.say(`Key ${apiKey.name} created: show, copy and save its secret now.`);
          list.querySelector<HTMLButtonElement>(`[data-key="${apiKey.id}"] .reveal button`)?.focus();
        }),
      );
    }
    main.append(h("h2", {}, "Your keys"), list);
    await refresh();
  },
};
