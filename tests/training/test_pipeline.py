"""The training run end to end: artifacts, determinism, the engine-free contract, stable ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from typer.testing import CliRunner

from tests.conftest import small_training_settings
from training.__main__ import app
from training.clustering import fit_kmeans
from training.config import TrainingSettings
from training.features import build_learner_data
from training.model import preprocess
from training.pipeline import TrainingResult, load_raw, run
from training.runtime import artifacts
from training.runtime.features import learner_features
from training.runtime.segmenter import EngineFreeSegmenter

EXPECTED_FILES = {
    "segmenter.joblib",
    "segmenter.json",
    "probes.json",
    "profiles.json",
    "report.html",
    "plots/elbow.png",
    "plots/dendrogram.png",
    "plots/segment_map.png",
    "plots/profile_heatmap.png",
    "plots/ctc_experience.png",
}


def _numpy_assign(doc: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """A from-scratch re-implementation of assignment from segmenter.json alone."""
    pre = doc["preprocessing"]
    z = (np.clip(x, pre["clip_lower"], pre["clip_upper"]) - pre["mean"]) / pre["scale"]
    centers = np.asarray(doc["kmeans"]["centers"])
    nearest = ((z[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    ids: np.ndarray = np.asarray(doc["kmeans"]["segment_ids"])[nearest]
    return ids


def _joblib_assign(folder: Path, x: np.ndarray) -> np.ndarray:
    bundle = joblib.load(folder / "segmenter.joblib")
    ids: np.ndarray = np.asarray(bundle["segment_ids"])[bundle["pipeline"].predict(x)]
    return ids


def test_artifacts_are_complete_and_verified(trained_small: TrainingResult) -> None:
    folder = trained_small.folder
    manifest = artifacts.verify_model(folder)
    assert set(manifest["files"]) == EXPECTED_FILES
    assert (folder.parent / "LATEST").read_text().strip() == trained_small.version
    for key in ("created_at", "versions", "k", "k_choice", "reference_year", "data", "cleaning"):
        assert key in manifest, key
    metrics = manifest["metrics"]
    assert set(metrics) >= {"sweep", "kmeans", "hierarchical", "comparison"}
    assert len(metrics["sweep"]["ks"]) == 7  # 2..8
    comparison = metrics["comparison"]
    assert 0 <= comparison["ari"] <= 1 and 0 <= comparison["nmi"] <= 1
    assert sum(map(sum, comparison["contingency"])) == trained_small.learners
    assert manifest["data"]["fingerprint"] and manifest["data"]["rows"] == 20_000
    assert manifest["reference_year"] == 2022


def test_profiles_describe_every_segment(trained_small: TrainingResult) -> None:
    profiles = json.loads((trained_small.folder / "profiles.json").read_text())
    segments = profiles["segments"]
    assert [s["id"] for s in segments] == list(range(trained_small.k))
    assert sum(s["size"] for s in segments) == trained_small.learners
    assert len({s["name"] for s in segments}) == len(segments)
    for s in segments:
        assert 2 <= len(s["recommendations"]) <= 4
        assert s["ctc_inr"]["p10"] <= s["ctc_inr"]["p50"] <= s["ctc_inr"]["p90"]
        assert s["center"]["ctc_lpa"] == pytest.approx(s["center"]["ctc_inr"] / 1e5, abs=0.01)
        assert s["nearest_segment"]["id"] != s["id"]
        assert "match" in s["hierarchical_match"]
        assert s["top_role_families"] and s["company_tiers"]
    coarse = profiles["coarse"]
    assert 2 <= len(coarse) <= 3
    assert sorted(x for c in coarse for x in c["segments"]) == list(range(trained_small.k))
    assert sum(c["size"] for c in coarse) == trained_small.learners


def test_same_seed_gives_identical_artifacts(tmp_path: Path) -> None:
    a = run(small_training_settings(tmp_path / "a"))
    b = run(small_training_settings(tmp_path / "b"))
    for name in EXPECTED_FILES - {"report.html"}:
        assert (a.folder / name).read_bytes() == (b.folder / name).read_bytes(), name
    report_a = (a.folder / "report.html").read_text().replace(a.version, "V")
    report_b = (b.folder / "report.html").read_text().replace(b.version, "V")
    ma = json.loads((a.folder / "manifest.json").read_text())
    mb = json.loads((b.folder / "manifest.json").read_text())
    report_a = report_a.replace(ma["created_at"], "T")
    report_b = report_b.replace(mb["created_at"], "T")
    assert report_a == report_b
    for m in (ma, mb):
        for key in ("version", "created_at", "timings", "files", "settings", "manifest_sha256"):
            m.pop(key)
        m["metrics"]["hierarchical"].pop("seconds")
    assert ma == mb


def test_engine_free_json_reproduces_joblib_on_default_and_real_rows(
    trained_default: TrainingResult, real_raw: pd.DataFrame
) -> None:
    folder = trained_default.folder
    doc = json.loads((folder / "segmenter.json").read_text())
    model = EngineFreeSegmenter.from_dict(doc)
    # every learner of the default data, batch path
    raw, _ = load_raw(TrainingSettings())
    data = build_learner_data(raw, TrainingSettings())
    x = data.features[list(model.features)].to_numpy()
    expected = _joblib_assign(folder, x)
    assert len(expected) == 153_443
    np.testing.assert_array_equal(_numpy_assign(doc, x), expected)
    np.testing.assert_array_equal(model.segment_ids[model.assign(x)], expected)
    # every row of the genuine raw rows, single-learner path (frozen rules and tables only)
    rows = [
        learner_features({str(k): v for k, v in r.items()}, model.rules, model.tables)
        for r in real_raw.to_dict(orient="records")
    ]
    assert all(r.valid for r in rows) and len(rows) == 116
    xr = model.matrix({name: [r.features[name] for r in rows] for name in model.features})
    np.testing.assert_array_equal(_numpy_assign(doc, xr), _joblib_assign(folder, xr))
    np.testing.assert_array_equal(model.segment_ids[model.assign(xr)], _joblib_assign(folder, xr))


def test_default_model_k_and_seed_stability(trained_default: TrainingResult) -> None:
    assert trained_default.k_choice.source == "knee"
    assert 3 <= trained_default.k <= 8
    bundle = joblib.load(trained_default.folder / "segmenter.joblib")
    raw, _ = load_raw(TrainingSettings())
    x = build_learner_data(raw, TrainingSettings()).features[bundle["features"]].to_numpy()
    z = preprocess(bundle["pipeline"], x)
    other = fit_kmeans(z, trained_default.k, seed=1, n_init=10).labels_
    assert adjusted_rand_score(bundle["pipeline"][-1].labels_, other) >= 0.95


def test_flipped_byte_is_detected(trained_small: TrainingResult, tmp_path: Path) -> None:
    copy = tmp_path / trained_small.version
    subprocess.run(["cp", "-r", str(trained_small.folder), str(copy)], check=True)
    target = copy / "segmenter.json"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(artifacts.ArtifactError, match=r"segmenter\.json does not match"):
        artifacts.verify_model(copy)


def test_previous_model_keeps_segment_ids(trained_small: TrainingResult, tmp_path: Path) -> None:
    again = run(small_training_settings(tmp_path, seed=7, previous=trained_small.folder))
    old = json.loads((trained_small.folder / "profiles.json").read_text())["segments"]
    new = json.loads((again.folder / "profiles.json").read_text())["segments"]
    assert again.k == trained_small.k
    for before, after in zip(old, new, strict=True):
        assert after["id"] == before["id"]
        assert after["size"] == pytest.approx(before["size"], rel=0.1)
        assert after["center"]["ctc_inr"] == pytest.approx(before["center"]["ctc_inr"], rel=0.15)


def test_report_command_rebuilds_and_manifest_still_verifies(
    trained_small: TrainingResult, tmp_path: Path
) -> None:
    copy = tmp_path / trained_small.version
    subprocess.run(["cp", "-r", str(trained_small.folder), str(copy)], check=True)
    (copy / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 0, result.output
    page = (copy / "report.html").read_text()
    assert "Who are our learners?" in page and "plots/elbow.png" in page
    assert "K-Means against the hierarchical (Ward) reference" in page
    artifacts.verify_model(copy)


def test_report_refuses_a_tampered_model(trained_small: TrainingResult, tmp_path: Path) -> None:
    copy = tmp_path / trained_small.version
    subprocess.run(["cp", "-r", str(trained_small.folder), str(copy)], check=True)
    (copy / "profiles.json").write_text("{}")
    result = CliRunner().invoke(app, ["report", str(copy)])
    assert result.exit_code == 2
    assert "profiles.json does not match" in result.stderr


def test_train_cli_summary_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["train", "--hierarchical", "fast", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "two-stage or exact" in bad.stderr
    bad = runner.invoke(app, ["train", "--previous", str(tmp_path), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "not a model folder" in bad.stderr
    missing = runner.invoke(app, ["train", "--data", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_killed_run_leaves_latest_untouched(trained_small: TrainingResult, tmp_path: Path) -> None:
    model_dir = tmp_path / "models"
    subprocess.run(["cp", "-r", str(trained_small.folder.parent), str(model_dir)], check=True)
    before = (model_dir / "LATEST").read_text()
    env = os.environ | {"LEARNSEG_SYNTH_ROWS": "205843"}  # a run of ~20 s: killed well before
    proc = subprocess.Popen(
        [sys.executable, "-m", "training", "train", "--out", str(model_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(5.0)  # mid-way: cleaning or sweeping
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (model_dir / "LATEST").read_text() == before
    artifacts.verify_model(artifacts.resolve_model(model_dir))
    assert artifacts.list_versions(model_dir) == [before.strip()]
