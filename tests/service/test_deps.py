"""API keys (service.deps): required everywhere but health and docs when configured; off when
not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.deps import UNAUTHORIZED
from service.main import create_app
from tests.helpers import LEARNERS, TestClient, service_settings

KEYS = ("key-one-8f2d", "key-two-1c9e")
# Every route that needs a key: (method, path, JSON body)
PROTECTED: list[tuple[str, str, Any]] = [
    ("POST", "/segment", LEARNERS[0]),
    ("POST", "/segment/batch", {"learners": LEARNERS}),
    ("GET", "/segments", None),
    ("GET", "/segments?level=coarse", None),
    ("GET", "/segments/0", None),
    ("GET", "/model", None),
    ("GET", "/metrics", None),
    ("POST", "/admin/reload", None),
]
OPEN = ["/health/live", "/health/ready", "/docs", "/openapi.json"]


@pytest.fixture(scope="module")
def client(service_model_dir: Path) -> Iterator[TestClient]:
    app = create_app(service_settings(service_model_dir, api_keys=KEYS))
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
    assert _call(client, method, path, body, **{"X-API-Key": KEYS[0]}).status_code == 200
    bearer = _call(client, method, path, body, Authorization=f"Bearer {KEYS[1]}")
    assert bearer.status_code == 200
    lower = _call(client, method, path, body, Authorization=f"bearer {KEYS[0]}")
    assert lower.status_code == 200


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
        "description": "One of LEARNSEG_API_KEYS.",
    }
    assert schemes["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_no_keys_no_auth(service_model_dir: Path, method: str, path: str, body: Any) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        assert _call(client, method, path, body).status_code == 200
