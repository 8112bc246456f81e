"""One pure-ASGI middleware per request: request id, access log, metrics, last-resort 500.

It is the outermost of the app's own middleware. For every HTTP request it

1. takes the client's ``X-Request-ID`` when it is a sane token, else makes one, keeps it in the
   scope (``learnseg.request_id``) and echoes it in the ``X-Request-ID`` response header; the
   model version a route answered with (``learnseg.model_version``) goes into
   ``X-Model-Version``;
2. times the request and counts it by route template and status (:mod:`service.metrics`), a
   ``/v1/`` route and its alias as one (:func:`canonical_route`);
3. refuses a body over the byte limit with a 413 ``{"detail": ...}``: at once when
   ``Content-Length`` says so, else when the route reads past the limit;
4. writes one JSON access line (:mod:`service.logs`), with the model version a route used and
   the name of the API key it was sent with (``key_id``, never the key); the raw path only when
   the request succeeded (its path parameters were validated), else the template of the route
   as requested (``/v1/segment``, or the alias ``/segment``; ``/v1/segments/{segment_id}``): a
   rejected path may hold anything a client typed, an email hash included;
5. turns an exception nothing else handled into a 500 ``{"detail": "Internal error; the request
   id is ..."}``, logged once with its traceback, never sent to the client;
6. counts a client that hangs up before its body is complete as status 499 (nginx's "client
   closed request"), logged in one line without a traceback: it is not a server error, and
   there is nobody left to answer.

(FastAPI's own ``max_body_size`` answers in plain text from outside the app's middleware, so
the limit lives here, where the error shape and the access log see it.)
"""

from __future__ import annotations

import logging
import time

import orjson
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.lifecycle import Drain
from service.logs import ACCESS_LOGGER, request_id_from
from service.metrics import ServiceMetrics

__all__ = [
    "API_PREFIX",
    "CLIENT_CLOSED_REQUEST",
    "KEY_ID_KEY",
    "MODEL_VERSION_KEY",
    "REQUEST_ID_KEY",
    "UNMATCHED_ROUTE",
    "BodyTooLarge",
    "RequestContextMiddleware",
    "canonical_route",
    "internal_error_body",
]

#: Scope keys shared with the exception handlers and the dependencies.
REQUEST_ID_KEY = "learnseg.request_id"
MODEL_VERSION_KEY = "learnseg.model_version"
#: The name of the API key a request used (set by ``service.security``), never the key.
KEY_ID_KEY = "learnseg.key_id"
UNMATCHED_ROUTE = "<unmatched>"
#: The prefix of the versioned API; its paths without it are aliases (``service.main``).
API_PREFIX = "/v1"
#: Status recorded (metrics, access log) for a client that hung up mid-request; never sent.
CLIENT_CLOSED_REQUEST = 499

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger(__name__)


def canonical_route(template: str) -> str:
    """A route template without the API's version prefix (``/v1/segment`` -> ``/segment``).

    The versioned routes and their aliases count as one route in the metrics and the access
    log, so dashboards and alert rules keep one series per route whichever path a client uses.
    """
    return template[len(API_PREFIX) :] if template.startswith(API_PREFIX + "/") else template


def _as_requested(template: str, path: str) -> str:
    """A refused request's route template under the prefix it was requested with
    (``/v1/segment`` stays so, ``/segment`` too; a path parameter stays ``{...}``): the path a
    success on a route without parameters logs, and nothing a client typed."""
    versioned = path.startswith(API_PREFIX + "/") and template != UNMATCHED_ROUTE
    return API_PREFIX + template if versioned else template


def internal_error_body(request_id: str) -> bytes:
    return orjson.dumps({"detail": f"Internal error; the request id is {request_id}."})


class BodyTooLarge(HTTPException):
    """Raised by ``receive`` once a body passes the limit (an HTTPException: FastAPI lets it by)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than the limit of {limit} bytes.")


class RequestContextMiddleware:
    def __init__(
        self, app: ASGIApp, metrics: ServiceMetrics, body_limit: int, drain: Drain | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.body_limit = body_limit
        self.drain = drain if drain is not None else Drain()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Health probes are not work to finish before a shutdown: they are not counted.
        counted = not scope["path"].startswith("/health/")
        if counted:
            self.drain.in_flight += 1
        try:
            await self._handle(scope, receive, send)
        finally:
            if counted:
                self.drain.in_flight -= 1

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request_id = request_id_from(_header(scope, b"x-request-id"))
        scope[REQUEST_ID_KEY] = request_id
        status = 500
        started = False
        received = 0
        limit = self.body_limit

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                version = scope.get(MODEL_VERSION_KEY)
                if version is not None:  # set by every route that used a model
                    headers["X-Model-Version"] = version
            await send(message)

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            if _content_length(scope) > limit:
                too_large = BodyTooLarge(limit)
                await _send_json(send_with_id, too_large.status_code, {"detail": too_large.detail})
            else:
                await self.app(scope, receive_within_limit, send_with_id)
        except ClientDisconnect:
            if started:  # cannot happen while reading the body, but never send twice
                raise
            status = CLIENT_CLOSED_REQUEST
            log.info(
                "The client closed the connection before sending its whole request.",
                extra={"request_id": request_id},
            )
        except Exception:
            log.exception(
                "Unhandled error in %s %s.",
                scope["method"],
                scope["path"],
                extra={"request_id": request_id},
            )
            if started:  # too late for a clean 500: let the server drop the connection
                raise
            detail = f"Internal error; the request id is {request_id}."
            await _send_json(send_with_id, 500, {"detail": detail})
        finally:
            seconds = time.perf_counter() - start
            route = scope.get("route")
            template = canonical_route(getattr(route, "path", None) or UNMATCHED_ROUTE)
            path = scope["path"] if status < 400 else _as_requested(template, scope["path"])
            self.metrics.observe_request(scope["method"], template, status, seconds)
            access_log.info(
                "%s %s %d",
                scope["method"],
                path,
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": path,
                    "route": template,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "model_version": scope.get(MODEL_VERSION_KEY),
                    "key_id": scope.get(KEY_ID_KEY),
                },
            )


async def _send_json(send: Send, status: int, content: dict[str, str]) -> None:
    body = orjson.dumps(content)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int:
    try:
        return int(_header(scope, b"content-length") or 0)
    except ValueError:
        return 0


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            text: str = value.decode("latin-1")
            return text
    return None
