"""The app (service.main): it starts without a usable model and says why on every model route,
and its error handlers turn Starlette's defaults into sentences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.main import create_app
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
            f"No trained model in {model_dir}/: run `make train` (or `python -m training train`) "
            "first."
        )
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
