/** Invoices: what the current period will cost so far, and past invoices with their PDF. */

import { InvoiceDocument, InvoicesDocument, type MoneyFieldsFragment, MySubscriptionsDocument, UpcomingInvoiceDocument } from "@aforo/storefront";

import type { Page } from "../app";
import { button, h, messageOf, when } from "../dom";

function money(m: MoneyFieldsFragment): string {
  return new Intl.NumberFormat(undefined, { style: "currency", currency: m.currency }).format(Number(m.amount));
}

export const invoices: Page = {
  title: "Invoices",
  nav: "Invoices",
  signedIn: true,
  async render(app, main) {
    main.append(h("h1", {}, "Invoices"));
    const subs = (await app.sf.request(MySubscriptionsDocument, { first: 100 })).mySubscriptions.filter((s) => s.status === "ACTIVE");
    for (const s of subs) {
      const { upcomingInvoice: u } = await app.sf.request(UpcomingInvoiceDocument, { subscriptionId: s.id });
      if (!u) continue;
      main.append(h("section", { class: "card", "aria-label": `Upcoming invoice for ${s.plan.name}` },
        h("h2", {}, `${s.plan.name}: ${money(u.total)} so far`),
        h("p", { class: "meta" }, `${when(u.periodStart)} – ${when(u.periodEnd)}`),
        h("ul", {}, u.lines.map((l) => h("li", {}, `${l.description}: ${money(l.amount)}`)))));
    }
    const { invoices: list } = await app.sf.request(InvoicesDocument, { first: 50, offset: 0 });
    main.append(h("h2", {}, "Past invoices"));
    if (list.length === 0) {
      main.append(h("p", {}, "No invoices yet."));
      return;
    }
    main.append(h("table", { class: "data" }, h("caption", { class: "sr-only" }, "Past invoices"),
      h("thead", {}, h("tr", {}, ["Number", "Period", "Status", "Total", "PDF"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, list.map((inv) => h("tr", {},
        h("td", {}, inv.number ?? "draft"),
        h("td", {}, `${when(inv.periodStart)} – ${when(inv.periodEnd)}`),
        h("td", {}, inv.status.toLowerCase()),
        h("td", {}, money(inv.total)),
        // The PDF link carries a five-minute token: fetched on demand, never left in the page.
        h("td", {}, button(`Download invoice ${inv.number ?? inv.id} (PDF)`, async () => {
          try {
            const { invoice } = await app.sf.request(InvoiceDocument, { id: inv.id });
            if (invoice) window.location.assign(new URL(invoice.pdfUrl, app.config.url || location.origin).toString());
          } catch (err) {
            app.say(messageOf(err));
          }
        })))))));
  },
};
