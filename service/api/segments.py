"""Segment profiles: every segment at a glance (``GET /segments``) and one in full
(``GET /segments/{segment_id}``), at either level (segment or macro-segment)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status

from service.api.common import INVALID, LIST_LINKS, NO_MODEL
from service.deps import SegmenterDep
from service.schemas import ErrorDetail, Level, SegmentList, SegmentProfile

__all__ = ["get_segment", "list_segments", "router"]

router = APIRouter()


@router.get(
    "/segments",
    tags=["segments"],
    response_model=SegmentList,
    responses={200: {"links": LIST_LINKS}, **INVALID, **NO_MODEL},
)
async def list_segments(segmenter: SegmenterDep, level: Level = "segment") -> dict[str, Any]:
    """Every segment (or macro-segment with level=coarse) at a glance, and the model's summary."""
    return {"segments": segmenter.segments(level), **segmenter.overview}


@router.get(
    "/segments/{segment_id}",
    tags=["segments"],
    response_model=SegmentProfile,
    response_model_exclude_unset=True,  # a segment has no `segments`, a macro-segment no ids
    responses={
        404: {"model": ErrorDetail, "description": "No such segment."},
        **INVALID,
        **NO_MODEL,
    },
)
async def get_segment(
    segment_id: Annotated[int, Path(description="A segment id from /segments.")],
    segmenter: SegmenterDep,
    level: Level = "segment",
) -> dict[str, Any]:
    """The full profile of one segment (or macro-segment with level=coarse)."""
    profile = segmenter.profile(segment_id, level)
    if profile is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=_no_such_segment(segment_id, level, segmenter.ids(level)),
        )
    return profile


def _no_such_segment(segment_id: int, level: str, ids: list[int]) -> str:
    """ "Segment 9 does not exist; this model has segments 0-4." (or coarse segments)."""
    noun = "coarse segment" if level == "coarse" else "segment"
    if not ids:
        have = f"no {noun}s"
    elif ids == list(range(ids[0], ids[-1] + 1)) and len(ids) > 1:
        have = f"{noun}s {ids[0]}-{ids[-1]}"
    else:
        have = f"{noun}{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}"
    return f"{noun.capitalize()} {segment_id} does not exist; this model has {have}."
