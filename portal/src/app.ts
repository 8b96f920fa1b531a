/** The portal's shell: configuration, the one Storefront client, theming from the tenant's
 * branding, navigation (history API under the base path) and the pages' common needs. */

import { createStorefront, type Storefront, TenantDocument, type TenantQuery, type User } from "@aforo/storefront";

import { button, h } from "./dom";

export interface Config {
  /** The console's URL ("" for this origin). */
  url: string;
  /** The tenant's publishable storefront key. */
  storefrontKey: string;
  storage?: "memory" | "sessionStorage";
}

export type Tenant = NonNullable<TenantQuery["tenant"]>;

export interface Page {
  title: string;
  /** Renders into `main`; may be async. `params` are the path's segments after the page's. */
  render(app: App, main: HTMLElement, params: string[], query: URLSearchParams): Promise<void> | void;
  /** Only for a signed-in visitor (else the log-in page, then back). */
  signedIn?: boolean;
  /** Only for staff (moderators, admins). */
  staff?: boolean;
  /** Shown in the main navigation. */
  nav?: string;
}

export const BASE = import.meta.env.BASE_URL; // "/portal/"

export class App {
  readonly sf: Storefront;
  tenant: Tenant | null = null;
  private cleanups: Array<() => void> = [];

  constructor(
    readonly config: Config,
    private readonly pages: Record<string, Page>,
  ) {
    this.sf = createStorefront({
      url: config.url,
      storefrontKey: config.storefrontKey,
      storage: config.storage ?? "sessionStorage",
    });
    this.sf.onSessionChange(() => this.chrome());
    document.addEventListener("click", (e) => this.follow(e));
    window.addEventListener("popstate", () => void this.render());
  }

  get user(): User | null {
    return this.sf.user;
  }

  get isStaff(): boolean {
    const roles = this.user?.roles ?? [];
    return roles.includes("ADMIN") || roles.includes("MODERATOR");
  }

  /** Run when the page is left (live subscriptions, timers). */
  onLeave(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  async start(): Promise<void> {
    try {
      this.tenant = (await this.sf.request(TenantDocument)).tenant;
    } catch {
      this.tenant = null; // the pages still work; the brand stays the default
    }
    this.theme();
    this.chrome();
    await this.render();
  }

  /** Name, logo and colours from the tenant's branding (CSSOM, allowed by the CSP). */
  private theme(): void {
    const b = this.tenant?.branding;
    if (!b) return;
    const root = document.documentElement.style;
    root.setProperty("--brand", b.primaryColor);
    root.setProperty("--page", b.backgroundColor);
    document.getElementById("brand-name")!.textContent = b.brandName;
    const logo = document.getElementById("logo") as HTMLImageElement;
    if (b.logoUrl) {
      logo.src = b.logoUrl;
      logo.alt = `${b.brandName} logo`;
      logo.hidden = false;
    }
  }

  /** The navigation and the account corner, for who is signed in. */
  chrome(): void {
    const nav = document.getElementById("nav")!;
    const current = this.path()[0] ?? "";
    const links = Object.entries(this.pages)
      .filter(([, p]) => p.nav && (!p.signedIn || this.user) && (!p.staff || this.isStaff))
      .map(([path, p]) =>
        h("li", {}, h("a", { href: BASE + path, "aria-current": path === current ? "page" : null }, p.nav!)),
      );
    nav.replaceChildren(h("ul", {}, links));
    const account = document.getElementById("account")!;
    if (this.user) {
      account.replaceChildren(
        h("span", { class: "who" }, this.user.name || this.user.email),
        button("Log out", () => void this.logOut()),
      );
    } else {
      account.replaceChildren(
        h("a", { href: `${BASE}log-in` }, "Log in"),
        h("a", { href: `${BASE}sign-up`, class: "cta" }, "Sign up"),
      );
    }
  }

  async logOut(): Promise<void> {
    await this.sf.logOut();
    this.go("log-in");
  }

  say(message: string): void {
    document.getElementById("status")!.textContent = message;
  }

  path(): string[] {
    const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
    return p.split("/").filter(Boolean).map(decodeURIComponent);
  }

  go(path: string): void {
    history.pushState(null, "", BASE + path);
    void this.render();
  }

  private follow(e: MouseEvent): void {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element | null)?.closest?.("a");
    if (!a || a.target || a.hasAttribute("download")) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
    e.preventDefault();
    if (url.hash && url.pathname === location.pathname) {
      document.getElementById(decodeURIComponent(url.hash.slice(1)))?.scrollIntoView();
      return;
    }
    history.pushState(null, "", url.pathname + url.search);
    void this.render();
  }

  async render(): Promise<void> {
    for (const c of this.cleanups.splice(0)) c();
    const [name = "", ...params] = this.path();
    const page = this.pages[name] ?? this.pages["not-found"]!;
    const main = document.getElementById("main")!;
    if (page.signedIn && !this.user) {
      const back = location.pathname.slice(BASE.length) + location.search;
      history.replaceState(null, "", `${BASE}log-in?next=${encodeURIComponent(back)}`);
      return this.render();
    }
    const brand = this.tenant?.branding.brandName ?? "Developer portal";
    document.title = `${page.title} · ${brand}`;
    this.chrome();
    const body = h("div", { class: "page" });
    main.replaceChildren(body);
    if (page.staff && !this.isStaff) {
      body.append(h("h1", {}, page.title), h("p", {}, "This page is for the tenant's staff."));
    } else {
      try {
        await page.render(this, body, params, new URLSearchParams(location.search));
      } catch (err) {
        body.append(h("p", { class: "error", role: "alert" }, `Could not load this page: ${String((err as Error).message ?? err)}`));
      }
    }
    // Focus the page's heading: a screen reader announces the new page, the keyboard starts there.
    const heading = body.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus();
    }
  }
}
