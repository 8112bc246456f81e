"""The routes' dependencies (service.deps): a body must be declared as JSON, and a request is
answered by the model served or by the version it pins (503 without a model, 409 for a version
not loaded, the version that answered in X-Model-Version)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.deps import NOT_JSON
from service.main import create_app
from tests.helpers import LEARNERS, TestClient, service_settings
from training.run import TrainingResult


def test_wrong_content_type_says_what_to_send(client: TestClient) -> None:
    response = client.post("/segment", content=b"ctc=5", headers={"content-type": "text/csv"})
    assert response.status_code == 415
    assert response.json() == {
        "detail": "Send the body as JSON, with the header Content-Type: application/json."
    }
    ok = client.post(
        "/segment",
        content=b'{"ctc": 5}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json", 200),
        ("Application/JSON; charset=utf-8", 200),
        ("application/learner+json", 200),
        ("text/json", 415),
        ("application/jsonl", 415),
        ("", 415),
    ],
)
def test_json_media_types(client: TestClient, content_type: str, status: int) -> None:
    body = b'{"ctc": 900000}'
    response = client.post("/v1/segment", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json() == {"detail": NOT_JSON}


def test_a_request_pins_a_loaded_version_or_gets_a_409(
    client: TestClient, trained_small: TrainingResult
) -> None:
    served = trained_small.version
    pinned = client.get("/v1/segments", params={"version": served})
    assert pinned.status_code == 200 and pinned.headers["x-model-version"] == served
    placed = client.post("/v1/segment", params={"version": served}, json=LEARNERS[0])
    assert placed.status_code == 200 and placed.headers["x-model-version"] == served
    missing = client.get("/v1/model", params={"version": "19990101-000000"})
    assert missing.status_code == 409
    assert missing.json() == {
        "detail": f"Model version 19990101-000000 is not loaded; the loaded versions are {served} "
        "(the first is served when no version is given)."
    }
    assert "x-model-version" not in missing.headers
    assert client.get("/v1/model", params={"version": "../x"}).status_code == 422


def test_without_a_model_every_model_route_is_a_503_with_the_reason(tmp_path: Path) -> None:
    with TestClient(create_app(service_settings(tmp_path / "models"))) as client:
        reason = client.get("/health/ready").json()["detail"]
        for response in (
            client.get("/v1/segments"),
            client.get("/v1/model", params={"version": "20260101-000000"}),
            client.post("/v1/segment", json=LEARNERS[0]),
        ):
            assert response.status_code == 503
            assert response.json() == {"detail": reason}
            assert "x-model-version" not in response.headers
