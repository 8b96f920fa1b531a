"""The reference a Redoc/Scalar-class renderer needs, read back from an imported spec: in
order, by name, nothing dropped, descriptions as safe HTML beside their source."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.support import Api, make_tenant
from tests.test_docs import make_product
from tests.test_specs import IMPORT

EVENTS = """openapi: 3.1.0
info:
  title: Events API
  version: "2.1"
  summary: Tickets and venues
  description: |
    The **Events** API. <script>alert(1)</script> [bad](javascript:alert(1)) [docs](https://docs.test)
  termsOfService: https://events.test/terms
  contact: {name: API team, url: "https://events.test", email: api@events.test}
  license: {name: Apache 2.0, identifier: Apache-2.0}
  x-logo: {url: "https://events.test/logo.png"}
externalDocs: {url: "https://docs.events.test", description: The *guides*}
servers:
  - url: "https://{region}.events.test/{version}"
    description: Regional
    variables:
      region: {default: eu, enum: [eu, us], description: Data region}
      version: {default: v2}
tags:
  - name: events
    description: Things that *happen*
    x-displayName: Events
    externalDocs: {url: "https://docs.events.test/events"}
  - name: venues
x-tagGroups:
  - {name: Core, tags: [events, venues]}
components:
  securitySchemes:
    oauth:
      type: oauth2
      description: OAuth 2.0
      flows:
        authorizationCode:
          authorizationUrl: "https://auth.test/authorize"
          tokenUrl: "https://auth.test/token"
          refreshUrl: "https://auth.test/refresh"
          scopes: {"events:read": Read events, "events:write": Write events}
        clientCredentials:
          tokenUrl: "https://auth.test/token"
          scopes: {"events:read": Read events}
    oidc: {type: openIdConnect, openIdConnectUrl: "https://auth.test/.well-known/openid-configuration"}
    key: {type: apiKey, in: header, name: X-Key}
  schemas:
    Event:
      type: object
      description: An *event*.
      required: [eventId, name]
      properties:
        eventId: {type: string, format: uuid}
        name: {type: string}
        location: {$ref: "#/components/schemas/Venue"}
        dates: {type: array, items: {type: string, format: date}}
        price:
          oneOf: [{$ref: "#/components/schemas/Free"}, {$ref: "#/components/schemas/Paid"}]
          discriminator:
            propertyName: kind
            mapping: {free: "#/components/schemas/Free", paid: "#/components/schemas/Paid"}
        legacyCode: {type: string, deprecated: true}
    Venue:
      allOf:
        - $ref: "#/components/schemas/Place"
        - {type: object, properties: {capacity: {type: integer}}}
    Place: {type: object, properties: {city: {type: string}}}
    Free: {type: object, properties: {kind: {const: free}}}
    Paid: {type: object, properties: {kind: {const: paid}, amount: {type: number}}}
paths:
  /events:
    get:
      tags: [events]
      operationId: listEvents
      summary: List events
      description: Lists *all* events.
      externalDocs: {url: "https://docs.events.test/list"}
      security: [{oauth: ["events:read"]}, {key: []}]
      parameters:
        - name: city
          in: query
          style: form
          explode: false
          schema: {type: array, items: {type: string}}
          examples:
            one: {summary: One city, value: [Paris]}
            two: {summary: Two cities, description: Both *cities*, value: [Paris, Lyon]}
        - {name: legacy, in: query, deprecated: true, schema: {type: boolean}}
      responses:
        "200":
          description: The **events**
          headers:
            X-Rate-Limit: {description: Calls per hour, required: true, schema: {type: integer}}
          content:
            application/json:
              schema: {type: array, items: {$ref: "#/components/schemas/Event"}}
              examples:
                empty: {summary: No events, value: []}
                some: {summary: Some events, value: [{eventId: e1, name: Gig}]}
          links:
            GetEventById:
              operationId: getEvent
              parameters: {eventId: "$response.body#/0/eventId"}
              description: The first event
    post:
      operationId: createEvent
      tags: [events]
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Event"}
      callbacks:
        onSold:
          "{$request.body#/callbackUrl}":
            post:
              summary: Tickets sold
              requestBody:
                content:
                  application/json:
                    schema: {type: object, properties: {sold: {type: integer}}}
              responses: {"204": {description: ok}}
      responses: {"201": {description: created}}
  /events/{eventId}:
    get:
      operationId: getEvent
      deprecated: true
      tags: [events]
      parameters: [{name: eventId, in: path, required: true, schema: {type: string}}]
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Event"}}}
  /venues:
    get: {operationId: listVenues, tags: [venues], responses: {"200": {description: ok}}}
  /health:
    get: {operationId: health, responses: {"200": {description: ok}}}
webhooks:
  eventCreated:
    post:
      summary: An event was created
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/Event"}}}
      responses: {"200": {description: ok}}
"""

VERSION = """query($id: ID!) { apiSpec(id: $id) { currentVersion {
  title apiVersion descriptionHtml sourceVersion operationCount
  info { title version summary description descriptionHtml termsOfService
         contact { name url email } license { name url identifier } logo }
  externalDocs { url description descriptionHtml }
  serverList { url template description variables { name default enum description } }
  securitySchemeList { name type description scheme location parameterName openIdConnectUrl
    flows { kind authorizationUrl tokenUrl refreshUrl scopes { name description } } }
  tagGroups { name tags }
  tags { name displayName description descriptionHtml operationCount externalDocs { url }
         operations(first: 2) { operationId cursor } }
  webhooks { key kind method path summary requestBody { content { schema } } }
  componentCounts
  components(kind: "schemas") { name kind ref description descriptionHtml }
  event: component(name: "Event") { schema(depth: 0) }
} } }"""

OPERATIONS = """query($id: ID!, $after: String) { apiSpec(id: $id) { currentVersion {
  operations(first: 2, after: $after) { key operationId cursor summary descriptionHtml
    deprecated security externalDocs { url }
    parameters { name location style explode deprecated schema examples { name summary
      description descriptionHtml value } }
    responses { status description descriptionHtml
      headers { name description required schema }
      content { mediaType schema examples { name summary value } }
      links { name operationId parameters description } }
    callbacks { key kind method path callbackName summary parentKey
      requestBody { content { schema } } } } } } }"""


async def _import(api: Api, app: FastAPI, fmt: str, content: str) -> tuple[Any, str]:
    t = await make_tenant(api.settings)
    token = await api.admin_token(t)
    pid = await make_product(app, t)
    d = await api.data(
        IMPORT, {"i": {"productId": pid, "format": fmt, "content": content}}, token=token
    )
    assert d["importSpec"]["__typename"] == "SpecImported", d
    return t, d["importSpec"]["spec"]["id"]


async def test_openapi_reference_is_complete(api: Api, app: FastAPI) -> None:
    t, spec_id = await _import(api, app, "OPENAPI_3", EVENTS)
    key = t.storefront_key
    v = (await api.data(VERSION, {"id": spec_id}, storefront=key))["apiSpec"]["currentVersion"]
    assert (v["title"], v["apiVersion"], v["sourceVersion"]) == ("Events API", "2.1", "3.1.0")
    info = v["info"]
    assert info["summary"] == "Tickets and venues"
    assert info["description"].startswith("The **Events** API.")  # the source, as written
    html = info["descriptionHtml"]
    assert "<strong>Events</strong>" in html and '<a href="https://docs.test">docs</a>' in html
    assert "<script>" not in html and "&lt;script&gt;" in html  # raw HTML is text
    assert 'href="javascript' not in html  # unsafe links are not links
    assert v["descriptionHtml"] == html
    assert info["termsOfService"] == "https://events.test/terms"
    assert info["contact"] == {
        "name": "API team",
        "url": "https://events.test",
        "email": "api@events.test",
    }
    assert info["license"] == {"name": "Apache 2.0", "url": None, "identifier": "Apache-2.0"}
    assert info["logo"] == {"url": "https://events.test/logo.png"}
    assert v["externalDocs"]["descriptionHtml"] == "<p>The <em>guides</em></p>\n"
    assert v["serverList"] == [
        {
            "url": "https://eu.events.test/v2",
            "template": "https://{region}.events.test/{version}",
            "description": "Regional",
            "variables": [
                {
                    "name": "region",
                    "default": "eu",
                    "enum": ["eu", "us"],
                    "description": "Data region",
                },
                {"name": "version", "default": "v2", "enum": None, "description": ""},
            ],
        }
    ]
    schemes = {s["name"]: s for s in v["securitySchemeList"]}
    assert list(schemes) == ["oauth", "oidc", "key"]
    assert schemes["oauth"]["flows"] == [
        {
            "kind": "clientCredentials",
            "authorizationUrl": None,
            "tokenUrl": "https://auth.test/token",
            "refreshUrl": None,
            "scopes": [{"name": "events:read", "description": "Read events"}],
        },
        {
            "kind": "authorizationCode",
            "authorizationUrl": "https://auth.test/authorize",
            "tokenUrl": "https://auth.test/token",
            "refreshUrl": "https://auth.test/refresh",
            "scopes": [
                {"name": "events:read", "description": "Read events"},
                {"name": "events:write", "description": "Write events"},
            ],
        },
    ]
    assert (
        schemes["oidc"]["openIdConnectUrl"] == "https://auth.test/.well-known/openid-configuration"
    )
    assert (schemes["key"]["location"], schemes["key"]["parameterName"]) == ("header", "X-Key")
    assert v["tagGroups"] == [{"name": "Core", "tags": ["events", "venues"]}]
    tags = {tg["name"]: tg for tg in v["tags"]}
    assert list(tags) == ["events", "venues", "default"]  # declared, then undeclared ones
    events = tags["events"]
    assert (events["displayName"], events["operationCount"]) == ("Events", 3)
    assert events["descriptionHtml"] == "<p>Things that <em>happen</em></p>\n"
    assert events["externalDocs"] == {"url": "https://docs.events.test/events"}
    assert [o["operationId"] for o in events["operations"]] == ["listEvents", "createEvent"]
    assert [o["operationId"] for o in tags["default"]["operations"]] == ["health"]
    assert v["operationCount"] == 5  # webhooks and callbacks are listed on their own
    assert v["webhooks"][0]["key"] == "webhook eventCreated POST"
    assert (v["webhooks"][0]["kind"], v["webhooks"][0]["summary"]) == (
        "webhook",
        "An event was created",
    )
    webhook_body = v["webhooks"][0]["requestBody"]["content"][0]["schema"]
    assert webhook_body["x-component"] == "Event"
    assert v["componentCounts"] == {"schemas": 5, "securitySchemes": 3}
    comps = v["components"]
    assert [c["name"] for c in comps] == ["Event", "Venue", "Place", "Free", "Paid"]
    assert comps[0]["ref"] == "#/components/schemas/Event"
    assert comps[0]["descriptionHtml"] == "<p>An <em>event</em>.</p>\n"
    raw = v["event"]["schema"]  # depth 0: references as written, names kept
    assert raw["properties"]["location"] == {
        "$ref": "#/components/schemas/Venue",
        "x-component": "Venue",
    }

    # operations, a page at a time, in spec order
    page1 = (await api.data(OPERATIONS, {"id": spec_id}, storefront=key))["apiSpec"]
    ops = page1["currentVersion"]["operations"]
    assert [o["operationId"] for o in ops] == ["listEvents", "createEvent"]
    page2 = await api.data(OPERATIONS, {"id": spec_id, "after": ops[-1]["cursor"]}, storefront=key)
    rest = page2["apiSpec"]["currentVersion"]["operations"]
    assert [o["operationId"] for o in rest] == ["getEvent", "listVenues"]
    assert rest[0]["deprecated"] is True
    bad = await api.gql(OPERATIONS, {"id": spec_id, "after": "nope"}, storefront=key)
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "after"}

    listing = ops[0]
    assert listing["descriptionHtml"] == "<p>Lists <em>all</em> events.</p>\n"
    assert listing["externalDocs"] == {"url": "https://docs.events.test/list"}
    assert listing["security"] == [
        {"scheme": "oauth", "scopes": ["events:read"], "alt": 0},
        {"scheme": "key", "scopes": [], "alt": 1},
    ]
    city, legacy = listing["parameters"]
    assert (city["style"], city["explode"], legacy["deprecated"]) == ("form", False, True)
    assert city["examples"] == [
        {
            "name": "one",
            "summary": "One city",
            "description": "",
            "descriptionHtml": "",
            "value": ["Paris"],
        },
        {
            "name": "two",
            "summary": "Two cities",
            "description": "Both *cities*",
            "descriptionHtml": "<p>Both <em>cities</em></p>\n",
            "value": ["Paris", "Lyon"],
        },
    ]
    ok = listing["responses"][0]
    assert ok["descriptionHtml"] == "<p>The <strong>events</strong></p>\n"
    assert ok["headers"] == [
        {
            "name": "X-Rate-Limit",
            "description": "Calls per hour",
            "required": True,
            "schema": {"type": "integer"},
        }
    ]
    media = ok["content"][0]
    assert [(e["name"], e["summary"]) for e in media["examples"]] == [
        ("empty", "No events"),
        ("some", "Some events"),
    ]
    assert ok["links"] == [
        {
            "name": "GetEventById",
            "operationId": "getEvent",
            "parameters": {"eventId": "$response.body#/0/eventId"},
            "description": "The first event",
        }
    ]
    event = media["schema"]["items"]
    assert event["x-component"] == "Event"
    assert event["x-description-html"] == "<p>An <em>event</em>.</p>\n"
    assert list(event["properties"]) == [
        "eventId",
        "name",
        "location",
        "dates",
        "price",
        "legacyCode",
    ]
    assert event["properties"]["legacyCode"]["deprecated"] is True
    venue = event["properties"]["location"]
    assert venue["x-component"] == "Venue"  # allOf kept as structure, its parts named
    assert venue["allOf"][0]["x-component"] == "Place" and "properties" not in venue
    price = event["properties"]["price"]
    assert [o["x-component"] for o in price["oneOf"]] == ["Free", "Paid"]
    assert price["discriminator"]["mapping"] == {
        "free": "#/components/schemas/Free",
        "paid": "#/components/schemas/Paid",
    }
    callbacks = ops[1]["callbacks"]
    assert callbacks == [
        {
            "key": "POST /events callback {$request.body#/callbackUrl} POST",
            "kind": "callback",
            "method": "POST",
            "path": "{$request.body#/callbackUrl}",
            "callbackName": "onSold",
            "summary": "Tickets sold",
            "parentKey": "POST /events",
            "requestBody": {
                "content": [
                    {"schema": {"type": "object", "properties": {"sold": {"type": "integer"}}}}
                ]
            },
        }
    ]


SHOP = '''
"""The **shop**."""
schema { query: Query mutation: Mutation }
"""Anything with an id"""
interface Node { id: ID! }
"""A *person*"""
type User implements Node {
  id: ID!
  "Their name"
  name(format: NameFormat = FULL): String!
  orders(first: Int = 10, status: [Status!]): [Order!]!
  nick: String @deprecated(reason: "Use name")
}
type Order implements Node { id: ID! total: Float }
union Result = User | Order
enum Status {
  "Placed, not paid"
  OPEN
  PAID
  OLD @deprecated(reason: "gone")
}
enum NameFormat { FULL SHORT }
input Filter { status: Status = OPEN, limit: Int = 5, text: String! }
"""When"""
scalar DateTime @specifiedBy(url: "https://www.rfc-editor.org/rfc/rfc3339")
type Query {
  "A user"
  user(id: ID!): User
  search(filter: Filter!, at: DateTime): [Result!]!
}
type Mutation { rename(id: ID!, name: String! = "x"): User! }
'''

TYPES = """query($id: ID!) { apiSpec(id: $id) { currentVersion { descriptionHtml
  operations { key parameters { name required defaultValue schema }
    responses { content { schema } } }
  graphqlTypes { name kind description descriptionHtml interfaces possibleTypes specifiedByUrl
    fields { name description descriptionHtml type deprecated deprecationReason
      args { name type defaultValue } }
    inputFields { name type defaultValue }
    enumValues { name description deprecated deprecationReason } } } } }"""


async def test_graphql_reference_has_every_type_field_argument_and_value(
    api: Api, app: FastAPI
) -> None:
    t, spec_id = await _import(api, app, "GRAPHQL", SHOP)
    v = (await api.data(TYPES, {"id": spec_id}, storefront=t.storefront_key))["apiSpec"][
        "currentVersion"
    ]
    assert v["descriptionHtml"] == "<p>The <strong>shop</strong>.</p>\n"
    types = {x["name"]: x for x in v["graphqlTypes"]}
    assert list(types) == [
        "Node",
        "User",
        "Order",
        "Result",
        "Status",
        "NameFormat",
        "Filter",
        "DateTime",
        "Query",
        "Mutation",
    ]  # in the order the SDL defines them
    user = types["User"]
    assert (user["kind"], user["interfaces"]) == ("OBJECT", ["Node"])
    assert user["descriptionHtml"] == "<p>A <em>person</em></p>\n"
    fields = {f["name"]: f for f in user["fields"]}
    assert fields["name"]["type"] == "String!" and fields["name"]["description"] == "Their name"
    assert fields["name"]["args"] == [
        {"name": "format", "type": "NameFormat", "defaultValue": "FULL"}
    ]
    assert fields["orders"]["args"] == [
        {"name": "first", "type": "Int", "defaultValue": "10"},
        {"name": "status", "type": "[Status!]", "defaultValue": None},
    ]
    assert (fields["nick"]["deprecated"], fields["nick"]["deprecationReason"]) == (True, "Use name")
    assert types["Node"]["kind"] == "INTERFACE"
    assert (types["Result"]["kind"], types["Result"]["possibleTypes"]) == (
        "UNION",
        ["User", "Order"],
    )
    status = types["Status"]
    assert status["kind"] == "ENUM"
    assert status["enumValues"] == [
        {
            "name": "OPEN",
            "description": "Placed, not paid",
            "deprecated": False,
            "deprecationReason": None,
        },
        {"name": "PAID", "description": "", "deprecated": False, "deprecationReason": None},
        {"name": "OLD", "description": "", "deprecated": True, "deprecationReason": "gone"},
    ]
    assert types["Filter"]["inputFields"] == [
        {"name": "status", "type": "Status", "defaultValue": "OPEN"},
        {"name": "limit", "type": "Int", "defaultValue": "5"},
        {"name": "text", "type": "String!", "defaultValue": None},
    ]
    dt = types["DateTime"]
    assert (dt["kind"], dt["specifiedByUrl"]) == (
        "SCALAR",
        "https://www.rfc-editor.org/rfc/rfc3339",
    )
    ops = {o["key"]: o for o in v["operations"]}
    rename = ops["mutation rename"]["parameters"]
    assert [(p["name"], p["required"], p["defaultValue"]) for p in rename] == [
        ("id", True, None),
        ("name", False, '"x"'),
    ]
    # the return type is the named type, expanded (and named) on read
    user_schema = ops["query user"]["responses"][0]["content"][0]["schema"]
    assert user_schema["x-component"] == "User" and user_schema["x-graphql-type"] == "User"
    assert list(user_schema["properties"]) == ["id", "name", "orders", "nick"]


async def test_nested_pages_refuse_huge_pages(api: Api, app: FastAPI) -> None:
    """Every nested list taking ``first`` (tests/test_graphql_abuse.py lists them)."""
    from aforo.schema.base import MAX_PAGE
    from tests.test_graphql_abuse import NESTED_CASES

    t, spec_id = await _import(api, app, "OPENAPI_3", EVENTS)
    selections = {
        ("SpecVersion", "operations"): "currentVersion { operations(first: $n) { key } }",
        ("SpecVersion", "webhooks"): "currentVersion { webhooks(first: $n) { key } }",
        ("SpecVersion", "components"): "currentVersion { components(first: $n) { name } }",
        ("SpecVersion", "graphqlTypes"): "currentVersion { graphqlTypes(first: $n) { name } }",
        ("SpecTag", "operations"): "currentVersion { tags { operations(first: $n) { key } } }",
        ("ApiOperation", "callbacks"): (
            "currentVersion { operations { callbacks(first: $n) { key } } }"
        ),
    }
    assert set(selections) == set(NESTED_CASES)
    for case, selection in selections.items():
        q = f"query($id: ID!, $n: Int) {{ apiSpec(id: $id) {{ {selection} }} }}"
        for n, refused in ((100_000, True), (MAX_PAGE + 1, True), (0, True), (20, False)):
            body = await api.gql(q, {"id": spec_id, "n": n}, storefront=t.storefront_key)
            errors = body.get("errors") or []
            if refused:
                got = {(e["extensions"]["code"], e["extensions"].get("field")) for e in errors}
                assert got == {("INVALID", "first")}, (case, n, body)
            else:
                assert not errors, (case, body)
