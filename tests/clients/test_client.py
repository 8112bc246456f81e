"""learnseg_client on httpx.MockTransport: single calls, retries, typed errors, request ids.

Batch runs (streaming, pinning, resuming) are in test_runs.py; the real service in
tests/system/test_client_live.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from learnseg_client import (
    Assignment,
    AsyncLearnsegClient,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    ItemError,
    LearnsegClient,
    LearnsegError,
    ModelInfo,
    NotFoundError,
    NotReadyError,
    RunnerUp,
    SegmentSummary,
    TooLargeError,
    UnauthorizedError,
)
from learnseg_client._http import retry_delay

BASE = "http://learnseg.test"

ASSIGNMENT: dict[str, Any] = {
    "segment_id": 3,
    "segment_name": "Senior, well paid",
    "coarse_segment_id": 1,
    "track": "data",
    "course": "data-science-ml",
    "course_name": "Data science and machine learning",
    "distance": 0.75,
    "runner_up": {"segment_id": 5, "distance": 1.25},
    "margin": 0.5,
    "relative_margin": 0.3,
    "confidence": "high",
    "features": {"years_of_experience": 8.0, "log_ctc": 14.2},
    "warnings": ["job_position was missing; the company's median was used."],
    "model_version": "20261128-180000-1",
}


# --------------------------------------------------------------------------- mock transport
def _model_info() -> httpx.Response:
    return httpx.Response(200, json={"version": "v1", "limits": {"max_batch": 10_000}})


def _summary(segment_id: int, name: str = "Early-career builders") -> dict[str, Any]:
    """A segment of GET /v1/segments, with every field the server's schema requires."""
    band = {"p25": 1.0, "median": 2.0, "p75": 3.0}
    return {"id": segment_id, "name": name, "size": 120, "share": 0.1,
            "center": {"years_experience": 2.0}, "ctc_lpa": band, "years_experience": band,
            "recommendations": ["Offer the DSA track."]}  # fmt: skip


MODEL = {
    "version": "v7", "k": 6, "features": ["years_experience", "log_ctc"],
    "trained_at": "2026-01-02T03:04:05Z", "reference_year": 2026, "k_choice": {"k": 6},
    "data": {"name": "learners.csv", "fingerprint": "ab12"}, "metrics": {"silhouette": 0.3},
    "library_versions": {"numpy": "2.1"}, "pipeline_check": {"ok": True},
    "limits": {"max_batch": 500}, "drift_note": "a field this client does not know",
}  # fmt: skip


Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            if isinstance(answer, httpx.RequestError):
                answer.request = request
            raise answer
        return answer


def _detail(status: int, detail: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"detail": detail}, headers=headers)


