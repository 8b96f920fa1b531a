"""Generated specs in the shapes real ones have (no third-party spec is committed):

- ``stripe_like``: ~450 operations, ~1,000 schemas referencing each other through ``anyOf``
  expansions (a field is either an id or the object it names), form-encoded bodies with
  ``deepObject`` metadata, ~4 MB;
- ``multi_file``: a root whose operations are ``$ref``s to other files (DigitalOcean's layout),
  schemas in files of their own that reference each other, back and forth;
- ``swagger2_petstore``: Swagger 2.0 with body and formData parameters, a file upload,
  ``collectionFormat``, OAuth2 and API-key security, response headers;
- ``every_style``: one parameter per location by style by explode by type;
- ``twilio_like``: form-encoded arrays (``MediaUrl``), HTTP Basic, ``pattern`` on ids;
- ``petstore`` / ``petstore_expanded``: the same API before and after moving fields into an
  ``allOf`` part and renaming a path parameter;
- ``saleor_like``: a GraphQL schema whose fields need required arguments at every level.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from typing import Any

import yaml

WORDS = [
    "account",
    "balance",
    "charge",
    "customer",
    "dispute",
    "event",
    "file",
    "invoice",
    "item",
    "mandate",
    "payment",
    "payout",
    "plan",
    "price",
    "product",
    "quote",
    "refund",
    "review",
    "session",
    "source",
    "subscription",
    "tax",
    "token",
    "transfer",
    "usage",
    "webhook",
    "coupon",
    "discount",
    "order",
    "shipping",
]


class NoAliases(yaml.SafeDumper):
    """Write shared objects out in full, as hand-written and tool-exported specs are."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: Any) -> str:
    return yaml.dump(doc, Dumper=NoAliases, sort_keys=False, allow_unicode=True)


# -- Stripe ----------------------------------------------------------------------------------
def stripe_like(n_ops: int = 450, n_schemas: int = 1000, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    names = [f"{WORDS[i % len(WORDS)]}_{i // len(WORDS)}" for i in range(n_schemas)]
    schemas: dict[str, Any] = {}
    for name in names:
        props: dict[str, Any] = {
            "id": {"type": "string", "maxLength": 5000, "description": "Unique identifier."},
            "object": {"type": "string", "enum": [name], "description": "The object's type."},
            "created": {"type": "integer", "format": "unix-time", "description": "Creation time."},
            "livemode": {"type": "boolean", "description": "Live or test mode."},
            "metadata": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": 500},
                "description": "Set of key-value pairs you can attach to an object.",
            },
        }
        for j in range(rnd.randint(10, 22)):
            target = names[rnd.randrange(n_schemas)]
            kind = rnd.random()
            field = f"field_{j}"
            if kind < 0.35:  # an expandable reference: an id, or the object itself
                props[field] = {
                    "anyOf": [
                        {"type": "string", "maxLength": 5000},
                        {"$ref": f"#/components/schemas/{target}"},
                    ],
                    "description": f"ID of the {target} this belongs to, or the object.",
                    "x-expansionResources": {"oneOf": [{"$ref": f"#/components/schemas/{target}"}]},
                }
            elif kind < 0.5:
                props[field] = {
                    "type": "array",
                    "items": {"$ref": f"#/components/schemas/{target}"},
                    "description": "A list of related objects.",
                }
            elif kind < 0.7:
                props[field] = {
                    "type": "string",
                    "enum": ["pending", "succeeded", "failed", "canceled"],
                    "description": "The **status** of this object. One of `pending` and more.",
                }
            else:
                props[field] = {
                    "type": "string",
                    "nullable": True,
                    "maxLength": 5000,
                    "description": "Arbitrary string attached to the object. Often useful "
                    "for displaying to users.",
                }
        schemas[name] = {
            "type": "object",
            "title": name.replace("_", " ").title(),
            "description": f"The `{name}` object. " + "Lorem ipsum dolor sit amet. " * 4,
            "properties": props,
            "required": ["id", "object", "created", "livemode"],
            "x-expandableFields": [k for k, v in props.items() if "anyOf" in v],
        }
    schemas["error"] = {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {"message": {"type": "string"}}}},
    }
    paths: dict[str, Any] = {}
    count = 0
    i = 0
    while count < n_ops:
        name = names[i % n_schemas]
        ref = {"$ref": f"#/components/schemas/{name}"}
        form_body = {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {
                    "encoding": {
                        "expand": {"explode": True, "style": "deepObject"},
                        "metadata": {"explode": True, "style": "deepObject"},
                    },
                    "schema": {
                        "type": "object",
                        "properties": {
                            "description": {"type": "string", "maxLength": 5000},
                            "expand": {"type": "array", "items": {"type": "string"}},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                        },
                    },
                }
            },
        }
        errors = {
            "default": {
                "description": "Error response.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error"}}},
            }
        }
        ok = {
            "200": {
                "description": "Successful response.",
                "content": {"application/json": {"schema": ref}},
            },
            **errors,
        }
        expand = {
            "name": "expand",
            "in": "query",
            "style": "deepObject",
            "explode": True,
            "schema": {"type": "array", "items": {"type": "string", "maxLength": 5000}},
            "description": "Specifies which fields in the response should be expanded.",
        }
        base = f"/v1/{name}s"
        paths[base] = {
            "get": {
                "operationId": f"Get{name}s",
                "summary": f"List all {name}s",
                "description": f"Returns a list of your {name}s.",
                "tags": [WORDS[i % len(WORDS)]],
                "parameters": [
                    expand,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {
                        "name": "starting_after",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 5000},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "Successful response.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "title": f"{name}List",
                                    "properties": {
                                        "data": {"type": "array", "items": ref},
                                        "has_more": {"type": "boolean"},
                                        "object": {"type": "string", "enum": ["list"]},
                                        "url": {"type": "string", "pattern": "^/v1/"},
                                    },
                                    "required": ["data", "has_more", "object", "url"],
                                }
                            }
                        },
                    },
                    **errors,
                },
            },
            "post": {
                "operationId": f"Post{name}s",
                "summary": f"Create a {name}",
                "tags": [WORDS[i % len(WORDS)]],
                "requestBody": form_body,
                "responses": ok,
            },
        }
        paths[f"{base}/{{id}}"] = {
            "parameters": [
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 5000},
                }
            ],
            "get": {
                "operationId": f"Get{name}",
                "tags": [WORDS[i % len(WORDS)]],
                "parameters": [expand],
                "responses": ok,
            },
            "post": {
                "operationId": f"Update{name}",
                "tags": [WORDS[i % len(WORDS)]],
                "requestBody": form_body,
                "responses": ok,
            },
        }
        count += 4
        i += 1
    return {
        "openapi": "3.0.0",
        "info": {"title": "Stripe-like API", "version": "2024-06-20", "description": "Generated."},
        "servers": [{"url": "https://api.stripe.test/"}],
        "security": [{"basicAuth": []}, {"bearerAuth": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
            },
        },
        "paths": paths,
    }


