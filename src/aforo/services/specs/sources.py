"""Where a spec's files come from: a URL (and the files its relative ``$ref``s name, each
fetched through the outbound guard), an upload of one or several files, or a zip."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from aforo.runtime.outbound import Guard, OutboundError
from aforo.services.spec_import import jobs, worker
from aforo.services.spec_import.bundle import (
    MAX_FILES,
    MAX_TOTAL_BYTES,
    SpecFiles,
    check_files,
    pick_root,
    resolve_name,
)
from aforo.services.spec_import.loader import Problem, SpecInvalid
from aforo.services.specs.allowlist import guard

ACCEPT = "application/json, application/yaml, text/yaml, */*;q=0.5"
_ZIP = b"PK\x03\x04"


@dataclass
class Fetched:
    files: SpecFiles
    headers: dict[str, str] = field(default_factory=dict)  # the root's etag / last-modified
    not_modified: bool = False


def digest(spec: SpecFiles) -> bytes:
    """The identity of a spec's content: the bytes of a single file (as before multi-file
    imports), else every file's name and bytes."""
    if len(spec.files) == 1:
        return hashlib.sha256(spec.files[spec.root]).digest()
    h = hashlib.sha256()
    for name in sorted(spec.files):
        h.update(name.encode() + b"\0" + hashlib.sha256(spec.files[name]).digest())
    return h.digest()


async def _get(g: Guard, url: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    response = await g.fetch(url, headers=headers)
    kept = {k: response.headers[k] for k in ("etag", "last-modified") if k in response.headers}
    return response.status, response.content, kept


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


async def fetch(
    session: AsyncSession,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    cached_root: bytes | None = None,
    limits: worker.Limits | None = None,
) -> Fetched:
    """The spec at ``url`` and every file its relative ``$ref``s reach: same origin as the
    root, or a host of the tenant's allow-list; at most ``MAX_FILES`` files and
    ``MAX_TOTAL_BYTES``. A referenced file that cannot be fetched is noted (``failed``), and
    refused only if the spec really uses it. With ``etag``/``last_modified`` the root is asked
    conditionally; on 304, ``cached_root`` stands for it (its referenced files are fetched
    again: they may have changed)."""
    g = await guard(session)
    headers = {"Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        status, content, kept = await _get(g, url, headers)
    except OutboundError as e:
        e.field = e.field or "sourceUrl"
        raise
    if status == 304 and cached_root is not None:
        content = cached_root
    elif status not in (200, 304):
        raise OutboundError(
            f"fetching the spec answered HTTP {status}", code="SPEC_FETCH_FAILED", field="sourceUrl"
        )
    if status == 304 and cached_root is None:
        return Fetched(SpecFiles.single(b"", url), kept, not_modified=True)
    spec = SpecFiles(url, {url: content})
    total = len(content)
    queue = [url]
    while queue:
        name = queue.pop(0)
        for relative in sorted(await worker.run(jobs.discover, spec.files[name], limits=limits)):
            target = resolve_name(name, relative)
            if target is None or target in spec.files or target in spec.failed:
                continue
            if _origin(target) != _origin(url) and not g.allowlist.covers_host(
                urlsplit(target).hostname or ""
            ):
                spec.failed[target] = "not on the spec's own origin nor an allow-listed host"
                continue
            if len(spec.files) >= MAX_FILES:
                spec.failed[target] = f"the spec references more than {MAX_FILES} files"
                continue
            try:
                got, body, _ = await _get(g, target, {"Accept": ACCEPT})
            except OutboundError as e:
                spec.failed[target] = e.message
                continue
            if got != 200:
                spec.failed[target] = f"HTTP {got}"
                continue
            total += len(body)
            if total > MAX_TOTAL_BYTES:
                raise SpecInvalid(
                    [Problem("", f"the spec's files are larger than {MAX_TOTAL_BYTES} bytes")],
                    code="SPEC_TOO_LARGE",
                    field="sourceUrl",
                )
            spec.files[target] = body
            queue.append(target)
    return Fetched(spec, kept, not_modified=status == 304)


async def uploaded(
    files: dict[str, bytes],
    root: str | None,
    limits: worker.Limits | None = None,
    *,
    format: str = "OPENAPI_3",
) -> SpecFiles:
    """Uploaded files (a zip is inflated by the import worker, bounded). The files of a
    GraphQL schema are read together, so any of them can be the root."""
    if len(files) == 1:
        name, content = next(iter(files.items()))
        if content.startswith(_ZIP):
            files = await worker.run(jobs.unzip, content, limits=limits)
        elif root is None:
            return SpecFiles(name, files)
    check_files(files)
    if format == "GRAPHQL" and root is None:
        return SpecFiles(sorted(files)[0], files)
    return SpecFiles(pick_root(files, root), files)