def _sync(handler: Handler, **kwargs: Any) -> tuple[LearnsegClient, list[float]]:
    client = LearnsegClient(BASE, transport=httpx.MockTransport(handler), **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def _async(handler: Handler, **kwargs: Any) -> tuple[AsyncLearnsegClient, list[float]]:
    client = AsyncLearnsegClient(BASE, transport=httpx.MockTransport(handler), **kwargs)
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    client._sleep = record
    return client, sleeps


def test_segment_parses_the_assignment_and_sends_the_key() -> None:
    rec = Recorder(httpx.Response(200, json=ASSIGNMENT))
    client, _ = _sync(rec, api_key="k1")
    with client:
        got = client.segment({"ctc": 1_000_000, "orgyear": 2015})
    assert got == Assignment(
        segment_id=3,
        segment_name="Senior, well paid",
        coarse_segment_id=1,
        track="data",
        course="data-science-ml",
        course_name="Data science and machine learning",
        distance=0.75,
        runner_up=RunnerUp(segment_id=5, distance=1.25),
        margin=0.5,
        relative_margin=0.3,
        confidence="high",
        features={"years_of_experience": 8.0, "log_ctc": 14.2},
        warnings=["job_position was missing; the company's median was used."],
        model_version="20261128-180000-1",
    )
    (request,) = rec.requests
    assert request.method == "POST"
    assert request.url == f"{BASE}/v1/segment"
    assert request.headers["X-API-Key"] == "k1"
    assert json.loads(request.content) == {"ctc": 1_000_000, "orgyear": 2015}


def test_no_key_header_without_a_key_and_a_base_path_is_kept() -> None:
    rec = Recorder(
        httpx.Response(
            200, json={**ASSIGNMENT, "runner_up": None, "margin": None, "relative_margin": None}
        )
    )
    with LearnsegClient(f"{BASE}/learnseg/", transport=httpx.MockTransport(rec)) as client:
        got = client.segment({"ctc": 1})
    assert got.runner_up is None and got.margin is None
    assert "X-API-Key" not in rec.requests[0].headers
    assert rec.requests[0].url == f"{BASE}/learnseg/v1/segment"


def test_retries_a_503_then_succeeds_with_exponential_backoff() -> None:
    rec = Recorder(
        _detail(503, "The model is loading."),
        _detail(503, "The model is loading."),
        httpx.Response(200, json=ASSIGNMENT),
    )
    client, sleeps = _sync(rec, backoff=0.1)
    with client:
        assert client.segment({"ctc": 1}).segment_id == 3
    assert len(rec.requests) == 3
    assert sleeps == [0.1, 0.2]


def test_honours_retry_after_capped_by_max_delay() -> None:
    rec = Recorder(
        _detail(503, "Reloading.", **{"Retry-After": "2"}),
        _detail(503, "Reloading.", **{"Retry-After": "3600"}),
        httpx.Response(200, json=ASSIGNMENT),
    )
    client, sleeps = _sync(rec, max_delay=5.0)
    with client:
        client.segment({"ctc": 1})
    assert sleeps == [2.0, 5.0]


def test_retry_delay_caps_growth_and_reads_http_dates() -> None:
    assert [retry_delay(a, None, backoff=0.2, max_delay=1.0) for a in range(5)] == [
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert retry_delay(10_000, None, backoff=0.2, max_delay=1.0) == 1.0
    past = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_delay(0, past, backoff=0.2, max_delay=1.0) == 0.0
    junk = httpx.Response(503, headers={"Retry-After": "soon"})
    assert retry_delay(1, junk, backoff=0.2, max_delay=1.0) == 0.4


def test_503_after_the_last_retry_raises_with_the_detail() -> None:
    rec = Recorder(_detail(503, "The model is loading."))
    client, sleeps = _sync(rec, retries=2)
    with client, pytest.raises(LearnsegError) as info:
        client.segments()
    assert len(rec.requests) == 3
    assert len(sleeps) == 2
    assert info.value.status_code == 503
    assert info.value.detail == "The model is loading."


def test_retries_connection_errors_then_succeeds() -> None:
    rec = Recorder(
        httpx.ConnectError("Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectTimeout("timed out"),
        httpx.Response(200, json={"segments": [_summary(0), _summary(1)]}),
    )
    client, sleeps = _sync(rec, retries=3, backoff=0.05)
    with client:
        assert [s.id for s in client.segments()] == [0, 1]
    assert len(rec.requests) == 4
    assert sleeps == [0.05, 0.1, 0.2]


def test_connection_errors_past_the_retries_raise_without_status() -> None:
    rec = Recorder(httpx.ConnectError("Connection refused"))
    client, _ = _sync(rec, retries=2)
    with client, pytest.raises(LearnsegError) as info:
        client.segment({"ctc": 1})
    assert len(rec.requests) == 3
    assert info.value.status_code is None
    assert "after 3 attempt(s)" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_a_read_timeout_is_not_retried() -> None:
    rec = Recorder(httpx.ReadTimeout("read timed out"))
    client, sleeps = _sync(rec)
    with client, pytest.raises(LearnsegError) as info:
        client.segment({"ctc": 1})
    assert len(rec.requests) == 1 and sleeps == []
    assert info.value.status_code is None


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (401, "A valid API key is required."),
        (404, "There is no segment 42."),
        (400, "ctc must be a positive number for a learner to be placed."),
    ],
)
def test_4xx_is_not_retried_and_carries_the_detail(status: int, detail: str) -> None:
    rec = Recorder(_detail(status, detail))
    client, sleeps = _sync(rec)
    with client, pytest.raises(LearnsegError) as info:
        client.segment_profile(42)
    assert len(rec.requests) == 1 and sleeps == []
    assert info.value.status_code == status
    assert info.value.detail == detail
    sent = rec.requests[0].headers["X-Request-ID"]
    assert info.value.request_id == sent and len(sent) == 32
    assert str(info.value) == f"{status}: {detail} (request {sent})"


def test_422_keeps_the_field_errors_and_says_them_in_one_line() -> None:
    errors = [
        {"type": "missing", "loc": ["body", "ctc"], "msg": "Field required", "input": {}},
        {"type": "extra_forbidden", "loc": ["body", "x"], "msg": "Extra inputs are not permitted"},
    ]
    rec = Recorder(_detail(422, errors))
    client, sleeps = _sync(rec)
    with client, pytest.raises(LearnsegError) as info:
        client.segment({"x": 1})
    assert len(rec.requests) == 1 and sleeps == []
    assert info.value.status_code == 422
    assert info.value.detail == errors
    assert isinstance(info.value, InvalidRequestError) and info.value.fields == ["ctc", "x"]
    assert str(info.value) == (
        "422: ctc: Field required; x: Extra inputs are not permitted "
        f"(request {info.value.request_id})"
    )


def test_an_error_that_is_not_the_service_shape_keeps_its_text() -> None:
    rec = Recorder(httpx.Response(502, text="<html>Bad gateway</html>"))
    client, _ = _sync(rec)
    with client, pytest.raises(LearnsegError) as info:
        client.segments()
    assert (info.value.status_code, info.value.detail) == (502, "<html>Bad gateway</html>")


@pytest.mark.parametrize(
    "body", [b"not json", b'{"segment_id": 1}', b"[1, 2]", b'{"runner_up": 7}']
)
def test_a_success_of_the_wrong_shape_is_an_error(body: bytes) -> None:
    rec = Recorder(httpx.Response(200, content=body))
    client, _ = _sync(rec)
    with client, pytest.raises(LearnsegError) as info:
        client.segment({"ctc": 1})
    assert info.value.status_code == 200


def test_batch_parses_assignments_and_item_errors_in_order() -> None:
    results = [
        {"index": 0, **ASSIGNMENT},
        {"index": 1, "error": "ctc must be a positive number for a learner to be placed."},
        {
            "index": 2,
            **ASSIGNMENT,
            "segment_id": 0,
            "runner_up": None,
            "margin": None,
            "relative_margin": None,
        },
    ]
    rec = Recorder(_model_info(), httpx.Response(200, json={"results": results}))
    client, _ = _sync(rec)
    learners = [{"ctc": 1_000_000}, {"ctc": -5}, {"ctc": 300_000}]
    with client:
        got = client.segment_batch(learners)
    assert isinstance(got[0], Assignment) and got[0].segment_id == 3
    assert got[1] == ItemError(
        index=1, error="ctc must be a positive number for a learner to be placed."
    )
    assert isinstance(got[2], Assignment) and got[2].runner_up is None
    assert str(rec.requests[0].url) == f"{BASE}/v1/model"  # max_batch, read once
    request = rec.requests[1]
    assert request.url == f"{BASE}/v1/segment/batch"
    assert json.loads(request.content) == {"learners": learners}


def test_segments_and_profile_send_the_level() -> None:
    rec = Recorder(
        httpx.Response(200, json={"segments": [{**_summary(0, "a"), "segments": [1, 2]}]}),
        httpx.Response(200, json={"id": 2, "name": "b"}),
    )
    client, _ = _sync(rec)
    with client:
        (coarse,) = client.segments(level="coarse")
        assert (coarse.id, coarse.name, coarse.segments) == (0, "a", [1, 2])
        assert client.segment_profile(2, level="coarse") == {"id": 2, "name": "b"}
    assert [str(r.url) for r in rec.requests] == [
        f"{BASE}/v1/segments?level=coarse",
        f"{BASE}/v1/segments/2?level=coarse",
    ]
    assert all(r.method == "GET" for r in rec.requests)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="retries"):
        LearnsegClient(BASE, retries=-1)


