"""The app (service.main): it starts without a usable model and says why on every model route,
its error handlers turn Starlette's defaults into sentences, it mounts the API under /v1 and at
the root (aliases left out of the document), documents it, and serves the docs offline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from service.main import create_app
from service.schemas import LEARNER_EXAMPLE
from tests.helpers import LEARNERS, TestClient, copy_models, flip_byte, service_settings
from training.store.staging import seal_manifest

MODEL_ROUTES = [
    ("POST", "/segment"),
    ("POST", "/segment/batch"),
    ("GET", "/segments"),
    ("GET", "/segments/0"),
    ("GET", "/model"),
]
BODIES = {"/segment": LEARNERS[0], "/segment/batch": {"learners": LEARNERS}}


def _assert_not_ready(client: TestClient, reason: str) -> None:
    assert client.get("/health/live").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert reason in ready.json()["detail"]
    for method, path in MODEL_ROUTES:
        response = client.request(method, path, json=BODIES.get(path))
        assert response.status_code == 503, path
        assert response.json() == ready.json()


@pytest.mark.parametrize("layout", ["missing", "empty"])
def test_starts_without_a_model(tmp_path: Path, layout: str) -> None:
    model_dir = tmp_path / "models"
    if layout == "empty":
        model_dir.mkdir()
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(client, "No trained model")
        detail = client.get("/health/ready").json()["detail"]
        assert detail == (
            "No trained model in models/: run `make train` (or `python -m training train`) first."
        )
        assert str(tmp_path) not in detail  # the server's folders stay in its log
        assert "learnseg_model_ready 0.0" in client.get("/metrics").text


def test_a_corrupted_model_is_refused_at_start(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    version = (model_dir / "LATEST").read_text().strip()
    flip_byte(model_dir / version / "segmenter.json")
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(
            client,
            "segmenter.json does not match its SHA-256 in the manifest: the artifact is "
            "corrupted or was modified.",
        )


def test_other_library_versions_are_refused(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    manifest_path = model_dir / (model_dir / "LATEST").read_text().strip() / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["versions"]["scikit-learn"] = "0.1.0"
    manifest_path.write_text(json.dumps(seal_manifest(manifest)))  # as if written by 0.1
    with TestClient(create_app(service_settings(model_dir))) as client:
        _assert_not_ready(client, "This model was written with scikit-learn 0.1 but")


def test_unknown_route_and_method(client: TestClient) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "There is no route /nope; see /docs for the API."}
    wrong = client.get("/segment")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "/segment does not accept GET."}


def test_docs_can_be_turned_off(service_model_dir: Path) -> None:
    with TestClient(create_app(service_settings(service_model_dir, docs=False))) as client:
        assert client.get("/docs").status_code == 404
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/redoc").status_code == 404
        assert client.get("/nope").json() == {"detail": "There is no route /nope."}
        assert client.post("/segment", json=LEARNERS[0]).status_code == 200


def test_openapi_documents_every_route_with_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    # The API under /v1/ (its unprefixed aliases are served but not documented twice).
    assert set(schema["paths"]) == {
        "/v1/segment",
        "/v1/segment/batch",
        "/v1/segment/explain",
        "/v1/segments",
        "/v1/segments/{segment_id}",
        "/v1/model",
        "/v1/model/drift",
        "/health/live",
        "/health/ready",
        "/v1/admin/reload",
        "/v1/plots/{name}.png",
        "/v1/metrics",
    }
    components = schema["components"]["schemas"]
    body = schema["paths"]["/v1/segment"]["post"]["requestBody"]["content"]["application/json"]
    # one Learner component, used by both placement routes
    assert body["schema"] == {"$ref": "#/components/schemas/Learner"}
    assert components["Learner"]["required"] == ["ctc"]
    assert components["Learner"]["additionalProperties"] is False
    assert {"a clean learner", "junk to repair"} <= set(body["examples"])
    batch = schema["paths"]["/v1/segment/batch"]["post"]["requestBody"]["content"]
    assert batch["application/json"]["schema"] == {"$ref": "#/components/schemas/BatchRequest"}
    items = components["BatchRequest"]["properties"]["learners"]["items"]
    # A learner, or any other value: that item gets an error.
    assert items["anyOf"] == [{"$ref": "#/components/schemas/Learner"}, {}]
    text = json.dumps(schema)
    assert all(
        ref.removeprefix("#/components/schemas/") in components
        for ref in (part.split('"')[0] for part in text.split('"$ref": "')[1:])
    )  # no dangling reference
    operation_ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert {
        "segmentLearner",
        "segmentBatch",
        "explainLearner",
        "listSegments",
        "getSegment",
        "getModel",
        "reloadModel",
        "getReadiness",
        "getLiveness",
        "getMetrics",
    } <= set(operation_ids)
    assert len(operation_ids) == len(set(operation_ids))
    ok = schema["paths"]["/v1/segment"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/SegmentResult"}
    assert schema["components"]["schemas"]["SegmentResult"]["examples"]
    # No keys configured, the document is still a keyed service's (one document however the
    # service is configured): every operation but health names the key it would ask for.
    open_ops = {
        (path, method)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if not operation.get("security")
    }
    assert open_ops == {("/health/live", "get"), ("/health/ready", "get")}
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    # Response headers are documented: the request id everywhere, the model version on a
    # model route's answers (with the version parameter that pins it), Retry-After on a 503.
    placed = schema["paths"]["/v1/segment"]["post"]
    assert [p["name"] for p in placed["parameters"]] == ["version"]
    assert set(placed["responses"]["200"]["headers"]) == {"X-Request-ID", "X-Model-Version"}
    assert set(placed["responses"]["503"]["headers"]) == {"X-Request-ID", "Retry-After"}
    assert "409" in placed["responses"]
    live = schema["paths"]["/health/live"]["get"]["responses"]["200"]
    assert set(live["headers"]) == {"X-Request-ID"}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/segment", LEARNER_EXAMPLE),
        ("POST", "/segment/batch", {"learners": [LEARNER_EXAMPLE, {"ctc": -1}]}),
        ("GET", "/segments", None),
        ("GET", "/segments/0?level=coarse", None),
        ("GET", "/model", None),
        ("GET", "/segments/99", None),
    ],
)
def test_unprefixed_paths_are_aliases_of_v1(
    client: TestClient, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """/v1/x and /x answer alike, and count as one route in the metrics."""
    versioned = client.request(method, "/v1" + path, json=body)
    alias = client.request(method, path, json=body)
    assert versioned.status_code == alias.status_code
    assert versioned.json() == alias.json()
    route = path.split("?")[0].replace("/0", "/{segment_id}").replace("/99", "/{segment_id}")
    metrics = client.get("/v1/metrics").text
    assert f'route="{route}"' in metrics
    assert f'route="/v1{route}"' not in metrics


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_need_no_internet(client: TestClient, page: str) -> None:
    """/docs and /redoc load their scripts and styles from the service itself, not a CDN."""
    html = client.get(page).text
    assert "http://" not in html and "https://" not in html, html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/docs-assets/") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1_000, asset
