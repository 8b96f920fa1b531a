"""The reference developer portal under ``/portal/``: the files Vite built from ``portal/``
(``npm ci && npm run build`` there, done at install time by CI), served as a single-page app
(any path without a file answers index.html, so mailed links like ``/portal/verify-email``
land on it). Without a build, ``/portal/`` says how to make one: the service itself needs no
Node.js."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

import aforo

PREFIX = "/portal"
# An editable install (the README's `pip install -e .`) finds the build next to the sources.
SOURCE = Path(aforo.__file__).resolve().parents[2] / "portal"


def build_dir(configured: Path | None) -> Path:
    return configured or SOURCE / "dist"


def csp(request: Request) -> str:
    """Scripts and styles from this origin only (Vite's output has no inline ones); a tenant's
    logo may be any https image; the SDK talks to this origin over HTTP and WebSocket."""
    host = request.headers.get("host", "")
    ws = "wss" if request.url.scheme == "https" else "ws"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
        f"font-src 'self'; connect-src 'self' {ws}://{host}; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'; object-src 'none'"
    )


def _not_built(request: Request) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Developer portal not built</title></head><body><main>"
        "<h1>The developer portal is not built yet</h1>"
        "<p>The portal is a Vite build of <code>portal/</code> on the "
        "<code>@aforo/storefront</code> SDK. With Node.js 20 and npm, from the repository:</p>"
        "<pre>(cd sdks/storefront &amp;&amp; npm ci &amp;&amp; npm run build)\n"
        "(cd portal &amp;&amp; npm ci &amp;&amp; npm run build)</pre>"
        "<p>then reload this page (or set <code>AFORO_PORTAL_DIR</code> to a built "
        "<code>dist</code> folder).</p>"
        "</main></body></html>"
    )
    return HTMLResponse(body, status_code=503, headers={"Content-Security-Policy": csp(request)})


def _root(request: Request) -> Path:
    root: Path = request.app.state.portal_dir
    return root


def _file(root: Path, path: str) -> Path | None:
    """The built file at ``path``, never outside ``root``."""
    if not path or path.endswith("/"):
        return None
    candidate = (root / path).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


async def portal(request: Request) -> Response:
    root = _root(request)
    index = root / "index.html"
    if not index.is_file():
        return _not_built(request)
    found = _file(root, request.path_params.get("path", ""))
    if found is None or found == index:
        # The app's pages: index.html, never cached (it names the current hashed bundles).
        return FileResponse(
            index,
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": csp(request), "Cache-Control": "no-cache"},
        )
    # Vite names assets by content hash: immutable. Other files (config.json) may change.
    hashed = found.parent.name == "assets"
    stat = found.stat()
    etag = hashlib.sha256(f"{found}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers={"ETag": f'"{etag}"'})
    return FileResponse(
        found,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable" if hashed else "no-cache",
            "ETag": f'"{etag}"',
            "Content-Security-Policy": csp(request),
        },
    )


async def to_portal(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/", status_code=308)


ROUTES = [
    Route(PREFIX, to_portal, methods=["GET"], include_in_schema=False),
    Route(f"{PREFIX}/{{path:path}}", portal, methods=["GET", "HEAD"], include_in_schema=False),
]