# --------------------------------------------------------------------------- async, mocked


def test_async_retries_503_and_connection_errors() -> None:
    rec = Recorder(
        httpx.ConnectError("Connection refused"),
        _detail(503, "The model is loading.", **{"Retry-After": "1"}),
        httpx.Response(200, json=ASSIGNMENT),
    )
    client, sleeps = _async(rec, backoff=0.1)

    async def main() -> Assignment:
        async with client:
            return await client.segment({"ctc": 1})

    assert asyncio.run(main()).segment_id == 3
    assert len(rec.requests) == 3
    assert sleeps == [0.1, 1.0]


def test_async_connection_errors_past_the_retries_raise() -> None:
    rec = Recorder(httpx.ConnectError("Connection refused"))
    client, sleeps = _async(rec, retries=1)

    async def main() -> None:
        async with client:
            await client.segments()

    with pytest.raises(LearnsegError) as info:
        asyncio.run(main())
    assert info.value.status_code is None
    assert len(rec.requests) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("status", [401, 422])
def test_async_4xx_is_not_retried(status: int) -> None:
    rec = Recorder(_detail(status, "No."))
    client, sleeps = _async(rec)

    async def main() -> None:
        async with client:
            await client.segment({"ctc": 1})

    with pytest.raises(LearnsegError) as info:
        asyncio.run(main())
    assert (info.value.status_code, info.value.detail) == (status, "No.")
    assert len(rec.requests) == 1 and sleeps == []


