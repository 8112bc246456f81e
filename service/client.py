"""Typed HTTP clients for the learnseg service, for LMS backends: sync and async.

Only httpx and the standard library are imported (no pandas, no scikit-learn), so an LMS backend
can use this module without the training stack::

    from service.client import LearnsegClient

    with LearnsegClient("http://learnseg:8000", api_key="k1") as client:
        got = client.segment({"ctc": 1_200_000, "orgyear": 2016, "job_position": "backend"})
        print(got.segment_name, got.track, got.course_name, got.margin)

Retries: a request is sent again only when it never got an HTTP answer (the connection was
refused, timed out while connecting, or was dropped before a response) or when the service
answered 503 (loading or reloading a model). Every endpoint is a pure computation, so sending a
request twice is safe. Waits grow exponentially from ``backoff`` and are capped at ``max_delay``;
a 503's ``Retry-After`` header, when present, is honoured instead (capped too). A 4xx is never
retried: the same request would fail the same way.

Errors: any non-2xx answer raises a `LearnsegError` subclass by status: `UnauthorizedError` 401,
`ForbiddenError` 403, `NotFoundError` 404, `ConflictError` 409 (`VersionNotLoadedError` for a
pinned call whose version the service does not hold), `TooLargeError` 413,
`InvalidRequestError` 400 and 422 (with the offending ``fields``), `NotReadyError` 503. Each
carries the status code, the server's ``detail`` (a sentence, or FastAPI's list of field errors
for a 422) and the ``request_id``. No answer at all (a connection error after the retries, or a
read timeout, which is not retried: the service may be busy with that very request) raises
`LearnsegError` with ``status_code=None``; the httpx
exception is its ``__cause__``.

Request ids: every call sends an ``X-Request-ID`` (a new one per call, or the ``request_id`` you
pass, e.g. your own trace id); the service logs it and echoes it, and every error keeps it, so a
failed call can be found in the service's logs. Each call also takes its own ``timeout`` and extra
``headers``.

Versions: every call answers with the model version it used (``model_version``). Pin one with
``version=`` on a call, or for every call with ``LearnsegClient(..., version="20261204-101500")``:
the service keeps the last few versions loaded, so a long run started on a version ends on it
even when the service switches to a new model in between.

Batches: `segment_batch` takes any number of learners. It reads the service's ``max_batch`` from
``GET /model`` once, sends the learners in chunks of that size, and returns one result per
learner in input order (an `ItemError`'s ``index`` is the learner's position in your list).
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx

__all__ = [
    "RETRYABLE_ERRORS",
    "Assignment",
    "AsyncLearnsegClient",
    "ConflictError",
    "ForbiddenError",
    "InvalidRequestError",
    "ItemError",
    "LearnsegClient",
    "LearnsegError",
    "Level",
    "NotFoundError",
    "NotReadyError",
    "RunnerUp",
    "TooLargeError",
    "UnauthorizedError",
    "VersionNotLoadedError",
]

Level = Literal["segment", "coarse"]
T = TypeVar("T")

#: Transport errors after which no response was received, so sending again is safe and useful.
RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.RemoteProtocolError,
    httpx.ReadError,
)
_RETRY_STATUS = 503
_USER_AGENT = "learnseg-client/0.1"
_DEFAULT_MAX_BATCH = 10_000  # the service's default, for a service that does not say


class LearnsegError(Exception):
    """The service answered with an error, or could not be reached.

    Attributes
    ----------
    status_code : int or None
        The HTTP status, or None when no answer was received (after the retries).
    detail : str or list
        The server's ``detail``: one sentence, or FastAPI's list of field errors for a 422.
    request_id : str or None
        The ``X-Request-ID`` of the failed call (the service's echo, else the one sent).
    """

    def __init__(
        self, status_code: int | None, detail: str | list[Any], request_id: str | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id
        text = _detail_text(detail)
        where = f" (request {request_id})" if request_id else ""
        super().__init__(
            f"{text}{where}" if status_code is None else f"{status_code}: {text}{where}"
        )


class UnauthorizedError(LearnsegError):
    """401: no key, or a key the service does not know."""


class ForbiddenError(LearnsegError):
    """403: the key may not do this (reloading needs an admin key), or reloading is off."""


class NotFoundError(LearnsegError):
    """404: no such segment (the detail lists the valid ids) or route."""


class ConflictError(LearnsegError):
    """409: a reload failed (the old model keeps serving), or a version is not loaded."""


class VersionNotLoadedError(ConflictError):
    """409 to a pinned call: the service does not hold that version (the detail lists the
    loaded ones)."""


class TooLargeError(LearnsegError):
    """413: the body or the batch is over the service's limit."""


class InvalidRequestError(LearnsegError):
    """400 or 422: the request is malformed; ``fields`` names what was wrong (may be empty)."""

    @property
    def fields(self) -> list[str]:
        """Dotted locations of the invalid fields (``learners.3.ctc``), for a 422."""
        if not isinstance(self.detail, list):
            return []
        return [
            ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            for item in self.detail
            if isinstance(item, Mapping)
        ]


class NotReadyError(LearnsegError):
    """503: no verified model is loaded yet (after the retries); the detail says why."""


_ERRORS: dict[int, type[LearnsegError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: TooLargeError,
    422: InvalidRequestError,
    503: NotReadyError,
}


@dataclass(frozen=True, slots=True)
class RunnerUp:
    """The second-nearest segment."""

    segment_id: int
    distance: float


@dataclass(frozen=True, slots=True)
class Assignment:
    """One learner's segment, track and course, how clear-cut it is, and what was cleaned on
    the way.

    ``track`` is the track of the learner's job title (``"unknown"`` without one, never
    guessed); ``course`` and ``course_name`` the catalogue course of its cohort (segment x
    track).
    """

    segment_id: int
    segment_name: str
    coarse_segment_id: int
    track: str
    course: str
    course_name: str
    distance: float
    runner_up: RunnerUp | None
    margin: float | None
    relative_margin: float | None
    confidence: str
    features: dict[str, float]
    warnings: list[str]
    model_version: str
    email_hash: str | None = None  # echoed by a batch when the learner sent one

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Assignment:
        """Build from the service's JSON object (KeyError, TypeError or ValueError if not one)."""
        runner = data["runner_up"]
        margin = data["margin"]
        relative = data["relative_margin"]
        return cls(
            segment_id=int(data["segment_id"]),
            segment_name=str(data["segment_name"]),
            coarse_segment_id=int(data["coarse_segment_id"]),
            track=str(data["track"]),
            course=str(data["course"]),
            course_name=str(data["course_name"]),
            distance=float(data["distance"]),
            runner_up=None
            if runner is None
            else RunnerUp(segment_id=int(runner["segment_id"]), distance=float(runner["distance"])),
            margin=None if margin is None else float(margin),
            relative_margin=None if relative is None else float(relative),
            confidence=str(data["confidence"]),
            features={str(k): float(v) for k, v in data["features"].items()},
            warnings=[str(w) for w in data["warnings"]],
            model_version=str(data["model_version"]),
            email_hash=None if data.get("email_hash") is None else str(data["email_hash"]),
        )


@dataclass(frozen=True, slots=True)
class ItemError:
    """A batch item the service could not place; `index` is its position in the request."""

    index: int
    error: str
    email_hash: str | None = None  # echoed when the item carried one


def _detail_text(detail: str | list[Any]) -> str:
    """One line from a detail: the sentence itself, or 'field: message; ...' for a 422 list."""
    if isinstance(detail, str):
        return detail
    parts = []
    for item in detail:
        if isinstance(item, Mapping):
            loc = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
            msg = str(item.get("msg", item))
            parts.append(f"{loc}: {msg}" if loc else msg)
        else:
            parts.append(str(item))
    return "; ".join(parts)


def _request_id(response: httpx.Response) -> str | None:
    echoed = response.headers.get("X-Request-ID") or response.request.headers.get("X-Request-ID")
    return str(echoed) if echoed else None


def _error_from(response: httpx.Response) -> LearnsegError:
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
    kind = _ERRORS.get(response.status_code, LearnsegError)
    if kind is ConflictError and response.request.url.params.get("version") is not None:
        kind = VersionNotLoadedError
    return kind(response.status_code, detail, _request_id(response))


def _json_of(response: httpx.Response) -> Any:
    """The JSON body of a response, or `LearnsegError` for an error status or a non-JSON body."""
    if not response.is_success:
        raise _error_from(response)
    try:
        return response.json()
    except ValueError as exc:
        raise LearnsegError(
            response.status_code, "The service sent a body that is not JSON.", _request_id(response)
        ) from exc


def _parse(response: httpx.Response, build: Callable[[Any], T]) -> T:
    """Apply `build` to the JSON body; a body of the wrong shape becomes a `LearnsegError`."""
    body = _json_of(response)
    try:
        return build(body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LearnsegError(
            response.status_code,
            f"Unexpected response from the service: {exc!r}.",
            _request_id(response),
        ) from exc


def _batch_results(body: Any, offset: int = 0) -> list[Assignment | ItemError]:
    out: list[Assignment | ItemError] = []
    for item in body["results"]:
        if "error" in item:
            echoed = item.get("email_hash")
            out.append(
                ItemError(
                    index=offset + int(item["index"]),
                    error=str(item["error"]),
                    email_hash=None if echoed is None else str(echoed),
                )
            )
        else:
            out.append(Assignment.from_dict(item))
    return out


def _chunks(
    learners: Sequence[Mapping[str, Any]], size: int
) -> list[tuple[int, list[dict[str, Any]]]]:
    """(offset, learners) of each request a batch is split into, in order."""
    return [
        (start, [dict(learner) for learner in learners[start : start + size]])
        for start in range(0, len(learners), size)
    ]


def _max_batch(body: Any) -> int:
    limits = body.get("limits") or {}
    return int(limits.get("max_batch") or _DEFAULT_MAX_BATCH)


def _segment_list(body: Any) -> list[dict[str, Any]]:
    return [_profile(s) for s in body["segments"]]


def _profile(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    return dict(body)


def _retry_after(response: httpx.Response) -> float | None:
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


def _retry_delay(
    attempt: int, response: httpx.Response | None, *, backoff: float, max_delay: float
) -> float:
    """Seconds to wait before retry number `attempt` (0-based).

    ``backoff * 2**attempt``, or the response's ``Retry-After`` when it has one; never more than
    `max_delay`.
    """
    asked = None if response is None else _retry_after(response)
    delay = backoff * 2.0 ** min(attempt, 32) if asked is None else asked
    return min(delay, max_delay)


class _Base:
    """What the sync and async clients share: settings, request arguments, response parsing."""

    def __init__(
        self,
        *,
        api_key: str | None,
        retries: int,
        backoff: float,
        max_delay: float,
        version: str | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more.")
        if backoff < 0 or max_delay < 0:
            raise ValueError("backoff and max_delay must be 0 or more.")
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        self.version = version
        self._headers = {"User-Agent": _USER_AGENT, "Accept": "application/json"}
        self._max_batch: int | None = None  # read from GET /model by the first split batch
        if api_key is not None:
            self._headers["X-API-Key"] = api_key

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        return _retry_delay(attempt, response, backoff=self.backoff, max_delay=self.max_delay)

    def _call_options(
        self,
        timeout: float | None,
        headers: Mapping[str, str] | None,
        request_id: str | None,
        version: str | None,
        params: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """httpx arguments of one call: its timeout, headers, request id and pinned version."""
        sent = {**(headers or {}), "X-Request-ID": request_id or uuid.uuid4().hex}
        options: dict[str, Any] = {"headers": sent}
        if timeout is not None:
            options["timeout"] = timeout
        pinned = version if version is not None else self.version
        query = {**(params or {}), **({"version": pinned} if pinned is not None else {})}
        if query:
            options["params"] = query
        return options

    @staticmethod
    def _unreachable(
        method: str, path: str, attempts: int, exc: Exception, request_id: str | None
    ) -> LearnsegError:
        return LearnsegError(
            None,
            f"No answer from the service to {method} {path} after {attempts} attempt(s) "
            f"({type(exc).__name__}: {exc}).",
            request_id,
        )


class LearnsegClient(_Base):
    """Blocking client (wraps `httpx.Client`); use it as a context manager or call `close`.

    Parameters
    ----------
    base_url : str
        Where the service is, e.g. ``"http://learnseg:8000"``.
    api_key : str or None, default=None
        Sent as the ``X-API-Key`` header.
    timeout : float, default=10.0
        Seconds for each of connect, read, write and pool.
    retries : int, default=3
        How many times a request is sent again after a connection error or a 503.
    backoff : float, default=0.2
        First wait in seconds; each later wait doubles.
    max_delay : float, default=5.0
        Cap on any wait, computed or asked for by ``Retry-After``.
    transport : httpx.BaseTransport or None, default=None
        For tests (`httpx.MockTransport`) or a custom connection pool.
    version : str or None, default=None
        Pin every call to this model version (a call's own ``version=`` wins).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        *,
        max_delay: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        version: str | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, retries=retries, backoff=backoff, max_delay=max_delay, version=version
        )
        self._sleep: Callable[[float], None] = time.sleep
        self._http = httpx.Client(
            base_url=base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def segment(self, learner: Mapping[str, Any], **call: Any) -> Assignment:
        """Place one learner (only ``ctc`` is required).

        Every method takes the keyword arguments ``timeout`` (seconds, this call only),
        ``headers`` (extra headers), ``request_id`` (sent as ``X-Request-ID``) and ``version``
        (answer with this model version; `VersionNotLoadedError` when the service does not hold
        it).
        """
        response = self._request("POST", "/v1/segment", json=dict(learner), **call)
        return _parse(response, Assignment.from_dict)

    def segment_batch(
        self, learners: Sequence[Mapping[str, Any]], **call: Any
    ) -> list[Assignment | ItemError]:
        """Place any number of learners, in chunks of the service's ``max_batch``, in order; an
        item that cannot be placed comes back as an `ItemError` with its index in `learners`."""
        if not learners:
            return []
        size = self._batch_size(**call)
        out: list[Assignment | ItemError] = []
        for offset, chunk in _chunks(learners, size):
            response = self._request("POST", "/v1/segment/batch", json={"learners": chunk}, **call)
            out.extend(_parse(response, functools.partial(_batch_results, offset=offset)))
        return out

    def segments(self, level: Level = "segment", **call: Any) -> list[dict[str, Any]]:
        """Profiles of all segments (``level="coarse"`` for the coarse ones)."""
        response = self._request("GET", "/v1/segments", params={"level": level}, **call)
        return _parse(response, _segment_list)

    def segment_profile(
        self, segment_id: int, level: Level = "segment", **call: Any
    ) -> dict[str, Any]:
        """The profile of one segment."""
        response = self._request(
            "GET", f"/v1/segments/{int(segment_id)}", params={"level": level}, **call
        )
        return _parse(response, _profile)

    def model(self, **call: Any) -> dict[str, Any]:
        """The model being served: version, k, features, metrics, limits (``GET /model``)."""
        return _parse(self._request("GET", "/v1/model", **call), _profile)

    def _batch_size(self, **call: Any) -> int:
        if self._max_batch is None:
            self._max_batch = _parse(self._request("GET", "/v1/model", **call), _max_batch)
        return self._max_batch

    def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        version: str | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        options = self._call_options(timeout, headers, request_id, version, params)
        sent_id = options["headers"]["X-Request-ID"]
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **options, **kwargs)
            except httpx.TransportError as exc:
                if last or not isinstance(exc, RETRYABLE_ERRORS):
                    raise self._unreachable(method, path, attempt + 1, exc, sent_id) from exc
                self._sleep(self._delay(attempt, None))
                continue
            if response.status_code != _RETRY_STATUS or last:
                return response
            self._sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


class AsyncLearnsegClient(_Base):
    """Asynchronous client (wraps `httpx.AsyncClient`); ``async with`` it or await `aclose`.

    Takes the same parameters as `LearnsegClient`, with an `httpx.AsyncBaseTransport` (for
    example `httpx.ASGITransport(app)` or `httpx.MockTransport`) as `transport`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
        *,
        max_delay: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        version: str | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key, retries=retries, backoff=backoff, max_delay=max_delay, version=version
        )
        self._sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=self._headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def segment(self, learner: Mapping[str, Any], **call: Any) -> Assignment:
        """Place one learner (only ``ctc`` is required); see `LearnsegClient.segment`."""
        response = await self._request("POST", "/v1/segment", json=dict(learner), **call)
        return _parse(response, Assignment.from_dict)

    async def segment_batch(
        self, learners: Sequence[Mapping[str, Any]], **call: Any
    ) -> list[Assignment | ItemError]:
        """Place any number of learners, in chunks of the service's ``max_batch``, in order."""
        if not learners:
            return []
        size = await self._batch_size(**call)
        out: list[Assignment | ItemError] = []
        for offset, chunk in _chunks(learners, size):
            response = await self._request(
                "POST", "/v1/segment/batch", json={"learners": chunk}, **call
            )
            out.extend(_parse(response, functools.partial(_batch_results, offset=offset)))
        return out

    async def segments(self, level: Level = "segment", **call: Any) -> list[dict[str, Any]]:
        """Profiles of all segments (``level="coarse"`` for the coarse ones)."""
        response = await self._request("GET", "/v1/segments", params={"level": level}, **call)
        return _parse(response, _segment_list)

    async def segment_profile(
        self, segment_id: int, level: Level = "segment", **call: Any
    ) -> dict[str, Any]:
        """The profile of one segment."""
        response = await self._request(
            "GET", f"/v1/segments/{int(segment_id)}", params={"level": level}, **call
        )
        return _parse(response, _profile)

    async def model(self, **call: Any) -> dict[str, Any]:
        """The model being served: version, k, features, metrics, limits (``GET /model``)."""
        return _parse(await self._request("GET", "/v1/model", **call), _profile)

    async def _batch_size(self, **call: Any) -> int:
        if self._max_batch is None:
            self._max_batch = _parse(await self._request("GET", "/v1/model", **call), _max_batch)
        return self._max_batch

    async def _request(
        self,
        method: str,
        path: str,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        request_id: str | None = None,
        version: str | None = None,
        params: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        options = self._call_options(timeout, headers, request_id, version, params)
        sent_id = options["headers"]["X-Request-ID"]
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = await self._http.request(method, path, **options, **kwargs)
            except httpx.TransportError as exc:
                if last or not isinstance(exc, RETRYABLE_ERRORS):
                    raise self._unreachable(method, path, attempt + 1, exc, sent_id) from exc
                await self._sleep(self._delay(attempt, None))
                continue
            if response.status_code != _RETRY_STATUS or last:
                return response
            await self._sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises
