"""Documents parsed and validated once: the parse and validation steps of a request."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLSchema,
    parse,
    validate,
)
from graphql.language import (
    DocumentNode,
)
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension

MAX_DOCUMENTS = 1000


# -- documents: parsed and validated once ---------------------------------------------------
class DocumentCache:
    """Parsed documents by query text (with the token limit) and validation errors by
    document (with the schema's extra rules): one lookup each per request. The plan cache
    keys on the documents this hands back, so one query text is parsed, validated and
    compiled once."""

    def __init__(self, *, max_tokens: int, rules: tuple[type[ASTValidationRule], ...]) -> None:
        self.rules = rules
        self.max_tokens = max_tokens
        self._parse = lru_cache(maxsize=MAX_DOCUMENTS)(self._parse_uncached)
        self._validated: OrderedDict[
            tuple[int, tuple[Any, ...]], tuple[DocumentNode, list[GraphQLError]]
        ] = OrderedDict()

    def _parse_uncached(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def parse(self, query: str) -> DocumentNode:
        return self._parse(query)

    def validate(
        self, schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...]
    ) -> list[GraphQLError]:
        key = (id(document), rules)
        found = self._validated.get(key)
        if found is not None and found[0] is document:
            self._validated.move_to_end(key)
            return found[1]
        errors = validate(schema, document, (*rules, *self.rules))
        self._validated[key] = (document, errors)  # holds the document: its id stays unique
        if len(self._validated) > MAX_DOCUMENTS:
            self._validated.popitem(last=False)
        return errors


class PreparedDocuments(SchemaExtension):
    """The parse and validation steps of a request, through a ``DocumentCache`` (one
    extension where a parser cache, a validation cache, a token limiter and two rule adders
    ran their hooks on every request)."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache

    def on_parse(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None and ec.query:
            ec.graphql_document = self.cache.parse(ec.query)
        yield

    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        assert ec.graphql_document is not None
        ec.pre_execution_errors = self.cache.validate(
            ec.schema._schema, ec.graphql_document, tuple(ec.validation_rules)
        )
        yield