def test_async_batch_segments_and_profile() -> None:
    rec = Recorder(
        _model_info(),
        httpx.Response(
            200, json={"results": [{"index": 0, "error": "Bad."}, {"index": 1, **ASSIGNMENT}]}
        ),
        httpx.Response(200, json={"segments": [_summary(0)]}),
        httpx.Response(200, json={"id": 0}),
    )
    client, _ = _async(rec)

    async def main() -> tuple[Any, ...]:
        async with client:
            return (
                await client.segment_batch([{"ctc": -1}, {"ctc": 1}]),
                await client.segments(),
                await client.segment_profile(0),
            )

    batch, segments, profile = asyncio.run(main())
    assert batch[0] == ItemError(index=0, error="Bad.")
    assert isinstance(batch[1], Assignment)
    assert [type(s) for s in segments] == [SegmentSummary] and segments[0].id == 0
    assert profile == {"id": 0}
    assert str(rec.requests[3].url) == f"{BASE}/v1/segments/0?level=segment"


def test_a_batch_of_any_size_is_split_by_max_batch_and_kept_in_order() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/model":
            return httpx.Response(200, json={"limits": {"max_batch": 3}})
        learners = json.loads(request.content)["learners"]
        results = [
            {"index": i, "error": "Bad."}
            if learner["ctc"] < 0
            else {"index": i, **ASSIGNMENT, "distance": float(learner["ctc"])}
            for i, learner in enumerate(learners)
        ]
        return httpx.Response(200, json={"results": results})

    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client, _ = _sync(recording)
    learners = [{"ctc": -1 if i in (4, 7) else i + 1} for i in range(8)]
    with client:
        got = client.segment_batch(learners)
        again = client.segment_batch(learners[:2])
    paths = [r.url.path for r in seen]
    assert paths == ["/v1/model"] + ["/v1/segment/batch"] * 4  # /model once
    assert [len(json.loads(r.content)["learners"]) for r in seen[1:4]] == [3, 3, 2]
    assert [g.index for g in got if isinstance(g, ItemError)] == [4, 7]  # positions in the list
    assert [g.distance for g in got if isinstance(g, Assignment)] == [1, 2, 3, 4, 6, 7]
    assert len(again) == 2


def test_each_call_has_its_timeout_headers_and_request_id() -> None:
    rec = Recorder(httpx.Response(200, json=ASSIGNMENT))
    client, _ = _sync(rec, api_key="k1")
    with client:
        client.segment({"ctc": 1}, timeout=0.5, headers={"X-Tenant": "lms-7"}, request_id="trace-1")
        client.segment({"ctc": 1})
    first, second = rec.requests
    assert first.headers["X-Tenant"] == "lms-7" and first.headers["X-Request-ID"] == "trace-1"
    assert first.extensions["timeout"] == {"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}
    assert first.headers["X-API-Key"] == "k1" and second.headers["X-API-Key"] == "k1"
    assert "X-Tenant" not in second.headers and second.extensions["timeout"]["read"] == 10.0
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, TooLargeError),
        (422, InvalidRequestError),
        (503, NotReadyError),
        (418, LearnsegError),
    ],
)
def test_errors_are_typed_and_keep_the_servers_request_id(
    status: int, kind: type[LearnsegError]
) -> None:
    rec = Recorder(_detail(status, "Why.", **{"X-Request-ID": "server-id-9"}))
    client, _ = _sync(rec, retries=0)
    with client, pytest.raises(LearnsegError) as info:
        client.model()
    assert type(info.value) is kind and info.value.request_id == "server-id-9"
    assert str(info.value) == f"{status}: Why. (request server-id-9)"


