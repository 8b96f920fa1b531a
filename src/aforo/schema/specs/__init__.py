"""GraphQL types of the specs domain: the reference (``reference``), operations and samples
(``operations``), imports, syncs and diffs (``results``)."""

from aforo.schema.specs.common import CodeLanguage, SampleContext, SpecFormat, SpecLoaders
from aforo.schema.specs.operations import ApiOperation
from aforo.schema.specs.reference import ApiSpec, SpecVersion
from aforo.schema.specs.results import (
    ImportSpecInput,
    ImportSpecResult,
    OutboundAllowEntry,
    OutboundAllowResult,
    SpecChange,
    SpecDiff,
    SpecImported,
    SpecInvalid,
    SpecSynced,
    SyncSpecResult,
)

__all__ = [
    "ApiOperation",
    "ApiSpec",
    "CodeLanguage",
    "ImportSpecInput",
    "ImportSpecResult",
    "OutboundAllowEntry",
    "OutboundAllowResult",
    "SampleContext",
    "SpecChange",
    "SpecDiff",
    "SpecFormat",
    "SpecImported",
    "SpecInvalid",
    "SpecLoaders",
    "SpecSynced",
    "SpecVersion",
    "SyncSpecResult",
]
