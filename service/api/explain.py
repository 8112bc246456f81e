"""Explaining one placement: ``POST /segment/explain``.

The body is ``POST /segment``'s; the answer is the placement ``/segment`` gives plus why the
learner is in the segment, the smallest change along each input that moves them, and their
segment after 1, 2, 3 and 5 more years (:meth:`service.segmenter.Segmenter.explain`).

``async def``, the explanation on the event loop: it takes ~0.4 ms of pure Python (the GIL
held throughout; up to a few ms for a pay walk across many pay bands), so a thread would run
it no more in parallel, and the hop to the threadpool cost more than it freed: in
``bench/serve.py`` on a quiet machine the same route answered 0.48x the requests/s of
``/segment`` on the loop and 0.37x through ``run_in_threadpool`` (docs/benchmarks.md,
"Explaining a placement").
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

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
    answer = segmenter.explain(learner.raw())
    if learner.learner_id is not None:
        answer = {"learner_id": learner.learner_id, **answer}
    return JSONBytes(orjson.dumps(answer))
