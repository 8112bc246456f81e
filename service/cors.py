"""Cross-origin requests from browsers: an allow-list of origins (``LEARNSEG_CORS_ORIGINS``),
off by default.

Off, the service sends no CORS header and a preflight (``OPTIONS``) is the 405 of any method a
route does not accept: a browser page of another origin cannot call the API, which is what a
service an LMS backend calls needs. On, Starlette's ``CORSMiddleware`` answers a preflight from
a listed origin (200, the methods ``GET`` and ``POST``, the request headers ``X-API-Key``,
``Authorization``, ``Content-Type`` and ``X-Request-ID``, cached 10 minutes) and adds the origin
to every answer to it, exposing ``X-Request-ID``, ``X-Model-Version`` and ``Retry-After``; a
preflight from another origin, or asking another method or header, is a 400 with one sentence.
No cookie is ever involved (keys travel in headers), so credentials are not allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response

__all__ = ["ALLOWED_HEADERS", "ALLOWED_METHODS", "EXPOSED_HEADERS", "add_cors"]

ALLOWED_METHODS = ("GET", "POST")
ALLOWED_HEADERS = ("X-API-Key", "Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("X-Request-ID", "X-Model-Version", "Retry-After")
_MAX_AGE = 600


class _AllowList(CORSMiddleware):
    """Starlette's CORS middleware, whose refused preflight says why in the service's error
    shape (``{"detail": "..."}``) instead of plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        refused = bytes(response.body).decode("latin-1").removeprefix("Disallowed CORS ")
        verb = "are" if "," in refused or refused == "headers" else "is"
        detail = (
            f"This cross-origin request is refused: its {refused} {verb} not allowed (origins: "
            f"LEARNSEG_CORS_ORIGINS; methods: {', '.join(ALLOWED_METHODS)}; headers: "
            f"{', '.join(ALLOWED_HEADERS)})."
        )
        return Response(
            orjson.dumps({"detail": detail}),
            status_code=response.status_code,
            media_type="application/json",
        )


def add_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Answer browsers of `origins` (``*`` = any); no origin, no CORS at all."""
    if not origins:
        return
    app.add_middleware(
        _AllowList,
        allow_origins=list(origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        allow_credentials=False,
        max_age=_MAX_AGE,
    )
