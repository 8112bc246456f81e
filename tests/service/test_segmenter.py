"""The Segmenter (service.segmenter): both paths place like the trained pipeline, the kernel is
built from the joblib pipeline, and a model that disagrees with it, is of another format or
carries the drift reference of another model is refused (by the one verified-model loader)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from service.main import create_app
from service.segmenter import Segmenter, data_name, public_data
from tests.helpers import (
    JUNK,
    TestClient,
    admin_client,
    copy_models,
    joblib_assign,
    raw_learners,
    service_settings,
)
from training.data.synth import generate_learners
from training.run import TrainingResult
from training.runtime.artifacts import DRIFT_JSON, LATEST_FILE, MANIFEST_FILE, ArtifactError
from training.runtime.cleaning import apply_rules
from training.runtime.features import clean_columns, compute_features
from training.runtime.ops import ARRAY
from training.runtime.schema import RAW_FIELDS
from training.store.staging import finalize_manifest


def test_both_paths_place_like_the_trained_pipeline(
    segmenter: Segmenter, trained_small: TrainingResult, real_raw: pd.DataFrame
) -> None:
    """10,000 synthetic learners and the 116 genuine rows, junk included: the Segmenter's
    segment (numpy path for all, scalar path for 2,000) is the one segmenter.joblib (the
    scikit-learn pipeline) gives on the learners' features under the frozen rules."""
    model = segmenter.model
    for raw in (generate_learners(rows=10_000, seed=11), real_raw):
        learners = raw_learners(raw)
        columns = {name: [x[name] for x in learners] for name in RAW_FIELDS}
        clean = apply_rules(columns, model.rules, ARRAY)
        values = compute_features(clean_columns(clean), model.tables, ARRAY)
        x = np.column_stack([values[name] for name in model.features])
        expected = joblib_assign(trained_small.folder, x)
        placed = segmenter.place(columns)
        np.testing.assert_array_equal(model.segment_ids[placed.nearest], expected)
        scalar = [segmenter.assign(learner).segment_id for learner in learners[:2_000]]
        np.testing.assert_array_equal(scalar, expected[:2_000])


# ---------------------------------------------------------------------- the pipeline check
def test_the_kernel_is_built_from_the_joblib_pipeline(
    segmenter: Segmenter, trained_small: TrainingResult
) -> None:
    """Clip bounds, scaler and centres come from the unpickled pipeline; /model shows the check."""
    pipeline = joblib.load(trained_small.folder / "segmenter.joblib")["pipeline"]
    model = segmenter.model
    np.testing.assert_array_equal(model.lower, pipeline.named_steps["clip"].lower_)
    np.testing.assert_array_equal(model.scale, pipeline.named_steps["scale"].scale_)
    np.testing.assert_array_equal(model.centers, pipeline.named_steps["kmeans"].cluster_centers_)
    assert segmenter.pipeline_check == {"probes": 1000, "agree": 1000}
    with TestClient(create_app(service_settings(trained_small.folder.parent))) as client:
        assert client.get("/model").json()["pipeline_check"] == {"probes": 1000, "agree": 1000}


def _swap_two_centres(folder: Path) -> None:
    """Make segmenter.joblib place learners differently from segmenter.json (hashes re-sealed)."""
    bundle = joblib.load(folder / "segmenter.joblib")
    centers = bundle["pipeline"].named_steps["kmeans"].cluster_centers_
    centers[[0, 1]] = centers[[1, 0]]
    joblib.dump(bundle, folder / "segmenter.joblib")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, manifest)