# -- multi-file (DigitalOcean's layout) ------------------------------------------------------
def multi_file(resources: int = 3) -> dict[str, bytes]:
    """``openapi.yaml`` whose operations are ``$ref``s into ``resources/<r>/*.yml``; models
    in ``models/`` referencing each other (and back) across files."""
    files: dict[str, str] = {}
    paths: dict[str, Any] = {}
    for r in range(resources):
        res = f"thing{r}"
        paths[f"/v2/{res}s"] = {
            "get": {"$ref": f"resources/{res}/{res}s_list.yml"},
            "post": {"$ref": f"resources/{res}/{res}s_create.yml"},
        }
        paths[f"/v2/{res}s/{{id}}"] = {"$ref": f"resources/{res}/{res}_item.yml"}
        files[f"resources/{res}/{res}s_list.yml"] = to_yaml(
            {
                "operationId": f"list_{res}s",
                "summary": f"List all {res}s",
                "tags": [res.title()],
                "parameters": [{"$ref": "../../shared/parameters.yml#/per_page"}],
                "responses": {
                    "200": {
                        "description": "ok",
                        "headers": {
                            "ratelimit-limit": {"$ref": "../../shared/headers.yml#/ratelimit-limit"}
                        },
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        f"{res}s": {
                                            "type": "array",
                                            "items": {"$ref": f"../../models/{res}.yml"},
                                        },
                                        "links": {"$ref": "../../shared/pages.yml#/pagination"},
                                    },
                                }
                            }
                        },
                    },
                    "401": {"$ref": "../../shared/responses.yml#/unauthorized"},
                },
            }
        )
        files[f"resources/{res}/{res}s_create.yml"] = to_yaml(
            {
                "operationId": f"create_{res}",
                "tags": [res.title()],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": f"../../models/{res}.yml"}}
                    },
                },
                "responses": {
                    "201": {"description": "created"},
                    "401": {"$ref": "../../shared/responses.yml#/unauthorized"},
                },
            }
        )
        files[f"resources/{res}/{res}_item.yml"] = to_yaml(
            {
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "get": {
                    "operationId": f"get_{res}",
                    "tags": [res.title()],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": f"../../models/{res}.yml"}}
                            },
                        }
                    },
                },
            }
        )
        other = f"thing{(r + 1) % resources}"
        files[f"models/{res}.yml"] = to_yaml(
            {
                "type": "object",
                "description": f"A {res}.",
                "required": ["id"],
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string", "pattern": "^[a-z]+$"},
                    "related": {"$ref": f"{other}.yml"},  # across files, in a cycle
                    "tags": {"type": "array", "items": {"$ref": "#/definitions/tag"}},
                },
                "definitions": {"tag": {"type": "string", "enum": ["red", "blue"]}},
            }
        )
    files["shared/parameters.yml"] = to_yaml(
        {
            "per_page": {
                "name": "per_page",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "default": 20},
            }
        }
    )
    files["shared/headers.yml"] = to_yaml(
        {"ratelimit-limit": {"description": "Requests per hour.", "schema": {"type": "integer"}}}
    )
    files["shared/pages.yml"] = to_yaml(
        {
            "pagination": {
                "type": "object",
                "properties": {"next": {"type": "string", "format": "uri"}},
            }
        }
    )
    files["shared/responses.yml"] = to_yaml(
        {
            "unauthorized": {
                "description": "Unauthorized",
                "content": {"application/json": {"schema": {"$ref": "../models/error.yml"}}},
            }
        }
    )
    files["models/error.yml"] = to_yaml(
        {"type": "object", "properties": {"id": {"type": "string"}, "message": {"type": "string"}}}
    )
    files["openapi.yaml"] = to_yaml(
        {
            "openapi": "3.0.0",
            "info": {"title": "Cloud", "version": "2.0"},
            "servers": [{"url": "https://api.cloud.test"}],
            "paths": paths,
        }
    )
    return {k: v.encode() for k, v in files.items()}


