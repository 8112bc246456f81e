"""Thin endpoints: schema in, one Segmenter call, schema out.

The API router is mounted under ``/v1`` (``service.middleware.API_PREFIX``) and again at the
root, where its paths are aliases left out of the OpenAPI document (``service.main``).

``/segment`` is ``async def``: placing one learner takes tens of microseconds, less than a hop
to the threadpool. A batch (validation, numpy placement, rendering: :mod:`service.batch`) takes
milliseconds and runs on the event loop too, one batch at a time, handing the loop back to other
requests after every ``batch_chunk`` learners. A reload (file reads, hashing) runs in the
threadpool. Status codes:

- 401 missing or wrong API key (when keys are configured), 404 unknown segment or route,
  413 batch over ``max_batch`` or body over the byte limit, 415 a body that is not JSON,
  422 invalid input (FastAPI's list of field errors, without the ``input`` values),
- 409 a reload that failed (the previous model keeps serving; ``detail`` says why), or a
  ``?version=`` that is not loaded (``detail`` lists the loaded versions),
- 503 no verified model loaded (``detail`` is the reason, e.g. how to train one).

Every route that used a model answers with an ``X-Model-Version`` header. A reload swaps the
model of the worker that answers it at once, and of the other workers of the process within
one polling interval (``service.state``).
"""

from __future__ import annotations

from pathlib import Path as PathLib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import FileResponse, Response
from fastapi.routing import APIRoute

from service.batch import answer_batch
from service.config import ServiceSettings
from service.deps import (
    HolderDep,
    MetricsDep,
    SegmenterDep,
    SettingsDep,
    VersionQuery,
    current_segmenter,
    require_admin_key,
    require_json_body,
)
from service.lifecycle import DRAINING
from service.metrics import CONTENT_TYPE
from service.middleware import MODEL_VERSION_KEY
from service.schemas import (
    JUNK_LEARNER_EXAMPLE,
    LEARNER_EXAMPLE,
    BatchRequest,
    BatchResponse,
    DriftInfo,
    ErrorDetail,
    Learner,
    Level,
    Live,
    ModelInfo,
    Ready,
    ReloadRequest,
    ReloadResult,
    SegmentList,
    SegmentProfile,
    SegmentResult,
    ValidationErrors,
    openapi_body,
    parse_learner,
)
from service.segmenter import Segmenter
from service.state import ReloadError

#: The OpenAPI operation id of each route, by its function's name: stable names a client
#: generator turns into method names (``client.segmentLearner(...)``).
OPERATION_IDS: dict[str, str] = {
    "live": "getLiveness",
    "ready": "getReadiness",
    "segment": "segmentLearner",
    "segment_batch": "segmentBatch",
    "list_segments": "listSegments",
    "get_segment": "getSegment",
    "model_info": "getModel",
    "reload_model": "reloadModel",
    "plot": "getPlot",
    "prometheus_metrics": "getMetrics",
}


def operation_id(route: APIRoute) -> str:
    """The route's operation id: from :data:`OPERATION_IDS`, else its name in camelCase."""
    known = OPERATION_IDS.get(route.name)
    if known is not None:
        return known
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


health = APIRouter(tags=["health"])
api = APIRouter()
pages = APIRouter(include_in_schema=False)

_STATIC = PathLib(__file__).with_name("static")
#: The report plots the explorer page shows, by name (no other file of the model is served).
PLOT_NAMES = ("ctc_experience", "segment_map", "profile_heatmap", "elbow", "dendrogram")

_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ValidationErrors, "description": "Invalid input, field by field."}
}
_NO_MODEL: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorDetail,
        "description": "The version asked for is not loaded (the sentence lists those loaded).",
    },
    503: {"model": ErrorDetail, "description": "No verified model is loaded."},
}
_BAD_BODY: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorDetail,
        "description": "Body over the byte limit, or a batch over max_batch.",
    },
    415: {"model": ErrorDetail, "description": "The body is not JSON."},
    **_INVALID,
}

# OpenAPI links: where a response's values lead (they document the API, and let schemathesis'
# stateful tests chain a placement to its segment's profile, and readiness to a reload).
_PROFILE = "#/paths/~1v1~1segments~1{segment_id}/get"
_SEGMENT_LINKS: dict[str, Any] = {
    "SegmentProfile": {
        "operationRef": _PROFILE,
        "parameters": {"segment_id": "$response.body#/segment_id"},
        "description": "The profile of the segment the learner was placed in.",
    },
    "CoarseSegmentProfile": {
        "operationRef": _PROFILE,
        "parameters": {"segment_id": "$response.body#/coarse_segment_id", "level": "coarse"},
        "description": "The profile of the learner's macro-segment.",
    },
}
_LIST_LINKS: dict[str, Any] = {
    "FirstSegmentProfile": {
        "operationRef": _PROFILE,
        "parameters": {"segment_id": "$response.body#/segments/0/id"},
        "description": "The full profile of the first segment listed.",
    }
}
_READY_LINKS: dict[str, Any] = {
    "ReloadServedVersion": {
        "operationRef": "#/paths/~1v1~1admin~1reload/post",
        "parameters": {"version": "$response.body#/model_version"},
        "description": "Reload the version being served (a no-op swap).",
    }
}


