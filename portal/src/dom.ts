/** A few DOM helpers: elements are built with the DOM API (text never parsed as HTML), so a
 * value from the console or the visitor cannot become markup. The only HTML set as HTML is what
 * the console renders and sanitizes itself (`bodyHtml`, `html`, `descriptionHtml`). */

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      el.addEventListener(name.replace(/^on/, ""), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === "object" ? c : String(c));
  }
}

/** HTML the console rendered and sanitized (markdown, descriptions, forum posts). */
export function trusted(html: string | null | undefined, tag: "div" | "article" = "div", cls = "prose"): HTMLElement {
  const el = document.createElement(tag);
  el.className = cls;
  el.innerHTML = html ?? "";
  return el;
}

let ids = 0;
export function uid(prefix: string): string {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled input (every control has a visible label). */
export function field(
  label: string,
  name: string,
  attrs: Attrs = {},
  kind: "input" | "textarea" | "select" = "input",
  options: Array<[string, string]> = [],
): HTMLElement {
  const id = uid(name);
  const control =
    kind === "select"
      ? h("select", { id, name, ...attrs }, options.map(([v, t]) => h("option", { value: v }, t)))
      : kind === "textarea"
        ? h("textarea", { id, name, rows: 6, ...attrs })
        : h("input", { id, name, type: "text", ...attrs });
  return h("div", { class: "field" }, h("label", { for: id }, label), control);
}

export function value(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement
    ? el.value
    : "";
}

export function button(label: string, onclick: (e: Event) => void, attrs: Attrs = {}): HTMLButtonElement {
  return h("button", { type: "button", onclick: onclick as EventListener, ...attrs }, label);
}

/** A form whose submit runs `onsubmit` with the button disabled, and shows its error next to
 * the form (and on the offending field when the console names one). */
export function form(
  label: string,
  children: Child[],
  submit: string,
  onsubmit: (f: HTMLFormElement) => Promise<void>,
): HTMLFormElement {
  const error = h("p", { class: "error", role: "alert" });
  const btn = h("button", { type: "submit" }, submit);
  const f = h("form", { "aria-label": label, novalidate: true }, children, btn, error);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    error.textContent = "";
    for (const bad of f.querySelectorAll("[aria-invalid]")) bad.removeAttribute("aria-invalid");
    btn.disabled = true;
    onsubmit(f)
      .catch((err: unknown) => {
        error.textContent = messageOf(err);
        const name = fieldOf(err);
        const input = name ? f.elements.namedItem(name.split(".").pop() ?? name) : null;
        if (input instanceof HTMLElement) {
          input.setAttribute("aria-invalid", "true");
          input.focus();
        }
      })
      .finally(() => {
        btn.disabled = false;
      });
  });
  return f;
}

export function messageOf(err: unknown): string {
  if (err && typeof err === "object" && "message" in err) {
    const code = "code" in err && typeof err.code === "string" ? ` (${err.code})` : "";
    return `${String(err.message)}${code}`;
  }
  return String(err);
}

function fieldOf(err: unknown): string | null {
  return err && typeof err === "object" && "field" in err && typeof err.field === "string" ? err.field : null;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
