"""Prometheus metrics (``GET /metrics``)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from service.deps import HolderDep, MetricsDep
from service.metrics import CONTENT_TYPE

__all__ = ["prometheus_metrics", "router"]

router = APIRouter()


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def prometheus_metrics(metrics: MetricsDep, holder: HolderDep) -> Response:
    """Prometheus metrics: requests, latency, assignments, fallbacks, model version, drift."""
    metrics.observe_drift(holder.current.segmenter)
    return Response(metrics.render(), media_type=CONTENT_TYPE)
