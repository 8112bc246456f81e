"""The model route (service.api.model): what the model is and what serves it. Its drift route is
tested with the drift counting, in tests/service/test_drift.py."""

from __future__ import annotations

import json

from service.schemas import ModelInfo
from tests.helpers import TestClient
from training.run import TrainingResult


def test_model_info(client: TestClient, trained_small: TrainingResult) -> None:
    response = client.get("/model")
    assert response.status_code == 200
    info = ModelInfo.model_validate(response.json())
    assert info.version == trained_small.version
    assert info.k == trained_small.k
    assert len(info.data.fingerprint) == 64
    assert info.data.rows == trained_small.rows
    assert {"numpy", "scikit-learn", "python"} <= set(info.library_versions)
    assert {"kmeans", "hierarchical", "comparison"} <= set(info.metrics)
    assert info.trained_at.startswith("20")
    manifest = json.loads((trained_small.folder / "manifest.json").read_text())
    assert info.ids == manifest["ids"] and info.ids is not None
    assert "numbered by size" in info.ids["reason"]
