"""Forum search and "did you mean" suggestions, in PostgreSQL full-text search.

Ranking, one hit per thread (its best-matching post):
1. an exact title match, then
2. threads whose *title* matches the query, then
3. everything else by ``ts_rank_cd`` (title weight A counts more than body weight B).

Only a bounded number of matches per source is ranked (``CANDIDATES``): ranking reads every
row it scores, and on a large forum a common word matches thousands of posts (whose posting
lists GIN samples, see ``GIN_SAMPLE``). Title matches
are collected separately first, so they are never crowded out of the ranked set. RLS scopes
every statement to the tenant; soft-deleted posts are excluded (the GIN indexes are partial
on ``deleted_at is null``, so removed content is not even in them).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import ValidationFailed
from aforo.services.forum_records import ReplyRow, ThreadRow, columns_sql
from aforo.services.highlight import OPTIONS, marked_html, plain, strip_markers

CANDIDATES = 200
GIN_SAMPLE = 10_000  # posting lists longer than this are sampled (gin_fuzzy_search_limit)
MAX_QUERY = 200
MAX_RESULTS = 50
SIMILAR = 3
MIN_SIMILAR_TITLE = 8
# Markers no stored text can carry (services/highlight.py): escaped, then made <mark>.
_HEADLINE = f"{OPTIONS}, MaxFragments=2, MaxWords=30, MinWords=10"


@dataclass(frozen=True)
class SearchHit:
    thread_id: uuid.UUID
    reply_id: uuid.UUID | None
    rank: float
    title_match: bool
    exact_title: bool
    title_html: str
    snippet: str  # plain text
    snippet_html: str
    # The thread and the matching reply, read by the search statement itself: a page of
    # hits needs no second statement to show them.
    thread: ThreadRow
    reply: ReplyRow | None


@dataclass(frozen=True)
class SimilarThread:
    thread_id: uuid.UUID
    score: float
    thread: ThreadRow


def _exact(value: str) -> str:
    return " ".join(value.lower().split()).rstrip("?!. ")


# Each candidate is ranked where it is read (its vector is in hand), so ranking costs no second
# visit to the rows. Removed threads' replies are dropped on the way to the page, checking only
# as many threads as the page needs (``offset 0`` keeps the check above the sort).
_SEARCH = text(
    f"""
    with q as (select websearch_to_tsquery('english', :q) as q),
    cand as (
        (select t.id as thread_id, null::uuid as reply_id, ts_rank_cd(t.search, q.q, 1) as rank,
                true as title_match, true as exact_title
           from community_threads t, q
          where t.deleted_at is null and t.title_key = :exact limit :cap)
        union all
        (select t.id, null::uuid, ts_rank_cd(t.search, q.q, 1), true, t.title_key = :exact
           from community_threads t, q
          where t.deleted_at is null and t.title_search @@ q.q limit :cap)
        union all
        (select t.id, null::uuid, ts_rank_cd(t.search, q.q, 1), t.title_search @@ q.q,
                t.title_key = :exact
           from community_threads t, q
          where t.deleted_at is null and t.search @@ q.q limit :cap)
        union all
        (select r.thread_id, r.id, ts_rank_cd(r.search, q.q, 1), false, false
           from community_replies r, q
          where r.deleted_at is null and r.search @@ q.q limit :cap)
    ),
    best as (
        select distinct on (thread_id) * from cand
        order by thread_id, exact_title desc, title_match desc, rank desc
    ),
    page as (
        select * from (
            select * from best order by exact_title desc, title_match desc, rank desc, thread_id
            offset 0
        ) ranked
        where exists (select 1 from community_threads t
                       where t.id = ranked.thread_id and t.deleted_at is null)
        limit :limit
    )
    select p.thread_id, p.reply_id, p.rank, p.title_match, p.exact_title,
           ts_headline('english', {strip_markers("t.title")}, q.q,
                       'HighlightAll=true, {OPTIONS}') as title_html,
           ts_headline('english', {strip_markers("coalesce(r.body, t.body)")}, q.q,
                       '{_HEADLINE}') as snippet_html,
           {columns_sql("t", ThreadRow)}, {columns_sql("r", ReplyRow)}
    from page p
    join community_threads t on t.id = p.thread_id
    left join community_replies r on r.id = p.reply_id
    cross join q
    order by p.exact_title desc, p.title_match desc, p.rank desc, p.thread_id
    """
)


_REPLY_AT = 7 + len(ThreadRow._fields)  # where the reply's columns start in a search row

# Transaction-local settings for the search statement. The generic plan: this statement is
# planned once per connection instead of on every request (planning it costs more than running
# it on a selective query), and it keeps to the GIN bitmap scans whatever the words.
_SEARCH_SETTINGS = text(
    "select set_config('gin_fuzzy_search_limit', :n, true), "
    "set_config('plan_cache_mode', 'force_generic_plan', true)"
)


def clean_query(query: str) -> str:
    query = query.strip()
    if not query:
        raise ValidationFailed("enter something to search for", field="query")
    if len(query) > MAX_QUERY:
        raise ValidationFailed(f"query must be at most {MAX_QUERY} characters", field="query")
    return query


async def search(session: AsyncSession, query: str, *, limit: int = 20) -> list[SearchHit]:
    query = clean_query(query)
    limit = max(1, min(limit, MAX_RESULTS))
    # Only CANDIDATES matches per source are ranked, an arbitrary subset when a query's words
    # are common; GIN can sample such huge posting lists instead of reading them whole, which
    # halves the cost of a common-word query on a million replies. Transaction-local.
    await session.execute(_SEARCH_SETTINGS, {"n": str(GIN_SAMPLE)})
    rows = await session.execute(
        _SEARCH, {"q": query, "exact": _exact(query), "cap": CANDIDATES, "limit": limit}
    )
    # By position: the thread's and the reply's columns repeat names of the leading ones.
    return [
        SearchHit(
            thread_id=r[0],
            reply_id=r[1],
            rank=float(r[2]),
            title_match=bool(r[3]),
            exact_title=bool(r[4]),
            title_html=marked_html(r[5]),
            snippet=plain(r[6]),
            snippet_html=marked_html(r[6]),
            thread=ThreadRow._make(r[7:_REPLY_AT]),
            reply=ReplyRow._make(r[_REPLY_AT:]) if r[1] is not None else None,
        )
        for r in rows
    ]


# Candidates: threads whose title has every word of the draft's title, then threads whose title
# shares at least two of its words (an OR of word pairs: one GIN scan, and far fewer matches
# than any single common word). Scored by the full-text rank of the whole draft (title and the
# start of the body, OR-ed) plus the trigram similarity of the titles, which favours near
# duplicates and forgives typos in the words that did not match. Trigram *lookups* are not
# used to find candidates: on 100,000 titles a pg_trgm index scan costs 100-400 ms.
_SIMILAR = text(
    f"""
    with lex as (
        select l from unnest(tsvector_to_array(to_tsvector('english', :title))) l limit 12
    ),
    d as (
        select plainto_tsquery('english', :title) as all_words,
               coalesce((select string_agg(format('(%s & %s)', quote_literal(a.l),
                                                  quote_literal(b.l)), ' | ')
                         from lex a join lex b on a.l < b.l), '')::tsquery as pairs,
               replace(plainto_tsquery('english', :draft)::text, '&', '|')::tsquery as any_word
    ),
    cand as (
        (select t.id from community_threads t, d
          where t.deleted_at is null and t.title_search @@ d.all_words limit :cap)
        union
        (select t.id from community_threads t, d
          where t.deleted_at is null and t.title_search @@ d.pairs limit :cap)
    )
    select t.id as thread_id,
           ts_rank_cd(t.search, d.any_word, 1) + similarity(t.title, :title)
             + case when t.status = 'SOLVED' then 0.05 else 0 end as similarity,
           {columns_sql("t", ThreadRow)}
    from cand c join community_threads t on t.id = c.id cross join d
    order by similarity desc, t.id
    limit :limit
    """
)


async def similar_threads(session: AsyncSession, title: str, body: str = "") -> list[SimilarThread]:
    """The threads most like a draft question, for the "did you mean" box while asking."""
    title = title.strip()
    if len(title) > 200:
        raise ValidationFailed("title must be at most 200 characters", field="title")
    if len(title) < MIN_SIMILAR_TITLE:
        return []  # too little to go on; suggestions would be noise
    draft = f"{title} {body.strip()[:300]}"
    rows = await session.execute(
        _SIMILAR, {"title": title, "draft": draft, "cap": CANDIDATES, "limit": SIMILAR}
    )
    return [
        SimilarThread(r[0], float(r[1]), ThreadRow._make(r[2:]))  # by position, as above
        for r in rows
        if r[1] > 0.05
    ]
