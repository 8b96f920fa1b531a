/** The docs of a product: its page tree, a page (the console renders the markdown), search. */

import { DocPageDocument, DocTreeDocument, ProductsDocument, SearchDocsDocument } from "@aforo/storefront";

import type { App, Page } from "../app";
import { BASE } from "../app";
import { append, field, form, h, trusted, value } from "../dom";

interface DocNode {
  title: string;
  slug: string;
  children?: ReadonlyArray<DocNode>;
}

function tree(productId: string, nodes: ReadonlyArray<DocNode>, current?: string): HTMLElement {
  return h("ul", {}, nodes.map((n) =>
    h("li", {},
      h("a", { href: `${BASE}docs/${productId}/${encodeURIComponent(n.slug)}`, "aria-current": n.slug === current ? "page" : null }, n.title),
      n.children && n.children.length ? tree(productId, n.children, current) : null)));
}

/** The product chooser the docs and the reference both start from. */
export async function productList(app: App, main: HTMLElement, section: "docs" | "reference"): Promise<void> {
  const { products } = await app.sf.request(ProductsDocument, { first: 50 });
  main.append(h("ul", { class: "cards" }, products.map((p) =>
    h("li", { class: "card" }, h("h2", {}, h("a", { href: `${BASE}${section}/${p.id}` }, p.name)), h("p", {}, p.description ?? "")))));
}

export const docs: Page = {
  title: "Docs",
  nav: "Docs",
  async render(app, main, [productId, slug]) {
    if (!productId) {
      main.append(h("h1", {}, "Docs"));
      return productList(app, main, "docs");
    }
    const { docTree } = await app.sf.request(DocTreeDocument, { productId });
    const results = h("div", { class: "results", "aria-live": "polite" });
    const side = h("nav", { class: "side", "aria-label": "Docs pages" },
      form("Search the docs", [field("Search the docs", "q", { type: "search" })], "Search", async (f) => {
        const { searchDocs } = await app.sf.request(SearchDocsDocument, { productId, query: value(f, "q"), first: 10 });
        results.replaceChildren(searchDocs.length
          ? h("ul", {}, searchDocs.map((r) => h("li", {}, h("a", { href: `${BASE}docs/${productId}/${r.page.slug}` }, r.page.title), h("p", {}, r.snippet))))
          : h("p", {}, "Nothing found."));
      }),
      results,
      tree(productId, docTree, slug));
    const article = h("article", { class: "doc" });
    main.append(h("div", { class: "with-side" }, side, article));
    const first = slug ?? docTree[0]?.slug;
    if (!first) {
      article.append(h("h1", {}, "Docs"), h("p", {}, "No pages yet."));
      return;
    }
    const { docPage } = await app.sf.request(DocPageDocument, { productId, slug: first });
    if (!docPage) {
      article.append(h("h1", {}, "Page not found"));
      return;
    }
    const body = trusted(docPage.html);
    append(article, [
      h("nav", { "aria-label": "Breadcrumbs", class: "crumbs" }, docPage.breadcrumbs.map((b) => [h("a", { href: `${BASE}docs/${productId}/${b.slug}` }, b.title), " / "])),
      // One h1 a page: the page's own when its markdown starts with one.
      body.querySelector("h1") ? null : h("h1", {}, docPage.title),
      docPage.toc.length > 1 ? h("nav", { "aria-label": "On this page", class: "toc" }, h("ul", {}, docPage.toc.map((t) => h("li", {}, h("a", { href: `#${t.anchor}` }, t.text))))) : null,
      body,
      h("p", { class: "meta" }, `Version ${docPage.version}, updated ${new Date(docPage.updatedAt).toLocaleDateString()}`),
    ]);
  },
};
