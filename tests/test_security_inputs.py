"""Text inputs: every mutation argument refuses control characters and lone surrogates with a
typed error naming it, and no oversized string reaches a 5xx; passwords and emails as the
assessment tried them; a NUL that was a 500 logging SQL parameters (an argon2 hash among
them) is a typed error now."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
)
from graphql.pyutils import Undefined
from hypothesis import given
from hypothesis import strategies as st

from aforo.app import schema
from aforo.text import bad_character
from tests.fuzzing import in_worker, profile
from tests.gateway import KeyWorld, make_key_world
from tests.mailbox import token_of
from tests.support import Api, make_tenant

GQL = schema()._schema
CONTROL = [chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))]
CLEAN = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=6)
BAD = {
    "control": st.builds(lambda a, c, b: a + c + b, CLEAN, st.sampled_from(CONTROL), CLEAN),
    "surrogate": st.builds(
        lambda a, c, b: a + chr(c) + b, CLEAN, st.integers(0xD800, 0xDFFF), CLEAN
    ),
    # Past every field's own limit, within the request body's (256 KiB).
    "oversized": st.integers(70_000, 120_000).map(lambda n: "y" * n),
}
FULLWIDTH = "\uff24\uff45\uff56@Example.COM"  # "Dev" in fullwidth letters
TWIN = "dev@\uff45xample.com"
SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { __typename
  ... on SignUpAccepted { email } ... on UserError { code message field } } }"""


# -- what to send: every String leaf of every mutation argument ------------------------------------
def _named(t: Any) -> Any:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    return t


def string_paths(
    t: GraphQLInputType, path: str, seen: frozenset[str] = frozenset()
) -> Iterator[str]:
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    if isinstance(inner, GraphQLList):
        yield from string_paths(inner.of_type, f"{path}[0]", seen)
    elif isinstance(inner, GraphQLInputObjectType) and inner.name not in seen:
        for name, f in inner.fields.items():
            yield from string_paths(f.type, f"{path}.{name}", seen | {inner.name})
    elif isinstance(inner, GraphQLScalarType) and inner.name == "String":
        yield path


def filler(t: GraphQLInputType, ids: dict[str, str], name: str, want: str | None = None) -> Any:
    """A plausible value; ``want``: the path (relative to ``t``) that must be present."""
    inner = t.of_type if isinstance(t, GraphQLNonNull) else t
    if isinstance(inner, GraphQLList):
        sub = want[len("[0]") :] if want and want.startswith("[0]") else None
        return [filler(inner.of_type, ids, name, sub)]
    if isinstance(inner, GraphQLInputObjectType):
        out = {}
        for n, f in inner.fields.items():
            target = want is not None and (want == f".{n}" or want.startswith((f".{n}.", f".{n}[")))
            required = isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
            if required or target:
                out[n] = filler(f.type, ids, n, want[len(n) + 1 :] if target and want else None)
        return out
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    return {
        "ID": ids.get(name, ids["productId"]),
        "String": "plain",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "DateTime": "2026-01-01T00:00:00Z",
        "Decimal": "1",
        "JSON": {},
    }.get(inner.name, "plain")


def put(value: Any, path: str, bad: str) -> Any:
    """``value`` with the string at ``path`` (``.a[0].b``) replaced by ``bad``."""
    if not path:
        return bad
    if path.startswith("[0]"):
        return [put(value[0], path[3:], bad), *value[1:]]
    key, rest = path[1:], ""
    for i, ch in enumerate(key):
        if ch in ".[":
            key, rest = key[:i], key[i:]
            break
    return {**value, key: put(value[key], rest, bad)}


def cases() -> list[tuple[str, str, str]]:
    """(mutation, argument, path under it) for every String leaf."""
    out = []
    mutation = GQL.mutation_type
    assert mutation is not None
    for name, field in sorted(mutation.fields.items()):
        for arg, a in field.args.items():
            for p in string_paths(a.type, ""):
                out.append((name, arg, p))
    return out


def request_for(
    ids: dict[str, str], mutation: str, arg: str, path: str, bad: str
) -> tuple[str, dict[str, Any]]:
    field = GQL.mutation_type.fields[mutation]  # type: ignore[union-attr]
    variables: dict[str, Any] = {}
    decl = []
    for n, a in field.args.items():
        if n != arg and not (isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined):
            continue
        base = filler(a.type, ids, n, path if n == arg else None)
        variables[n] = put(base, path, bad) if n == arg else base
        decl.append(f"${n}: {a.type}")
    call = ", ".join(f"{n}: ${n}" for n in variables)
    sel = "" if isinstance(_named(field.type), GraphQLScalarType) else "{ __typename }"
    return f"mutation({', '.join(decl)}) {{ {mutation}({call}) {sel} }}", variables


