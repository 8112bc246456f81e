"""The Segmenter's two paths against the trained pipeline, and the batch response renderer."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import orjson
import pandas as pd
import pytest

from service.main import create_app
from service.render import render_batch
from service.schemas import Learner, learner_columns
from service.segmenter import Segmenter
from tests.helpers import JUNK, LEARNERS, TestClient, copy_models, service_settings
from training.pipeline import TrainingResult
from training.publish import finalize_manifest
from training.runtime.artifacts import MANIFEST_FILE
from training.runtime.cleaning import RAW_FIELDS, apply_rules
from training.runtime.features import clean_columns, compute_features
from training.runtime.ops import ARRAY
from training.synth import generate_learners


@pytest.fixture(scope="module")
def segmenter(service_model_dir: Path) -> Segmenter:
    return Segmenter.load(service_model_dir)


def _raw_learners(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a raw table as the API would receive them (NaN/NA as None)."""
    rows = frame[list(RAW_FIELDS)].astype(object).where(frame[list(RAW_FIELDS)].notna(), None)
    return [{key: row[key] for key in RAW_FIELDS} for row in rows.to_dict(orient="records")]


def _joblib_segments(folder: Path, x: np.ndarray) -> np.ndarray:
    bundle = joblib.load(folder / "segmenter.joblib")
    out: np.ndarray = np.asarray(bundle["segment_ids"])[bundle["pipeline"].predict(x)]
    return out


def test_both_paths_place_like_the_trained_pipeline(
    segmenter: Segmenter, trained_small: TrainingResult, real_raw: pd.DataFrame
) -> None:
    """10,000 synthetic learners and the 116 genuine rows, junk included: the Segmenter's
    segment (numpy path for all, scalar path for 2,000) is the one segmenter.joblib (the
    scikit-learn pipeline) gives on the learners' features under the frozen rules."""
    model = segmenter.model
    for raw in (generate_learners(rows=10_000, seed=11), real_raw):
        learners = _raw_learners(raw)
        columns = {name: [x[name] for x in learners] for name in RAW_FIELDS}
        clean = apply_rules(columns, model.rules, ARRAY)
        values = compute_features(clean_columns(clean), model.tables, ARRAY)
        x = np.column_stack([values[name] for name in model.features])
        expected = _joblib_segments(trained_small.folder, x)
        placed = segmenter.place(columns)
        np.testing.assert_array_equal(model.segment_ids[placed.nearest], expected)
        scalar = [segmenter.assign(learner).segment_id for learner in learners[:2_000]]
        np.testing.assert_array_equal(scalar, expected[:2_000])


def _items(learners: list[Any]) -> list[Learner | Any]:
    out: list[Learner | Any] = []
    for item in learners:
        try:
            out.append(Learner.model_validate(item))
        except ValueError:
            out.append(item)
    return out


@pytest.mark.parametrize("chunk", [1, 3, 100])
@pytest.mark.parametrize("bad_at", [(), (0,), (1, 3), (0, 1, 2, 3, 4, 5, 6)])
def test_render_batch_is_orjson_of_the_results_byte_for_byte(
    segmenter: Segmenter, bad_at: tuple[int, ...], chunk: int
) -> None:
    """The column renderer writes what orjson writes for the result dicts, byte for byte:
    both follow Assignment.FIELDS, so this holds every value's text (numbers as orjson writes
    them, names, warnings), with invalid items and chunks interleaved."""
    learners: list[Any] = [*LEARNERS, JUNK, {"ctc": 7.5e5, "orgyear": 2016.5}]
    items = _items([{"ctc": -1} if i in bad_at else x for i, x in enumerate(learners)])
    valid = [i for i, item in enumerate(items) if isinstance(item, Learner)]
    errors = {i: {"index": i, "error": "ctc: bad"} for i in range(len(items)) if i not in valid}
    parts = [
        (segmenter.place(learner_columns([items[i] for i in indices])), indices)
        for indices in (valid[start : start + chunk] for start in range(0, len(valid), chunk))
    ]
    body = render_batch(segmenter, parts, errors)
    results = [
        {"index": index, **assignment.to_dict()}
        for placed, indices in parts
        for index, assignment in zip(indices, segmenter.assignments(placed), strict=True)
    ]
    merged = iter(results)
    expected = [errors[i] if i in errors else next(merged) for i in range(len(items))]
    assert body == orjson.dumps({"results": expected})


def test_a_one_segment_model_has_no_runner_up(segmenter: Segmenter) -> None:
    model = dataclasses.replace(
        segmenter.model,
        centers=segmenter.model.centers[:1],
        segment_ids=segmenter.model.segment_ids[:1],
        coarse=segmenter.model.coarse[:1],
    )
    one = dataclasses.replace(segmenter, model=model)
    single = one.assign(JUNK).to_dict()
    assert single["runner_up"] is None and single["margin"] is None
    placed = one.place({k: [x.get(k) for x in (JUNK, *LEARNERS)] for k in RAW_FIELDS})
    body = orjson.loads(render_batch(one, [(placed, list(range(6)))], {}))
    assert body == {
        "results": [{"index": i, **a.to_dict()} for i, a in enumerate(one.assignments(placed))]
    }
    assert {r["runner_up"] for r in body["results"]} == {None}
    assert body["results"][0] == {"index": 0, **single}


def _counts(text: str, metric: str) -> dict[str, float]:
    pattern = rf'{metric}_total\{{\w+="([^"]+)"\}} ([0-9.e+]+)'
    return {label: float(n) for label, n in re.findall(pattern, text)}


def test_batch_and_single_requests_count_the_same_metrics(
    service_model_dir: Path, real_raw: pd.DataFrame
) -> None:
    """Every warning kind the single path counts (by sentence), the batch counts (by rule)."""
    junk: list[dict[str, Any]] = [
        JUNK,
        {"ctc": 2, "orgyear": 20165, "ctc_updated_year": 2099},
        {"ctc": 9e11, "orgyear": 1, "ctc_updated_year": 1000, "company_hash": "0"},
        {"ctc": 5e5, "orgyear": 2021, "ctc_updated_year": 2019, "job_position": "NA"},
        {"ctc": 5e5, "job_position": "Chief Vibes Officer", "company_hash": "nobody co"},
        {"ctc": 5e5, "orgyear": 2016.5, "job_position": "  backend   ENGINEER "},
    ]
    learners = junk + _raw_learners(real_raw) + LEARNERS
    settings = service_settings(service_model_dir)
    with TestClient(create_app(settings)) as single, TestClient(create_app(settings)) as batch:
        for learner in learners:
            assert single.post("/segment", json=learner).status_code == 200
        assert batch.post("/segment/batch", json={"learners": learners}).status_code == 200
        one, many = single.get("/metrics").text, batch.get("/metrics").text
    for metric in ("learnseg_fallbacks", "learnseg_assignments"):
        assert _counts(one, metric) == _counts(many, metric), metric
    kinds = _counts(many, "learnseg_fallbacks")
    assert {
        "ctc_clipped",
        "ctc_updated_year_imputed",
        "ctc_updated_year_capped",
        "company_missing",
        "company_fallback",
        "title_placeholder",
        "orgyear_typo",
        "orgyear_imputed",
    } <= set(kinds)
    assert sum(_counts(many, "learnseg_assignments").values()) == len(learners)


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
    with TestClient(create_app(service_settings(model_dir))) as client:
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
        "'learnseg.segmenter/1'; this learnseg reads 'learnseg.segmenter/2'. Retrain it with "
        "this learnseg."
    )
