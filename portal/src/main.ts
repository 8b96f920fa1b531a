/** The reference developer portal: every page is built on @aforo/storefront only. */

import "./style.css";

import { App, type Config, type Page } from "./app";
import { h } from "./dom";
import { acceptInvitation, confirmEmail, forgotPassword, logIn, resetPassword, signUp, verifyEmail } from "./pages/auth";
import { docs } from "./pages/docs";
import { forum } from "./pages/forum";
import { invoices } from "./pages/invoices";
import { keys } from "./pages/keys";
import { moderation } from "./pages/moderation";
import { products } from "./pages/products";
import { reference } from "./pages/reference";
import { usage } from "./pages/usage";

const notFound: Page = {
  title: "Not found",
  render(_app, main) {
    main.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: import.meta.env.BASE_URL }, "Home")));
  },
};

// Path (after the base) -> page. The mail links of the console land on verify-email,
// reset-password, log-in, confirm-email and accept-invitation.
const PAGES: Record<string, Page> = {
  "": products,
  products,
  keys,
  docs,
  reference,
  forum,
  usage,
  invoices,
  moderation,
  "sign-up": signUp,
  "log-in": logIn,
  "verify-email": verifyEmail,
  "forgot-password": forgotPassword,
  "reset-password": resetPassword,
  "confirm-email": confirmEmail,
  "accept-invitation": acceptInvitation,
  "not-found": notFound,
};
// The home page is the products page; one entry in the navigation.
PAGES[""] = { ...products, nav: undefined };

/** config.json next to index.html: the console's URL and the tenant's storefront key. A `key`
 * query parameter (kept for the tab) overrides the key, for trying the portal on a console
 * that serves several tenants. */
async function config(): Promise<Config> {
  const r = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: "no-cache" });
  const c = (await r.json()) as Config;
  const key = new URLSearchParams(location.search).get("key");
  if (key) sessionStorage.setItem("aforo.portal.key", key);
  const kept = sessionStorage.getItem("aforo.portal.key");
  return { ...c, storefrontKey: kept ?? c.storefrontKey };
}

async function main(): Promise<void> {
  const c = await config();
  if (!c.storefrontKey) {
    document.getElementById("main")!.replaceChildren(
      h("h1", {}, "Portal not configured"),
      h("p", {}, "Set storefrontKey (and url, when the console is on another origin) in config.json, or open this page with ?key=pk_… ."),
    );
    return;
  }
  await new App(c, PAGES).start();
}

void main();
