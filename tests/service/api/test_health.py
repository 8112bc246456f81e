"""The health probes (service.api.health): liveness always, readiness with the model served."""

from __future__ import annotations

from tests.helpers import TestClient
from training.run import TrainingResult


def test_health(client: TestClient, trained_small: TrainingResult) -> None:
    assert client.get("/health/live").json() == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": trained_small.version}
