"""Placing learners: one (``POST /segment``) or a batch (``POST /segment/batch``).

``/segment`` is ``async def``: placing one learner takes tens of microseconds, less than a hop
to the threadpool. A batch (validation, numpy placement, rendering: :mod:`service.batch`) takes
milliseconds and runs on the event loop too, one batch at a time, handing the loop back to other
requests after every ``batch_chunk`` learners.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import Response

from service.api.common import BAD_BODY, NO_MODEL, SEGMENT_LINKS, JSONBytes
from service.batch import answer_batch
from service.deps import (
    MetricsDep,
    SegmenterDep,
    SettingsDep,
    VersionQuery,
    current_segmenter,
    require_json_body,
)
from service.schemas import (
    JUNK_LEARNER_EXAMPLE,
    LEARNER_EXAMPLE,
    BatchRequest,
    BatchResponse,
    ErrorDetail,
    Learner,
    SegmentResult,
    openapi_body,
    parse_learner,
)

__all__ = ["COMPACT_IS_FOR_BATCHES", "router", "segment", "segment_batch"]

router = APIRouter()

#: The answer to ``POST /segment?compact=...``: silently answering in full would let a caller
#: believe it asked for, and got, the compact shape.
COMPACT_IS_FOR_BATCHES = (
    "compact applies to POST /segment/batch only: POST /segment always answers the full "
    "placement, so drop ?compact or send the learner as a batch of one."
)


@router.post(
    "/segment",
    tags=["segments"],
    response_model=SegmentResult,
    responses={
        200: {"links": SEGMENT_LINKS},
        400: {"model": ErrorDetail, "description": "?compact was sent: it is for batches."},
        **BAD_BODY,
        **NO_MODEL,
    },
    dependencies=[Depends(require_json_body)],
    openapi_extra=openapi_body(
        Learner, {"a clean learner": LEARNER_EXAMPLE, "junk to repair": JUNK_LEARNER_EXAMPLE}
    ),
)
async def segment(request: Request, version: VersionQuery = None) -> Response:
    """Place one learner in a segment, with the distance, the runner-up and any repairs (always
    in full: ?compact is refused with a 400, it is for batches)."""
    # The model and the metrics are read here rather than injected: two dependencies cost
    # more than the placement itself (docs/benchmarks.md).
    if "compact" in request.query_params:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=COMPACT_IS_FOR_BATCHES)
    segmenter = current_segmenter(request, version)
    learner = parse_learner(await request.body())
    assignment = segmenter.assign(learner.raw())
    request.app.state.metrics.observe_assignment(assignment)
    if segmenter.drift is not None:
        segmenter.drift.observe_one(
            assignment.features.values(), assignment.segment_id, assignment.track
        )
    answer = assignment.to_dict()
    if learner.learner_id is not None:  # the caller's own id, echoed first
        answer = {"learner_id": learner.learner_id, **answer}
    return JSONBytes(orjson.dumps(answer))


@router.post(
    "/segment/batch",
    tags=["segments"],
    response_model=BatchResponse,
    responses={**BAD_BODY, **NO_MODEL},
    dependencies=[Depends(require_json_body)],
    openapi_extra=openapi_body(
        BatchRequest, {"two learners": {"learners": [LEARNER_EXAMPLE, JUNK_LEARNER_EXAMPLE]}}
    ),
)
async def segment_batch(
    request: Request,
    segmenter: SegmenterDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    compact: Annotated[
        bool,
        Query(
            description="Only the learner_id, email_hash, ids, name, track, course, confidence "
            "and model version of each learner (under half the bytes)."
        ),
    ] = False,
) -> Response:
    """Place up to max_batch learners, in input order; an invalid one gets an error instead.

    Each result carries its index (from 0) and echoes the learner's learner_id and email_hash
    when they were sent.
    """
    return JSONBytes(await answer_batch(request, segmenter, settings, metrics, compact=compact))
