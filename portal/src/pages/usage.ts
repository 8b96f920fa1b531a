/** Usage: this month's calls against each subscription's quota, and calls a day over the last
 * 30 days as a bar chart (SVG built with the DOM API, with a table for screen readers). */

import { CurrentUsageDocument, MySubscriptionsDocument, UsageDocument } from "@aforo/storefront";

import type { Page } from "../app";
import { h } from "../dom";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export const usage: Page = {
  title: "Usage",
  nav: "Usage",
  signedIn: true,
  async render(app, main) {
    main.append(h("h1", {}, "Usage"));
    const subs = (await app.sf.request(MySubscriptionsDocument, { first: 100 })).mySubscriptions.filter((s) => s.status !== "CANCELLED");
    if (subs.length === 0) {
      main.append(h("p", {}, "No subscriptions yet."));
      return;
    }
    for (const s of subs) {
      const { currentUsage: u } = await app.sf.request(CurrentUsageDocument, { subscriptionId: s.id });
      const used = Number(u.used);
      const quota = u.quota === null || u.quota === undefined ? null : Number(u.quota);
      main.append(h("section", { class: "card", "aria-label": `${s.plan.name} usage` },
        h("h2", {}, s.plan.name),
        quota
          ? h("div", {}, h("label", { for: `q-${s.id}` }, `${used.toLocaleString()} of ${quota.toLocaleString()} this period`), h("progress", { id: `q-${s.id}`, max: quota, value: Math.min(used, quota) }))
          : h("p", {}, `${used.toLocaleString()} this period (no quota)`)));
    }
    const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
    const { usage } = await app.sf.request(UsageDocument, { filter: { from }, granularity: "DAY" });
    const buckets = usage.byMetric.flatMap((m) => m.buckets.map((b) => ({ metric: m.metric, start: b.start, q: Number(b.quantity) })));
    main.append(h("h2", {}, "Last 30 days"));
    if (buckets.length === 0) {
      main.append(h("p", {}, "No usage recorded in the last 30 days."));
      return;
    }
    const max = Math.max(1, ...buckets.map((b) => b.q));
    const width = 600;
    const bw = width / buckets.length;
    const chart = svg("svg", { viewBox: `0 0 ${width} 200`, role: "img", "aria-label": `Usage a day, ${usage.total ?? 0} in total`, class: "chart" });
    buckets.forEach((b, i) => {
      const height = (190 * b.q) / max;
      const bar = svg("rect", { x: i * bw + 1, y: 200 - height, width: Math.max(1, bw - 2), height, class: "bar" });
      const title = svg("title", {});
      title.textContent = `${b.metric} ${new Date(b.start).toLocaleDateString()}: ${b.q}`;
      bar.append(title);
      chart.append(bar);
    });
    main.append(chart, h("table", { class: "data" }, h("caption", {}, "Usage a day"),
      h("thead", {}, h("tr", {}, ["Day", "Metric", "Quantity"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, buckets.map((b) => h("tr", {}, h("td", {}, new Date(b.start).toLocaleDateString()), h("td", {}, b.metric), h("td", {}, b.q.toLocaleString()))))));
  },
};
