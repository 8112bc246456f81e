"""Dependencies of the routes, as ``Annotated`` aliases, and the API-key checks.

Two roles. **Client keys** (``LEARNSEG_API_KEYS``) place learners and read profiles, the model
and the metrics; **admin keys** (``LEARNSEG_ADMIN_KEYS``) may do all that and also reload the
model. A key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. When any key is
configured, every route but ``/health/live``, ``/health/ready`` and the docs needs one; the docs
stay open because they hold no data (turn them off with ``LEARNSEG_DOCS=false``), health stays
open for probes. ``POST /admin/reload`` always needs an admin key: without admin keys reloading
over HTTP is off (403; the service still follows a restart). With no key at all the service is
anonymous, which it refuses on a non-loopback interface unless ``LEARNSEG_ALLOW_ANONYMOUS=true``
(``service.__main__``). A key is compared with every configured key in constant time
(``hmac.compare_digest``, no early exit), so timing tells nothing about which key or how much of
it matched.

Every dependency is ``async def``: they take microseconds, and a plain ``def`` would cost a hop
to the threadpool per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.config import ServiceSettings
from service.metrics import ServiceMetrics
from service.middleware import MODEL_VERSION_KEY
from service.segmenter import Segmenter
from service.state import ModelHolder, VersionNotLoadedError

UNAUTHORIZED = (
    "Missing or invalid API key: send it in the X-API-Key header or as Authorization: Bearer <key>."
)
NOT_JSON = "Send the body as JSON, with the header Content-Type: application/json."
RELOAD_OFF = "Reloading over HTTP is off: set LEARNSEG_ADMIN_KEYS and send an admin key to use it."
NOT_ADMIN = "This key may place learners and read profiles; reloading the model needs an admin key."

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A client key (LEARNSEG_API_KEYS) or an admin key (LEARNSEG_ADMIN_KEYS).",
)
_bearer = HTTPBearer(auto_error=False, description="A client or an admin key, as a bearer token.")


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
    the learner (see ``service.routes``).
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


def _given_key(api_key: str | None, bearer: HTTPAuthorizationCredentials | None) -> bytes | None:
    given = api_key if api_key else (bearer.credentials if bearer else None)
    # Header values arrive decoded as latin-1: encoding back gives the bytes as sent.
    return given.encode("latin-1", "replace") if given is not None else None


def _matches(candidate: bytes | None, keys: tuple[bytes, ...]) -> bool:
    if candidate is None:
        return False
    matched = False
    for key in keys:  # every key, always: no early exit
        matched |= hmac.compare_digest(candidate, key)
    return matched


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail=UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_api_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """401 unless the request carries a client or an admin key (no-op without any key)."""
    state = request.app.state
    keys: tuple[bytes, ...] = state.api_keys + state.admin_keys
    if not keys:
        return
    if not _matches(_given_key(api_key, bearer), keys):
        raise _unauthorized()


async def require_admin_key(
    request: Request,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """403 when reloading is off (no admin key configured) or the key is a client key; 401
    without a valid key."""
    state = request.app.state
    admin: tuple[bytes, ...] = state.admin_keys
    if not admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=RELOAD_OFF)
    given = _given_key(api_key, bearer)
    if _matches(given, admin):
        return
    if _matches(given, state.api_keys):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=NOT_ADMIN)
    raise _unauthorized()


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
