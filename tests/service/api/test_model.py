"""The model route (service.api.model): what the model is and what serves it. Its drift route is
tested with the drift counting, in tests/service/test_drift.py."""

from __future__ import annotations

import json
from pathlib import Path

from service.main import create_app
from service.schemas import ModelInfo
from tests.helpers import TestClient, copy_models, service_settings, small_training_settings
from training.run import TrainingResult, run


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
    assert info.churn == manifest["churn"] and info.churn is not None
    assert info.churn["previous_version"] is None
    assert info.churn["measures"].startswith("Not measured: the segment ids were numbered by size")


def test_model_info_shows_the_manifest_s_churn_and_what_it_measures(
    trained_small: TrainingResult, tmp_path: Path
) -> None:
    """A model retrained over another shows its churn figures and sentence as the manifest has
    them."""
    model_dir = copy_models(trained_small.folder.parent, tmp_path / "models")
    again = run(small_training_settings(model_dir, seed=3, k=trained_small.k))
    manifest = json.loads((again.folder / "manifest.json").read_text())
    with TestClient(create_app(service_settings(model_dir))) as client:
        info = ModelInfo.model_validate(client.get("/model").json())
    assert info.version == again.version and info.churn == manifest["churn"]
    assert info.churn is not None and info.churn["previous_version"] == trained_small.version
    assert f"{info.churn['moved']:,} ({info.churn['share_moved']:.2%})" in info.churn["measures"]


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