def zipped(files: dict[str, bytes], prefix: str = "spec/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            z.writestr(prefix + name, content)
    return buf.getvalue()


# -- Swagger 2.0 -----------------------------------------------------------------------------
def swagger2_petstore() -> dict[str, Any]:
    pet_ref = {"$ref": "#/definitions/Pet"}
    return {
        "swagger": "2.0",
        "info": {"title": "Petstore 2", "version": "1.0.7", "description": "Swagger **2.0**."},
        "host": "petstore.test",
        "basePath": "/v2",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json", "application/xml"],
        "tags": [{"name": "pet", "description": "Everything about your Pets"}],
        "securityDefinitions": {
            "petstore_auth": {
                "type": "oauth2",
                "authorizationUrl": "https://petstore.test/oauth/authorize",
                "flow": "implicit",
                "scopes": {"write:pets": "modify pets", "read:pets": "read your pets"},
            },
            "api_key": {"type": "apiKey", "name": "api_key", "in": "header"},
        },
        "paths": {
            "/pet": {
                "post": {
                    "tags": ["pet"],
                    "operationId": "addPet",
                    "parameters": [
                        {"in": "body", "name": "body", "required": True, "schema": pet_ref}
                    ],
                    "responses": {"405": {"description": "Invalid input"}},
                    "security": [{"petstore_auth": ["write:pets", "read:pets"]}],
                }
            },
            "/pet/findByStatus": {
                "get": {
                    "tags": ["pet"],
                    "operationId": "findPetsByStatus",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": True,
                            "type": "array",
                            "items": {"type": "string", "enum": ["available", "pending", "sold"]},
                            "collectionFormat": "multi",
                        },
                        {
                            "name": "tags",
                            "in": "query",
                            "type": "array",
                            "items": {"type": "string"},
                            "x-example": ["a", "b"],
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "successful operation",
                            "schema": {"type": "array", "items": pet_ref},
                            "headers": {
                                "X-Rate-Limit": {
                                    "type": "integer",
                                    "format": "int32",
                                    "description": "calls per hour",
                                }
                            },
                            "examples": {"application/json": [{"id": 1, "name": "doggie"}]},
                        }
                    },
                    "security": [{"api_key": []}],
                }
            },
            "/pet/{petId}/uploadImage": {
                "post": {
                    "tags": ["pet"],
                    "operationId": "uploadFile",
                    "consumes": ["multipart/form-data"],
                    "parameters": [
                        {
                            "name": "petId",
                            "in": "path",
                            "required": True,
                            "type": "integer",
                            "format": "int64",
                        },
                        {
                            "name": "additionalMetadata",
                            "in": "formData",
                            "required": False,
                            "type": "string",
                        },
                        {"name": "file", "in": "formData", "required": False, "type": "file"},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "schema": {"$ref": "#/definitions/ApiResponse"},
                        }
                    },
                }
            },
            "/pet/{petId}": {
                "post": {
                    "tags": ["pet"],
                    "operationId": "updatePetWithForm",
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "petId", "in": "path", "required": True, "type": "integer"},
                        {"name": "name", "in": "formData", "type": "string"},
                        {"name": "status", "in": "formData", "type": "string"},
                    ],
                    "responses": {"405": {"description": "Invalid input"}},
                }
            },
        },
        "definitions": {
            "Pet": {
                "type": "object",
                "required": ["name", "photoUrls"],
                "properties": {
                    "id": {"type": "integer", "format": "int64"},
                    "name": {"type": "string", "example": "doggie"},
                    "photoUrls": {"type": "array", "items": {"type": "string"}},
                    "status": {
                        "type": "string",
                        "enum": ["available", "pending", "sold"],
                        "x-nullable": True,
                    },
                },
            },
            "ApiResponse": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            },
        },
    }


