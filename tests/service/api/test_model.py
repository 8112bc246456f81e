"""The model route (service.api.model): what the model is and what serves it. Its drift route is
tested with the drift counting, in tests/service/test_drift.py."""

from __future__ import annotations

import json
from pathlib import Path

from service.main import create_app
from service.schemas import ModelInfo
from tests.helpers import TestClient, copy_models, service_settings, small_training_settings
from training.run import TrainingResult, run
from training.runtime.artifacts import MANIFEST_FILE
from training.store.staging import finalize_manifest


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
    assert used <= {(c.id, c.name) for c in info.courses}


def test_model_info_carries_the_catalogue_and_what_each_entry_fits(
    client: TestClient, trained_small: TrainingResult
) -> None:
    """GET /model lists the school's catalogue as the model was trained with it (kind, family,
    tracks and stages it fits, description), each with the cohorts whose course it is: the
    counts add up to every segment x track, and only courses (never career services) get any."""
    answer = client.get("/model").json()
    info = ModelInfo.model_validate(answer)
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    assert info.courses is not None
    assert [{k: v for k, v in c.items() if k != "cohorts"} for c in answer["courses"]] == profiles[
        "catalogue"
    ]
    cohorts: dict[str, int] = {}
    for segment in profiles["segments"]:
        for cohort in segment["cohorts"]:  # once per course a learner of it may get
            for course in {cohort["course"], *cohort["by_stage"].values()}:
                cohorts[course] = cohorts.get(course, 0) + 1
    assert {c.id: c.cohorts for c in info.courses if c.cohorts} == cohorts
    assert sum(c.cohorts for c in info.courses) >= trained_small.k * len(profiles["tracks"])
    kinds = {c.kind for c in info.courses}
    assert kinds == {"course", "career service"}
    assert all(c.cohorts == 0 for c in info.courses if c.kind == "career service")
    data = next(c for c in info.courses if c.id == "data-science-ml")
    assert data.tracks == ["data"] and data.stages == [] and data.description


def test_a_model_without_a_stored_catalogue_lists_the_courses_it_answers(
    service_model_dir: Path, tmp_path: Path
) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / "LATEST").read_text().strip()
    profiles = json.loads((folder / "profiles.json").read_text(encoding="utf-8"))
    del profiles["catalogue"]
    (folder / "profiles.json").write_text(json.dumps(profiles), encoding="utf-8")
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    with TestClient(create_app(service_settings(models))) as client:
        info = ModelInfo.model_validate(client.get("/model").json())
    used = {
        course
        for s in profiles["segments"]
        for c in s["cohorts"]
        for course in (c["course"], *c["by_stage"].values())
    }
    assert info.courses is not None
    assert {c.id for c in info.courses} == used
    assert all(c.kind is None and c.cohorts > 0 for c in info.courses)
