"""The sync and async clients: one learner, batch runs that stream, pin and resume, profiles.

See the package's documentation (``help(learnseg_client)``) for retries, errors, request ids,
versions and batch runs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from types import TracebackType
from typing import Any, Literal, Self, overload

import httpx

from learnseg_client._http import (
    RETRY_STATUS,
    RETRYABLE_ERRORS,
    USER_AGENT,
    parse,
    retry_delay,
    unreachable,
)
from learnseg_client._runs import RunState, achunks, chunks, encode, validation_context
from learnseg_client.errors import LearnsegError
from learnseg_client.schemas import (
    Assignment,
    BatchChunk,
    CompactAssignment,
    Explanation,
    ItemError,
    ModelInfo,
    Result,
    SegmentSummary,
)

__all__ = ["AsyncLearners", "AsyncLearnsegClient", "Learners", "LearnsegClient", "Level"]

Level = Literal["segment", "coarse"]
#: What a batch run takes: any iterable of learner mappings (read lazily, one chunk at a time).
Learners = Iterable[Mapping[str, Any]]
#: What an async batch run takes: a sync or an async iterable of learner mappings.
AsyncLearners = Learners | AsyncIterable[Mapping[str, Any]]
_DEFAULT_MAX_BATCH = 10_000  # the service's default, for a service that does not say
#: Learners per request of a batch run, unless the service's max_batch is smaller: as fast as
#: 10,000 and about a third of the client's memory (docs/benchmarks.md, "The client's runs").
DEFAULT_CHUNK = 2_000
_JSON = {"Content-Type": "application/json"}


def _max_batch(body: Any) -> int:
    limits = body.get("limits") or {}
    return int(limits.get("max_batch") or _DEFAULT_MAX_BATCH)


def _segment_list(body: Any) -> list[SegmentSummary]:
    return [SegmentSummary.model_validate(s) for s in body["segments"]]


def _model_info(body: Any) -> ModelInfo:
    return ModelInfo.model_validate(body)


def _profile(body: Any) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    return dict(body)


def _assignment(learner: Mapping[str, Any]) -> Callable[[Any], Assignment]:
    context = validation_context(0, [learner])
    return lambda body: Assignment.model_validate(body, context=context)


def _explanation(learner: Mapping[str, Any]) -> Callable[[Any], Explanation]:
    context = validation_context(0, [learner])
    return lambda body: Explanation.model_validate(body, context=context)


class _Base:
    """What the sync and async clients share: settings, request arguments, run set-up."""

    def __init__(
        self,
        *,
        api_key: str | None,
        retries: int,
        backoff: float,
        max_delay: float,
        version: str | None,
        pin_retries: int,
    ) -> None:
        if retries < 0 or pin_retries < 0:
            raise ValueError("retries and pin_retries must be 0 or more.")
        if backoff < 0 or max_delay < 0:
            raise ValueError("backoff and max_delay must be 0 or more.")
        self.retries = retries
        self.pin_retries = pin_retries
        self.backoff = backoff
        self.max_delay = max_delay
        self.version = version
        self._headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        self._max_batch: int | None = None  # read from GET /model by the first batch run
        if api_key is not None:
            self._headers["X-API-Key"] = api_key

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        return retry_delay(attempt, response, backoff=self.backoff, max_delay=self.max_delay)

    def _call_options(
        self,
        timeout: float | None,
        headers: Mapping[str, str] | None,
        request_id: str | None,
        version: str | None,
        params: Mapping[str, Any] | None,
        unpinned: bool = False,
    ) -> dict[str, Any]:
        """httpx arguments of one call: its timeout, headers, request id and pinned version
        (none for an `unpinned` call)."""
        sent = {**(headers or {}), "X-Request-ID": request_id or uuid.uuid4().hex}
        options: dict[str, Any] = {"headers": sent}
        if timeout is not None:
            options["timeout"] = timeout
        pinned = None if unpinned else version if version is not None else self.version
        query = {**(params or {}), **({"version": pinned} if pinned is not None else {})}
        if query:
            options["params"] = query
        return options

    def _start_run(
        self, start: int, version: str | None, compact: bool, chunk_size: int | None
    ) -> RunState:
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be 1 or more.")
        pinned = version if version is not None else self.version
        return RunState(start=start, version=pinned, compact=compact)

    @staticmethod
    def _chunk_call(call: Mapping[str, Any], offset: int, run: RunState) -> dict[str, Any]:
        """A chunk's own call options: the run's version and query, a request id per chunk."""
        options = {k: v for k, v in call.items() if k not in ("version", "request_id")}
        mine = call.get("request_id")
        options["request_id"] = f"{mine}-{offset}" if mine else None
        return {**options, "version": run.version, "params": run.params()}

    def _limit(self, chunk_size: int | None) -> int:
        assert self._max_batch is not None
        return min(DEFAULT_CHUNK if chunk_size is None else chunk_size, self._max_batch)

    def _retry_pin(self, run: RunState, response: httpx.Response, attempt: int) -> bool:
        """Whether a chunk's answer is a 409 to a pinned version that is worth sending again."""
        return (
            response.status_code == 409 and run.version is not None and attempt < self.pin_retries
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
    retries : int, default=8
        How many times a request is sent again after a connection error or a 503. With the
        default waits (0.25, 0.5, 1, 2, 4, 8, 8, 8 s: about 32 s in all) a call outlives a
        service restart (a few seconds to start, plus the model's load).
    backoff : float, default=0.25
        First wait in seconds; each later wait doubles.
    max_delay : float, default=8.0
        Cap on any wait, computed or asked for by ``Retry-After``.
    transport : httpx.BaseTransport or None, default=None
        For tests (`httpx.MockTransport`) or a custom connection pool.
    version : str or None, default=None
        Pin every call to this model version (a call's own ``version=`` wins).
    pin_retries : int, default=5
        How many times a batch run sends a chunk again after a 409 for its pinned version
        (another replica may hold it, or the service may load it), with the same waits as
        `retries` (0.25 + 0.5 + 1 + 2 + 4 s by default, about one rollout's polling).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 8,
        backoff: float = 0.25,
        *,
        max_delay: float = 8.0,
        transport: httpx.BaseTransport | None = None,
        version: str | None = None,
        pin_retries: int = 5,
    ) -> None:
        super().__init__(
            api_key=api_key,
            retries=retries,
            backoff=backoff,
            max_delay=max_delay,
            version=version,
            pin_retries=pin_retries,
        )
        self._sleep: Callable[[float], None] = time.sleep
        self._own_transport = transport is None
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
        (answer with this model version; `VersionNotLoadedError` at once when the service does
        not hold it).
        """
        response = self._request("POST", "/v1/segment", body=encode(learner), **call)
        return parse(response, _assignment(learner))

    def explain(self, learner: Mapping[str, Any], **call: Any) -> Explanation:
        """Place one learner as `segment` does, and say why, what would move them and where
        their career leads (``POST /segment/explain``; the same body and keyword arguments).

        Replay a what-if with ``client.segment({**learner, **w.request_change.as_body()})``.
        """
        response = self._request("POST", "/v1/segment/explain", body=encode(learner), **call)
        return parse(response, _explanation(learner))

    @overload
    def segment_batch(
        self,
        learners: Learners,
        *,
        compact: Literal[False] = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[Assignment | ItemError]: ...
    @overload
    def segment_batch(
        self,
        learners: Learners,
        *,
        compact: Literal[True],
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[CompactAssignment | ItemError]: ...
    def segment_batch(
        self,
        learners: Learners,
        *,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[Any]:
        """Place any number of learners on one model version, in order, and return them all.

        A batch run (`segment_stream`) collected into a list; an item that cannot be placed
        comes back as an `ItemError` with its index in `learners`. For long runs use
        `segment_stream`: it holds one chunk at a time, and a failed run resumes.
        """
        run = self._start_run(0, call.pop("version", None), compact, chunk_size)
        return list(self._results(self._run_chunks(learners, run, chunk_size, call)))

    @overload
    def segment_stream(
        self,
        learners: Learners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: Literal[False] = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> Iterator[Assignment | ItemError]: ...
    @overload
    def segment_stream(
        self,
        learners: Learners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: Literal[True],
        chunk_size: int | None = None,
        **call: Any,
    ) -> Iterator[CompactAssignment | ItemError]: ...
    def segment_stream(
        self,
        learners: Learners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> Iterator[Any]:
        """Yield one result per learner, in input order, chunk by chunk, on one model version.

        A chunk's results are yielded once its whole answer is in. An error stops the run with
        the `LearnsegError` of the chunk that failed, whose ``checkpoint`` says where to resume.
        The run is pinned to one version: a 409 for it is sent again up to ``pin_retries`` times
        on a new connection, then raised (`VersionNotLoadedError`, before any result when the
        version is missing from the start).

        Parameters
        ----------
        learners : iterable of mappings
            Any iterable (a list, a generator reading a file, ...), read lazily: one chunk at a
            time is held, never the whole run.
        start : int, default=0
            Skip the first `start` learners (done by an earlier run): resume with
            ``start=checkpoint.next_index``. Results are numbered from `start`.
        version : str or None, default=None
            The model version of the whole run; None = the client's ``version``, else the
            version that answers the first chunk. Resume with ``version=checkpoint.version``.
        compact : bool, default=False
            Ask for compact answers (`CompactAssignment`: no distances, features or warnings).
        chunk_size : int or None, default=None
            Learners per request; None = 2,000; never more than the service's ``max_batch``.
        **call
            ``timeout`` and ``headers`` of every request; ``request_id``: each chunk is sent
            as ``<request_id>-<start of the chunk>``.
        """
        run = self._start_run(start, version, compact, chunk_size)
        return self._results(self._run_chunks(learners, run, chunk_size, call))

    def segment_chunks(
        self,
        learners: Learners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> Iterator[BatchChunk]:
        """Yield each chunk's `BatchChunk` (its results and the `Checkpoint` after it): a run of
        `segment_stream` (the same parameters) for a caller that stores chunk by chunk."""
        run = self._start_run(start, version, compact, chunk_size)
        return self._run_chunks(learners, run, chunk_size, call)

    def segments(self, level: Level = "segment", **call: Any) -> list[SegmentSummary]:
        """Profiles of all segments (``level="coarse"`` for the coarse ones)."""
        response = self._request("GET", "/v1/segments", params={"level": level}, **call)
        return parse(response, _segment_list)

    def segment_profile(
        self, segment_id: int, level: Level = "segment", **call: Any
    ) -> dict[str, Any]:
        """The profile of one segment."""
        response = self._request(
            "GET", f"/v1/segments/{int(segment_id)}", params={"level": level}, **call
        )
        return parse(response, _profile)

    def model(self, **call: Any) -> ModelInfo:
        """The model being served: version, k, features, metrics, limits (``GET /model``)."""
        return parse(self._request("GET", "/v1/model", **call), _model_info)

    @staticmethod
    def _results(run: Iterator[BatchChunk]) -> Iterator[Result]:
        for chunk in run:
            results = chunk.results
            del chunk
            yield from results
            del results  # before the next chunk is read: one chunk held, not two

    def _run_chunks(
        self, learners: Learners, run: RunState, chunk_size: int | None, call: Mapping[str, Any]
    ) -> Iterator[BatchChunk]:
        def size() -> int:
            if self._max_batch is None:
                options = {k: call[k] for k in ("timeout", "headers") if k in call}
                try:
                    response = self._request("GET", "/v1/model", unpinned=True, **options)
                    self._max_batch = parse(response, _max_batch)
                except LearnsegError as exc:
                    raise run.stopped(exc) from exc.__cause__
            return self._limit(chunk_size)

        own: list[httpx.Client] = []  # the run's own connection after a 409 (_reconnect)
        try:
            for offset, sent in chunks(learners, run.next_index, size):
                answered = self._send_chunk(run, own, offset, sent, call)
                del sent  # the learners sent are not held while the caller reads the results
                yield answered
                del answered
        finally:
            for http in own:
                http.close()

    def _send_chunk(
        self,
        run: RunState,
        own: list[httpx.Client],
        offset: int,
        sent: list[dict[str, Any]],
        call: Mapping[str, Any],
    ) -> BatchChunk:
        body = encode({"learners": sent}, offset)
        for attempt in range(self.pin_retries + 1):
            try:
                response = self._request(
                    "POST",
                    "/v1/segment/batch",
                    body=body,
                    http=own[-1] if own else None,
                    **self._chunk_call(call, offset, run),
                )
            except LearnsegError as exc:
                raise run.stopped(exc) from exc.__cause__
            if not self._retry_pin(run, response, attempt):
                break
            self._sleep(self._delay(attempt, response))
            self._reconnect(own)
        return run.accept(offset, sent, response)

    def _reconnect(self, own: list[httpx.Client]) -> None:
        """Give a run a connection of its own, new (a load balancer may send it to another
        replica, which may hold the run's version), kept for the rest of the run; a transport
        given to the client is used as it is."""
        if not self._own_transport:
            return
        for http in own:
            http.close()
        own[:] = [
            httpx.Client(
                base_url=self._http.base_url, headers=self._http.headers, timeout=self._http.timeout
            )
        ]

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
        body: bytes | None = None,
        http: httpx.Client | None = None,
        unpinned: bool = False,
    ) -> httpx.Response:
        if body is not None:
            headers = {**(headers or {}), **_JSON}
        options = self._call_options(timeout, headers, request_id, version, params, unpinned)
        sent_id = options["headers"]["X-Request-ID"]
        pool = http or self._http
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = pool.request(method, path, content=body, **options)
            except httpx.TransportError as exc:
                if last or not isinstance(exc, RETRYABLE_ERRORS):
                    raise unreachable(method, path, attempt + 1, exc, sent_id) from exc
                self._sleep(self._delay(attempt, None))
                continue
            if response.status_code != RETRY_STATUS or last:
                return response
            self._sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises


class AsyncLearnsegClient(_Base):
    """Asynchronous client (wraps `httpx.AsyncClient`); ``async with`` it or await `aclose`.

    Takes the same parameters as `LearnsegClient`, with an `httpx.AsyncBaseTransport` (for
    example `httpx.ASGITransport(app)` or `httpx.MockTransport`) as `transport`. Its batch runs
    also take an async iterable of learners.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 10.0,
        retries: int = 8,
        backoff: float = 0.25,
        *,
        max_delay: float = 8.0,
        transport: httpx.AsyncBaseTransport | None = None,
        version: str | None = None,
        pin_retries: int = 5,
    ) -> None:
        super().__init__(
            api_key=api_key,
            retries=retries,
            backoff=backoff,
            max_delay=max_delay,
            version=version,
            pin_retries=pin_retries,
        )
        self._sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep
        self._own_transport = transport is None
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
        response = await self._request("POST", "/v1/segment", body=encode(learner), **call)
        return parse(response, _assignment(learner))

    async def explain(self, learner: Mapping[str, Any], **call: Any) -> Explanation:
        """Place and explain one learner; see `LearnsegClient.explain`."""
        response = await self._request("POST", "/v1/segment/explain", body=encode(learner), **call)
        return parse(response, _explanation(learner))

    @overload
    async def segment_batch(
        self,
        learners: AsyncLearners,
        *,
        compact: Literal[False] = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[Assignment | ItemError]: ...
    @overload
    async def segment_batch(
        self,
        learners: AsyncLearners,
        *,
        compact: Literal[True],
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[CompactAssignment | ItemError]: ...
    async def segment_batch(
        self,
        learners: AsyncLearners,
        *,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> list[Any]:
        """Place any number of learners on one model version, in order; see
        `LearnsegClient.segment_batch`."""
        run = self._start_run(0, call.pop("version", None), compact, chunk_size)
        return [r async for r in self._results(self._run_chunks(learners, run, chunk_size, call))]

    @overload
    def segment_stream(
        self,
        learners: AsyncLearners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: Literal[False] = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> AsyncIterator[Assignment | ItemError]: ...
    @overload
    def segment_stream(
        self,
        learners: AsyncLearners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: Literal[True],
        chunk_size: int | None = None,
        **call: Any,
    ) -> AsyncIterator[CompactAssignment | ItemError]: ...
    def segment_stream(
        self,
        learners: AsyncLearners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> AsyncIterator[Any]:
        """Yield one result per learner, in input order, chunk by chunk, on one model version;
        see `LearnsegClient.segment_stream` (``async for``)."""
        run = self._start_run(start, version, compact, chunk_size)
        return self._results(self._run_chunks(learners, run, chunk_size, call))

    def segment_chunks(
        self,
        learners: AsyncLearners,
        *,
        start: int = 0,
        version: str | None = None,
        compact: bool = False,
        chunk_size: int | None = None,
        **call: Any,
    ) -> AsyncIterator[BatchChunk]:
        """Yield each chunk's `BatchChunk`; see `LearnsegClient.segment_chunks`."""
        run = self._start_run(start, version, compact, chunk_size)
        return self._run_chunks(learners, run, chunk_size, call)

    async def segments(self, level: Level = "segment", **call: Any) -> list[SegmentSummary]:
        """Profiles of all segments (``level="coarse"`` for the coarse ones)."""
        response = await self._request("GET", "/v1/segments", params={"level": level}, **call)
        return parse(response, _segment_list)

    async def segment_profile(
        self, segment_id: int, level: Level = "segment", **call: Any
    ) -> dict[str, Any]:
        """The profile of one segment."""
        response = await self._request(
            "GET", f"/v1/segments/{int(segment_id)}", params={"level": level}, **call
        )
        return parse(response, _profile)

    async def model(self, **call: Any) -> ModelInfo:
        """The model being served: version, k, features, metrics, limits (``GET /model``)."""
        return parse(await self._request("GET", "/v1/model", **call), _model_info)

    @staticmethod
    async def _results(run: AsyncIterator[BatchChunk]) -> AsyncIterator[Result]:
        async for chunk in run:
            results = chunk.results
            del chunk
            for result in results:
                yield result
            del results  # before the next chunk is read: one chunk held, not two

    async def _run_chunks(
        self,
        learners: AsyncLearners,
        run: RunState,
        chunk_size: int | None,
        call: Mapping[str, Any],
    ) -> AsyncIterator[BatchChunk]:
        async def size() -> int:
            if self._max_batch is None:
                options = {k: call[k] for k in ("timeout", "headers") if k in call}
                try:
                    response = await self._request("GET", "/v1/model", unpinned=True, **options)
                    self._max_batch = parse(response, _max_batch)
                except LearnsegError as exc:
                    raise run.stopped(exc) from exc.__cause__
            return self._limit(chunk_size)

        own: list[httpx.AsyncClient] = []  # the run's own connection after a 409 (_reconnect)
        try:
            async for offset, sent in achunks(learners, run.next_index, size):
                answered = await self._send_chunk(run, own, offset, sent, call)
                del sent  # the learners sent are not held while the caller reads the results
                yield answered
                del answered
        finally:
            for http in own:
                await http.aclose()

    async def _send_chunk(
        self,
        run: RunState,
        own: list[httpx.AsyncClient],
        offset: int,
        sent: list[dict[str, Any]],
        call: Mapping[str, Any],
    ) -> BatchChunk:
        body = encode({"learners": sent}, offset)
        for attempt in range(self.pin_retries + 1):
            try:
                response = await self._request(
                    "POST",
                    "/v1/segment/batch",
                    body=body,
                    http=own[-1] if own else None,
                    **self._chunk_call(call, offset, run),
                )
            except LearnsegError as exc:
                raise run.stopped(exc) from exc.__cause__
            if not self._retry_pin(run, response, attempt):
                break
            await self._sleep(self._delay(attempt, response))
            await self._reconnect(own)
        return run.accept(offset, sent, response)

    async def _reconnect(self, own: list[httpx.AsyncClient]) -> None:
        """Give a run a new connection of its own; see `LearnsegClient._reconnect`."""
        if not self._own_transport:
            return
        for http in own:
            await http.aclose()
        own[:] = [
            httpx.AsyncClient(
                base_url=self._http.base_url, headers=self._http.headers, timeout=self._http.timeout
            )
        ]

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
        body: bytes | None = None,
        http: httpx.AsyncClient | None = None,
        unpinned: bool = False,
    ) -> httpx.Response:
        if body is not None:
            headers = {**(headers or {}), **_JSON}
        options = self._call_options(timeout, headers, request_id, version, params, unpinned)
        sent_id = options["headers"]["X-Request-ID"]
        pool = http or self._http
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = await pool.request(method, path, content=body, **options)
            except httpx.TransportError as exc:
                if last or not isinstance(exc, RETRYABLE_ERRORS):
                    raise unreachable(method, path, attempt + 1, exc, sent_id) from exc
                await self._sleep(self._delay(attempt, None))
                continue
            if response.status_code != RETRY_STATUS or last:
                return response
            await self._sleep(self._delay(attempt, response))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns or raises
