/** Products and their plans; subscribing to a plan. */

import { MySubscriptionsDocument, type PlanFieldsFragment, ProductsDocument, SubscribeDocument, unwrap } from "@aforo/storefront";

import type { Page } from "../app";
import { BASE } from "../app";
import { button, h, messageOf } from "../dom";

export function price(p: Pick<PlanFieldsFragment, "priceCents" | "currency" | "interval">): string {
  if (p.priceCents === 0) return "Free";
  const amount = new Intl.NumberFormat(undefined, { style: "currency", currency: p.currency }).format(p.priceCents / 100);
  return `${amount} / ${p.interval.toLowerCase()}`;
}

export const products: Page = {
  title: "Products and plans",
  nav: "Products",
  async render(app, main) {
    main.append(h("h1", {}, "Products and plans"));
    const { products } = await app.sf.request(ProductsDocument, { first: 50 });
    const mine = app.user ? (await app.sf.request(MySubscriptionsDocument, { first: 100 })).mySubscriptions : [];
    const subscribed = new Set(mine.filter((s) => s.status !== "CANCELLED").map((s) => s.plan.id));
    if (products.length === 0) main.append(h("p", {}, "No products are published yet."));
    for (const product of products) {
      const plans = product.plans.map((plan) => {
        const status = h("p", { class: "plan-status", role: "status" });
        let action: Node;
        if (!app.user) {
          action = h("a", { href: `${BASE}log-in?next=products`, class: "cta" }, "Log in to subscribe");
        } else if (subscribed.has(plan.id)) {
          action = h("p", { class: "badge" }, "Subscribed");
        } else {
          action = button(`Subscribe to ${plan.name}`, async (e) => {
            const b = e.currentTarget as HTMLButtonElement;
            b.disabled = true;
            try {
              unwrap((await app.sf.request(SubscribeDocument, { planId: plan.id })).subscribe);
              b.replaceWith(h("p", { class: "badge" }, "Subscribed"));
              status.textContent = `Subscribed to ${plan.name}. Create a key on the Keys page.`;
            } catch (err) {
              b.disabled = false;
              status.textContent = messageOf(err);
            }
          });
        }
        return h(
          "li",
          { class: "plan card" },
          h("h3", {}, plan.name),
          h("p", { class: "price" }, price(plan)),
          h(
            "ul",
            { class: "facts" },
            h("li", {}, plan.monthlyQuota ? `${plan.monthlyQuota.toLocaleString()} calls a month` : "Unlimited calls"),
            plan.rateLimitPerMinute ? h("li", {}, `${plan.rateLimitPerMinute} requests a minute`) : null,
            plan.charges.map((c) => h("li", {}, `${c.metric}: ${c.model.toLowerCase()}${c.unitPrice ? ` at ${c.unitPrice} ${plan.currency}` : ""}`)),
          ),
          action,
          status,
        );
      });
      main.append(
        h(
          "section",
          { class: "product", "aria-labelledby": `p-${product.id}` },
          h("h2", { id: `p-${product.id}` }, product.name),
          h("p", {}, product.description ?? ""),
          h("p", {}, h("a", { href: `${BASE}docs/${product.id}` }, "Docs"), " · ", h("a", { href: `${BASE}reference/${product.id}` }, "API reference")),
          h("ul", { class: "plans" }, plans),
        ),
      );
    }
  },
};
