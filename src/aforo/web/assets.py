"""The UI pages' third-party assets (GraphiQL, React, Swagger UI): pinned npm packages,
fetched with npm's own client, checked against the registry's published ``dist.integrity``
(SHA-512 of the tarball) and unpacked, only the files the pages load, into
``AFORO_HOME/assets``. Nothing is fetched while serving a request: the pages load every asset
from this service, and say how to install them when they are missing.

``aforo assets fetch`` installs them (``--from DIR`` takes tarballs already downloaded, e.g.
by ``npm pack``); ``aforo serve`` does it in the background on first start.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's dist.integrity: "sha512-<base64>"
    files: tuple[str, ...]  # paths inside the tarball's package/ folder

    @property
    def folder(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball(self) -> str:
        return f"{self.name.replace('@', '').replace('/', '-')}-{self.version}.tgz"


PACKAGES = (
    Package(
        "graphiql",
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        ("graphiql.min.js", "graphiql.min.css"),
    ),
    Package(
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        ("umd/react.production.min.js",),
    ),
    Package(
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        ("umd/react-dom.production.min.js",),
    ),
    Package(
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        ("swagger-ui-bundle.js", "swagger-ui.css"),
    ),
)
BY_FOLDER = {p.folder: p for p in PACKAGES}
MANIFEST = "manifest.json"
STATIC = Path(__file__).parent / "static"


class AssetsMissing(Exception):
    pass


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _manifest(root: Path) -> dict[str, dict[str, str]]:
    try:
        loaded = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def installed(root: Path) -> bool:
    """Every pinned package unpacked from a tarball whose integrity matched, files intact."""
    manifest = _manifest(root)
    for p in PACKAGES:
        entry = manifest.get(p.folder)
        if not entry or entry.get("integrity") != p.integrity:
            return False
        if not all((root / p.folder / f).is_file() for f in p.files):
            return False
    return True


def _unpack(pkg: Package, data: bytes, root: Path) -> None:
    found = integrity_of(data)
    if found != pkg.integrity:
        raise AssetsMissing(
            f"{pkg.tarball}: integrity {found[:24]}… is not the pinned {pkg.integrity[:24]}…"
        )
    target = root / pkg.folder
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for name in pkg.files:
                member = tar.getmember(f"package/{name}")
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise AssetsMissing(f"{pkg.tarball} has no file {name}")
                out = staging / name
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(extracted.read())
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _npm_pack(pkg: Package, into: Path) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsMissing(
            "npm is not installed: install Node.js and npm, or give the tarballs with "
            "`aforo assets fetch --from DIR`"
        )
    done = subprocess.run(
        [npm, "pack", f"{pkg.name}@{pkg.version}", "--pack-destination", str(into), "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"},
        check=False,
    )
    path = into / pkg.tarball
    if done.returncode != 0 or not path.is_file():
        raise AssetsMissing(f"npm pack {pkg.name}@{pkg.version} failed: {done.stderr.strip()}")
    return path.read_bytes()


def fetch(root: Path, source: Path | None = None) -> list[str]:
    """Install every pinned package not yet installed; returns the ones installed now."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(root)
    done: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aforo-npm-") as tmp:
        for pkg in PACKAGES:
            entry = manifest.get(pkg.folder)
            if (
                entry
                and entry.get("integrity") == pkg.integrity
                and all((root / pkg.folder / f).is_file() for f in pkg.files)
            ):
                continue
            if source is not None:
                path = source / pkg.tarball
                if not path.is_file():
                    raise AssetsMissing(f"{path} not found (npm pack {pkg.name}@{pkg.version})")
                data = path.read_bytes()
            else:
                data = _npm_pack(pkg, Path(tmp))
            _unpack(pkg, data, root)
            manifest[pkg.folder] = {"integrity": pkg.integrity}
            (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            done.append(pkg.folder)
    return done


def resolve(root: Path, folder: str, name: str) -> Path | None:
    """The file an asset URL names, only if it is one of the pinned files."""
    if folder == "aforo":
        path = STATIC / name
        return path if name in {p.name for p in STATIC.iterdir()} else None
    pkg = BY_FOLDER.get(folder)
    if pkg is None or name not in pkg.files:
        return None
    path = root / pkg.folder / name
    return path if path.is_file() else None
