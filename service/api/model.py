"""The model: what it is and what serves it (``GET /model``), and its drift (``GET
/model/drift``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from service.api.common import NO_MODEL
from service.config import ServiceSettings
from service.deps import HolderDep, SegmenterDep, SettingsDep
from service.schemas import DriftInfo, ErrorDetail, ModelInfo
from service.segmenter import Segmenter
from training.runtime.artifacts import DRIFT_JSON

__all__ = ["model_drift", "model_info", "router"]

router = APIRouter()


@router.get("/model", tags=["model"], response_model=ModelInfo, responses={**NO_MODEL})
async def model_info(
    segmenter: SegmenterDep, settings: SettingsDep, holder: HolderDep
) -> dict[str, Any]:
    """Version, k, metrics, when and on what data it was trained, how many learners moved since
    the previous model, library versions, limits, and the versions this process holds."""
    return {
        **segmenter.info(),
        "churn": segmenter.manifest.get("churn"),
        "limits": {"max_batch": settings.max_batch, "max_body_bytes": settings.body_limit},
        "serving": {
            "version": holder.current.version,
            "loaded_versions": holder.versions,
            "follows_latest": settings.follow_latest and settings.poll_seconds > 0,
            "poll_seconds": settings.poll_seconds,
        },
    }


@router.get(
    "/model/drift",
    tags=["model"],
    response_model=DriftInfo,
    responses={
        404: {"model": ErrorDetail, "description": "Drift is not tracked for this model."},
        **NO_MODEL,
    },
)
async def model_drift(segmenter: SegmenterDep, settings: SettingsDep) -> dict[str, Any]:
    """PSI per feature and segment shares of the learners placed, against training."""
    if segmenter.drift is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_no_drift(segmenter, settings))
    return segmenter.drift.report(segmenter.version)


def _no_drift(segmenter: Segmenter, settings: ServiceSettings) -> str:
    if not settings.drift:
        return "Drift tracking is off (setting LEARNSEG_DRIFT=false)."
    return (
        f"Model {segmenter.version} was trained without a drift reference ({DRIFT_JSON}): "
        "retrain it to track drift."
    )
