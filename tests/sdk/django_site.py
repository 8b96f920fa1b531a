"""A minimal in-process Django project for the WSGI middleware tests: configured once per
process (Django settings are global), served by the WSGI handler Django's own servers use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import django
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path


def item(request: HttpRequest, item_id: int) -> JsonResponse:
    if item_id > 100:
        raise Http404("no such item")
    return JsonResponse({"item_id": item_id})


def upload(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"stored:" + str(len(request.body)).encode(), status=201)


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("view failed")


urlpatterns = [
    path("items/<int:item_id>", item),
    path("api/", include([path("upload", upload), path("boom", boom)])),
]


def wsgi_app() -> Any:
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only",
            ALLOWED_HOSTS=["127.0.0.1", "localhost"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["aforo_metering.wsgi.DjangoRouteMiddleware"],
            INSTALLED_APPS=[],
            DATABASES={},
            # the failing view's traceback is expected: keep it out of the test output
            LOGGING_CONFIG=None,
        )
        django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` with the standard library's WSGI server on a loopback port."""
    server: WSGIServer = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
