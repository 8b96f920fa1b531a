"""The UI pages (GraphiQL at ``GET /graphql``, the REST reference at ``/api/docs``) and their
assets under ``/ui/assets/``, all from this service. Pages run no inline script and carry a
CSP that allows only this origin."""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from aforo.web import assets

ASSET_PREFIX = "/ui/assets"


def csp(request: Request) -> str:
    host = request.headers.get("host", "")
    ws = "wss" if request.url.scheme == "https" else "ws"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"font-src 'self' data:; connect-src 'self' {ws}://{host}; worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )


def _asset(folder: str, name: str) -> str:
    return f"{ASSET_PREFIX}/{folder}/{name}"


def _pkg(name: str) -> assets.Package:
    return next(p for p in assets.PACKAGES if p.name == name)


def _page(request: Request, title: str, styles: list[str], scripts: list[str], body: str) -> str:
    links = "".join(f'<link rel="stylesheet" href="{escape(s)}">' for s in styles)
    tags = "".join(f'<script src="{escape(s)}"></script>' for s in scripts)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{links}</head><body>{body}{tags}</body></html>"
    )


def _respond(request: Request, html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        html,
        status_code=status,
        headers={"Content-Security-Policy": csp(request), "Cache-Control": "no-cache"},
    )


def _missing(request: Request, title: str) -> HTMLResponse:
    body = (
        '<div class="aforo-missing"><h1>UI assets are not installed yet</h1>'
        "<p>This page loads its scripts from this service only. Install them once with "
        "<code>aforo assets fetch</code> (npm's client, integrity-checked), or "
        "<code>aforo assets fetch --from DIR</code> with tarballs made by "
        "<code>npm pack</code>. <code>aforo serve</code> starts the same download in the "
        "background on its first start.</p></div>"
    )
    css = _asset("aforo", "pages.css")
    return _respond(request, _page(request, title, [css], [], body), status=503)


def graphiql(request: Request, root: Path) -> HTMLResponse:
    title = "GraphiQL · Aforo Console"
    if not assets.installed(root):
        return _missing(request, title)
    g, r, d = _pkg("graphiql"), _pkg("react"), _pkg("react-dom")
    html = _page(
        request,
        title,
        [_asset(g.folder, "graphiql.min.css"), _asset("aforo", "pages.css")],
        [
            _asset(r.folder, "umd/react.production.min.js"),
            _asset(d.folder, "umd/react-dom.production.min.js"),
            _asset(g.folder, "graphiql.min.js"),
            _asset("aforo", "graphiql-boot.js"),
        ],
        '<div id="graphiql">Loading…</div>',
    )
    return _respond(request, html)


def reference(request: Request) -> HTMLResponse:
    title = "REST reference · Aforo Console"
    root: Path = request.app.state.assets_dir
    if not assets.installed(root):
        return _missing(request, title)
    s = _pkg("swagger-ui-dist")
    html = _page(
        request,
        title,
        [_asset(s.folder, "swagger-ui.css")],
        [_asset(s.folder, "swagger-ui-bundle.js"), _asset("aforo", "reference-boot.js")],
        '<div id="swagger-ui"></div>',
    )
    return _respond(request, html)


async def reference_page(request: Request) -> Response:
    return reference(request)


async def asset(request: Request) -> Response:
    root: Path = request.app.state.assets_dir
    folder, name = request.path_params["folder"], request.path_params["name"]
    path = assets.resolve(root, folder, name)
    if path is None:
        return Response(status_code=404)
    # Pinned versions are in the URL (immutable); our own files change with the service.
    immutable = folder != "aforo"
    stat = path.stat()
    etag = hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:32]
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers={"ETag": f'"{etag}"'})
    return FileResponse(
        path,
        headers={
            "Cache-Control": "public, max-age=31536000, immutable"
            if immutable
            else "public, max-age=300",
            "ETag": f'"{etag}"',
        },
    )


ROUTES = [
    Route("/api/docs", reference_page, methods=["GET"], include_in_schema=False),
    Route(f"{ASSET_PREFIX}/{{folder}}/{{name:path}}", asset, methods=["GET"]),
]
