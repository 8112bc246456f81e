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
    # the table's name, never a path (this model was trained on the embedded default)
    assert info.data.name == info.data.source == "embedded default"
    assert {"numpy", "scikit-learn", "python"} <= set(info.library_versions)
    assert {"kmeans", "hierarchical", "comparison"} <= set(info.metrics)
    assert info.trained_at.startswith("20")
    manifest = json.loads((trained_small.folder / "manifest.json").read_text())
    assert info.ids == manifest["ids"] and info.ids is not None
    assert "numbered by size" in info.ids["reason"]


def test_model_info_lists_the_track_map_and_the_courses(
    client: TestClient, trained_small: TrainingResult
) -> None:
    """The served model's title -> track map in match order (other and unknown last, without a
    pattern) and every course its placements answer, as profiles.json names them."""
    info = ModelInfo.model_validate(client.get("/model").json())
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    assert info.tracks is not None and info.courses is not None
    assert [(t.id, t.name) for t in info.tracks] == [
        (t["id"], t["name"]) for t in profiles["tracks"]
    ]
    assert [t.id for t in info.tracks][-2:] == ["other", "unknown"]
    assert all(t.pattern for t in info.tracks[:-2]) and info.tracks[-1].pattern is None
    used = {(c["course"], c["course_name"]) for s in profiles["segments"] for c in s["cohorts"]}
    assert {(c.id, c.name) for c in info.courses} == used
