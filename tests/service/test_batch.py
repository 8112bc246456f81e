"""The batch work of ``POST /segment/batch`` (service.batch), without HTTP."""

from __future__ import annotations

from typing import Any

import anyio
import orjson
import pytest
from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError

from service.batch import assign_batch_body, check_batch_size
from service.metrics import ServiceMetrics
from service.schemas import Learner, learner_columns
from service.segmenter import Segmenter
from tests.helpers import JUNK, LEARNERS


def _assign(segmenter: Segmenter, items: list[Any], *, chunk: int, max_batch: int = 100) -> Any:
    body = orjson.dumps({"learners": items})

    async def work() -> bytes:
        return await assign_batch_body(
            body, segmenter, ServiceMetrics(), max_batch=max_batch, chunk=chunk
        )

    return orjson.loads(anyio.run(work))


def test_a_batch_answers_every_item_at_its_index_whatever_the_chunk(segmenter: Segmenter) -> None:
    """Valid items are placed as one placement would place them all; invalid ones get a
    sentence at their index; the chunk size changes nothing."""
    items: list[Any] = [JUNK, {"ctc": -1}, *LEARNERS, "x", {"ctc": 5, "nickname": "y"}]
    valid = [i for i in range(len(items)) if i not in (1, len(items) - 2, len(items) - 1)]
    placed = segmenter.place(learner_columns([Learner.model_validate(items[i]) for i in valid]))
    placements = [
        {"index": i, **_echoed(items[i]), **assignment.to_dict()}
        for i, assignment in zip(valid, segmenter.assignments(placed), strict=True)
    ]
    errors = {
        1: "ctc: Input should be greater than 0",
        len(items) - 2: "The item must be a JSON object holding one learner (ctc at least).",
        len(items) - 1: "nickname: Extra inputs are not permitted",
    }
    for chunk in (1, 2, 1_000):
        results = _assign(segmenter, items, chunk=chunk)["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        assert [r for r in results if "error" not in r] == placements
        assert {r["index"]: r["error"] for r in results if "error" in r} == errors


def _echoed(item: dict[str, Any]) -> dict[str, Any]:
    return {"email_hash": item["email_hash"]} if "email_hash" in item else {}


def test_results_echo_the_email_hash_sent_and_only_then(segmenter: Segmenter) -> None:
    """A caller can match results by learner: placed or refused, an item echoes its hash."""
    items: list[Any] = [
        {**LEARNERS[0], "email_hash": "a" * 64},
        {"ctc": 1_000_000.0},  # no hash: no key at all
        {"ctc": -1, "email_hash": "refused"},  # an error still says whose
        {"ctc": -1, "email_hash": "x" * 500},  # a hash over the limit is not echoed
        {**LEARNERS[1], "email_hash": 'b"quoted\u00e9'},
    ]
    results = _assign(segmenter, items, chunk=2)["results"]
    assert [r.get("email_hash") for r in results] == [
        "a" * 64,
        None,
        "refused",
        None,
        'b"quoted\u00e9',
    ]
    assert "email_hash" not in results[1] and "email_hash" not in results[3]
    assert list(results[0])[:2] == ["index", "email_hash"]


def test_compact_results_keep_the_hash_ids_name_track_course_confidence_and_version(
    segmenter: Segmenter,
) -> None:
    items: list[Any] = [{**JUNK, "email_hash": "h0"}, {"ctc": 0}, *LEARNERS[:3]]
    full = _assign(segmenter, items, chunk=2)["results"]
    body = orjson.dumps({"learners": items})

    async def work() -> bytes:
        return await assign_batch_body(
            body, segmenter, ServiceMetrics(), max_batch=10, chunk=2, compact=True
        )

    compact = orjson.loads(anyio.run(work))["results"]
    keys = ["index", "email_hash", "segment_id", "segment_name", "coarse_segment_id"]
    tracked = ["track", "course", "course_name"]
    assert list(compact[0]) == [*keys, *tracked, "confidence", "model_version"]
    assert compact[1] == full[1]  # an error is the same either way
    for short, long in zip(compact, full, strict=True):
        assert short == {key: long[key] for key in short}
    assert len(orjson.dumps(compact)) < len(orjson.dumps(full)) / 2


def test_a_batch_over_max_batch_is_refused_with_its_size() -> None:
    check_batch_size([1, 2, 3], max_batch=3)
    with pytest.raises(HTTPException) as caught:
        check_batch_size([1, 2, 3, 4], max_batch=3)
    assert caught.value.status_code == 413
    assert caught.value.detail == "A batch holds at most 3 learners; this one has 4."


def test_a_body_that_is_not_a_batch_is_a_422(segmenter: Segmenter) -> None:
    with pytest.raises(RequestValidationError):
        anyio.run(
            lambda: assign_batch_body(
                b'{"learners": 3}', segmenter, ServiceMetrics(), max_batch=10, chunk=10
            )
        )


@pytest.mark.parametrize(("chunk", "order"), [(1, ["other", "batch"]), (10, ["batch", "other"])])
def test_the_loop_is_handed_back_between_chunks(
    segmenter: Segmenter, chunk: int, order: list[str]
) -> None:
    """A task started after the batch runs before it ends only when the batch has two chunks."""
    body = orjson.dumps({"learners": LEARNERS[:3]})
    done: list[str] = []

    async def batch() -> None:
        await assign_batch_body(body, segmenter, ServiceMetrics(), max_batch=10, chunk=chunk)
        done.append("batch")

    async def other() -> None:
        done.append("other")

    async def both() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(batch)
            tasks.start_soon(other)

    anyio.run(both)
    assert done == order
