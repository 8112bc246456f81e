"""The segment service: ``create_app(settings)``, its lifespan and its error handlers.

The model is loaded and verified once, in the lifespan. The app always starts: with no model,
or one that fails verification (a file whose SHA-256 does not match, other numpy/scikit-learn
major.minor), ``/health/live`` answers 200, ``/health/ready`` and every model route 503 with the
reason (for an empty model folder: how to train one), until ``POST /admin/reload`` succeeds.

Errors have one shape: ``{"detail": "One clear sentence."}``; a 422 keeps FastAPI's list of
field errors (``type``, ``loc``, ``msg``, ``ctx``) but never echoes ``input``: an input can be a
whole learner, ``email_hash`` and ``company_hash`` included. An unexpected error is a 500
``{"detail": "Internal error; the request id is <id>."}``, logged with its traceback, never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from service.api import api_router, health_router, metrics_router, operation_id, pages_router
from service.config import ServiceSettings, get_settings
from service.cors import add_cors
from service.lifecycle import Drain, drain_on_signals
from service.metrics import ServiceMetrics
from service.middleware import (
    API_PREFIX,
    REQUEST_ID_KEY,
    RequestContextMiddleware,
    internal_error_body,
)
from service.schemas import BODY_COMPONENTS, ErrorDetail
from service.security import (
    KeyRing,
    WrongKeyLimiter,
    require_api_key,
    require_metrics_key,
)
from service.state import ModelHolder

__all__ = ["DESCRIPTION", "DOCS_ASSETS", "RETRY_AFTER_SECONDS", "create_app"]

DESCRIPTION = """\
Places learners of an online tech school in segments learned offline by `python -m training
train`: one learner (`POST /segment`) or up to `max_batch` (`POST /segment/batch`), with the
distance to the segment, the runner-up, the engineered features and every repair or fallback
the cleaning rules made. Segment profiles at `/segments`, the model at `/model`.

When keys are configured, send one as `X-API-Key: <key>` or `Authorization: Bearer <key>` (all
routes but `/health/*` and the docs): a client key places learners and reads profiles, an admin
key may also reload the model (`POST /admin/reload` needs one; without admin keys it is off), a
metrics key reads `/metrics` only. Wrong keys from one address are answered 429 (with
`Retry-After`) after a burst; a valid key is never throttled. This document is the same with or
without keys configured: a service without keys (anonymous) serves every route without one.

A learner may carry the caller's own `learner_id` (a string of at most 128 characters): every
answer echoes it, it is never used for placing and never logged. A batch numbers its items from
0 (`index`), as `python -m training assign` numbers its rows.

Every path of the API is under `/v1/`; the same paths without the prefix (`/segment`,
`/segments`, `/model`, `/metrics`, ...) are kept as aliases of the `/v1/` routes and answer the
same. Health probes (`/health/live`, `/health/ready`) are not versioned.
"""
_CTX_TYPES = (str, int, float, bool)
log = logging.getLogger(__name__)
#: Seconds a 503 asks a client to wait before trying again (the ``Retry-After`` header).
RETRY_AFTER_SECONDS = 2


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app; `settings` defaults to :func:`service.config.get_settings` (environment)."""
    settings = settings if settings is not None else get_settings()
    metrics = ServiceMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.batch_lock = anyio.Lock()
        if settings.gc_threshold:
            # A batch allocates tens of thousands of short-lived containers; with Python's
            # default threshold the cyclic collector runs dozens of times per batch and
            # halves throughput (docs/benchmarks.md). Process-wide, like the server itself.
            gc.set_threshold(settings.gc_threshold, *gc.get_threshold()[1:])
        if settings.anonymous:
            log.warning(
                "No API key is configured: anyone who can reach %s:%s may place learners and "
                "read profiles (reloading over HTTP is off).",
                settings.host,
                settings.port,
            )
        holder: ModelHolder = app.state.holder
        holder.load(settings.model_version)
        follower = None
        if settings.poll_seconds > 0 and (settings.follow_latest or settings.reload_signal):
            follower = asyncio.create_task(holder.follow(settings.poll_seconds))
        # Under a server, the first SIGTERM drains this worker before the server stops it.
        restore_signals = drain_on_signals(app.state.drain, settings.drain_seconds)
        try:
            yield
        finally:
            restore_signals()
            if follower is not None:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower

    app = FastAPI(
        title="learnseg",
        summary="Learner segmentation for an online tech school.",
        description=DESCRIPTION,
        version=_package_version(),
        lifespan=lifespan,
        docs_url=None,  # served below from bundled assets, so they work without internet
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs else None,
        generate_unique_id_function=operation_id,
    )
    if settings.docs:
        _add_offline_docs(app)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.keys = KeyRing(settings)
    app.state.wrong_keys = WrongKeyLimiter(settings.auth_fail_burst, settings.auth_fail_per_second)
    app.state.holder = ModelHolder(
        settings.model_dir,
        metrics,
        drift_window=settings.drift_window if settings.drift else None,
        keep_versions=settings.keep_versions,
        follow_latest=settings.follow_latest,
        reload_signal=settings.reload_signal,
    )

    app.state.drain = Drain()
    add_cors(app, settings.cors_origins)  # inside the request middleware: preflights are logged
    app.add_middleware(
        RequestContextMiddleware,
        metrics=metrics,
        body_limit=settings.body_limit,
        drain=app.state.drain,
    )
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)

    app.include_router(health_router)
    if settings.explorer:
        app.include_router(pages_router)
    _add_body_components(app, _include_api(app, anonymous=settings.anonymous))
    return app