def world_ids(w: KeyWorld) -> dict[str, str]:
    return {
        "productId": w.product_id,
        "planId": w.plan_id,
        "subscriptionId": w.subscription_id,
        "keyId": w.key_id,
        "userId": w.dev_id,
        "id": w.key_id,
    }


def test_every_mutation_has_string_arguments_to_walk() -> None:
    found = cases()
    assert len({m for m, _, _ in found}) >= 20, found
    assert ("signUp", "input", ".email") in found and ("reply", "body", "") in found


async def test_every_mutation_argument_refuses_control_characters_and_survives_size(
    api: Api,
) -> None:
    w = await make_key_world(api)
    ids = world_ids(w)
    walk = cases()
    problems: list[str] = []
    tally = {"requests": 0, "typed": 0}

    def run(call: Callable[[Any], Any]) -> None:
        @profile(2)
        @given(data=st.data())
        def every_argument(data: st.DataObject) -> None:
            for mutation, arg, path in walk:
                kind = data.draw(st.sampled_from(sorted(BAD)))
                bad = data.draw(BAD[kind])
                query, variables = request_for(ids, mutation, arg, path, bad)
                # json.dumps escapes lone surrogates as JSON allows ("\ud800"); a client
                # library encoding the text as UTF-8 first could not send one.
                payload = json.dumps({"query": query, "variables": variables}).encode()
                r = call(
                    api.client.post(
                        "/graphql",
                        content=payload,
                        headers={
                            "content-type": "application/json",
                            "Authorization": f"Bearer {w.admin}",
                        },
                    )
                )
                tally["requests"] += 1
                where = f"{mutation}({arg}{path}) {kind}"
                if r.status_code >= 500:
                    problems.append(f"{where}: {r.status_code} {r.text[:200]}")
                    continue
                body = r.json()
                errors = body.get("errors") or []
                codes = [(e.get("extensions") or {}).get("code") for e in errors]
                if "INTERNAL_SERVER_ERROR" in codes or None in codes:
                    problems.append(f"{where}: {body}")
                elif kind != "oversized":
                    field = f"{arg}{path}".removeprefix("input.")
                    ext = errors[0]["extensions"] if errors else {}
                    if (ext.get("code"), ext.get("field")) != ("INVALID_CHARACTERS", field):
                        problems.append(f"{where}: wanted INVALID_CHARACTERS on {field}: {body}")
                    else:
                        tally["typed"] += 1
                elif r.status_code == 200 and not errors:
                    payload = (body.get("data") or {}).get(mutation)
                    if not isinstance(payload, dict):
                        problems.append(f"{where}: {body}")

        every_argument()

    await in_worker(run)
    assert not problems, "\n".join(problems[:20])
    assert tally["requests"] >= 2 * len(walk) and tally["typed"] > 0, tally


@given(st.text())
@profile(300)
def test_a_text_is_refused_exactly_when_it_holds_a_refused_character(value: str) -> None:
    refused = {*CONTROL, *(chr(c) for c in range(0xD800, 0xE000)), "\ufffe", "\uffff"}
    assert (bad_character(value) is not None) == any(c in refused for c in value)


async def test_the_assessment_s_passwords_are_refused(api: Api) -> None:
    t = await make_tenant(api.settings)
    weak = (" " * 10, "aaaaaaaaaa", "password12", "Password123", "dev@example.com1", "qwertyuiop")
    for password in weak:
        d = await api.data(
            SIGN_UP,
            {"i": {"email": "dev@example.com", "password": password, "name": "Dev"}},
            storefront=t.storefront_key,
        )
        assert (d["signUp"]["code"], d["signUp"]["field"]) == ("INVALID", "password"), password
    body = await api.gql(
        SIGN_UP,
        {"i": {"email": "dev@example.com", "password": "\x00" * 10, "name": "Dev"}},
        storefront=t.storefront_key,
    )
    assert body["errors"][0]["extensions"] == {"code": "INVALID_CHARACTERS", "field": "password"}
    ok = await api.sign_up(t, "dev@example.com", "correct horse battery")
    assert ok["user"]["email"] == "dev@example.com"


