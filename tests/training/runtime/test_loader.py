"""The verified-model loader (training.runtime.loader): the course of every cohort is read from
segmenter.json with the kernel, matches the table profiles.json shows, and a model whose cohorts
are missing or describe another model is refused in one sentence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import copy_models
from training.runtime.artifacts import KERNEL_JSON, MANIFEST_FILE, ArtifactError
from training.runtime.loader import load_model
from training.store.staging import finalize_manifest


def test_the_cohorts_are_read_with_the_kernel_and_match_the_profiles(
    service_model_dir: Path,
) -> None:
    model = load_model(service_model_dir)
    cohorts = model.cohorts
    assert cohorts.tracks == model.kernel.rules.tracks.ids
    assert sorted(cohorts.segment_ids) == sorted(model.kernel.segment_ids.tolist())
    for segment in model.profiles["segments"]:
        for row in segment["cohorts"]:
            assert cohorts.course_of(segment["id"], row["track"]) == row["course"]
            assert cohorts.names[row["course"]] == row["course_name"]


def _drop(doc: dict[str, Any]) -> None:
    del doc["cohorts"]


def _other_segments(doc: dict[str, Any]) -> None:
    doc["cohorts"]["segment_ids"] = [i + 100 for i in doc["cohorts"]["segment_ids"]]


def _other_tracks(doc: dict[str, Any]) -> None:
    doc["cohorts"]["tracks"] = [t if t != "backend" else "sde" for t in doc["cohorts"]["tracks"]]


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        (_drop, "segmenter.json holds no course per segment and track (cohorts)."),
        (_other_segments, "the cohorts of segmenter.json are of other segments than its centres."),
        (_other_tracks, "the cohorts of segmenter.json are of other tracks than its title map."),
    ],
)
def test_missing_or_foreign_cohorts_are_refused_in_one_sentence(
    service_model_dir: Path,
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    sentence: str,
) -> None:
    models = copy_models(service_model_dir, tmp_path / "models")
    folder = models / (models / "LATEST").read_text().strip()
    doc = json.loads((folder / KERNEL_JSON).read_text(encoding="utf-8"))
    change(doc)
    (folder / KERNEL_JSON).write_text(json.dumps(doc), encoding="utf-8")
    finalize_manifest(folder, json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8")))
    with pytest.raises(ArtifactError) as refused:
        load_model(models)
    assert str(refused.value) == (
        f"Model {folder.name} cannot be used: {sentence} Retrain it with this learnseg."
    )