def _include_api(app: FastAPI, *, anonymous: bool) -> APIRouter:
    """Mount the API under /v1/ and again at the root, and return the routes that document
    it when they are not the app's own.

    The paths without the prefix are aliases: the same routes, left out of the OpenAPI
    document so a generated client has one method each. An anonymous service serves its routes
    without the key checks (a check per request costs more than placing one learner) but
    documents them as a service with keys does, from routes that are never served: one
    document however the service is configured, so a client generated from it sends a key when
    the service asks for one.
    """
    documents = APIRouter(generate_unique_id_function=operation_id)
    for prefix, documented in ((API_PREFIX, True), ("", False)):
        for router, check, refusals in (
            (api_router, require_api_key, _KEYED_RESPONSES),
            (metrics_router, require_metrics_key, _METRICS_RESPONSES),
        ):
            keyed: dict[str, Any] = {"dependencies": [Depends(check)], "responses": refusals}
            if not anonymous:
                app.include_router(router, prefix=prefix, include_in_schema=documented, **keyed)
                continue
            app.include_router(router, prefix=prefix, include_in_schema=False)
            if documented:
                documents.include_router(router, prefix=prefix, **keyed)
    return documents


#: What any route behind a key may answer besides its own responses.
_KEYED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorDetail, "description": "Missing or wrong API key."},
    403: {
        "model": ErrorDetail,
        "description": "A key of another role: a metrics key reads /metrics only.",
    },
    429: {
        "model": ErrorDetail,
        "description": "Too many wrong keys from this address: wait Retry-After seconds or send "
        "a valid key.",
    },
}
#: What ``GET /metrics`` may answer behind a key (a key of any role reads it).
_METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: _KEYED_RESPONSES[code] for code in (401, 429)
}


def _add_body_components(app: FastAPI, documents: APIRouter) -> None:
    """Build the OpenAPI document from the app's routes and ``documents`` (the API's routes as
    a service with keys serves them, when this one is anonymous), with the hand-documented
    request bodies (``Learner``, ``BatchRequest``) in its components, where the routes' ``$ref``
    point."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            openapi_version=app.openapi_version,
            summary=app.summary,
            description=app.description,
            routes=[*app.routes, *documents.routes],
            tags=app.openapi_tags,
            servers=app.servers,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        schema.setdefault("components", {}).setdefault("schemas", {}).update(BODY_COMPONENTS)
        _document_headers(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request's id (the one sent, when it was a sane token): in the "
        "service's logs and in every error.",
        "schema": {"type": "string"},
    },
    "X-Model-Version": {
        "description": "The model version that answered (the pinned one with ?version=).",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again (503: the model is loading or "
        "absent; 429: too many wrong keys from this address).",
        "schema": {"type": "integer"},
    },
}


def _document_headers(schema: dict[str, Any]) -> None:
    """Document the response headers the middleware and the error handlers add: the request
    id on every response, the model version on a model route's answers, Retry-After on 503."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            params = operation.get("parameters", [])
            uses_model = any(p.get("name") == "version" for p in params) or (
                operation.get("operationId") in ("getReadiness", "reloadModel")
            )
            for code, response in operation.get("responses", {}).items():
                names = ["X-Request-ID"]
                if uses_model and str(code).startswith("2"):
                    names.append("X-Model-Version")
                if str(code) in ("429", "503"):
                    names.append("Retry-After")
                headers = response.setdefault("headers", {})
                headers.update({name: _HEADERS[name] for name in names})


DOCS_ASSETS = "/docs-assets"


def _add_offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from assets shipped with the package, not a CDN."""
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=static), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title}: API",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )


async def _http_error(request: Request, exc: Exception) -> Response:
    """``{"detail": ...}``; Starlette's bare defaults ("Not Found") become sentences."""
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    if detail == HTTPStatus(exc.status_code).phrase:
        detail = _default_detail(request, exc.status_code)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    headers = exc.headers
    if exc.status_code == 503:
        # Not ready yet (loading) or without a model: ask clients to come back, not to hammer.
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS), **(headers or {})}
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)


def _default_detail(request: Request, code: int) -> str:
    method, path = request.method, request.url.path
    if code == 404:
        docs = "; see /docs for the API" if request.app.state.settings.docs else ""
        return f"There is no route {path}{docs}."
    if code == 405:
        return f"{path} does not accept {method}."
    return f"{HTTPStatus(code).phrase}."


async def _validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's 422 list without ``input`` (it may hold email_hash or company_hash values)."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        item: dict[str, Any] = {"type": error["type"], "loc": error["loc"], "msg": error["msg"]}
        ctx = {
            key: value
            for key, value in (error.get("ctx") or {}).items()
            if isinstance(value, _CTX_TYPES) and key != "class_name"
        }
        if ctx:
            item["ctx"] = ctx
        errors.append(item)
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Last resort (the middleware answers most unexpected errors itself)."""
    request_id = str(request.scope.get(REQUEST_ID_KEY, "unknown"))
    return Response(
        internal_error_body(request_id),
        status_code=500,
        media_type="application/json",
        headers={"X-Request-ID": request_id},
    )


def _package_version() -> str:
    try:
        return metadata.version("learnseg")
    except metadata.PackageNotFoundError:
        return "0+unknown"
