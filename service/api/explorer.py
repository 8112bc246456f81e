"""The segment explorer page (``/``, outside the API and its document), the plots of the
serving model's training report it shows (``GET /plots/{name}.png``) and the report itself
(``GET /report``, behind the API's keys like the plots, left out of the OpenAPI document: a page
for people, whose images are the plots' paths relative to it)."""

from __future__ import annotations

from pathlib import Path as PathLib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import FileResponse, HTMLResponse, Response

from service.api.common import NO_MODEL
from service.deps import SegmenterDep
from service.schemas import ErrorDetail
from training.runtime.artifacts import REPORT_HTML, plot_file

__all__ = ["PLOT_NAMES", "explorer", "pages", "plot", "report", "router"]

#: The page: not under /v1, not in the OpenAPI document.
pages = APIRouter(include_in_schema=False)
#: The plots, part of the API.
router = APIRouter()

_STATIC = PathLib(__file__).parent.parent / "static"
#: The report plots the explorer page shows, by name (no other file of the model is served).
PLOT_NAMES = ("ctc_experience", "segment_map", "profile_heatmap", "elbow", "dendrogram")


@pages.get("/")
async def explorer() -> FileResponse:
    """The segment explorer: a static page that reads the JSON API (it holds no data itself)."""
    return FileResponse(_STATIC / "index.html", media_type="text/html")


@router.get(
    "/plots/{name}.png",  # a path of the API, fixed; the file it serves is plot_file(name)
    tags=["segments"],
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "A plot of the training report."},
        404: {"model": ErrorDetail, "description": "No such plot."},
        **NO_MODEL,
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
    path = segmenter.folder / plot_file(name)
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"Model {segmenter.version} has no plot {name!r}."
        )
    return FileResponse(path, media_type="image/png")


@router.get("/report", include_in_schema=False, response_class=HTMLResponse)
async def report(segmenter: SegmenterDep) -> FileResponse:
    """The serving model's training report (report.html)."""
    path = segmenter.folder / REPORT_HTML
    if not path.is_file():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=f"Model {segmenter.version} has no report; rebuild it with "
            "python -m training report.",
        )
    return FileResponse(path, media_type="text/html")