# -- every parameter style -------------------------------------------------------------------
STYLES = {
    "path": ["simple", "label", "matrix"],
    "query": ["form", "spaceDelimited", "pipeDelimited", "deepObject"],
    "header": ["simple"],
    "cookie": ["form"],
}
STRING = {"type": "string", "pattern": "^[a-z]{3,6}$"}
INTEGER = {"type": "integer", "minimum": 3, "maximum": 9}
ARRAY = {
    "type": "array",
    "items": {"type": "string", "enum": ["blue", "black", "brown"]},
    "minItems": 2,
}
OBJECT = {
    "type": "object",
    "required": ["R", "G"],
    "properties": {
        "R": {"type": "integer", "minimum": 100},
        "G": {"type": "string", "enum": ["gg", "hh"]},
    },
}


def style_cases() -> list[tuple[str, str, bool, str, dict[str, Any]]]:
    """(location, style, explode, type name, schema) the OpenAPI style table defines."""
    out = []
    for where, styles in STYLES.items():
        for style in styles:
            for explode in (False, True):
                for kind, schema in (
                    ("string", STRING),
                    ("integer", INTEGER),
                    ("array", ARRAY),
                    ("object", OBJECT),
                ):
                    if style in ("spaceDelimited", "pipeDelimited") and (
                        explode or kind in ("string", "integer")
                    ):
                        continue  # n/a in the table
                    if style == "deepObject" and (not explode or kind != "object"):
                        continue
                    out.append((where, style, explode, kind, schema))
    return out


def every_style(base: str) -> dict[str, Any]:
    """One operation per location by style by explode, each parameter of every type that style
    supports (path: one parameter per operation, as templates need)."""
    paths: dict[str, Any] = {}
    for n, (where, style, explode, kind, schema) in enumerate(style_cases()):
        name = f"p{n}"
        param = {
            "name": name,
            "in": where,
            "required": True,
            "style": style,
            "explode": explode,
            "schema": schema,
        }
        path = f"/styles/{n}" + (f"/{{{name}}}" if where == "path" else "")
        paths[path] = {
            "get": {
                "operationId": f"style{n}",
                "summary": f"{where} {style} explode={explode} {kind}",
                "parameters": [param],
                "responses": {"204": {"description": "ok"}},
            }
        }
    return {
        "openapi": "3.0.3",
        "info": {"title": "Styles", "version": "1"},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


# -- Twilio ----------------------------------------------------------------------------------
def twilio_like(base: str) -> dict[str, Any]:
    sid = {"type": "string", "pattern": "^AC[0-9a-fA-F]{32}$", "minLength": 34, "maxLength": 34}
    return {
        "openapi": "3.0.1",
        "info": {"title": "Twilio-like", "version": "1.0"},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {"accountSid_authToken": {"type": "http", "scheme": "basic"}}
        },
        "security": [{"accountSid_authToken": []}],
        "paths": {
            "/2010-04-01/Accounts/{AccountSid}/Messages.json": {
                "post": {
                    "operationId": "CreateMessage",
                    "parameters": [
                        {"name": "AccountSid", "in": "path", "required": True, "schema": sid}
                    ],
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "title": "CreateMessageRequest",
                                    "required": ["To"],
                                    "properties": {
                                        "To": {
                                            "type": "string",
                                            "format": "phone-number",
                                            "pattern": "^\\+[1-9][0-9]{7,14}$",
                                        },
                                        "Body": {
                                            "type": "string",
                                            "example": "Hello from the docs",
                                        },
                                        "MediaUrl": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "uri"},
                                            "example": [
                                                "https://demo.test/a.png",
                                                "https://demo.test/b.png",
                                            ],
                                        },
                                        "SendAt": {"type": "string", "format": "date-time"},
                                    },
                                }
                            }
                        }
                    },
                    "responses": {"201": {"description": "Created"}},
                }
            }
        },
    }


