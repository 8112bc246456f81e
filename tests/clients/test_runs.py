"""Batch runs of learnseg_client against a scripted service (httpx.MockTransport): streaming in
order with one chunk held, one version per run, pinned 409s retried, resuming from a checkpoint,
compact answers, the learner's own id and unknown fields passed through."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from learnseg_client import (
    Assignment,
    AsyncLearnsegClient,
    BatchChunk,
    Checkpoint,
    CompactAssignment,
    ItemError,
    LearnsegClient,
    LearnsegError,
    VersionNotLoadedError,
)

BASE = "http://learnseg.test"
COMPACT_KEYS = (
    "segment_id",
    "segment_name",
    "coarse_segment_id",
    "track",
    "course",
    "course_name",
    "confidence",
    "model_version",
)


class FakeService:
    """``/v1/model`` and ``/v1/segment/batch`` as the service answers them, scripted.

    A learner is placed in segment ``ctc % 5`` by the version serving it (its distance says
    which version: ``ctc / 1000`` plus the version's position); ``ctc < 0`` is an item error.
    ``loaded`` are the versions a request may pin, ``served`` the one unpinned requests get.
    ``down`` counts batch requests to refuse (no answer); ``echo`` whether learner_id and
    email_hash come back; ``extra`` fields are added to every placed item.
    """

    def __init__(self, *, max_batch: int = 4, loaded: tuple[str, ...] = ("v1",)) -> None:
        self.max_batch = max_batch
        self.loaded = list(loaded)
        self.served = self.loaded[0]
        self.down = 0
        self.echo = True
        self.extra: dict[str, Any] = {}
        self.requests: list[httpx.Request] = []
        self.after_batch: list[Any] = []  # callables run after each batch answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        pinned = request.url.params.get("version")
        if request.url.path == "/v1/model":
            return httpx.Response(
                200, json={"version": self.served, "limits": {"max_batch": self.max_batch}}
            )
        if self.down:
            self.down -= 1
            raise httpx.ConnectError("Connection refused", request=request)
        if pinned is not None and pinned not in self.loaded:
            return httpx.Response(
                409,
                json={"detail": f"Model version {pinned} is not loaded."},
                headers={"X-Request-ID": request.headers["X-Request-ID"]},
            )
        version = pinned or self.served
        compact = request.url.params.get("compact") == "true"
        learners = json.loads(request.content)["learners"]
        assert len(learners) <= self.max_batch
        results = [self._item(i, x, version, compact) for i, x in enumerate(learners)]
        response = httpx.Response(
            200, json={"results": results}, headers={"X-Model-Version": version}
        )
        for hook in self.after_batch:
            hook(self)
        return response

    def _item(self, index: int, learner: dict[str, Any], version: str, compact: bool) -> Any:
        echoed = {k: learner[k] for k in ("email_hash", "learner_id") if self.echo and k in learner}
        if learner["ctc"] < 0:
            return {"index": index, **echoed, "error": "ctc: Input should be greater than 0"}
        full = {
            "segment_id": learner["ctc"] % 5,
            "segment_name": f"segment {learner['ctc'] % 5}",
            "coarse_segment_id": learner["ctc"] % 2,
            "track": "backend",
            "course": "software-development",
            "course_name": "Software development",
            "distance": learner["ctc"] / 1000 + self.loaded.index(version),
            "runner_up": {"segment_id": (learner["ctc"] + 1) % 5, "distance": 9.0},
            "margin": 0.5,
            "relative_margin": 0.1,
            "confidence": "high",
            "features": {"log_ctc": float(learner["ctc"])},
            "warnings": [],
            "model_version": version,
        }
        if compact:
            full = {k: full[k] for k in COMPACT_KEYS}
        return {"index": index, **echoed, **full, **self.extra}

    def batches(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/v1/segment/batch"]


def _client(service: FakeService, **kwargs: Any) -> tuple[LearnsegClient, list[float]]:
    client = LearnsegClient(BASE, transport=httpx.MockTransport(service), **kwargs)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def _learners(n: int, bad: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    return [
        {"ctc": -1 if i in bad else 1_000 + i, "email_hash": f"e{i}", "learner_id": f"u-{i}"}
        for i in range(n)
    ]


def _positions(results: list[Any]) -> list[int]:
    return [r.index for r in results]


def test_a_run_streams_in_order_holding_one_chunk_of_a_generator() -> None:
    service = FakeService(max_batch=4)
    taken: list[int] = []

    def learners() -> Iterator[dict[str, Any]]:
        for learner in _learners(10, bad=(5,)):
            taken.append(learner["ctc"])
            yield learner

    client, _ = _client(service)
    with client:
        stream = client.segment_stream(learners())
        assert service.requests == [] and taken == []  # nothing happens before iterating
        got = []
        for result in stream:
            got.append(result)
            # The learners read so far are those of the chunks answered: at most one ahead.
            assert len(taken) <= 4 * (len(got) // 4 + 1)
    assert _positions(got) == list(range(10))
    assert [len(json.loads(r.content)["learners"]) for r in service.batches()] == [4, 4, 2]
    assert isinstance(got[5], ItemError) and got[5].learner_id == "u-5"
    placed = [r for r in got if isinstance(r, Assignment)]
    assert [r.distance for r in placed] == [(1_000 + i) / 1000 for i in range(10) if i != 5]
    assert [r.learner_id for r in placed] == [f"u-{i}" for i in range(10) if i != 5]
    assert [r.email_hash for r in placed] == [f"e{i}" for i in range(10) if i != 5]


def test_a_run_pins_the_version_of_its_first_answer() -> None:
    """LATEST changes after the first chunk: the rest of the run stays on v1."""
    service = FakeService(max_batch=3, loaded=("v1", "v2"))

    def roll_out(svc: FakeService) -> None:
        svc.served = "v2"

    service.after_batch.append(roll_out)
    client, _ = _client(service)
    with client:
        got = client.segment_batch(_learners(8))
    assert {r.model_version for r in got if isinstance(r, Assignment)} == {"v1"}
    versions = [r.url.params.get("version") for r in service.batches()]
    assert versions == [None, "v1", "v1"]
    assert service.served == "v2"


def test_a_run_asked_for_a_version_pins_it_from_the_first_chunk() -> None:
    service = FakeService(max_batch=3, loaded=("v2", "v1"))
    client, _ = _client(service, version="v1")
    with client:
        got = client.segment_batch(_learners(5))
        other = client.segment_batch(_learners(2), version="v2")
    assert [r.url.params.get("version") for r in service.batches()] == ["v1", "v1", "v2"]
    assert {r.model_version for r in got if isinstance(r, Assignment)} == {"v1"}
    assert {r.model_version for r in other if isinstance(r, Assignment)} == {"v2"}


def test_a_409_for_the_pinned_version_is_retried_with_backoff_until_it_is_loaded() -> None:
    service = FakeService(max_batch=2, loaded=("v2",))
    refusals = 0
    original = service.__call__

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refusals
        response = original(request)
        if response.status_code == 409:
            refusals += 1
            if refusals == 2:  # the replica, or a reload, now holds it
                service.loaded.append("v1")
        return response

    client = LearnsegClient(BASE, transport=httpx.MockTransport(handler), backoff=0.1)
    sleeps: list[float] = []
    client._sleep = sleeps.append
    with client:
        got = client.segment_batch(_learners(3), version="v1")
    assert refusals == 2 and sleeps == [0.1, 0.2]
    assert {r.model_version for r in got if isinstance(r, Assignment)} == {"v1"}
    assert _positions(got) == [0, 1, 2]


def test_a_version_gone_everywhere_fails_the_run_before_any_result() -> None:
    service = FakeService(max_batch=2, loaded=("v2",))
    client, sleeps = _client(service, pin_retries=3, backoff=0.1)
    got: list[Any] = []
    with client, pytest.raises(VersionNotLoadedError) as info:
        got.extend(client.segment_stream(_learners(5), version="v1"))
    assert got == []
    assert info.value.checkpoint == Checkpoint(next_index=0, version="v1")
    assert len(service.batches()) == 4 and sleeps == [0.1, 0.2, 0.4]
    assert "Model version v1 is not loaded." in str(info.value)


def test_a_version_gone_mid_run_stops_at_that_chunk_with_what_was_done() -> None:
    service = FakeService(max_batch=2, loaded=("v1", "v2"))
    client, _ = _client(service, pin_retries=1)
    got: list[Any] = []
    with client, pytest.raises(VersionNotLoadedError) as info:
        for result in client.segment_stream(_learners(7)):
            got.append(result)
            if len(got) == 4:
                service.loaded.remove("v1")
    assert _positions(got) == [0, 1, 2, 3]
    assert info.value.checkpoint == Checkpoint(next_index=4, version="v1")


def test_a_run_stopped_by_the_service_going_down_resumes_without_loss_or_duplicates() -> None:
    learners = _learners(11, bad=(2, 9))
    whole, _ = _client(FakeService(max_batch=3))
    with whole:
        expected = whole.segment_batch(learners)

    service = FakeService(max_batch=3)
    client, _ = _client(service, retries=2)
    got: list[Any] = []
    with client:
        with pytest.raises(LearnsegError) as info:
            for result in client.segment_stream(iter(learners)):
                got.append(result)
                if len(got) == 6:
                    service.down = 3  # every attempt of the next chunk fails
        checkpoint = info.value.checkpoint
        assert info.value.status_code is None
        assert checkpoint == Checkpoint(next_index=6, version="v1")
        saved = Checkpoint.model_validate_json(checkpoint.model_dump_json())
        got.extend(
            client.segment_stream(iter(learners), start=saved.next_index, version=saved.version)
        )
    assert _positions(got) == list(range(11))
    assert got == expected
    resumed = service.batches()[-2:]
    assert [json.loads(r.content)["learners"][0]["ctc"] for r in resumed] == [1_006, -1]


def test_chunks_carry_their_checkpoints() -> None:
    service = FakeService(max_batch=4)
    client, _ = _client(service)
    with client:
        chunks = list(client.segment_chunks(_learners(9), start=2, chunk_size=3))
    assert [(c.start, c.next_index, len(c.results)) for c in chunks] == [
        (2, 5, 3),
        (5, 8, 3),
        (8, 9, 1),
    ]
    assert chunks[-1].checkpoint == Checkpoint(next_index=9, version="v1")
    assert all(isinstance(c, BatchChunk) and c.version == "v1" for c in chunks)
    sent = [json.loads(r.content)["learners"] for r in service.batches()]
    assert [[x["learner_id"] for x in chunk] for chunk in sent] == [
        ["u-2", "u-3", "u-4"],
        ["u-5", "u-6", "u-7"],
        ["u-8"],
    ]


def test_compact_runs_answer_compact_assignments() -> None:
    service = FakeService(max_batch=3)
    client, _ = _client(service)
    with client:
        full = client.segment_batch(_learners(5, bad=(1,)))
        compact = client.segment_batch(_learners(5, bad=(1,)), compact=True)
    assert all(r.url.params.get("compact") == "true" for r in service.batches()[2:])
    assert isinstance(compact[1], ItemError) and compact[1] == full[1]
    for small, big in zip(compact, full, strict=True):
        if isinstance(small, ItemError):
            continue
        assert type(small) is CompactAssignment and isinstance(big, Assignment)
        assert small.model_dump() == {
            k: v for k, v in big.model_dump().items() if k in CompactAssignment.model_fields
        }


def test_ids_come_back_when_the_service_does_not_echo_them_and_new_fields_pass() -> None:
    service = FakeService(max_batch=10)
    service.echo = False
    service.extra = {"explanation": {"top": "ctc"}}
    client, _ = _client(service)
    learners = [*_learners(3, bad=(1,)), {"ctc": 7}]
    with client:
        got = client.segment_batch(learners)
    assert [r.learner_id for r in got] == ["u-0", "u-1", "u-2", None]
    assert [r.email_hash for r in got] == ["e0", "e1", "e2", None]
    assert isinstance(got[0], Assignment) and got[0].model_extra == {"explanation": {"top": "ctc"}}
    assert getattr(got[0], "explanation") == {"top": "ctc"}  # noqa: B009 - an unknown field
    assert json.loads(service.batches()[0].content)["learners"] == learners


def test_a_single_learner_gets_its_own_id_back() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        item = FakeService()._item(0, body, "v1", compact=False)
        return httpx.Response(200, json={k: v for k, v in item.items() if k != "index"})

    with LearnsegClient(BASE, transport=httpx.MockTransport(handler)) as client:
        got = client.segment({"ctc": 1_200, "learner_id": "u-9"})
    assert got.learner_id == "u-9" and got.index is None and got.model_version == "v1"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"results": []}, "1 learners sent, 0 results answered"),
        ({"results": [{"index": 1, "error": "x"}]}, "result 1 answered where learner 0"),
        ({"results": [{"index": 0, "segment_id": 1}]}, "segment_name: Field required"),
    ],
)
def test_an_answer_of_the_wrong_shape_stops_the_run(answer: Any, why: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/model":
            return httpx.Response(200, json={"limits": {"max_batch": 5}})
        return httpx.Response(200, json=answer)

    with (
        LearnsegClient(BASE, transport=httpx.MockTransport(handler)) as client,
        pytest.raises(LearnsegError, match=why) as info,
    ):
        client.segment_batch([{"ctc": 1}])
    assert info.value.checkpoint == Checkpoint(next_index=0, version=None)


def test_an_answer_from_another_version_stops_the_run() -> None:
    service = FakeService(max_batch=2, loaded=("v1", "v2"))
    original = service._item

    def drifting(index: int, learner: dict[str, Any], version: str, compact: bool) -> Any:
        item = original(index, learner, version, compact)
        return {**item, "model_version": "v2"} if learner["ctc"] == 1_003 else item

    service._item = drifting  # type: ignore[method-assign]
    client, _ = _client(service)
    with client, pytest.raises(LearnsegError, match="placed by v2 in a run pinned to v1") as info:
        client.segment_batch(_learners(4))
    assert info.value.checkpoint == Checkpoint(next_index=2, version="v1")


def test_run_arguments_are_checked_and_an_empty_run_asks_nothing() -> None:
    service = FakeService()
    client, _ = _client(service)
    with client:
        assert client.segment_batch([]) == []
        assert list(client.segment_stream(_learners(3), start=3)) == []
        with pytest.raises(ValueError, match="chunk_size"):
            client.segment_stream([], chunk_size=0)
        with pytest.raises(ValueError, match="start"):
            client.segment_chunks([], start=-1)
    assert service.requests == []


def test_chunk_size_is_capped_by_max_batch_and_chunks_have_their_request_ids() -> None:
    service = FakeService(max_batch=3)
    client, _ = _client(service)
    with client:
        client.segment_batch(_learners(7), chunk_size=50, request_id="night-7")
    batches = service.batches()
    assert [len(json.loads(r.content)["learners"]) for r in batches] == [3, 3, 1]
    assert [r.headers["X-Request-ID"] for r in batches] == ["night-7-0", "night-7-3", "night-7-6"]
    assert len([r for r in service.requests if r.url.path == "/v1/model"]) == 1


def test_a_learner_that_is_not_json_is_a_type_error() -> None:
    client, _ = _client(FakeService())
    with client, pytest.raises(TypeError, match="position 0 on cannot be sent as JSON"):
        client.segment_batch([{"ctc": object()}])


# --------------------------------------------------------------------------- async


def test_async_runs_stream_pin_and_resume_from_an_async_iterable() -> None:
    learners = _learners(9, bad=(4,))
    service = FakeService(max_batch=2, loaded=("v1", "v2"))

    def roll_out(svc: FakeService) -> None:
        svc.served = "v2"

    service.after_batch.append(roll_out)

    async def source() -> AsyncIterator[dict[str, Any]]:
        for learner in learners:
            await asyncio.sleep(0)
            yield learner

    async def main() -> tuple[list[Any], LearnsegError, list[Any]]:
        client = AsyncLearnsegClient(BASE, transport=httpx.MockTransport(service), retries=0)

        async def no_wait(delay: float) -> None:
            pass

        client._sleep = no_wait
        got: list[Any] = []
        async with client:
            try:
                async for result in client.segment_stream(source()):
                    got.append(result)
                    if len(got) == 4:
                        service.down = 1
            except LearnsegError as exc:
                stopped = exc
            cp = stopped.checkpoint
            assert cp is not None
            async for item in client.segment_stream(
                source(), start=cp.next_index, version=cp.version, compact=True
            ):
                got.append(item)
            chunks = [c async for c in client.segment_chunks(learners, start=7, version="v1")]
        return got, stopped, chunks

    got, stopped, chunks = asyncio.run(main())
    assert stopped.checkpoint == Checkpoint(next_index=4, version="v1")
    assert _positions(got) == list(range(9))
    assert {r.model_version for r in got if not isinstance(r, ItemError)} == {"v1"}
    assert [type(r).__name__ for r in got[4:]] == ["ItemError", *["CompactAssignment"] * 4]
    assert [c.start for c in chunks] == [7] and chunks[0].checkpoint.next_index == 9


def test_async_runs_retry_a_pinned_409_and_fail_before_any_result_when_it_stays() -> None:
    service = FakeService(max_batch=2, loaded=("v2",))
    refusals = 0
    original = service.__call__

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal refusals
        response = original(request)
        refusals += response.status_code == 409
        if refusals == 1 and "v1" not in service.loaded:
            service.loaded.append("v1")  # another replica, or the service after a reload
        return response

    async def main() -> tuple[list[Any], list[float], VersionNotLoadedError]:
        client = AsyncLearnsegClient(BASE, transport=httpx.MockTransport(handler), pin_retries=2)
        sleeps: list[float] = []

        async def record(delay: float) -> None:
            sleeps.append(delay)

        client._sleep = record
        async with client:
            got = await client.segment_batch(_learners(3), version="v1")
            with pytest.raises(VersionNotLoadedError) as info:
                await client.segment_batch(_learners(3), version="v0")
        return got, sleeps, info.value

    got, sleeps, gone = asyncio.run(main())
    assert _versions_of(got) == {"v1"} and _positions(got) == [0, 1, 2]
    assert sleeps == [0.25, 0.25, 0.5] and refusals == 4
    assert gone.checkpoint == Checkpoint(next_index=0, version="v0")


def _versions_of(results: list[Any]) -> set[str]:
    return {r.model_version for r in results if not isinstance(r, ItemError)}
