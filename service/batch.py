"""The work of ``POST /segment/batch``: parse, check the size, place chunk by chunk, render.

A batch runs on the event loop, one batch at a time per worker (:func:`batch_turn`), and hands
the loop back to other requests after every ``batch_chunk`` learners. In a thread it would run
1.6x slower: the thread and the loop hand the GIL to each other across cores, and the batch
works on cold caches (docs/benchmarks.md).

Status codes raised here: 413 for a batch over ``max_batch`` (:func:`check_batch_size`), 422 for
a body that is not a batch (:func:`service.schemas.parse_batch`). An item that is not a valid
learner fails alone: it gets ``{"index": i, "error": "..."}`` in the 200 answer.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

import anyio
import anyio.lowlevel
from fastapi import HTTPException, Request, status

from service.config import ServiceSettings
from service.metrics import ServiceMetrics
from service.render import render_batch
from service.schemas import Learner, describe_item_error, learner_columns, parse_batch
from service.segmenter import Segmenter
from training.runtime.placement import LIMITS, Placement

__all__ = [
    "answer_batch",
    "assign_batch_body",
    "batch_turn",
    "check_batch_size",
    "echo_ids",
]


async def answer_batch(
    request: Request,
    segmenter: Segmenter,
    settings: ServiceSettings,
    metrics: ServiceMetrics,
    *,
    compact: bool = False,
) -> bytes:
    """The JSON answer to a ``/segment/batch`` request: its body read, then placed in its turn."""
    body = await request.body()
    async with batch_turn(request):
        return await assign_batch_body(
            body,
            segmenter,
            metrics,
            max_batch=settings.max_batch,
            chunk=settings.batch_chunk,
            compact=compact,
        )


def batch_turn(request: Request) -> anyio.Lock:
    """The turn a batch waits for: batches run one at a time per worker, first come first served.

    Their work holds the GIL, so running two at once would only make both slower.
    """
    lock: anyio.Lock = request.app.state.batch_lock
    return lock


def check_batch_size(items: Sized, max_batch: int) -> None:
    """413 when a batch holds more than ``max_batch`` learners."""
    if len(items) > max_batch:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=f"A batch holds at most {max_batch} learners; this one has {len(items)}.",
        )


async def assign_batch_body(
    body: bytes,
    segmenter: Segmenter,
    metrics: ServiceMetrics,
    *,
    max_batch: int,
    chunk: int,
    compact: bool = False,
) -> bytes:
    """Validate a batch body, place its valid learners ``chunk`` at a time, render the results.

    Each result echoes its learner's ``learner_id`` and ``email_hash`` when they were sent;
    ``compact`` keeps only the ids, the name, the track and course, the confidence and the
    model version (:func:`service.render.render_batch`).

    Between two chunks the event loop serves whatever else is waiting (a single learner, a
    health probe), so none waits for more than about one chunk's work.
    """
    items = parse_batch(body)
    check_batch_size(items, max_batch)
    metrics.batch_size.observe(len(items))
    valid = [i for i, item in enumerate(items) if isinstance(item, Learner)]
    parts: list[tuple[Placement, list[int]]] = []
    for start in range(0, len(valid), chunk):
        if parts:
            await anyio.lowlevel.checkpoint()
        indices = valid[start : start + chunk]
        placed = segmenter.place(learner_columns([items[i] for i in indices]))
        metrics.observe_placement(placed)
        if segmenter.drift is not None:
            segmenter.drift.observe_placement(placed)
        parts.append((placed, indices))
    errors = {
        i: {"index": i, **echo_ids(item), "error": describe_item_error(item)}
        for i, item in enumerate(items)
        if not isinstance(item, Learner)
    }
    hashes = {i: h for i in valid if (h := items[i].email_hash) is not None}
    learner_ids = {i: x for i in valid if (x := items[i].learner_id) is not None}
    return render_batch(segmenter, parts, errors, hashes, learner_ids=learner_ids, compact=compact)


def echo_ids(item: Any) -> dict[str, str]:
    """The ``learner_id`` and ``email_hash`` an invalid item still carries usable ones of (a
    string within its length limit), in that order; ``{}`` when it carries neither.

    A caller matching results by learner can then tell which learner an error is about.
    """
    if not isinstance(item, dict):
        return {}
    echoed = {}
    for name, limit in (("learner_id", LIMITS.learner_id_max), ("email_hash", LIMITS.email_max)):
        value = item.get(name)
        if isinstance(value, str) and len(value) <= limit:
            echoed[name] = value
    return echoed
