"""Dependencies of the routes, as ``Annotated`` aliases: settings, metrics, the model holder,
the model serving a request (with the ``version`` query parameter that pins one), and the check
that a body is JSON. The API-key checks are in :mod:`service.security`.

Every dependency is ``async def``: they take microseconds, and a plain ``def`` would cost a hop
to the threadpool per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status

from service.config import ServiceSettings
from service.metrics import ServiceMetrics
from service.middleware import MODEL_VERSION_KEY
from service.segmenter import Segmenter
from service.state import ModelHolder, VersionNotLoadedError

__all__ = [
    "NOT_JSON",
    "HolderDep",
    "MetricsDep",
    "SegmenterDep",
    "SettingsDep",
    "VersionQuery",
    "current_segmenter",
    "get_holder",
    "get_metrics",
    "get_segmenter",
    "get_settings",
    "require_json_body",
]

NOT_JSON = "Send the body as JSON, with the header Content-Type: application/json."


async def get_settings(request: Request) -> ServiceSettings:
    settings: ServiceSettings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state.metrics
    return metrics


async def get_holder(request: Request) -> ModelHolder:
    holder: ModelHolder = request.app.state.holder
    return holder


#: The ``version`` query parameter of the model routes: pin one of the loaded versions.
VersionQuery = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
        description="Answer with this model version (one of those GET /model lists as "
        "loaded_versions); none = the version served now. A version not loaded is a 409.",
    ),
]


def current_segmenter(request: Request, version: str | None = None) -> Segmenter:
    """The model serving this request, read once: the served one, or the pinned `version`.

    503 with the reason when no model is served; 409 naming the loaded versions when `version`
    is not one of them. The version answering goes into the ``X-Model-Version`` header. A plain
    function too: ``POST /segment`` calls it directly, as a dependency costs more than placing
    the learner (see :mod:`service.api.placement`).
    """
    holder: ModelHolder = request.app.state.holder
    state = holder.current
    if state.segmenter is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=state.reason)
    segmenter: Segmenter = state.segmenter
    if version is not None and version != segmenter.version:
        try:
            segmenter = holder.pinned(version)
        except VersionNotLoadedError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    request.scope[MODEL_VERSION_KEY] = segmenter.version
    return segmenter


async def get_segmenter(request: Request, version: VersionQuery = None) -> Segmenter:
    """:func:`current_segmenter` as a dependency (with the ``version`` query parameter)."""
    return current_segmenter(request, version)


async def require_json_body(request: Request) -> None:
    """415 when a request has a body that is not declared as JSON."""
    headers = request.headers
    has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
    if not has_body:
        return
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail=NOT_JSON)


SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
HolderDep = Annotated[ModelHolder, Depends(get_holder)]
SegmenterDep = Annotated[Segmenter, Depends(get_segmenter)]
