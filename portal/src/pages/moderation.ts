/** For staff: the moderation queue (reported threads and replies) and its actions. */

import { type ModerationActionType, ModerateDocument, ModerationQueueDocument, unwrap } from "@aforo/storefront";

import type { Page } from "../app";
import { BASE } from "../app";
import { field, form, h, trusted, value, when } from "../dom";

const ACTIONS: Array<[ModerationActionType, string]> = [
  ["DISMISS", "Dismiss the reports"],
  ["SOFT_DELETE", "Remove the post"],
  ["WARN", "Warn the author"],
  ["LOCK", "Lock the thread"],
  ["BAN", "Ban the author"],
];

export const moderation: Page = {
  title: "Moderation queue",
  nav: "Moderation",
  signedIn: true,
  staff: true,
  async render(app, main) {
    main.append(h("h1", {}, "Moderation queue"));
    const { moderationQueue } = await app.sf.request(ModerationQueueDocument, { first: 50 });
    if (moderationQueue.length === 0) {
      main.append(h("p", {}, "Nothing reported. "));
      return;
    }
    main.append(h("ul", { class: "queue" }, moderationQueue.map((item) => {
      const post = item.targetType === "REPLY" ? item.reply : item.thread;
      const threadId = item.thread?.id ?? item.reply?.threadId;
      return h("li", { class: "card" },
        h("h2", {}, `${item.targetType.toLowerCase()} by ${post?.author?.name ?? "someone"} · ${item.reportCount} report(s)`),
        threadId ? h("p", {}, h("a", { href: `${BASE}forum/${threadId}` }, item.thread?.title ?? "Open the thread")) : null,
        post ? trusted(post.bodyHtml) : null,
        h("ul", { class: "reports" }, item.reports.map((r) => h("li", {}, `${r.reason.toLowerCase()} — ${r.note ?? ""} (${r.reporter?.name ?? "someone"}, ${when(r.createdAt)})`))),
        form(`Moderate this ${item.targetType.toLowerCase()}`, [
          field("Action", "action", {}, "select", ACTIONS),
          field("Reason (kept in the log)", "reason", { required: true }),
        ], "Apply", async (f) => {
          const action = value(f, "action") as ModerationActionType;
          const target = action === "WARN" || action === "BAN"
            ? { targetType: "USER" as const, targetId: post?.author?.id ?? null }
            : { targetType: item.targetType, targetId: item.targetId };
          const reportId = action === "DISMISS" ? item.reports[0]?.id ?? null : null;
          unwrap((await app.sf.request(ModerateDocument, { input: { action, reason: value(f, "reason"), reportId, ...target } })).moderate);
          app.say("Done.");
          await app.render();
        }));
    })));
  },
};
