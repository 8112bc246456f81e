"""python -m training drift (training.batch.drift): the service's drift figures for a new table,
offline; exit code 1 when a feature drifted majorly; the very numbers GET /model/drift gives for
the same learners; and one sentence for a model without a usable drift reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from typer.testing import CliRunner

from service.main import create_app
from tests.helpers import TestClient, copy_models, service_settings
from tests.training.batch.helpers import model_with_foreign_drift
from training.__main__ import app
from training.data.synth import write_learners
from training.runtime.artifacts import DRIFT_JSON, KERNEL_JSON, LATEST_FILE, MANIFEST_FILE
from training.store.staging import finalize_manifest

runner = CliRunner()


def _drift(model: Path, data: Path, *extra: str) -> Any:
    result = runner.invoke(app, ["drift", "--model", str(model), "--data", str(data), *extra])
    assert "Traceback" not in result.output
    return result


def _table(raw: pd.DataFrame, n: int, seed: int, ctc_factor: float, path: Path) -> pd.DataFrame:
    rows = raw.sample(n=n, random_state=seed).reset_index(drop=True)
    rows["ctc"] = rows["ctc"] * ctc_factor
    write_learners(rows, path)
    return rows


def test_unshifted_learners_are_stable_and_exit_0(
    service_model_dir: Path, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "same.csv"
    _table(small_raw, 5000, 7, 1.0, source)
    result = _drift(service_model_dir, source, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "stable"
    assert report["rows"] == 5000 and report["count"] + report["errors"] == 5000
    assert all(f["psi"] < 0.1 for f in report["features"])
    shown = _drift(service_model_dir, source)
    assert shown.exit_code == 0 and "verdict: stable" in shown.stdout


def test_ctc_times_three_is_major_for_pay_and_exits_1(
    service_model_dir: Path, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "paid3x.parquet"
    _table(small_raw, 5000, 8, 3.0, source)
    result = _drift(service_model_dir, source, "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    figures = {f["feature"]: f for f in report["features"]}
    assert figures["pay_vs_experience"]["verdict"] == "major"
    assert figures["years_experience"]["verdict"] == "stable"
    assert figures["company_tier"]["verdict"] == "stable"
    assert report["verdict"] == "major"
    shown = _drift(service_model_dir, source)
    assert shown.exit_code == 1
    assert "pay_vs_experience" in shown.stdout and "major" in shown.stdout


def test_the_same_numbers_as_the_service_for_the_same_learners(
    service_model_dir: Path, small_raw: pd.DataFrame, real_raw: pd.DataFrame, tmp_path: Path
) -> None:
    """A table of shifted learners, genuine junk rows and rows the service refuses: the CLI's
    figures equal, to the last bit, those the service reports after placing the same rows."""
    rows = pd.concat(
        [
            _table(small_raw, 3000, 9, 1.7, tmp_path / "part.csv"),
            real_raw,
            pd.DataFrame({"ctc": [None, 0.0, -2.0, 5e12]}),
        ],
        ignore_index=True,
    ).reindex(columns=list(real_raw.columns))
    source = write_learners(rows, tmp_path / "mixed.parquet")
    result = _drift(service_model_dir, source, "--json")
    offline = json.loads(result.stdout)
    learners = [dict(r) for r in rows.astype(object).where(rows.notna(), None).to_dict("records")]
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        answer = client.post("/segment/batch", json={"learners": learners})
        assert answer.status_code == 200
        refused = sum("error" in item for item in answer.json()["results"])
        served = client.get("/model/drift").json()
    assert offline["errors"] == refused == 4
    assert offline["rows"] == len(rows)
    # The service also counts placements by track (its unknown-titles alert); the offline
    # figures are the model's features and segments, which both report alike.
    shared = {key: value for key, value in served["since_start"].items() if key != "tracks"}
    assert {key: offline[key] for key in shared} == shared
    assert offline["model_version"] == served["model_version"]


def test_a_model_without_drift_reference_is_one_sentence(
    service_model_dir: Path, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / LATEST_FILE).read_text().strip()
    (folder / DRIFT_JSON).unlink()
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    source = tmp_path / "t.csv"
    _table(small_raw, 100, 1, 1.0, source)
    result = _drift(models, source)
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()) == (
        f"error: Model {folder.name} was trained without a drift reference (drift.json): "
        "retrain it to measure drift."
    )
    missing = _drift(service_model_dir, tmp_path / "nope.csv")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_a_drift_reference_of_other_features_is_refused_in_one_sentence(
    service_model_dir: Path, small_raw: pd.DataFrame, tmp_path: Path
) -> None:
    """drift.json re-sealed in the manifest but written for other features: the model is
    refused by the verified loader before any row is read (exit code 2, one sentence)."""
    folder = model_with_foreign_drift(service_model_dir, tmp_path / "models")
    source = tmp_path / "t.csv"
    _table(small_raw, 100, 1, 1.0, source)
    for model in (folder, folder.parent):
        for extra in ((), ("--json",)):
            result = _drift(model, source, *extra)
            assert result.exit_code == 2, result.output
            assert " ".join(result.stderr.split()) == (
                f"error: {DRIFT_JSON} and {KERNEL_JSON} describe different models (features or "
                "segment ids differ); the model is refused."
            )
            assert result.stdout == ""
