"""API keys and roles (service.security): client keys place learners and read; admin keys may also
reload; keys are required everywhere but health and docs when any is configured; without an admin
key reloading is off; without any key the service is open (and refuses a public interface unless
told, see tests/service/test_cli.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.main import create_app
from service.security import NOT_ADMIN, RELOAD_OFF, UNAUTHORIZED
from tests.helpers import LEARNERS, TestClient, service_settings

KEYS = ("key-one-8f2d", "key-two-1c9e")
ADMIN = "admin-key-3b7a"
# Every client route: (method, path, JSON body)
CLIENT_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/segment", LEARNERS[0]),
    ("POST", "/segment/batch", {"learners": LEARNERS}),
    ("GET", "/segments", None),
    ("GET", "/segments?level=coarse", None),
    ("GET", "/segments/0", None),
    ("GET", "/model", None),
    ("GET", "/metrics", None),
]
RELOAD = ("POST", "/admin/reload", None)
PROTECTED = [*CLIENT_ROUTES, RELOAD]
OPEN = ["/health/live", "/health/ready", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def client(service_model_dir: Path) -> Iterator[TestClient]:
    app = create_app(service_settings(service_model_dir, api_keys=KEYS, admin_keys=(ADMIN,)))
    with TestClient(app) as client:
        yield client


def _call(client: TestClient, method: str, path: str, body: Any, **headers: str) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_protected_routes_need_a_key(client: TestClient, method: str, path: str, body: Any) -> None:
    for headers in (
        {},
        {"X-API-Key": "wrong"},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {KEYS[0]}"},
        {"Authorization": "Bearer"},
        {"X-API-Key": KEYS[0][:-1]},
        {"X-API-Key": KEYS[0] + "x"},
    ):
        response = _call(client, method, path, body, **headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json() == {"detail": UNAUTHORIZED}
        assert response.headers["www-authenticate"] == "Bearer"
    # each role where it belongs: the admin key everywhere, a client key but for reloading
    assert _call(client, method, path, body, **{"X-API-Key": ADMIN}).status_code == 200
    expected = 403 if (method, path, body) == RELOAD else 200
    assert _call(client, method, path, body, **{"X-API-Key": KEYS[0]}).status_code == expected
    bearer = _call(client, method, path, body, Authorization=f"Bearer {KEYS[1]}")
    assert bearer.status_code == expected
    lower = _call(client, method, path, body, Authorization=f"bearer {KEYS[0]}")
    assert lower.status_code == expected


def test_a_client_key_may_not_reload(client: TestClient) -> None:
    response = _call(client, *RELOAD, **{"X-API-Key": KEYS[0]})
    assert response.status_code == 403
    assert response.json() == {"detail": NOT_ADMIN}
    assert NOT_ADMIN == (
        "This key may place learners and read profiles; reloading the model needs an admin key."
    )
    admin = _call(client, *RELOAD, Authorization=f"Bearer {ADMIN}")
    assert admin.status_code == 200 and admin.json()["version"]


@pytest.mark.parametrize("keys", [(), KEYS], ids=["anonymous", "client keys only"])
def test_without_an_admin_key_reloading_is_off(
    service_model_dir: Path, keys: tuple[str, ...]
) -> None:
    headers = {"X-API-Key": keys[0]} if keys else {}
    app = create_app(service_settings(service_model_dir, api_keys=keys))
    with TestClient(app, headers=headers) as client:
        response = client.post("/admin/reload")
        assert response.status_code == 403
        assert response.json() == {"detail": RELOAD_OFF}
        assert client.get("/model").status_code == 200
    assert RELOAD_OFF == (
        "Reloading over HTTP is off: set LEARNSEG_ADMIN_KEYS and send an admin key to use it."
    )


def test_admin_keys_alone_protect_every_route(service_model_dir: Path) -> None:
    app = create_app(service_settings(service_model_dir, admin_keys=(ADMIN,)))
    with TestClient(app) as client:
        for method, path, body in PROTECTED:
            assert _call(client, method, path, body).status_code == 401, path
            assert _call(client, method, path, body, **{"X-API-Key": ADMIN}).status_code == 200


def test_the_401_text(client: TestClient) -> None:
    response = client.get("/model")
    assert response.json() == {
        "detail": "Missing or invalid API key: send it in the X-API-Key header or as "
        "Authorization: Bearer <key>."
    }


@pytest.mark.parametrize("path", OPEN)
def test_health_and_docs_stay_open(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_key_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/segment", content=b"{not json", headers={"content-type": "text/x"})
    assert response.status_code == 401


def test_openapi_declares_both_schemes(client: TestClient) -> None:
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A client key (LEARNSEG_API_KEYS) or an admin key (LEARNSEG_ADMIN_KEYS).",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("method", "path", "body"), CLIENT_ROUTES)
def test_no_keys_no_auth(service_model_dir: Path, method: str, path: str, body: Any) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        assert _call(client, method, path, body).status_code == 200