# -- petstore → petstore-expanded ------------------------------------------------------------
def petstore() -> dict[str, Any]:
    pet = {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "integer", "format": "int64"},
            "name": {"type": "string"},
            "tag": {"type": "string"},
            "kind": {"type": "string", "enum": ["dog", "cat", "bird"]},
        },
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Petstore", "version": "1.0.0"},
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["dog", "cat", "bird"]},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Pet"},
                                    }
                                }
                            },
                        }
                    },
                },
                "post": {
                    "operationId": "createPet",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                        },
                    },
                    "responses": {"201": {"description": "ok"}},
                },
            },
            "/pets/{petId}": {
                "get": {
                    "operationId": "showPetById",
                    "parameters": [
                        {
                            "name": "petId",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}
                            },
                        }
                    },
                }
            },
        },
        "components": {"schemas": {"Pet": pet}},
    }


def petstore_expanded() -> dict[str, Any]:
    """The same API: Pet = allOf [NewPet, {id}]; ``/pets/{petId}`` → ``/pets/{id}``; a new
    optional request field; ``bird`` removed from the request-side enum; ``fish`` added to the
    response-side one."""
    doc = petstore()
    doc["info"]["version"] = "1.1.0"
    doc["components"]["schemas"] = {
        "NewPet": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "tag": {"type": "string"},
                "kind": {"type": "string", "enum": ["dog", "cat", "bird", "fish"]},
                "nickname": {"type": "string"},
            },
        },
        "Pet": {
            "allOf": [
                {"$ref": "#/components/schemas/NewPet"},
                {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": {"type": "integer", "format": "int64"}},
                },
            ]
        },
    }
    doc["paths"]["/pets"]["get"]["parameters"][0]["schema"]["enum"] = ["dog", "cat"]
    doc["paths"]["/pets/{id}"] = doc["paths"].pop("/pets/{petId}")
    doc["paths"]["/pets/{id}"]["get"]["parameters"][0]["name"] = "id"
    return doc


# -- Saleor ----------------------------------------------------------------------------------
def saleor_like(types: int = 40) -> str:
    """SDL where most object fields take arguments, some required (``channel: String!``,
    ``languageCode: LanguageCodeEnum!``), nested several levels deep."""
    lines = [
        '"""A shop."""',
        "schema { query: Query mutation: Mutation }",
        "enum LanguageCodeEnum { EN FR DE }",
        "input AddressInput { city: String! country: CountryCode! lines: [String!] }",
        "enum CountryCode { US FR }",
        "scalar DateTime",
        "scalar JSON",
        "interface Node { id: ID! }",
    ]
    for i in range(types):
        nxt = f"T{(i + 1) % types}"
        lines.append(
            f'"""Type {i}, *described*."""\n'
            f"type T{i} implements Node {{\n"
            "  id: ID!\n"
            '  "The name"\n'
            "  name: String\n"
            "  created: DateTime!\n"
            "  translation(languageCode: LanguageCodeEnum!): String\n"
            "  price(channel: String!, address: AddressInput): Float\n"
            f"  next(channel: String!): {nxt}\n"
            f"  children(first: Int = 10, after: String): [{nxt}!]!\n"
            "  metadata(keys: [String!]!): JSON\n"
            '  old: String @deprecated(reason: "use name")\n'
            "}"
        )
    lines.append(f"union Searchable = T0 | T1 | T{types - 1}")
    query_fields = []
    for i in range(types):
        query_fields.append(f"  t{i}(id: ID!, channel: String): T{i}")
        query_fields.append(
            f"  t{i}s(first: Int!, filter: AddressInput, "
            f"languageCode: LanguageCodeEnum = EN): [T{i}!]!"
        )
    query_fields.append("  search(query: String!): [Searchable!]!")
    query_fields.append("  node(id: ID!): Node")
    lines.append("type Query {\n" + "\n".join(query_fields) + "\n}")
    lines.append(
        "type Mutation {\n"
        "  addressCreate(input: AddressInput!, channel: String!): T0\n"
        "  translate(id: ID!, languageCode: LanguageCodeEnum!, text: String!): T1\n"
        "}"
    )
    return "\n".join(lines)


def dumps(doc: Any) -> str:
    return json.dumps(doc)