async def test_emails_are_normalized_and_invisible_characters_refused(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    t = await make_tenant(api.settings)
    sf = t.storefront_key
    # Fullwidth letters (NFKC folds U+FF24 to D) and case: one account.
    d = await api.data(
        SIGN_UP,
        {
            "i": {
                "email": "\uff24\uff45\uff56@Example.COM",
                "password": "correct horse battery",
                "name": "Dev",
            }
        },
        storefront=sf,
    )
    assert d["signUp"]["email"] == "dev@example.com"
    await api.verify_email(t, token_of(await api.mailbox.wait("dev@example.com", "Confirm your")))
    again = await api.log_in(t, "DEV@example.com", "correct horse battery")
    assert again["__typename"] == "AuthPayload"
    twin = await api.data(
        SIGN_UP,
        {
            "i": {
                "email": "dev@\uff45xample.com",
                "password": "correct horse battery",
                "name": "Twin",
            }
        },
        storefront=sf,
    )
    # The same answer as for a new address (no enumeration); the owner is told by mail.
    assert twin["signUp"] == {"__typename": "SignUpAccepted", "email": "dev@example.com"}
    await api.mailbox.wait("dev@example.com", "already have")
    for invisible in ("de\u200bv@example.com", "dev@exam\u202eple.com", "dev\u00a0@example.com"):
        d = await api.data(
            SIGN_UP,
            {"i": {"email": invisible, "password": "correct horse battery", "name": "X"}},
            storefront=sf,
        )
        assert (d["signUp"]["code"], d["signUp"]["field"]) == ("INVALID_CHARACTERS", "email")
    # The assessment's NUL: a typed error naming the field, and nothing of the statement (its
    # parameters held the password's argon2 hash) in the log.
    caplog.set_level(logging.DEBUG)
    for i in (
        {"email": "n@example.com", "name": "N\x00"},
        {"email": "n\x00@example.com", "name": "N"},
    ):
        body = await api.gql(
            SIGN_UP, {"i": {**i, "password": "correct horse battery"}}, storefront=sf
        )
        field = "name" if "\x00" in i["name"] else "email"
        assert body["errors"][0]["extensions"] == {"code": "INVALID_CHARACTERS", "field": field}
    assert "$argon2" not in caplog.text and "correct horse battery" not in caplog.text


async def test_sql_parameters_are_never_in_an_error_or_a_log(api: Api, app: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    runtime = app.state.runtime
    t = await make_tenant(api.settings)
    secret = "$argon2id$v=19$m=65536,t=3,p=1$not-a-real-hash"
    with pytest.raises(DBAPIError) as failed:
        async with runtime.transaction(uuid.UUID(t.id)) as s:
            await s.execute(
                text(
                    "insert into users (tenant_id, email, name, password_hash, roles) "
                    "values (:t, :e, :n, :h, array['NOPE_TOO_LONG_FOR_A_ROLE_NAME'])"
                ),
                {"t": uuid.UUID(t.id), "e": "p@example.com", "n": "P", "h": secret},
            )
    assert secret not in str(failed.value) and "hide_parameters" in str(failed.value)


async def test_user_roles_are_not_shown_to_anonymous_callers(api: Api) -> None:
    t = await make_tenant(api.settings)
    admin = await api.admin_token(t)
    cat = (
        await api.data(
            'mutation { saveCategory(input: {name: "Help"}) { ... on ForumCategory { id } } }',
            token=admin,
        )
    )["saveCategory"]["id"]
    await api.data(
        """mutation($c: ID!) { createThread(input: {categoryId: $c, title: "Who is staff here",
             body: "b"}) { __typename } }""",
        {"c": cat},
        token=admin,
    )
    q = "{ threads { edges { node { author { name roles } } } } }"
    anonymous = await api.data(q, storefront=t.storefront_key)
    assert anonymous["threads"]["edges"][0]["node"]["author"] == {"name": "Admin", "roles": None}
    signed_in = await api.data(q, token=admin)
    assert signed_in["threads"]["edges"][0]["node"]["author"]["roles"] == ["ADMIN"]


async def test_a_nul_inside_a_document_is_never_a_5xx(api: Api, app: Any) -> None:
    """Past the text checks of every argument: a JSON escape in an imported spec decodes to
    NUL. It imports (stored escaped), and should PostgreSQL ever refuse such a value, the
    answer is the input's typed error, never the SQL."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from aforo.db import is_unstorable_text

    w = await make_key_world(api)
    spec = (
        '{"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {"/x": {"get": '
        '{"summary": "a\\u0000b", "responses": {"200": {"description": "ok\\u0000"}}}}}}'
    )
    d = await api.data(
        """mutation($i: ImportSpecInput!) { importSpec(input: $i) { __typename } }""",
        {"i": {"productId": w.product_id, "format": "OPENAPI_3", "content": spec}},
        token=w.admin,
    )
    assert d["importSpec"]["__typename"] == "SpecImported"
    files = {"file": ("s.json", spec.encode(), "application/json")}
    data = {"product_id": w.product_id, "spec_format": "OPENAPI_3", "name": "a\x00b"}
    r = await api.client.post(
        "/api/v1/docs/api-specs",
        data=data,
        files=files,
        headers={"Authorization": f"Bearer {w.admin}"},
    )
    assert r.status_code == 422 and r.json()["error"] == {
        "code": "INVALID_CHARACTERS",
        "message": "name contains the control character U+0000",
        "field": "name",
    }
    with pytest.raises(DBAPIError) as refused:
        async with app.state.runtime.transaction(uuid.UUID(w.tenant.id)) as s:
            await s.execute(text("select cast(:v as text)"), {"v": "a\x00b"})
    assert is_unstorable_text(refused.value)
