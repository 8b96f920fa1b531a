from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from aforo.errors import ValidationFailed
from aforo.runtime.outbound import OutboundError
from aforo.schema.base import STAFF_ADMIN, AppInfo, HasTenant, UserError, guarded, parse_id, read
from aforo.schema.specs import (
    ApiOperation,
    ApiSpec,
    ImportSpecInput,
    ImportSpecResult,
    OutboundAllowEntry,
    OutboundAllowResult,
    SampleContext,
    SpecChange,
    SpecDiff,
    SpecImported,
    SpecInvalid,
    SpecSynced,
    SpecVersion,
    SyncSpecResult,
)
from aforo.schema.throttling import Throttled
from aforo.services import specs
from aforo.services.spec_import import SpecInvalid as SpecInvalidError

MAX_FILES_INPUT = 200


def _files(i: ImportSpecInput) -> dict[str, bytes] | None:
    if i.files is None:
        return None
    if len(i.files) > MAX_FILES_INPUT:
        raise ValidationFailed(f"at most {MAX_FILES_INPUT} files", field="files")
    out: dict[str, bytes] = {}
    for f in i.files:
        if f.path in out:
            raise ValidationFailed(f"the file {f.path!r} is given twice", field="files")
        out[f.path] = f.content.encode()
    return out


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[HasTenant], description="A product's API specs.")
    async def api_specs(self, info: AppInfo, product_id: strawberry.ID) -> list[ApiSpec]:
        pid = parse_id(product_id, "productId")
        return [ApiSpec.of(s) for s in await read(info, lambda s: specs.specs_of_product(s, pid))]

    @strawberry.field(permission_classes=[HasTenant])
    async def api_spec(self, info: AppInfo, id: strawberry.ID) -> ApiSpec:
        sid = parse_id(id)
        return ApiSpec.of(await read(info, lambda s: specs.spec_by_id(s, sid)))

    @strawberry.field(permission_classes=[HasTenant])
    async def api_operation(self, info: AppInfo, id: strawberry.ID) -> ApiOperation:
        oid = parse_id(id)

        async def go(s: AsyncSession) -> ApiOperation:
            op = await specs.operation_by_id(s, oid)
            v = await specs.version_by_id(s, op.version_id, "id")
            spec = await specs.spec_by_id(s, v.spec_id)
            ctx = SampleContext(
                v.id, v.servers, v.security_schemes, spec.server_url, spec.format == "GRAPHQL"
            )
            return ApiOperation.of(op, ctx)

        return await read(info, go)

    @strawberry.field(
        permission_classes=[HasTenant],
        description="What changed between two versions of one spec, check by check (oasdiff's "
        "check ids for OpenAPI, graphql-core's findings for GraphQL).",
    )
    async def spec_diff(
        self,
        info: AppInfo,
        from_: Annotated[strawberry.ID, strawberry.argument(name="from")],
        to: strawberry.ID,
    ) -> SpecDiff:
        a, b = parse_id(from_, "from"), parse_id(to, "to")
        limits = specs.limits(info.context.runtime.settings)
        changes = await read(info, lambda s: specs.spec_diff(s, a, b, limits=limits))
        return SpecDiff(
            changes=[SpecChange.of(c) for c in changes], breaking=any(c.breaking for c in changes)
        )

    @strawberry.field(permission_classes=STAFF_ADMIN)
    async def outbound_allowlist(self, info: AppInfo) -> list[OutboundAllowEntry]:
        return [OutboundAllowEntry.of(a) for a in await read(info, specs.allowlist)]


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        extensions=[Throttled("spec.import", by="account")],
        description="Import OpenAPI 3.0/3.1, Swagger 2.0 (converted) or GraphQL from content, "
        "several files, or a URL (with the files its relative $refs name); same content as "
        "before creates nothing new.",
    )
    async def import_spec(self, info: AppInfo, input: ImportSpecInput) -> ImportSpecResult:
        async def go(s: AsyncSession) -> SpecImported | SpecInvalid:
            try:
                done = await specs.import_spec(
                    s,
                    product_id=parse_id(input.product_id, "productId"),
                    format=input.format.value,
                    content=input.content,
                    files=_files(input),
                    root=input.root,
                    source_url=input.source_url,
                    server_url=input.server_url,
                    name=input.name,
                    spec_id=parse_id(input.spec_id, "specId") if input.spec_id else None,
                    limits=specs.limits(info.context.runtime.settings),
                )
            except SpecInvalidError as e:
                return SpecInvalid.of(e)  # nothing was written before parsing
            return SpecImported(
                spec=ApiSpec.of(done.spec),
                version=SpecVersion.of(done.version, done.spec),
                created=done.created,
            )

        return await guarded(info, go)

    @strawberry.mutation(
        permission_classes=STAFF_ADMIN,
        extensions=[Throttled("spec.import", by="account")],
        description="Re-fetch a URL spec now (ETag / If-Modified-Since); a change makes a version.",
    )
    async def sync_spec(self, info: AppInfo, id: strawberry.ID) -> SyncSpecResult:
        async def go(s: AsyncSession) -> SpecSynced | SpecInvalid | UserError:
            try:
                done = await specs.sync_spec(
                    s, parse_id(id), limits=specs.limits(info.context.runtime.settings)
                )
            # The failure is recorded on the spec (lastError): keep that write.
            except SpecInvalidError as e:
                return SpecInvalid.of(e)
            except OutboundError as e:
                return UserError.of(e)
            return SpecSynced(
                spec=ApiSpec.of(done.spec),
                version=SpecVersion.of(done.version, done.spec) if done.version else None,
                changed=done.version is not None,
                not_modified=done.not_modified,
            )

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def add_outbound_allow(
        self, info: AppInfo, entry: str, note: str = ""
    ) -> OutboundAllowResult:
        async def go(s: AsyncSession) -> OutboundAllowEntry:
            return OutboundAllowEntry.of(await specs.add_allow(s, entry, note))

        return await guarded(info, go)

    @strawberry.mutation(permission_classes=STAFF_ADMIN)
    async def remove_outbound_allow(self, info: AppInfo, id: strawberry.ID) -> OutboundAllowResult:
        async def go(s: AsyncSession) -> OutboundAllowEntry:
            return OutboundAllowEntry.of(await specs.remove_allow(s, parse_id(id)))

        return await guarded(info, go)
