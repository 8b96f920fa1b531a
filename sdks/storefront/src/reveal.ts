/** The one-time secret of a new or rotated API key, kept for this tab only.
 *
 * The console shows a key's secret in the one response that creates it. The SDK keeps it in
 * the tab's sessionStorage (never localStorage, never a cookie), so Show and Copy keep working
 * through reloads of this tab and the secret is gone with the tab. It reaches the page's DOM
 * only inside the element `show()` is given, and leaves it on `hide()`. */

import { StorefrontError } from "./errors.js";
import type { SessionStore } from "./storage.js";

const PREFIX = "aforo.secret.";
const INDEX = "aforo.secrets";

/** What `reveal(keyId)` hands a page for one key. */
export interface Reveal {
  readonly keyId: string;
  /** Whether this tab still holds the secret (created or rotated in this tab). */
  readonly available: boolean;
  /** Put the secret into `element` as text (nowhere else); false when not available. */
  show(element: { textContent: string | null }): boolean;
  /** Take it out of `element` again. */
  hide(element: { textContent: string | null }): void;
  /** Copy it to the clipboard (navigator.clipboard by default). */
  copy(clipboard?: { writeText(text: string): Promise<void> }): Promise<void>;
  /** Drop it from this tab now ("I have saved it"). */
  forget(): void;
}

export class SecretVault {
  private readonly shown = new Set<{ textContent: string | null }>();

  constructor(private readonly store: SessionStore) {}

  keep(keyId: string, secret: string): void {
    this.store.set(PREFIX + keyId, secret);
    this.store.set(INDEX, JSON.stringify([...new Set([...this.ids(), keyId])]));
  }

  private ids(): string[] {
    try {
      const ids: unknown = JSON.parse(this.store.get(INDEX) ?? "[]");
      return Array.isArray(ids) ? ids.filter((x): x is string => typeof x === "string") : [];
    } catch {
      return [];
    }
  }

  has(keyId: string): boolean {
    return this.store.get(PREFIX + keyId) !== null;
  }

  forget(keyId: string): void {
    this.store.remove(PREFIX + keyId);
  }

  /** Forget every secret kept in this tab and empty every element showing one (sign-out). */
  clear(): void {
    for (const id of this.ids()) this.forget(id);
    this.store.remove(INDEX);
    for (const el of this.shown) el.textContent = "";
    this.shown.clear();
  }

  reveal(keyId: string): Reveal {
    const vault = this;
    return {
      keyId,
      get available() {
        return vault.has(keyId);
      },
      show(element) {
        const secret = vault.store.get(PREFIX + keyId);
        if (secret === null) return false;
        element.textContent = secret;
        vault.shown.add(element);
        return true;
      },
      hide(element) {
        element.textContent = "";
        vault.shown.delete(element);
      },
      async copy(clipboard) {
        const secret = vault.store.get(PREFIX + keyId);
        if (secret === null) {
          throw new StorefrontError(
            "SECRET_NOT_AVAILABLE",
            "this key's secret was shown once, in another tab or session: rotate the key for a new one",
          );
        }
        const target = clipboard ?? (globalThis as { navigator?: Navigator }).navigator?.clipboard;
        if (!target) throw new StorefrontError("SECRET_NOT_AVAILABLE", "no clipboard here");
        await target.writeText(secret);
      },
      forget() {
        vault.forget(keyId);
      },
    };
  }
}
