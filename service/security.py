"""API keys and their two roles: who may use the API, and who may also reload the model.

**Client keys** (``LEARNSEG_API_KEYS``) place learners and read profiles, the model and the
metrics; **admin keys** (``LEARNSEG_ADMIN_KEYS``) may do all that and also reload the model. A
key is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``. When any key is
configured, every route but ``/health/live``, ``/health/ready`` and the docs needs one; the docs
stay open because they hold no data (turn them off with ``LEARNSEG_DOCS=false``), health stays
open for probes. ``POST /admin/reload`` always needs an admin key: without admin keys reloading
over HTTP is off (403; the service still follows a restart). With no key at all the service is
anonymous, which it refuses on a non-loopback interface unless ``LEARNSEG_ALLOW_ANONYMOUS=true``
(``service.__main__``). A key is compared with every configured key in constant time
(``hmac.compare_digest``, no early exit), so timing tells nothing about which key or how much of
it matched.

Both checks are ``async def`` dependencies: they take microseconds, and a plain ``def`` would
cost a hop to the threadpool per request.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

__all__ = [
    "NOT_ADMIN",
    "RELOAD_OFF",
    "UNAUTHORIZED",
    "require_admin_key",
    "require_api_key",
]

UNAUTHORIZED = (
    "Missing or invalid API key: send it in the X-API-Key header or as Authorization: Bearer <key>."
)
RELOAD_OFF = "Reloading over HTTP is off: set LEARNSEG_ADMIN_KEYS and send an admin key to use it."
NOT_ADMIN = "This key may place learners and read profiles; reloading the model needs an admin key."

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="A client key (LEARNSEG_API_KEYS) or an admin key (LEARNSEG_ADMIN_KEYS).",
)
_bearer = HTTPBearer(auto_error=False, description="A client or an admin key, as a bearer token.")


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
