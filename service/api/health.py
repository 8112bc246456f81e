"""Health probes: liveness and readiness (not versioned, open without a key)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status

from service.api.common import READY_LINKS
from service.deps import HolderDep
from service.lifecycle import DRAINING
from service.middleware import MODEL_VERSION_KEY
from service.schemas import ErrorDetail, Live, Ready

__all__ = ["live", "ready", "router"]

router = APIRouter(tags=["health"])


@router.get("/health/live", response_model=Live)
async def live() -> Live:
    """Always 200 while the process runs."""
    return Live()


@router.get(
    "/health/ready",
    response_model=Ready,
    responses={
        200: {"links": READY_LINKS},
        503: {"model": ErrorDetail, "description": "Not ready, and why."},
    },
)
async def ready(request: Request, holder: HolderDep) -> Ready:
    """200 when a verified model is loaded; 503 with the reason otherwise (or while draining)."""
    if request.app.state.drain.draining:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=DRAINING)
    state = holder.current
    if state.segmenter is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=state.reason)
    request.scope[MODEL_VERSION_KEY] = state.segmenter.version
    return Ready(model_version=state.segmenter.version)
