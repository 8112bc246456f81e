"""Reloading the model (``POST /admin/reload``, admin key only).

A reload (file reads, hashing, the probe check) runs in the threadpool. It swaps the model of
the worker that answers it at once, and of the other workers of the process within one polling
interval (:mod:`service.state`); on failure the old model keeps serving (409).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status

from service.api.common import BAD_BODY
from service.deps import HolderDep, require_json_body
from service.middleware import MODEL_VERSION_KEY
from service.schemas import ErrorDetail, ReloadRequest, ReloadResult
from service.security import require_admin_key
from service.state import ReloadError
from training.runtime.artifacts import LATEST_FILE

__all__ = ["reload_model", "router"]

router = APIRouter()


@router.post(
    "/admin/reload",
    tags=["model"],
    response_model=ReloadResult,
    responses={
        400: {"model": ErrorDetail, "description": "Two different versions asked for."},
        401: {"model": ErrorDetail, "description": "Missing or wrong key."},
        403: {
            "model": ErrorDetail,
            "description": "Reloading is off (no admin key configured), or a client key.",
        },
        409: {"model": ErrorDetail, "description": "Reload failed; the old model serves."},
        **BAD_BODY,
    },
    dependencies=[Depends(require_admin_key), Depends(require_json_body)],
)
async def reload_model(
    request: Request,
    holder: HolderDep,
    version: Annotated[
        str | None,
        Query(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
            description=f"Version folder to load; none = the one {LATEST_FILE} names.",
        ),
    ] = None,
    body: Annotated[ReloadRequest | None, Body()] = None,
) -> ReloadResult:
    """Load and verify a model, then swap it in (in every worker of the process); on failure
    the old model keeps serving (409)."""
    wanted = body.version if body is not None and body.version is not None else version
    if version is not None and wanted != version:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            detail=f"Two versions were asked for ({version} and {wanted}): give one.",
        )
    try:
        previous, segmenter = await holder.reload(wanted, announce=True)
    except ReloadError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    request.scope[MODEL_VERSION_KEY] = segmenter.version
    return ReloadResult(version=segmenter.version, k=segmenter.k, previous_version=previous)
