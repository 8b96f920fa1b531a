/** The forum: categories and threads (latest, newest, top), search, a new thread with similar
 * threads suggested while typing, a thread with its replies (live), votes, accepting an answer,
 * reporting. */

import {
  AcceptAnswerDocument,
  CategoriesDocument,
  CreateThreadDocument,
  type ForumTargetType,
  type ReplyFieldsFragment,
  ReplyDocument,
  ReportDocument,
  type ReportReason,
  SearchForumDocument,
  SimilarThreadsDocument,
  ThreadActivityDocument,
  ThreadDocument,
  ThreadsDocument,
  type ThreadOrder,
  unwrap,
  VoteDocument,
} from "@aforo/storefront";

import type { App, Page } from "../app";
import { BASE } from "../app";
import { button, field, form, h, messageOf, trusted, value, when } from "../dom";

function votes(app: App, targetType: ForumTargetType, targetId: string, score: number, mine: number | null): HTMLElement {
  const count = h("span", { class: "score", "aria-live": "polite" }, String(score));
  const cast = (v: number) => async () => {
    if (!app.user) return app.go(`log-in?next=${encodeURIComponent(location.pathname.slice(BASE.length))}`);
    try {
      const r = unwrap((await app.sf.request(VoteDocument, { targetType, targetId, value: mine === v ? 0 : v })).vote);
      mine = r.myVote ?? 0;
      count.textContent = String(r.score);
      up.setAttribute("aria-pressed", String(mine === 1));
      down.setAttribute("aria-pressed", String(mine === -1));
    } catch (err) {
      app.say(messageOf(err));
    }
  };
  const up = button("▲", cast(1), { "aria-label": "Vote up", "aria-pressed": String(mine === 1) });
  const down = button("▼", cast(-1), { "aria-label": "Vote down", "aria-pressed": String(mine === -1) });
  return h("div", { class: "votes" }, up, count, down);
}

function reportForm(app: App, targetType: ForumTargetType, targetId: string): HTMLElement {
  const reasons: ReportReason[] = ["SPAM", "INAPPROPRIATE", "OFF_TOPIC", "ILLEGAL", "OTHER"];
  const box = h("details", { class: "report" }, h("summary", {}, "Report"));
  box.append(form(`Report this ${targetType.toLowerCase()}`, [
    field("Reason", "reason", {}, "select", reasons.map((r) => [r, r.replace("_", " ").toLowerCase()])),
    field("Note (optional)", "note"),
  ], "Send report", async (f) => {
    unwrap((await app.sf.request(ReportDocument, { targetType, targetId, reason: value(f, "reason") as ReportReason, note: value(f, "note") || null })).report);
    box.replaceChildren(h("summary", {}, "Reported"), h("p", {}, "Thanks: a moderator will look at it."));
  }));
  return box;
}

export const forum: Page = {
  title: "Forum",
  nav: "Forum",
  async render(app, main, [threadId], query) {
    if (threadId === "new") return newThread(app, main);
    if (threadId) return thread(app, main, threadId);
    const order = (query.get("order") ?? "LATEST_ACTIVITY") as ThreadOrder;
    const category = query.get("category");
    const { categories } = await app.sf.request(CategoriesDocument);
    const { threads } = await app.sf.request(ThreadsDocument, { first: 30, orderBy: order, categoryId: category });
    const results = h("div", { "aria-live": "polite" });
    main.append(
      h("h1", {}, "Forum"),
      h("div", { class: "row" },
        app.user ? h("a", { href: `${BASE}forum/new`, class: "cta" }, "Ask a question") : h("a", { href: `${BASE}log-in?next=forum` }, "Log in to ask"),
        h("nav", { "aria-label": "Order" }, (["LATEST_ACTIVITY", "NEWEST", "TOP"] as const).map((o) =>
          h("a", { href: `${BASE}forum?order=${o}${category ? `&category=${category}` : ""}`, "aria-current": o === order ? "true" : null }, o.replace("_", " ").toLowerCase())))),
      form("Search the forum", [field("Search the forum", "q", { type: "search" })], "Search", async (f) => {
        const { searchForum } = await app.sf.request(SearchForumDocument, { query: value(f, "q"), first: 20 });
        results.replaceChildren(searchForum.length
          ? h("ul", { class: "results" }, searchForum.map((r) => r.thread && h("li", {}, h("a", { href: `${BASE}forum/${r.thread.id}` }, r.thread.title), h("p", {}, r.snippet))))
          : h("p", {}, "Nothing found."));
      }),
      results,
      h("nav", { "aria-label": "Categories", class: "categories" }, h("ul", {},
        h("li", {}, h("a", { href: `${BASE}forum`, "aria-current": category ? null : "true" }, "All")),
        categories.map((c) => h("li", {}, h("a", { href: `${BASE}forum?category=${c.id}`, "aria-current": c.id === category ? "true" : null }, c.name))))),
      h("ul", { class: "threads" }, threads.edges.map(({ node: t }) =>
        h("li", { class: "card" },
          h("h2", {}, h("a", { href: `${BASE}forum/${t.id}` }, t.title)),
          h("p", { class: "meta" }, `${t.author?.name ?? "someone"} · ${t.replyCount} replies · score ${t.score} · ${t.status.toLowerCase()} · ${when(t.lastActivityAt)}`)))),
    );
  },
};

