"""The HTTP API, one router per resource: thin endpoints, schema in, one Segmenter call, schema
out.

- :mod:`~service.api.health`: ``/health/live``, ``/health/ready`` (not versioned),
- :mod:`~service.api.placement`: ``POST /segment``, ``POST /segment/batch``,
- :mod:`~service.api.explain`: ``POST /segment/explain``,
- :mod:`~service.api.segments`: ``GET /segments``, ``GET /segments/{segment_id}``,
- :mod:`~service.api.model`: ``GET /model``, ``GET /model/drift``,
- :mod:`~service.api.admin`: ``POST /admin/reload``,
- :mod:`~service.api.explorer`: the explorer page ``/`` and ``GET /plots/{name}.png``,
- :mod:`~service.api.metrics`: ``GET /metrics``,
- :mod:`~service.api.common`: what they share (operation ids, response documentation, links,
  the orjson response).

:data:`api_router` gathers the versioned resources but the metrics, :data:`metrics_router` the
metrics (a metrics key reads them and nothing else); ``service.main`` mounts both under ``/v1``
(``service.middleware.API_PREFIX``) and again at the root, where their paths are aliases left
out of the OpenAPI document. Status codes:

- 401 missing or wrong API key (when keys are configured), 403 a key of another role (a client
  key reloading, a metrics key anywhere but ``/metrics``), 429 too many wrong keys from one
  address (with ``Retry-After``), 404 unknown segment or route,
  413 batch over ``max_batch`` or body over the byte limit, 415 a body that is not JSON,
  422 invalid input (FastAPI's list of field errors, without the ``input`` values),
- 409 a reload that failed (the previous model keeps serving; ``detail`` says why), or a
  ``?version=`` that is not loaded (``detail`` lists the loaded versions),
- 503 no verified model loaded (``detail`` is the reason, e.g. how to train one).

Every route that used a model answers with an ``X-Model-Version`` header.
"""

from __future__ import annotations

from fastapi import APIRouter

from service.api import admin, explain, explorer, health, metrics, model, placement, segments
from service.api.common import operation_id

__all__ = ["api_router", "health_router", "metrics_router", "operation_id", "pages_router"]

#: ``/health/live`` and ``/health/ready``, at the root only.
health_router = health.router
#: The explorer page ``/``, outside the OpenAPI document.
pages_router = explorer.pages
#: Every versioned resource but the metrics, in the order of the OpenAPI document.
api_router = APIRouter()
api_router.include_router(placement.router)
api_router.include_router(explain.router)
api_router.include_router(segments.router)
api_router.include_router(model.router)
api_router.include_router(admin.router)
api_router.include_router(explorer.router)
#: ``GET /metrics``, mounted after :data:`api_router` with the keys of any role.
metrics_router = metrics.router
