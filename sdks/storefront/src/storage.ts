/** Where the session (access and refresh tokens) is kept, chosen by the tenant: memory by
 * default (gone on reload), `sessionStorage` (this tab, survives reloads), or the tenant's own
 * store (e.g. its backend). Never `localStorage`: it outlives the tab and is shared by every
 * tab and script of the origin, so a secret there lasts as long as the browser profile. */

import { StorefrontError } from "./errors.js";

export interface SessionStore {
  get(name: string): string | null;
  set(name: string, value: string): void;
  remove(name: string): void;
}

/** What a Web Storage object offers (sessionStorage). */
export interface WebStorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export type StoragePolicy = "memory" | "sessionStorage" | SessionStore | WebStorageLike;

export function memoryStore(): SessionStore {
  const items = new Map<string, string>();
  return {
    get: (name) => items.get(name) ?? null,
    set: (name, value) => void items.set(name, value),
    remove: (name) => void items.delete(name),
  };
}

function webStore(storage: WebStorageLike): SessionStore {
  return {
    get: (name) => storage.getItem(name),
    set: (name, value) => storage.setItem(name, value),
    remove: (name) => storage.removeItem(name),
  };
}

function globalStorage(name: "localStorage" | "sessionStorage"): WebStorageLike | undefined {
  try {
    // Reading the property throws where storage is blocked (sandboxed frames, some settings).
    return (globalThis as Record<string, unknown>)[name] as WebStorageLike | undefined;
  } catch {
    return undefined;
  }
}

function refuse(): never {
  throw new StorefrontError(
    "LOCAL_STORAGE_REFUSED",
    "localStorage is refused for secrets: use 'memory' (default), 'sessionStorage' or your own store",
  );
}

/** The store a policy names; refuses localStorage (by name, by identity, or any Web Storage
 * object other than this window's sessionStorage). */
export function resolveStore(policy: StoragePolicy | "localStorage" | undefined): SessionStore {
  if (policy === undefined || policy === "memory") return memoryStore();
  if (policy === "localStorage") refuse();
  if (policy === "sessionStorage") {
    const s = globalStorage("sessionStorage");
    if (!s) {
      throw new StorefrontError("INVALID", "sessionStorage is not available here", {
        field: "storage",
      });
    }
    return webStore(s);
  }
  if ("getItem" in policy) {
    const local = globalStorage("localStorage");
    if (local !== undefined && policy === local) refuse();
    if (policy !== globalStorage("sessionStorage")) refuse();
    return webStore(policy);
  }
  return policy;
}

/** The tab's own store for one-time secrets: sessionStorage when there is one, else memory. */
export function tabStore(): SessionStore {
  const s = globalStorage("sessionStorage");
  return s ? webStore(s) : memoryStore();
}