async function newThread(app: App, main: HTMLElement): Promise<void> {
  if (!app.user) return app.go("log-in?next=forum/new");
  const { categories } = await app.sf.request(CategoriesDocument);
  const similar = h("div", { class: "similar", "aria-live": "polite" });
  const f = form("Ask a question", [
    field("Category", "categoryId", {}, "select", categories.map((c) => [c.id, c.name])),
    field("Title", "title", { required: true }),
    field("Details", "body", { required: true }, "textarea"),
  ], "Post question", async (f) => {
    const t = unwrap((await app.sf.request(CreateThreadDocument, { input: { categoryId: value(f, "categoryId"), title: value(f, "title"), body: value(f, "body") } })).createThread);
    app.go(`forum/${t.id}`);
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  f.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const title = value(f, "title");
      if (title.length < 8) return similar.replaceChildren();
      const { similarThreads } = await app.sf.request(SimilarThreadsDocument, { title, body: value(f, "body") });
      similar.replaceChildren(similarThreads.length
        ? h("section", { "aria-label": "Similar threads" }, h("h2", {}, "Similar questions"), h("ul", {}, similarThreads.map((t) => h("li", {}, h("a", { href: `${BASE}forum/${t.id}` }, t.title), ` (${t.replyCount} replies)`))))
        : "");
    }, 400);
  });
  app.onLeave(() => clearTimeout(timer));
  main.append(h("h1", {}, "Ask a question"), f, similar);
}

async function thread(app: App, main: HTMLElement, id: string): Promise<void> {
  const { thread: t } = await app.sf.request(ThreadDocument, { id, first: 100 });
  if (!t) {
    main.append(h("h1", {}, "Thread not found"));
    return;
  }
  const mineThread = app.user?.id === t.author?.id;
  const replyItem = (r: ReplyFieldsFragment): HTMLElement =>
    h("li", { class: `reply card${r.isAccepted ? " accepted" : ""}`, id: `reply-${r.id}` },
      votes(app, "REPLY", r.id, r.score, r.myVote ?? null),
      h("div", {},
        h("p", { class: "meta" }, `${r.author?.name ?? "someone"} · ${when(r.createdAt)}${r.isAccepted ? " · accepted answer" : ""}`),
        trusted(r.bodyHtml),
        h("div", { class: "row" },
          mineThread && !r.isAccepted ? button("Accept this answer", async () => {
            try {
              unwrap((await app.sf.request(AcceptAnswerDocument, { replyId: r.id })).acceptAnswer);
              await app.render();
            } catch (err) { app.say(messageOf(err)); }
          }) : null,
          app.user && app.user.id !== r.author?.id ? reportForm(app, "REPLY", r.id) : null)));
  const replies = h("ol", { class: "replies", "aria-label": "Replies" }, t.replies.flatMap((r) => [replyItem(r), ...r.children.map(replyItem)]));
  main.append(
    h("p", {}, h("a", { href: `${BASE}forum` }, "← Forum")),
    h("article", { class: "thread" },
      h("h1", {}, t.title),
      h("p", { class: "meta" }, `${t.author?.name ?? "someone"} · ${when(t.createdAt)} · ${t.status.toLowerCase()}`),
      h("div", { class: "with-votes" }, votes(app, "THREAD", t.id, t.score, t.myVote ?? null), trusted(t.bodyHtml)),
      app.user && !mineThread ? reportForm(app, "THREAD", t.id) : null),
    h("h2", {}, "Replies"),
    replies,
    app.user
      ? form("Reply", [field("Your reply", "body", { required: true }, "textarea")], "Post reply", async (f) => {
          const r = unwrap((await app.sf.request(ReplyDocument, { threadId: id, body: value(f, "body") })).reply);
          if (!document.getElementById(`reply-${r.id}`)) replies.append(replyItem(r));
          f.reset();
          app.say("Reply posted.");
        })
      : h("p", {}, h("a", { href: `${BASE}log-in?next=forum/${id}` }, "Log in to reply")),
  );
  // Replies by others appear as they are posted.
  const stop = app.sf.subscribe(ThreadActivityDocument, { threadId: id }, {
    next: ({ threadActivity: a }) => {
      if (a.type === "reply.created" && a.replyId && !document.getElementById(`reply-${a.replyId}`)) {
        replies.append(h("li", { class: "reply card", id: `reply-${a.replyId}` }, h("p", { class: "meta" }, "New reply"), trusted(a.bodyHtml ?? "")));
      }
    },
  });
  app.onLeave(stop);
}
