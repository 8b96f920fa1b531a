"""Multi-file specs: relative external ``$ref``s resolved into one document, bounded.

The files come from an upload (several files, or a zip) or from URL imports (fetched through
the outbound guard by ``services.specs``, which uses ``file_refs`` to know what to fetch). Here,
in the import worker, the root document is bundled the way ``redocly bundle`` does it:

- a reference in a schema position to another file's schema is hoisted into the root's
  ``components/schemas`` (``definitions`` for Swagger 2.0) under the target's own name (its last
  pointer token, or the file's name), and the reference made local;
- any other reference (a path item, an operation's parameter or response …) is inlined;
- references inside a referenced file resolve against that file.

Every target is copied once (cycles between files are fine: a schema is named before its
content is processed); inlined copies are counted so a fan-out cannot multiply the size.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from aforo.services.spec_import import refs
from aforo.services.spec_import.loader import (
    MAX_SPEC_BYTES,
    Document,
    Problem,
    Problems,
    SpecInvalid,
    load,
)

MAX_FILES = 200
MAX_TOTAL_BYTES = 32 * 1024 * 1024
MAX_ZIP_ENTRIES = 2000
MAX_RATIO = 100  # uncompressed : compressed, for entries past 1 MiB
MAX_INLINED_BYTES = 4 * MAX_TOTAL_BYTES
SPEC_SUFFIXES = (".yaml", ".yml", ".json", ".graphql", ".graphqls", ".gql")
_FILE_REF = re.compile(r"""["']?\$ref["']?\s*:\s*["']?([^"'\s,}\]#]+)""")
_ROOT_HINT = re.compile(r"""^\s*["']?(openapi|swagger)["']?\s*:""", re.M)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class SpecFiles:
    """The files of one spec: ``root`` is one of ``files``' names (relative POSIX paths of an
    upload, or absolute URLs); ``failed`` says why a referenced file could not be had."""

    root: str
    files: dict[str, bytes]
    failed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def single(cls, content: bytes, name: str = "openapi") -> SpecFiles:
        return cls(name, {name: content})


def _archive_error(message: str, code: str = "SPEC_ARCHIVE_INVALID") -> SpecInvalid:
    return SpecInvalid([Problem("", message)], code=code, field="file")


def read_zip(data: bytes) -> dict[str, bytes]:
    """The spec files of a zip archive, refusing what could exhaust us: too many entries,
    too many bytes once inflated (whatever the headers claim), a suspicious compression
    ratio, paths escaping the archive, encrypted entries."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError) as e:
        raise _archive_error(f"not a readable zip archive: {e}") from e
    entries = archive.infolist()
    if len(entries) > MAX_ZIP_ENTRIES:
        raise _archive_error(f"the archive has more than {MAX_ZIP_ENTRIES} entries")
    out: dict[str, bytes] = {}
    total = 0
    for info in entries:
        name = info.filename
        if (
            info.is_dir()
            or name.startswith("__MACOSX/")
            or posixpath.basename(name).startswith(".")
        ):
            continue
        if name.startswith("/") or ".." in name.split("/") or "\\" in name:
            raise _archive_error(f"the archive entry {name!r} points outside the archive")
        if not name.lower().endswith(SPEC_SUFFIXES):
            continue
        if info.flag_bits & 0x1:
            raise _archive_error(f"the archive entry {name!r} is encrypted")
        if len(out) >= MAX_FILES:
            raise _archive_error(f"the archive has more than {MAX_FILES} spec files")
        if info.file_size > MAX_SPEC_BYTES:
            raise _archive_error(f"{name} is larger than {MAX_SPEC_BYTES} bytes", "SPEC_TOO_LARGE")
        if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _archive_error(
                f"{name} inflates more than {MAX_RATIO} times (a zip bomb?)", "SPEC_TOO_LARGE"
            )
        try:
            with archive.open(info) as f:
                content = f.read(MAX_SPEC_BYTES + 1)  # the header's size may lie
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError) as e:
            raise _archive_error(f"{name} cannot be read: {e}") from e
        total += len(content)
        if len(content) > MAX_SPEC_BYTES or total > MAX_TOTAL_BYTES:
            raise _archive_error(
                f"the archive inflates to more than {MAX_TOTAL_BYTES} bytes", "SPEC_TOO_LARGE"
            )
        out[name] = content
    if not out:
        raise _archive_error(f"the archive holds no spec file ({', '.join(SPEC_SUFFIXES)})")
    return out


def check_files(files: dict[str, bytes]) -> None:
    if len(files) > MAX_FILES:
        raise _archive_error(f"more than {MAX_FILES} files", "SPEC_TOO_LARGE")
    if sum(len(c) for c in files.values()) > MAX_TOTAL_BYTES:
        raise _archive_error(f"the files are larger than {MAX_TOTAL_BYTES} bytes", "SPEC_TOO_LARGE")
    for name in files:
        if not name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
            raise _archive_error(f"the file name {name!r} must be a relative path")


def pick_root(files: dict[str, bytes], root: str | None) -> str:
    """The root document: the one named, else the only file that starts an OpenAPI or Swagger
    document, else a file named like a root (openapi.*, swagger.*), shallowest first."""
    if root is not None:
        if root not in files:
            raise SpecInvalid([Problem("", f"no file named {root!r} was uploaded")], field="root")
        return root
    if len(files) == 1:
        return next(iter(files))
    hinted = [n for n, c in files.items() if _ROOT_HINT.search(c[:4096].decode("utf-8", "replace"))]
    if len(hinted) == 1:
        return hinted[0]
    named = sorted(
        (n.count("/"), n)
        for n in files
        if posixpath.basename(n).rsplit(".", 1)[0].lower()
        in ("openapi", "swagger", "index", "main")
    )
    if named and (len(named) == 1 or named[0][0] < named[1][0]):
        return named[0][1]
    raise SpecInvalid(
        [Problem("", "several files could be the root document: name it (root)")], field="root"
    )


def file_refs(text: str) -> set[str]:
    """The other files a document's ``$ref``s name (a cheap scan, for fetching: a false hit
    costs a fetch whose failure only matters if the file is really used)."""
    return {m.group(1) for m in _FILE_REF.finditer(text) if m.group(1)}


def resolve_name(base: str, relative: str) -> str | None:
    """``relative`` as seen from the file ``base``: a URL for URL imports, a path inside the
    upload otherwise (None: it leaves the upload)."""
    if urlsplit(base).scheme in ("http", "https"):
        parts = urlsplit(urljoin(base, relative))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    if urlsplit(relative).scheme:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), relative))
    return None if joined.startswith("../") or joined == ".." or joined.startswith("/") else joined


class Bundler:
    def __init__(
        self, root: Document, spec: SpecFiles, problems: Problems, *, swagger2: bool
    ) -> None:
        self.root_name = spec.root
        self.spec = spec
        self.problems = problems
        self.documents: dict[str | None, Document] = {None: root}
        self.loaded: dict[str, Document | None] = {spec.root: root}
        home = (
            root.data.setdefault("definitions", {})
            if swagger2
            else (root.data.setdefault("components", {}).setdefault("schemas", {}))
        )
        if not isinstance(home, dict):
            home = {}
        self.home = home
        self.home_ref = "#/definitions/" if swagger2 else "#/components/schemas/"
        self.hoisted: dict[tuple[str, str], str] = {}
        self.inlined: dict[tuple[str, str], Any] = {}
        self.busy: set[tuple[str, str]] = set()
        self.unresolved: dict[str, str] = {}  # file → why
        self.inlined_bytes = 0

    def document(self, name: str) -> Document | None:
        if name in self.loaded:
            return self.loaded[name]
        doc: Document | None = None
        if name in self.spec.files:
            try:
                doc = load(self.spec.files[name], name)
            except SpecInvalid as e:
                for p in e.problems:
                    self.problems.add(Problem(p.pointer, p.message, p.line, name), cause=True)
            else:
                self.documents[name] = doc
        self.loaded[name] = doc
        return doc

    def run(self) -> None:
        self.process(self.documents[None].data, self.root_name, schema=False, at="")
        if self.unresolved:
            files = sorted(self.unresolved)
            listed = ", ".join(f"{f!r} ({self.unresolved[f]})" for f in files[:5])
            more = f" and {len(files) - 5} more" if len(files) > 5 else ""
            self.problems.add(
                Problem(
                    "",
                    f"external $refs to {len(files)} file{'s' if len(files) > 1 else ''} are "
                    f"not resolved: {listed}{more}; upload every file of the spec (several "
                    "files or a zip) or import it from its URL",
                ),
                cause=True,
            )

    def process(self, node: Any, base: str, *, schema: bool, at: str) -> None:
        for site in list(refs.walk(node, schema=schema, at=at)):
            ref = site.node["$ref"]
            file, fragment = refs.split(ref)
            if not file and base == self.root_name:
                continue  # a local reference of the root document
            target = resolve_name(base, file) if file else base
            where = None if base == self.root_name else base
            if target is None:
                self.problems.add(
                    Problem(
                        f"{site.pointer}/$ref",
                        f"$ref {ref!r} leaves the uploaded files",
                        file=where,
                    )
                )
                continue
            if target == self.root_name:
                site.node["$ref"] = "#" + fragment
                continue
            self.resolve(site, target, fragment, where)

    def _target(self, site: refs.RefSite, file: str, fragment: str, where: str | None) -> Any:
        doc = self.document(file)
        if doc is None:
            if file in self.spec.files:
                why = "that file is not a valid document"
            else:
                why = self.spec.failed.get(file) or (
                    "not fetched" if _is_url(file) else "not uploaded"
                )
                self.unresolved.setdefault(file, why)
            self.problems.add(
                Problem(
                    f"{site.pointer}/$ref",
                    f"external $ref {site.node['$ref']!r} is not resolved: {why}",
                    file=where,
                )
            )
            return refs.MISSING
        target = refs.get(doc.data, fragment)
        if not refs.found(target):
            self.problems.add(
                Problem(
                    f"{site.pointer}/$ref",
                    f"$ref {site.node['$ref']!r} points at nothing",
                    file=where,
                )
            )
        return target

    def resolve(self, site: refs.RefSite, file: str, fragment: str, where: str | None) -> None:
        key = (file, fragment)
        if site.schema:
            if key not in self.hoisted:
                target = self._target(site, file, fragment, where)
                if not refs.found(target):
                    return
                name = self._name(file, fragment)
                self.hoisted[key] = self.home_ref + refs.escape(name)
                copy = _copy(target)
                self.home[name] = copy
                self.process(copy, file, schema=True, at=fragment)
            site.node["$ref"] = self.hoisted[key]
            return
        if key in self.busy:
            self.problems.add(
                Problem(
                    f"{site.pointer}/$ref", f"$ref {site.node['$ref']!r} is circular", file=where
                )
            )
            return
        if key not in self.inlined:
            target = self._target(site, file, fragment, where)
            if not refs.found(target):
                return
            if not isinstance(target, dict):
                self.problems.add(
                    Problem(
                        f"{site.pointer}/$ref", "the referenced value must be an object", file=where
                    )
                )
                return
            self.busy.add(key)
            copy = _copy(target)
            self.process(copy, file, schema=False, at=fragment)
            self.busy.discard(key)
            self.inlined[key] = copy
        value = self.inlined[key]
        self.inlined_bytes += len(json.dumps(value, check_circular=False))
        if self.inlined_bytes > MAX_INLINED_BYTES:
            raise SpecInvalid(
                [Problem("", f"the files inline to more than {MAX_INLINED_BYTES} bytes")],
                code="SPEC_TOO_LARGE",
            )
        overrides = {k: v for k, v in site.node.items() if k in ("summary", "description")}
        site.node.clear()
        site.node.update(value)
        site.node.update(overrides)

    def _name(self, file: str, fragment: str) -> str:
        last = fragment.rsplit("/", 1)[-1] if fragment else ""
        base = (
            refs.unescape_token(last) or posixpath.basename(urlsplit(file).path).rsplit(".", 1)[0]
        )
        base = _NAME.sub("_", base) or "Schema"
        name, n = base, 1
        while name in self.home:
            n += 1
            name = f"{base}_{n}"
        return name


def _is_url(name: str) -> bool:
    return urlsplit(name).scheme in ("http", "https")


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value, check_circular=False))


def has_external(used: set[str]) -> bool:
    return any(refs.split(r)[0] for r in used)


def bundle(
    root: Document, spec: SpecFiles, problems: Problems, *, swagger2: bool
) -> dict[str | None, Document]:
    """Resolve ``root``'s external references in place; returns every document read (by
    file name, the root as None) for line numbers of problems."""
    b = Bundler(root, spec, problems, swagger2=swagger2)
    b.run()
    return b.documents
