/** The API reference of a product (from its imported spec): operations by tag; an operation's
 * parameters, body, responses and code samples in 8 languages; Try, through the console's
 * proxy, with the response and a live DNS/connect/TLS/TTFB/transfer waterfall. */

import {
  ApiKeysDocument,
  type ApiOperationQuery,
  ApiOperationDocument,
  ApiSpecsDocument,
  type PlaygroundEvent,
  waterfallOf,
  type WaterfallSegment,
} from "@aforo/storefront";

import type { App, Page } from "../app";
import { BASE } from "../app";
import { append, field, form, h, messageOf, trusted, uid, value } from "../dom";
import { productList } from "./docs";

type Operation = NonNullable<ApiOperationQuery["apiOperation"]>;

const LANGUAGES = ["CURL", "NODE", "PYTHON", "JAVA", "GO", "RUBY", "PHP", "CSHARP"] as const;
const LANGUAGE_NAMES: Record<string, string> = {
  CURL: "cURL", NODE: "Node.js", PYTHON: "Python", JAVA: "Java", GO: "Go", RUBY: "Ruby", PHP: "PHP", CSHARP: "C#",
};

/** Tabs with the ARIA tabs pattern: arrow keys move between them. */
function samples(op: Operation): HTMLElement {
  const list = h("div", { role: "tablist", "aria-label": "Code samples", class: "tabs" });
  const panels: HTMLElement[] = [];
  const tabs: HTMLButtonElement[] = [];
  const select = (i: number, focus: boolean): void => {
    tabs.forEach((t, j) => {
      t.setAttribute("aria-selected", String(i === j));
      t.tabIndex = i === j ? 0 : -1;
      panels[j]!.hidden = i !== j;
    });
    if (focus) tabs[i]!.focus();
  };
  op.codeSamples.forEach((s, i) => {
    const tabId = uid("tab");
    const panelId = uid("panel");
    const tab = h("button", { type: "button", role: "tab", id: tabId, "aria-controls": panelId }, LANGUAGE_NAMES[s.language] ?? s.language);
    tab.addEventListener("click", () => select(i, false));
    tab.addEventListener("keydown", (e) => {
      const k = (e as KeyboardEvent).key;
      if (k === "ArrowRight" || k === "ArrowLeft") {
        e.preventDefault();
        select((i + (k === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length, true);
      }
    });
    tabs.push(tab);
    list.append(tab);
    panels.push(h("div", { role: "tabpanel", id: panelId, "aria-labelledby": tabId, tabindex: 0 }, h("pre", {}, h("code", {}, s.code))));
  });
  const box = h("section", { class: "samples", "aria-label": "Code samples" }, list, panels);
  if (tabs.length) select(0, false);
  return box;
}

/** The waterfall: one bar per phase, widths as shares of the total (set through the CSSOM). */
function drawWaterfall(box: HTMLElement, segments: WaterfallSegment[]): void {
  const total = Math.max(1, ...segments.map((s) => s.startMs + s.durationMs));
  box.replaceChildren(h("ol", { class: "bars" }, segments.map((s) => {
    const bar = h("span", { class: `bar ${s.phase}` });
    bar.style.setProperty("margin-left", `${(100 * s.startMs) / total}%`);
    bar.style.setProperty("width", `${Math.max(0.5, (100 * s.durationMs) / total)}%`);
    return h("li", { "data-phase": s.phase }, h("span", { class: "label" }, s.label), h("span", { class: "track" }, bar), h("span", { class: "ms" }, `${s.durationMs.toFixed(1)} ms`));
  })));
}

async function tryPanel(app: App, op: Operation): Promise<HTMLElement> {
  const section = h("section", { class: "try", "aria-labelledby": "try-h" }, h("h2", { id: "try-h" }, "Try it"));
  if (!app.user) {
    section.append(h("p", {}, h("a", { href: `${BASE}log-in?next=${encodeURIComponent(location.pathname.slice(BASE.length))}` }, "Log in"), " to call this operation with one of your keys."));
    return section;
  }
  const keys = (await app.sf.request(ApiKeysDocument, { first: 100 })).apiKeys.filter((k) => k.status === "ACTIVE" || k.status === "ROTATING");
  if (keys.length === 0) {
    section.append(h("p", {}, "Create a key first: ", h("a", { href: `${BASE}keys` }, "API keys"), "."));
    return section;
  }
  const values = (op.sampleRequest?.values ?? {}) as Record<string, unknown>;
  const params = op.parameters.filter((p) => p.location === "path" || p.location === "query");
  const hasBody = op.requestBody !== null && op.requestBody !== undefined;
  const waterfall = h("div", { class: "waterfall", "aria-label": "Timing waterfall", role: "group" });
  const result = h("div", { class: "response", "aria-live": "polite" });
  section.append(
    h("p", {}, "The request goes through the console, which adds your key's credential: this page sends only the operation, the key's id, the parameters and the body."),
    form("Try it", [
      field("Key", "keyId", {}, "select", keys.map((k) => [k.id, `${k.name} (${k.prefix}…${k.last4})`])),
      params.map((p) => field(`${p.name} (${p.location}${p.required ? ", required" : ""})`, `param:${p.location}:${p.name}`, {
        value: String(values[p.name] ?? p.example ?? ""), required: p.required,
      })),
      hasBody ? field("Body", "body", {}, "textarea") : null,
    ], "Send", async (f) => {
      const events: PlaygroundEvent[] = [];
      waterfall.replaceChildren(h("p", {}, "Sending…"));
      result.replaceChildren();
      const input = {
        operationId: op.id,
        keyId: value(f, "keyId"),
        pathParams: params.filter((p) => p.location === "path").map((p) => ({ name: p.name, value: value(f, `param:path:${p.name}`) })),
        query: params.filter((p) => p.location === "query" && value(f, `param:query:${p.name}`) !== "")
          .map((p) => ({ name: p.name, value: value(f, `param:query:${p.name}`) })),
        body: hasBody ? value(f, "body") : null,
      };
      try {
        const response = await app.sf.tryOperation(input, (e) => {
          events.push(e);
          drawWaterfall(waterfall, waterfallOf(events));
        });
        result.replaceChildren(
          h("p", { class: "status-line" }, h("strong", {}, `HTTP ${response.status}`), ` · ${response.bodyBytes} bytes · ${response.timing.totalMs.toFixed(1)} ms total`),
          h("details", {}, h("summary", {}, "Headers"), h("dl", {}, response.headers.map((x) => [h("dt", {}, x.name), h("dd", {}, x.value)]))),
          h("pre", { class: "body", tabindex: 0, "aria-label": "Response body" }, h("code", {}, pretty(response.body))),
        );
      } catch (err) {
        result.replaceChildren(h("p", { class: "error", role: "alert" }, messageOf(err)));
      }
    }),
    h("h3", {}, "Timing"),
    waterfall,
    h("h3", {}, "Response"),
    result,
  );
  const body = section.querySelector<HTMLTextAreaElement>("textarea[name=body]");
  if (body) body.value = op.sampleRequest?.body ?? op.requestBody?.content[0]?.example?.toString() ?? "";
  return section;
}

function pretty(body: string | null | undefined): string {
  if (!body) return "";
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export const reference: Page = {
  title: "API reference",
  nav: "API reference",
  async render(app, main, [productId, operationId]) {
    if (!productId) {
      main.append(h("h1", {}, "API reference"));
      return productList(app, main, "reference");
    }
    const { apiSpecs } = await app.sf.request(ApiSpecsDocument, { productId });
    const side = h("nav", { class: "side", "aria-label": "Operations" });
    const content = h("div", { class: "operation" });
    main.append(h("div", { class: "with-side" }, side, content));
    for (const spec of apiSpecs) {
      const ops = spec.currentVersion?.operations ?? [];
      const byTag = new Map<string, typeof ops>();
      for (const o of ops) {
        const tag = o.tags[0] ?? "Operations";
        byTag.set(tag, [...(byTag.get(tag) ?? []), o]);
      }
      side.append(h("h2", {}, spec.currentVersion?.title ?? spec.name));
      for (const [tag, list] of byTag) {
        side.append(h("h3", {}, tag), h("ul", {}, list.map((o) =>
          h("li", {}, h("a", { href: `${BASE}reference/${productId}/${o.id}`, "aria-current": o.id === operationId ? "page" : null },
            h("span", { class: `method ${String(o.method).toLowerCase()}` }, o.method ?? o.kind), " ", o.summary || o.path || o.key)))));
      }
    }
    if (!operationId) {
      const spec = apiSpecs[0]?.currentVersion;
      content.append(h("h1", {}, spec?.title ?? "API reference"), spec?.descriptionHtml ? trusted(spec.descriptionHtml) : h("p", {}, apiSpecs.length ? "Choose an operation." : "No API is published for this product yet."));
      return;
    }
    const { apiOperation: op } = await app.sf.request(ApiOperationDocument, { id: operationId, languages: [...LANGUAGES] });
    if (!op) {
      content.append(h("h1", {}, "Operation not found"));
      return;
    }
    append(content, [
      h("h1", {}, op.summary || op.key),
      h("p", { class: "endpoint" }, h("span", { class: `method ${String(op.method).toLowerCase()}` }, op.method ?? op.kind), " ", h("code", {}, op.path ?? op.key)),
      op.deprecated ? h("p", { class: "badge warn" }, "Deprecated") : null,
      op.descriptionHtml ? trusted(op.descriptionHtml) : null,
      op.parameters.length ? [h("h2", {}, "Parameters"), h("table", {}, h("caption", { class: "sr-only" }, "Parameters"),
        h("thead", {}, h("tr", {}, ["Name", "In", "Required", "Description"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, op.parameters.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.location), h("td", {}, p.required ? "yes" : "no"), h("td", {}, p.descriptionHtml ? trusted(p.descriptionHtml) : "")))))] : null,
      op.responses.length ? [h("h2", {}, "Responses"), h("ul", {}, op.responses.map((r) => h("li", {}, h("code", {}, r.status), " ", r.description ?? "")))] : null,
      samples(op),
      await tryPanel(app, op),
    ]);
  },
};