# numpy scalars serialise as numbers should the Segmenter ever hand one over.
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class JSONBytes(Response):
    """JSON serialised by orjson (~10x faster than the stdlib on a batch of results)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content, option=_NUMPY)


# ------------------------------------------------------------------------------------- health
@health.get("/health/live", response_model=Live)
async def live() -> Live:
    """Always 200 while the process runs."""
    return Live()


@health.get(
    "/health/ready",
    response_model=Ready,
    responses={
        200: {"links": _READY_LINKS},
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


# ------------------------------------------------------------------------------- assignment
@api.post(
    "/segment",
    tags=["segments"],
    response_model=SegmentResult,
    responses={200: {"links": _SEGMENT_LINKS}, **_BAD_BODY, **_NO_MODEL},
    dependencies=[Depends(require_json_body)],
    openapi_extra=openapi_body(
        Learner, {"a clean learner": LEARNER_EXAMPLE, "junk to repair": JUNK_LEARNER_EXAMPLE}
    ),
)
async def segment(request: Request, version: VersionQuery = None) -> Response:
    """Place one learner in a segment, with the distance, the runner-up and any repairs."""
    # The model and the metrics are read here rather than injected: two dependencies cost
    # more than the placement itself (docs/benchmarks.md).
    segmenter = current_segmenter(request, version)
    learner = parse_learner(await request.body())
    assignment = segmenter.assign(learner.raw())
    request.app.state.metrics.observe_assignment(assignment)
    if segmenter.drift is not None:
        segmenter.drift.observe_one(assignment.features.values(), assignment.segment_id)
    return JSONBytes(orjson.dumps(assignment.to_dict()))


@api.post(
    "/segment/batch",
    tags=["segments"],
    response_model=BatchResponse,
    responses={**_BAD_BODY, **_NO_MODEL},
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
            description="Only the email_hash, ids, name, confidence and model version of each "
            "learner (a fifth of the bytes)."
        ),
    ] = False,
) -> Response:
    """Place up to max_batch learners, in input order; an invalid one gets an error instead.

    Each result echoes the learner's email_hash when one was sent.
    """
    return JSONBytes(await answer_batch(request, segmenter, settings, metrics, compact=compact))


# --------------------------------------------------------------------------------- profiles
@api.get(
    "/segments",
    tags=["segments"],
    response_model=SegmentList,
    responses={200: {"links": _LIST_LINKS}, **_INVALID, **_NO_MODEL},
)
async def list_segments(segmenter: SegmenterDep, level: Level = "segment") -> dict[str, Any]:
    """Every segment (or macro-segment with level=coarse) at a glance, and the model's summary."""
    return {"segments": segmenter.segments(level), **segmenter.overview}


@api.get(
    "/segments/{segment_id}",
    tags=["segments"],
    response_model=SegmentProfile,
    response_model_exclude_unset=True,  # a segment has no `segments`, a macro-segment no ids
    responses={
        404: {"model": ErrorDetail, "description": "No such segment."},
        **_INVALID,
        **_NO_MODEL,
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


# ------------------------------------------------------------------------------------ model
@api.get("/model", tags=["model"], response_model=ModelInfo, responses={**_NO_MODEL})
async def model_info(
    segmenter: SegmenterDep, settings: SettingsDep, holder: HolderDep
) -> dict[str, Any]:
    """Version, k, metrics, when and on what data it was trained, library versions, limits,
    and the versions this process holds."""
    return {
        **segmenter.info(),
        "limits": {"max_batch": settings.max_batch, "max_body_bytes": settings.body_limit},
        "serving": {
            "version": holder.current.version,
            "loaded_versions": holder.versions,
            "follows_latest": settings.follow_latest and settings.poll_seconds > 0,
            "poll_seconds": settings.poll_seconds,
        },
    }


@api.get(
    "/model/drift",
    tags=["model"],
    response_model=DriftInfo,
    responses={
        404: {"model": ErrorDetail, "description": "Drift is not tracked for this model."},
        **_NO_MODEL,
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
        f"Model {segmenter.version} was trained without a drift reference (drift.json): "
        "retrain it to track drift."
    )


@api.post(
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
        **_BAD_BODY,
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
            description="Version folder to load; none = the one LATEST names.",
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


# ------------------------------------------------------------------------------ explorer
@pages.get("/")
async def explorer() -> FileResponse:
    """The segment explorer: a static page that reads the JSON API (it holds no data itself)."""
    return FileResponse(_STATIC / "index.html", media_type="text/html")


@api.get(
    "/plots/{name}.png",
    tags=["segments"],
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "A plot of the training report."},
        404: {"model": ErrorDetail, "description": "No such plot."},
        **_NO_MODEL,
    },
)
async def plot(
    name: Annotated[
        str,
        Path(
            description=f"One of {', '.join(PLOT_NAMES)}.",
            openapi_examples={plot: {"value": plot} for plot in PLOT_NAMES},
        ),
    ],
    segmenter: SegmenterDep,
) -> FileResponse:
    """A plot of the serving model's training report (elbow, segment map, heatmap, ...)."""
    if name not in PLOT_NAMES:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"There is no plot {name!r}; the plots are {', '.join(PLOT_NAMES)}.",
        )
    path = segmenter.folder / "plots" / f"{name}.png"
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"Model {segmenter.version} has no plot {name!r}."
        )
    return FileResponse(path, media_type="image/png")


# ---------------------------------------------------------------------------------- metrics
@api.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def prometheus_metrics(metrics: MetricsDep, holder: HolderDep) -> Response:
    """Prometheus metrics: requests, latency, assignments, fallbacks, model version, drift."""
    metrics.observe_drift(holder.current.segmenter)
    return Response(metrics.render(), media_type=CONTENT_TYPE)
