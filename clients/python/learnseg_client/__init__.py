"""learnseg-client: typed HTTP clients (sync and async) of the learnseg service, for LMS backends.

Only httpx and pydantic are needed (no pandas, no scikit-learn, nothing of the service)::

    from learnseg_client import LearnsegClient

    with LearnsegClient("http://learnseg:8000", api_key="k1") as client:
        got = client.segment({"ctc": 1_200_000, "orgyear": 2016, "job_position": "backend"})
        print(got.segment_name, got.track, got.course_name, got.margin)
        why = client.explain({"ctc": 1_200_000, "orgyear": 2016})  # why, what-ifs, path
        print([(w.change, w.segment_name) for w in why.what_if if w.request_change])

Batch runs: `LearnsegClient.segment_stream` takes any iterable of learners (a list, or a generator
reading a file), sends it in chunks of 2,000 learners (``chunk_size``; never more than the service's
``max_batch``, read once from ``GET /model``) and yields one result per learner in input order,
chunk by chunk: the client holds one chunk, never the whole run. Every result of a run comes from
one model version: the one asked for (``version=``, or the client's ``version``), else the one that
answered the first chunk; every later chunk pins it with ``?version=``. A 409 for the pinned version
(a replica that does not hold it, a process that has not loaded it yet) is sent again on a new
connection, up to ``pin_retries`` times with the backoff below, before it is raised as
`VersionNotLoadedError`; a version missing from the start fails the run before any result. An error
that stops a run carries its `Checkpoint` (``exc.checkpoint``: the next learner's position and the
pinned version); resume with ``segment_stream(learners, start=cp.next_index, version=cp.version)``:
no learner is lost or placed twice. `LearnsegClient.segment_chunks` yields the same run chunk by
chunk (`BatchChunk`, with its checkpoint) for a caller that stores chunk by chunk, and
`LearnsegClient.segment_batch` collects a run into a list. ``compact=True`` asks for compact answers
(`CompactAssignment`). An item that cannot be placed comes back as an `ItemError` with its position.
A learner's ``learner_id`` and ``email_hash`` are sent as given and come back on its result (echoed
by the service, or taken from the learner when the service does not).

Retries: a request is sent again only when it never got an HTTP answer (the connection was
refused, timed out while connecting, or was dropped before a response) or when the service
answered 503 (loading or reloading a model). Every endpoint is a pure computation, so sending a
request twice is safe. Waits grow exponentially from ``backoff`` and are capped at ``max_delay``;
a 503's ``Retry-After`` header, when present, is honoured instead (capped too). A 4xx is never
retried (but a batch run's pinned 409, above): the same request would fail the same way.

Errors: any non-2xx answer raises a `LearnsegError` subclass by status: `UnauthorizedError` 401,
`ForbiddenError` 403, `NotFoundError` 404, `ConflictError` 409 (`VersionNotLoadedError` for a
pinned call whose version the service does not hold), `TooLargeError` 413,
`InvalidRequestError` 400 and 422 (with the offending ``fields``), `NotReadyError` 503. Each
carries the status code, the server's ``detail`` and the ``request_id``. No answer at all (a
connection error after the retries, or a read timeout, which is not retried: the service may be
busy with that very request) raises `LearnsegError` with ``status_code=None``; the httpx
exception is its ``__cause__``.

Request ids: every call sends an ``X-Request-ID`` (a new one per call, or the ``request_id`` you
pass, e.g. your own trace id); the service logs it and echoes it, and every error keeps it, so a
failed call can be found in the service's logs. Each call also takes its own ``timeout`` and extra
``headers``.

Answers are pydantic models that keep any field a newer service adds (``model_extra``):
`Assignment`, `ItemError`, `ModelInfo` (``model()``), `SegmentSummary` (``segments()``).
"""

from __future__ import annotations

from learnseg_client._http import RETRYABLE_ERRORS, VERSION
from learnseg_client.client import (
    AsyncLearners,
    AsyncLearnsegClient,
    Learners,
    LearnsegClient,
    Level,
)
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
from learnseg_client.schemas import (
    Assignment,
    BatchChunk,
    Checkpoint,
    CompactAssignment,
    Explanation,
    ItemError,
    ModelInfo,
    PathStep,
    RequestChange,
    Resolution,
    Result,
    RunnerUp,
    SegmentSummary,
    WhatIf,
    WhyInput,
)

__version__ = VERSION

__all__ = [
    "RETRYABLE_ERRORS",
    "Assignment",
    "AsyncLearners",
    "AsyncLearnsegClient",
    "BatchChunk",
    "Checkpoint",
    "CompactAssignment",
    "ConflictError",
    "Explanation",
    "ForbiddenError",
    "InvalidRequestError",
    "ItemError",
    "Learners",
    "LearnsegClient",
    "LearnsegError",
    "Level",
    "ModelInfo",
    "NotFoundError",
    "NotReadyError",
    "PathStep",
    "RequestChange",
    "Resolution",
    "Result",
    "RunnerUp",
    "SegmentSummary",
    "TooLargeError",
    "UnauthorizedError",
    "VersionNotLoadedError",
    "WhatIf",
    "WhyInput",
    "__version__",
]
