"""Forum test helpers (no tests here): members with real access tokens, and GraphQL snippets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from aforo.db import create_engine, sessionmaker
from aforo.runtime.state import Runtime
from tests.support import Api, TenantFixture, make_tenant

THREAD_FIELDS = """id title body bodyHtml status pinned tags viewCount replyCount score removed
  acceptedReplyId"""
CREATE_THREAD = f"""mutation($i: CreateThreadInput!) {{ createThread(input: $i) {{ __typename
  ... on Thread {{ {THREAD_FIELDS} }} ... on UserError {{ code message field }} }} }}"""
REPLY = """mutation($t: ID!, $p: ID, $b: String!) {
  reply(threadId: $t, parentReplyId: $p, body: $b) { __typename
  ... on Reply { id parentReplyId depth body bodyHtml removed }
  ... on UserError { code message field } } }"""
VOTE = """mutation($k: ForumTargetType!, $id: ID!, $v: Int!) {
  vote(targetType: $k, targetId: $id, value: $v) { __typename
  ... on VoteCast { score myVote threadId } ... on UserError { code message field } } }"""
ACCEPT = """mutation($r: ID!) { acceptAnswer(replyId: $r) { __typename
  ... on Thread { id status acceptedReplyId } ... on UserError { code message field } } }"""
SAVE_CATEGORY = """mutation($i: CategoryInput!) { saveCategory(input: $i) { __typename
  ... on ForumCategory { id name slug parentId position }
  ... on UserError { code message field } } }"""
PROFILE = """query($u: ID) { communityProfile(userId: $u) { reputation threadCount replyCount
  acceptedCount isBanned badges { kind name } } }"""


@dataclass
class Member:
    id: str
    token: str
    name: str


@dataclass
class Forum:
    """One tenant's forum, driven over GraphQL as its frontend would."""

    api: Api
    tenant: TenantFixture
    runtime: Runtime
    admin: Member

    async def members(
        self, n: int, *, prefix: str = "dev", roles: str = "DEVELOPER"
    ) -> list[Member]:
        """Verified accounts inserted directly (password hashing and mail are not under test
        here), each with a real access token signed by the app's key ring."""
        ids = [uuid.uuid4() for _ in range(n)]
        engine = create_engine(self.api.settings.owner_url or "", pool_size=1)
        try:
            async with sessionmaker(engine)() as s, s.begin():
                for i, uid in enumerate(ids):
                    await s.execute(
                        text(
                            "insert into users (tenant_id, id, email, name, password_hash, roles,"
                            " email_verified_at) values (:t, :id, :e, :n, 'x', :r, now())"
                        ),
                        {
                            "t": uuid.UUID(self.tenant.id),
                            "id": uid,
                            "e": f"{prefix}{i}-{uid.hex[:6]}@example.com",
                            "n": f"{prefix}{i}",
                            "r": roles.split(","),
                        },
                    )
        finally:
            await engine.dispose()
        return [self.member_for(uid, f"{prefix}{i}", roles.split(",")) for i, uid in enumerate(ids)]

    def member_for(self, uid: uuid.UUID, name: str, roles: list[str]) -> Member:
        token, _ = self.runtime.auth.issue_access_token(
            tenant_id=uuid.UUID(self.tenant.id),
            user_id=uid,
            roles=roles,
            session_id=None,
            ttl_s=900,
        )
        return Member(str(uid), token, name)

    async def member(self, name: str = "dev") -> Member:
        return (await self.members(1, prefix=name))[0]

    async def moderator(self) -> Member:
        return (await self.members(1, prefix="mod", roles="MODERATOR"))[0]

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, who: Member | None = None
    ) -> dict[str, Any]:
        if who is None:
            return await self.api.data(query, variables, storefront=self.tenant.storefront_key)
        return await self.api.data(query, variables, token=who.token)

    async def category(self, name: str = "Help", parent: str | None = None) -> str:
        d = await self.data(SAVE_CATEGORY, {"i": {"name": name, "parentId": parent}}, self.admin)
        assert d["saveCategory"]["__typename"] == "ForumCategory", d
        cid: str = d["saveCategory"]["id"]
        return cid

    async def thread(
        self,
        who: Member,
        category: str,
        title: str,
        body: str = "Body text.",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        d = await self.data(
            CREATE_THREAD,
            {"i": {"categoryId": category, "title": title, "body": body, "tags": tags or []}},
            who,
        )
        result: dict[str, Any] = d["createThread"]
        assert result["__typename"] == "Thread", result
        return result

    async def reply(
        self, who: Member, thread: str, body: str = "A reply.", parent: str | None = None
    ) -> dict[str, Any]:
        d = await self.data(REPLY, {"t": thread, "p": parent, "b": body}, who)
        result: dict[str, Any] = d["reply"]
        return result

    async def vote(self, who: Member, kind: str, target: str, value: int) -> dict[str, Any]:
        d = await self.data(VOTE, {"k": kind, "id": target, "v": value}, who)
        result: dict[str, Any] = d["vote"]
        return result

    async def profile(self, member: Member) -> dict[str, Any]:
        d = await self.data(PROFILE, {"u": member.id})
        result: dict[str, Any] = d["communityProfile"]
        return result


async def make_forum(api: Api, app: FastAPI, name: str = "Acme") -> Forum:
    t = await make_tenant(api.settings, name)
    token = await api.admin_token(t)
    me = await api.data("{ me { id name } }", token=token)
    admin = Member(me["me"]["id"], token, me["me"]["name"])
    return Forum(api, t, app.state.runtime, admin)