def test_a_joblib_that_disagrees_with_the_json_is_refused_at_start_and_at_reload(
    service_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    good = (model_dir / "LATEST").read_text().strip()
    bad = "20990101-000000"
    shutil.copytree(model_dir / good, model_dir / bad)
    _swap_two_centres(model_dir / bad)
    with admin_client(service_settings(model_dir)) as client:
        reload = client.post("/admin/reload", json={"version": bad})
        assert reload.status_code == 409
        detail = reload.json()["detail"]
        assert detail.startswith(f"Reload failed and model {good} keeps serving: ")
        assert re.search(
            r"segmenter\.joblib and segmenter\.json disagree: \d+ of 1000 probe learners are "
            r"placed differently by the pipeline and the numpy kernel; the model is refused\.$",
            detail,
        )
        assert client.get("/health/ready").json()["model_version"] == good
        assert client.post("/segment", json=JUNK).json()["model_version"] == good
    (model_dir / "LATEST").write_text(bad + "\n")
    with TestClient(create_app(service_settings(model_dir))) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "probe learners are placed differently" in ready.json()["detail"]


def test_a_model_of_the_previous_format_is_refused_by_name(
    service_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    folder = model_dir / (model_dir / "LATEST").read_text().strip()
    doc = json.loads((folder / "segmenter.json").read_text(encoding="utf-8"))
    doc["format"] = "learnseg.segmenter/1"
    (folder / "segmenter.json").write_text(json.dumps(doc), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, manifest)
    with TestClient(create_app(service_settings(model_dir))) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["detail"] == (
        f"Model {folder.name} cannot be served: segmenter.json has format "
        "'learnseg.segmenter/1'; this learnseg reads 'learnseg.segmenter/5'. Retrain it with "
        "this learnseg."
    )


def test_the_confidence_threshold_survives_the_artifacts_and_both_paths_agree(
    segmenter: Segmenter, trained_small: TrainingResult
) -> None:
    """The threshold learned at training is the one served; single and batch paths give the same
    relative margin and confidence; a placement under the threshold is "low"; every profile has
    its low-confidence share."""
    doc = json.loads((trained_small.folder / "segmenter.json").read_text(encoding="utf-8"))
    threshold = doc["confidence"]["low_below_relative_margin"]
    assert 0 < threshold < 1
    assert segmenter.model.confidence_threshold == threshold
    learners = raw_learners(generate_learners(rows=3_000, seed=5))
    placed = segmenter.assignments(
        segmenter.place({name: [x[name] for x in learners] for name in RAW_FIELDS})
    )
    levels = {a.confidence for a in placed}
    assert levels == {"high", "low"}
    for learner, batch in zip(learners[:300], placed, strict=False):
        single = segmenter.assign(learner)
        assert batch.relative_margin is not None
        # math.dist and numpy may differ in the last bit of a distance
        assert single.relative_margin == pytest.approx(batch.relative_margin, rel=1e-12)
        assert single.confidence == batch.confidence
        assert (batch.confidence == "low") == (batch.relative_margin < threshold)
    low_share = sum(a.confidence == "low" for a in placed) / len(placed)
    assert 0.03 < low_share < 0.25  # about the 10th percentile of the training learners
    for profile in segmenter.profiles:
        assert 0 <= profile["low_confidence_share"] <= 1


def _edit_drift(model_dir: Path, edit: Callable[[dict[str, Any]], object]) -> str:
    """Change drift.json of the model LATEST names, re-seal its manifest; return the version."""
    folder = model_dir / (model_dir / LATEST_FILE).read_text().strip()
    doc = json.loads((folder / DRIFT_JSON).read_text(encoding="utf-8"))
    edit(doc)
    (folder / DRIFT_JSON).write_text(json.dumps(doc), encoding="utf-8")
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    return folder.name


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["features"][0].update(feature="log_ctc"),
        lambda doc: doc["segments"][0].update(segment_id=100),
    ],
    ids=["other features", "other segment ids"],
)
def test_a_drift_reference_of_another_model_is_refused_by_load(
    service_model_dir: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], object]
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    _edit_drift(model_dir, edit)
    with pytest.raises(ArtifactError) as refused:
        Segmenter.load(model_dir, drift_window=1_000)
    assert str(refused.value) == (
        "drift.json and segmenter.json describe different models (features or segment ids "
        "differ); the model is refused."
    )


def test_an_unusable_drift_reference_is_refused_by_load(
    service_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = copy_models(service_model_dir, tmp_path / "models")
    version = _edit_drift(model_dir, lambda doc: doc.pop("features"))
    with pytest.raises(ArtifactError, match=r"drift\.json is not usable") as refused:
        Segmenter.load(model_dir)
    assert str(refused.value).startswith(f"Model {version} cannot be served: drift.json is not ")
    assert str(refused.value).endswith(". Retrain it with this learnseg.")


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("embedded default (synthetic, 205843 rows, seed 0)", "embedded default"),
        ("/srv/private/exports/2026-12/learners.csv", "learners.csv"),
        ("data/learners.csv.gz", "learners.csv.gz"),
        ("learners.parquet", "learners.parquet"),
        ("C:\\Users\\ana\\Desktop\\learners.csv", "learners.csv"),
        (
            "https://user:pw@data.example.com:8443/exports/learners.csv?token=s3cr3t#x",
            "data.example.com/learners.csv",
        ),
        ("https://data.example.com/", "data.example.com"),
        ("dataframe", "dataframe"),
        ("", "unnamed"),
    ],
)
def test_the_data_is_named_never_located(source: str, name: str) -> None:
    """GET /model names the training table by its file's name, a URL's host and file name, or
    "embedded default": no folder, query, port or credentials."""
    assert data_name(source) == name
    shown = public_data(
        {"source": source, "fingerprint": "f" * 64, "rows": 10, "learners": 9, "path": source}
    )
    assert shown == {
        "name": name,
        "source": name,
        "fingerprint": "f" * 64,
        "rows": 10,
        "learners": 9,
    }
