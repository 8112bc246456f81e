"""Explaining one placement: ``POST /segment/explain``.

The body is ``POST /segment``'s; the answer is the placement ``/segment`` gives plus why the
learner is in the segment, the smallest change along each input that moves them, and their
segment after 1, 2, 3 and 5 more years (:meth:`service.segmenter.Segmenter.explain`).

The route reads the body on the event loop and explains in the threadpool: explaining takes
~0.6 ms on average and up to a few ms (a pay walk across many pay bands): work of
milliseconds, and measured in the same bench run, the threadpool answered 0.40x the
requests/s of ``/segment`` where explaining on the event loop answered 0.22-0.33x; a slow
explanation then does not hold up the ``/segment`` requests queued behind it
(docs/benchmarks.md, "Explaining a placement").
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.api.common import BAD_BODY, NO_MODEL, SEGMENT_LINKS, JSONBytes
from service.deps import VersionQuery, current_segmenter, require_json_body
from service.schemas import (
    JUNK_LEARNER_EXAMPLE,
    LEARNER_EXAMPLE,
    ExplainResult,
    Learner,
    openapi_body,
    parse_learner,
)

__all__ = ["explain_learner", "router"]

router = APIRouter()


@router.post(
    "/segment/explain",
    tags=["segments"],
    response_model=ExplainResult,
    responses={200: {"links": SEGMENT_LINKS}, **BAD_BODY, **NO_MODEL},
    dependencies=[Depends(require_json_body)],
    openapi_extra=openapi_body(
        Learner, {"a clean learner": LEARNER_EXAMPLE, "junk to repair": JUNK_LEARNER_EXAMPLE}
    ),
)
async def explain_learner(request: Request, version: VersionQuery = None) -> Response:
    """Place one learner as POST /segment does, and say why, what would move them, and where
    their career leads."""
    segmenter = current_segmenter(request, version)
    learner = parse_learner(await request.body())
    # Not counted as a placement (metrics, drift): an explanation is a question about a learner
    # who is usually placed too, and counting both would count them twice.
    answer = await run_in_threadpool(segmenter.explain, learner.raw())
    if learner.learner_id is not None:
        answer = {"learner_id": learner.learner_id, **answer}
    return JSONBytes(orjson.dumps(answer))
