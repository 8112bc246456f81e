"""Cross-origin requests (service.cors): off by default (no CORS header, a preflight is a 405 with
a sentence); with an allow-list, a preflight from a listed origin is answered, one from another
origin or asking another method is a 400 with a sentence, and answers to a listed origin carry it
and expose the service's headers. A key is still needed for the request itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.config import ServiceSettings
from service.main import create_app
from tests.helpers import LEARNERS, TestClient, service_settings

ORIGIN = "https://admin.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "x-api-key, content-type",
}


def test_off_by_default_a_preflight_is_a_405(service_model_dir: Path) -> None:
    assert ServiceSettings.model_fields["cors_origins"].default == ()
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        preflight = client.options("/v1/segment", headers=PREFLIGHT)
        assert preflight.status_code == 405
        assert preflight.json() == {"detail": "/v1/segment does not accept OPTIONS."}
        answer = client.post("/v1/segment", json=LEARNERS[0], headers={"Origin": ORIGIN})
        assert answer.status_code == 200
        assert not any(name.startswith("access-control-") for name in answer.headers)


def test_a_listed_origin_is_answered_and_others_are_refused(service_model_dir: Path) -> None:
    settings = service_settings(
        service_model_dir, cors_origins=(ORIGIN, "http://localhost:5173"), api_keys=("ui:k-ui",)
    )
    with TestClient(create_app(settings)) as client:
        preflight = client.options("/v1/segment", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert preflight.headers["access-control-allow-methods"] == "GET, POST"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"x-api-key", "authorization", "content-type", "x-request-id"} <= set(
            allowed.replace(" ", "").split(",")
        )
        assert preflight.headers["access-control-max-age"] == "600"
        assert "access-control-allow-credentials" not in preflight.headers

        answer = client.post(
            "/v1/segment", json=LEARNERS[0], headers={"Origin": ORIGIN, "X-API-Key": "k-ui"}
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == ORIGIN
        exposed = answer.headers["access-control-expose-headers"]
        assert exposed == "X-Request-ID, X-Model-Version, Retry-After"
        # the allow-list opens browsers, not the API: the key is still needed
        assert (
            client.post("/v1/segment", json=LEARNERS[0], headers={"Origin": ORIGIN}).status_code
            == 401
        )

        other = client.options(
            "/v1/segment", headers={**PREFLIGHT, "Origin": "https://evil.example"}
        )
        assert other.status_code == 400
        assert other.json() == {
            "detail": "This cross-origin request is refused: its origin is not allowed (origins: "
            "LEARNSEG_CORS_ORIGINS; methods: GET, POST; headers: X-API-Key, Authorization, "
            "Content-Type, X-Request-ID)."
        }
        assert "access-control-allow-origin" not in other.headers
        put = client.options(
            "/v1/segment", headers={**PREFLIGHT, "Access-Control-Request-Method": "DELETE"}
        )
        assert put.status_code == 400 and "its method is not allowed" in put.json()["detail"]
        answer = client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers


def test_origins_are_a_comma_separated_list_checked_at_start(
    no_learnseg_env: pytest.MonkeyPatch,
) -> None:
    no_learnseg_env.setenv("LEARNSEG_CORS_ORIGINS", " https://a.example ,http://localhost:5173/,,")
    assert ServiceSettings().cors_origins == ("https://a.example", "http://localhost:5173")
    assert ServiceSettings(cors_origins="*").cors_origins == ("*",)
    for bad in ("a.example", "https://a.example/path", "ftp://a.example", "https://"):
        with pytest.raises(ValidationError) as info:
            ServiceSettings(cors_origins=bad)
        assert info.value.errors()[0]["msg"] == (
            "Value error, each origin is a scheme and a host, with a port if any and no path "
            "(https://admin.example.com), or *"
        )
