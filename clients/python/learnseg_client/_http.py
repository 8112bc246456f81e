"""What the sync and async clients share about HTTP: which failures are retried and how long to
wait, and turning a response into a result or a typed error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from learnseg_client.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    LearnsegError,
    NotFoundError,
    NotReadyError,
    TooLargeError,
    UnauthorizedError,
    VersionNotLoadedError,
)

T = TypeVar("T")

#: Transport errors after which no response was received, so sending again is safe and useful.
RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)
RETRY_STATUS = 503
VERSION = "0.2.0"  # the distribution's version (clients/python/pyproject.toml)
USER_AGENT = f"learnseg-client/{VERSION}"

_BY_STATUS: dict[int, type[LearnsegError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    422: InvalidRequestError,
    503: NotReadyError,
}


def request_id(response: httpx.Response) -> str | None:
    """The ``X-Request-ID`` of a call: the service's echo, else the one sent."""
    echoed = response.headers.get("X-Request-ID") or response.request.headers.get("X-Request-ID")
    return str(echoed) if echoed else None


def is_pinned(response: httpx.Response) -> bool:
    """Whether the call that got `response` asked for a model version."""
    return response.request.url.params.get("version") is not None


def error_from(response: httpx.Response) -> LearnsegError:
    """The error for a non-2xx response, with the server's detail when it sent one."""
    detail: str | list[Any]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("detail"), str | list):
        detail = body["detail"]
    else:
        # Not the service's own error shape (a proxy's HTML page, say): keep it short.
        text = response.text.strip()
        detail = text[:200] if text else response.reason_phrase or "Error."
    kind = _BY_STATUS.get(response.status_code, LearnsegError)
    if kind is ConflictError and is_pinned(response):
        kind = VersionNotLoadedError
    return kind(response.status_code, detail, request_id(response))


def json_of(response: httpx.Response) -> Any:
    """The JSON body of a response, or `LearnsegError` for an error status or a non-JSON body."""
    if not response.is_success:
        raise error_from(response)
    try:
        return response.json()
    except ValueError as exc:
        raise LearnsegError(
            response.status_code, "The service sent a body that is not JSON.", request_id(response)
        ) from exc


def parse(response: httpx.Response, build: Callable[[Any], T]) -> T:
    """Apply `build` to the JSON body; a body of the wrong shape becomes a `LearnsegError`."""
    body = json_of(response)
    try:
        return build(body)
    except ValidationError as exc:
        raise unexpected(response, first_error(exc)) from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise unexpected(response, repr(exc)) from exc


def unexpected(response: httpx.Response, what: str) -> LearnsegError:
    """The error for a success whose body is not what the service sends."""
    return LearnsegError(
        response.status_code, f"Unexpected response from the service: {what}.", request_id(response)
    )


def first_error(exc: ValidationError) -> str:
    """The first of a validation error's errors, in one line."""
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_delay(
    attempt: int, response: httpx.Response | None, *, backoff: float, max_delay: float
) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    ``backoff * 2**attempt``, or the response's ``Retry-After`` when it has one; never more than
    `max_delay`.
    """
    asked = None if response is None else retry_after(response)
    delay = backoff * 2.0 ** min(attempt, 32) if asked is None else asked
    return min(delay, max_delay)


def unreachable(
    method: str, path: str, attempts: int, exc: Exception, sent_id: str | None
) -> LearnsegError:
    """The error after `attempts` calls that got no answer at all."""
    return LearnsegError(
        None,
        f"No answer from the service to {method} {path} after {attempts} attempt(s) "
        f"({type(exc).__name__}: {exc}).",
        sent_id,
    )
