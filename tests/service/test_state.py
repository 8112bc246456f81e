"""The model being served (service.state): a reload swaps in a newly trained model, a failed one
keeps the old model serving and says why, and a service that started empty can reload."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import (
    LEARNERS,
    admin_client,
    copy_models,
    flip_byte,
    service_settings,
    small_training_settings,
)
from training.run import TrainingResult, run


def test_reload_serves_a_newly_trained_model(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    with admin_client(service_settings(model_dir)) as client:
        assert client.post("/segment", json=LEARNERS[0]).json()["model_version"] == (
            trained_small.version
        )
        second = run(small_training_settings(model_dir, seed=3))
        assert second.version != trained_small.version
        # Nothing changes until the reload.
        assert client.get("/model").json()["version"] == trained_small.version

        response = client.post("/admin/reload")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "version": second.version,
            "k": second.k,
            "previous_version": trained_small.version,
        }
        assert client.get("/health/ready").json()["model_version"] == second.version
        assert client.post("/segment", json=LEARNERS[0]).json()["model_version"] == second.version
        assert client.get("/model").json()["version"] == second.version
        metrics = client.get("/metrics").text
        assert f'learnseg_model_info{{version="{second.version}"}} 1.0' in metrics
        assert trained_small.version not in metrics.split("learnseg_model_info", 1)[1]
        assert 'learnseg_reloads_total{outcome="succeeded"} 1.0' in metrics

        back = client.post("/admin/reload", params={"version": trained_small.version})
        assert back.status_code == 200 and back.json()["version"] == trained_small.version
        body = client.post("/admin/reload", json={"version": second.version})
        assert body.status_code == 200 and body.json()["version"] == second.version


def test_a_failed_reload_keeps_the_old_model(
    service_model_dir: Path, trained_small: TrainingResult, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    bad = "20990101-000000"
    shutil.copytree(model_dir / trained_small.version, model_dir / bad)
    flip_byte(model_dir / bad / "profiles.json")
    with admin_client(service_settings(model_dir)) as client:
        response = client.post("/admin/reload", json={"version": bad})
        assert response.status_code == 409
        assert response.json() == {
            "detail": f"Reload failed and model {trained_small.version} keeps serving: "
            "profiles.json does not match its SHA-256 in the manifest: the artifact is "
            "corrupted or was modified."
        }
        missing = client.post("/admin/reload", params={"version": "20990101-000001"})
        assert missing.status_code == 409
        assert "is not in" in missing.json()["detail"]
        assert client.post("/admin/reload", params={"version": "../etc"}).status_code == 422
        conflict = client.post(
            "/admin/reload", params={"version": bad}, json={"version": trained_small.version}
        )
        assert conflict.status_code == 400
        assert client.get("/health/ready").status_code == 200
        served = client.post("/segment", json=LEARNERS[0]).json()
        assert served["model_version"] == trained_small.version
        assert 'learnseg_reloads_total{outcome="failed"} 2.0' in client.get("/metrics").text


def test_reload_after_starting_empty(service_model_dir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    with admin_client(service_settings(model_dir)) as client:
        failed = client.post("/admin/reload")
        assert failed.status_code == 409
        assert failed.json()["detail"].startswith(
            "Reload failed and no model is being served: No trained model in"
        )
        copy_models(service_model_dir, model_dir)
        response = client.post("/admin/reload")
        assert response.status_code == 200 and response.json()["previous_version"] is None
        assert client.get("/health/ready").status_code == 200
        assert client.post("/segment", json=LEARNERS[0]).status_code == 200