def test_no_answer_keeps_the_request_id_sent() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    client, _ = _sync(rec, retries=1)
    with client, pytest.raises(LearnsegError) as info:
        client.segment({"ctc": 1}, request_id="mine-1")
    assert info.value.status_code is None and info.value.request_id == "mine-1"
    assert [r.headers["X-Request-ID"] for r in rec.requests] == ["mine-1", "mine-1"]


def test_the_default_retries_outlive_a_service_restart() -> None:
    """A service down for 3 s (connection refused), then loading its model for 2 s more (503),
    answers the call made as it went down: the default waits add up to about 32 s. The old
    budget (3 retries from 0.2 s, about 1.4 s) gave up."""
    clock = [0.0]

    def restarting(request: httpx.Request) -> httpx.Response:
        if clock[0] < 3.0:
            raise httpx.ConnectError("Connection refused", request=request)
        if clock[0] < 5.0:
            return _detail(503, "The model is loading.")
        return httpx.Response(200, json=ASSIGNMENT)

    def advance(delay: float) -> None:
        clock[0] += delay

    client = LearnsegClient(BASE, transport=httpx.MockTransport(restarting))
    client._sleep = advance
    with client:
        assert client.segment({"ctc": 1}).segment_id == 3
    assert 5.0 <= clock[0] < 10.0
    waits = [retry_delay(a, None, backoff=0.25, max_delay=8.0) for a in range(client.retries)]
    assert (client.retries, client.backoff, client.max_delay) == (8, 0.25, 8.0)
    assert 30.0 <= sum(waits) <= 35.0

    clock[0] = 0.0
    old = LearnsegClient(BASE, transport=httpx.MockTransport(restarting), retries=3, backoff=0.2)
    old._sleep = advance
    with old, pytest.raises(LearnsegError) as gave_up:
        old.segment({"ctc": 1})
    assert gave_up.value.status_code is None and clock[0] < 3.0


def test_model_and_segments_are_typed_as_the_server_s_schemas() -> None:
    """GET /v1/model is a ModelInfo and GET /v1/segments a list of SegmentSummary, read as
    attributes, keeping a field a newer service adds; their fields are the server's."""
    from service.schemas import ModelInfo as ServerModelInfo
    from service.schemas import SegmentSummary as ServerSegmentSummary

    listed = {"segments": [_summary(3, "Senior leads"), _summary(4, "Career switchers")]}
    rec = Recorder(httpx.Response(200, json=MODEL), httpx.Response(200, json=listed))
    client, _ = _sync(rec)
    with client:
        model = client.model()
        segments = client.segments()
    assert isinstance(model, ModelInfo) and model.version == "v7" and model.k == 6
    assert model.max_batch == 500 and model.features == ["years_experience", "log_ctc"]
    assert model.model_extra == {"drift_note": "a field this client does not know"}
    assert [(s.id, s.name) for s in segments] == [(3, "Senior leads"), (4, "Career switchers")]
    assert segments[0].ctc_lpa["median"] == 2.0 and segments[0].recommendations
    assert set(ModelInfo.model_fields) == set(ServerModelInfo.model_fields)
    assert set(SegmentSummary.model_fields) == set(ServerSegmentSummary.model_fields)
    required = {n for n, f in ServerModelInfo.model_fields.items() if f.is_required()}
    assert required == {n for n, f in ModelInfo.model_fields.items() if f.is_required()}
    with pytest.raises(Exception, match="version"):
        ModelInfo.model_validate({k: v for k, v in MODEL.items() if k != "version"})
