"""Drift in the service (service.drift, GET /model/drift, /metrics): the figures of the learners
placed against the training population, single and batch counted alike, a window that forgets,
bounded memory, and one sentence when drift is not tracked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from service.drift import training_track_shares
from service.main import create_app
from service.segmenter import Segmenter
from tests.helpers import TestClient, admin_client, copy_models, raw_learners, service_settings
from training.runtime.artifacts import DRIFT_JSON, MANIFEST_FILE
from training.runtime.drift import MAJOR, STABLE, DriftReference
from training.runtime.placement import place, raw_columns
from training.store.staging import finalize_manifest


def _sample(raw: pd.DataFrame, n: int, seed: int, ctc_factor: float = 1.0) -> list[dict[str, Any]]:
    """`n` rows of the training table (unshifted), with their CTC multiplied by `ctc_factor`."""
    rows = raw.sample(n=n, random_state=seed).reset_index(drop=True)
    rows["ctc"] = rows["ctc"] * ctc_factor
    return [learner for learner in raw_learners(rows) if (learner["ctc"] or 0) > 0]


def _post_batches(client: TestClient, learners: list[dict[str, Any]], size: int = 1000) -> None:
    for start in range(0, len(learners), size):
        answer = client.post("/segment/batch", json={"learners": learners[start : start + size]})
        assert answer.status_code == 200


def _features(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["feature"]: f for f in report["features"]}


def test_shifted_pay_is_major_and_unshifted_learners_are_stable(
    service_model_dir: Path, small_raw: pd.DataFrame
) -> None:
    """Learners of the training population read stable; the same learners paid 3x read major on
    the pay feature, while experience and company tier stay stable."""
    settings = service_settings(service_model_dir)
    with TestClient(create_app(settings)) as plain, TestClient(create_app(settings)) as shifted:
        _post_batches(plain, _sample(small_raw, 4000, seed=1))
        _post_batches(shifted, _sample(small_raw, 4000, seed=1, ctc_factor=3.0))
        calm, moved = plain.get("/model/drift").json(), shifted.get("/model/drift").json()
    assert calm["window"]["count"] == 4000 and calm["since_start"]["count"] == 4000
    assert calm["window"]["verdict"] == STABLE, calm
    assert all(f["psi"] < 0.1 for f in calm["window"]["features"])
    figures = _features(moved["window"])
    assert figures["pay_vs_experience"]["verdict"] == MAJOR, figures
    assert figures["years_experience"]["verdict"] == STABLE
    assert figures["company_tier"]["verdict"] == STABLE
    assert moved["window"]["verdict"] == MAJOR
    shares = {s["segment_id"]: s for s in moved["window"]["segments"]}
    assert sum(s["served_share"] for s in shares.values()) == pytest.approx(1.0)
    assert sum(s["training_share"] for s in shares.values()) == pytest.approx(1.0)
    assert moved["bands"] == {"moderate": 0.1, "major": 0.25}


def test_single_and_batch_placements_count_alike(
    service_model_dir: Path, small_raw: pd.DataFrame
) -> None:
    learners = _sample(small_raw, 300, seed=2, ctc_factor=2.0)
    settings = service_settings(service_model_dir)
    with TestClient(create_app(settings)) as single, TestClient(create_app(settings)) as batch:
        for learner in learners:
            assert single.post("/segment", json=learner).status_code == 200
        _post_batches(batch, learners, size=70)
        one, many = single.get("/model/drift").json(), batch.get("/model/drift").json()
    assert one == many
    assert one["since_start"]["count"] == len(learners)


def test_the_window_forgets_old_placements(
    service_model_dir: Path, small_raw: pd.DataFrame
) -> None:
    """Window 1,000 (blocks of 100): 3,000 shifted learners, then 1,000 unshifted. The window
    holds only the latest unshifted ones, and its figures are exactly theirs; since start still
    sees the shift."""
    shifted = _sample(small_raw, 3000, seed=3, ctc_factor=3.0)
    calm = _sample(small_raw, 1000, seed=4)
    settings = service_settings(service_model_dir, drift_window=1000)
    with TestClient(create_app(settings)) as client:
        _post_batches(client, shifted, size=250)
        during = client.get("/model/drift").json()
        _post_batches(client, calm, size=250)
        after = client.get("/model/drift").json()
    assert during["window"]["verdict"] == MAJOR
    window = after["window"]
    assert 900 <= window["count"] < 1000
    assert window["verdict"] == STABLE, window
    assert after["since_start"]["count"] == 4000
    assert after["since_start"]["verdict"] == MAJOR
    # The window's figures are those of its latest `count` placements, computed offline.
    segmenter = Segmenter.load(service_model_dir)
    reference = segmenter.drift_reference
    assert reference is not None
    latest = calm[-window["count"] :]
    placed = place(segmenter.model, raw_columns(latest))
    expected = reference.report(
        reference.feature_counts(placed.features),
        reference.segment_counts(segmenter.model.segment_ids[placed.nearest]),
    )
    tracks = window.pop("tracks")
    assert window == expected
    learners_by_track: dict[str, int] = {}
    for track in placed.track_ids():
        learners_by_track[track] = learners_by_track.get(track, 0) + 1
    assert {t["track"]: t["served_share"] for t in tracks} == {
        t: learners_by_track.get(t, 0) / len(latest) for t in segmenter.model.rules.tracks.ids
    }


def test_memory_stays_bounded_by_the_window(service_model_dir: Path) -> None:
    """Ten windows of placements keep nine closed blocks and one open one, whatever comes."""
    segmenter = Segmenter.load(service_model_dir, drift_window=50)
    monitor = segmenter.drift
    assert monitor is not None and monitor.block == 5
    learner = {"ctc": 1_200_000.0, "orgyear": 2015.0, "job_position": "Backend Engineer"}
    assignment = segmenter.assign(learner)
    for _ in range(500):
        monitor.observe_one(assignment.features.values(), assignment.segment_id, "backend")
    placed = segmenter.place(raw_columns([learner] * 123))
    monitor.observe_placement(placed)
    _, total = monitor.counts()
    report = monitor.report(segmenter.version)
    assert len(monitor._closed) == 9  # the blocks kept: nothing else grows
    assert 45 <= report["window"]["count"] < 50
    assert report["since_start"]["count"] == 623
    bins, k = monitor.reference.total_bins, monitor.reference.k
    assert int(total[bins : bins + k].sum()) == 623  # by segment
    assert int(total[bins + k :].sum()) == 623  # by track


def test_metrics_expose_psi_and_segment_shares(
    service_model_dir: Path, small_raw: pd.DataFrame
) -> None:
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        before = client.get("/metrics").text
        _post_batches(client, _sample(small_raw, 500, seed=5, ctc_factor=3.0))
        text = client.get("/metrics").text
        report = client.get("/model/drift").json()["window"]
    # Before any placement: training shares only, no PSI.
    assert "learnseg_feature_psi{" not in before
    assert 'source="training"' in before and 'source="served"' not in before
    for feature in report["features"]:
        line = rf'learnseg_feature_psi\{{feature="{feature["feature"]}"\}} (\S+)'
        found = re.search(line, text)
        assert found is not None and float(found.group(1)) == pytest.approx(feature["psi"])
    for segment in report["segments"]:
        for source, key in (("training", "training_share"), ("served", "served_share")):
            line = (
                rf'learnseg_segment_share\{{segment="{segment["segment_id"]}",'
                rf'source="{source}"\}} (\S+)'
            )
            found = re.search(line, text)
            assert found is not None and float(found.group(1)) == pytest.approx(segment[key])
    assert 'learnseg_drift_observed{scope="window"} 500.0' in text


def test_track_shares_against_training_and_unknown_titles_rising(
    service_model_dir: Path, small_raw: pd.DataFrame
) -> None:
    """The training share of each track is the model's (its cohorts' learners); learners sent
    without a usable title raise the served share of unknown, in /model/drift and in
    learnseg_track_share, single and batch alike."""
    segmenter = Segmenter.load(service_model_dir)
    profiles = json.loads((segmenter.folder / "profiles.json").read_text(encoding="utf-8"))
    learners: dict[str, int] = {}
    for profile in profiles["segments"]:
        for cohort in profile["cohorts"]:
            learners[cohort["track"]] = learners.get(cohort["track"], 0) + cohort["learners"]
    total = sum(learners.values())
    assert total == sum(p["size"] for p in profiles["segments"])
    expected = {t: learners.get(t, 0) / total for t in learners}
    assert training_track_shares(profiles) == pytest.approx(expected)
    assert 0 < expected["unknown"] < 0.5

    titled = [dict(x, job_position="Backend Engineer") for x in _sample(small_raw, 200, seed=6)]
    blank = [dict(x, job_position=("", "n/a", "xyz", "-")[i % 4]) for i, x in enumerate(titled)]
    with TestClient(create_app(service_settings(service_model_dir))) as client:
        before = client.get("/metrics").text
        _post_batches(client, titled[:100], size=50)
        for learner in blank[:100]:
            assert client.post("/segment", json=learner).status_code == 200
        text = client.get("/metrics").text
        report = client.get("/model/drift").json()["window"]
    shares = {t["track"]: t for t in report["tracks"]}
    assert list(shares) == segmenter.model.rules.tracks.ids
    assert shares["unknown"]["served_share"] == pytest.approx(0.5)
    assert shares["backend"]["served_share"] == pytest.approx(0.5)
    assert sum(t["served_share"] for t in shares.values()) == pytest.approx(1.0)
    for track, share in expected.items():
        assert shares[track]["training_share"] == pytest.approx(share)
    assert 'learnseg_track_share{source="served"' not in before
    assert 'learnseg_track_share{source="training",track="unknown"}' in before
    for track, figures in shares.items():
        for source in ("training", "served"):
            line = rf'learnseg_track_share\{{source="{source}",track="{track}"\}} (\S+)'
            found = re.search(line, text)
            if figures[f"{source}_share"] is None:
                assert found is None
            else:
                assert found is not None, (track, source)
                assert float(found.group(1)) == pytest.approx(figures[f"{source}_share"])


def test_drift_off_answers_404_with_a_sentence(service_model_dir: Path) -> None:
    with TestClient(create_app(service_settings(service_model_dir, drift=False))) as client:
        client.post("/segment", json={"ctc": 900_000})
        answer = client.get("/model/drift")
        text = client.get("/metrics").text
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Drift tracking is off (setting LEARNSEG_DRIFT=false)."}
    assert "learnseg_feature_psi{" not in text and "learnseg_segment_share{" not in text
    assert "learnseg_track_share{" not in text


def test_a_model_without_drift_reference_serves_and_says_why(
    service_model_dir: Path, tmp_path: Path
) -> None:
    """A model trained before drift.json existed loads and places; /model/drift says why not."""
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / "LATEST").read_text().strip()
    (folder / DRIFT_JSON).unlink()
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, manifest)
    with TestClient(create_app(service_settings(models))) as client:
        assert client.post("/segment", json={"ctc": 900_000}).status_code == 200
        answer = client.get("/model/drift")
    assert answer.status_code == 404
    assert answer.json() == {
        "detail": f"Model {folder.name} was trained without a drift reference (drift.json): "
        "retrain it to track drift."
    }


def test_a_drift_reference_of_another_model_is_refused(
    service_model_dir: Path, tmp_path: Path
) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / "LATEST").read_text().strip()
    doc = json.loads((folder / DRIFT_JSON).read_text(encoding="utf-8"))
    doc["features"][0]["feature"] = "log_ctc"
    (folder / DRIFT_JSON).write_text(json.dumps(doc), encoding="utf-8")
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    finalize_manifest(folder, manifest)
    with TestClient(create_app(service_settings(models))) as client:
        answer = client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json()["detail"] == (
        "drift.json and segmenter.json describe different models (features or segment ids "
        "differ); the model is refused."
    )


def test_a_reload_starts_a_fresh_count(service_model_dir: Path, tmp_path: Path) -> None:
    with admin_client(service_settings(service_model_dir)) as client:
        client.post("/segment/batch", json={"learners": [{"ctc": 900_000}] * 10})
        assert client.get("/model/drift").json()["since_start"]["count"] == 10
        assert client.post("/admin/reload", json={}).status_code == 200
        assert client.get("/model/drift").json()["since_start"]["count"] == 0


def test_the_reference_is_the_model_s_and_drift_json_is_in_the_manifest(
    service_model_dir: Path,
) -> None:
    segmenter = Segmenter.load(service_model_dir)
    reference = segmenter.drift_reference
    assert isinstance(reference, DriftReference)
    assert reference.features == segmenter.model.features
    assert DRIFT_JSON in segmenter.manifest["files"]
    assert np.isclose(sum(reference.segment_shares), 1.0)
