"""Publishing a model (training.store.publish): the kernel built once with its low-confidence
threshold, and segmenter.json holding the course of every cohort beside it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from training.run import TrainingResult
from training.runtime.courses import CohortCourses
from training.runtime.loader import load_model
from training.store.publish import confidence_threshold


def test_the_threshold_is_the_quantile_of_the_map_learners_relative_margins(
    trained_small: TrainingResult,
) -> None:
    """About the asked share of the map's learners fall under it; one centre has none."""
    kernel = load_model(trained_small.folder).kernel
    rng = np.random.default_rng(3)
    map_z = rng.normal(size=(4_000, len(kernel.features)))
    for quantile in (0.05, 0.1, 0.3):
        got = confidence_threshold(kernel.with_confidence_threshold(0.0), map_z, quantile)
        relative = got.nearest(map_z * kernel.scale + kernel.mean).relative_margin
        assert relative is not None
        assert np.mean(relative < got.confidence_threshold) == np.float64(quantile)
    one = dataclasses.replace(
        kernel,
        centers=kernel.centers[:1],
        segment_ids=kernel.segment_ids[:1],
        coarse=kernel.coarse[:1],
    ).with_confidence_threshold(0.0)
    assert confidence_threshold(one, map_z, 0.1) is one


def test_segmenter_json_holds_the_cohorts_profiles_show(trained_small: TrainingResult) -> None:
    doc = json.loads((trained_small.folder / "segmenter.json").read_text(encoding="utf-8"))
    cohorts = CohortCourses.from_dict(doc["cohorts"])
    profiles = json.loads((trained_small.folder / "profiles.json").read_text(encoding="utf-8"))
    assert cohorts.tracks == [t["id"] for t in profiles["tracks"]]
    assert sorted(cohorts.segment_ids) == sorted(p["id"] for p in profiles["segments"])
    catalogue = {c["id"]: c["name"] for c in profiles["catalogue"]}
    for segment in profiles["segments"]:
        for row in segment["cohorts"]:
            assert cohorts.course_of(segment["id"], row["track"]) == row["course"]
            assert catalogue[row["course"]] == row["course_name"] == cohorts.names[row["course"]]
        low = sum(row["low_confidence"] for row in segment["cohorts"])
        assert segment["low_confidence_share"] == round(low / segment["size"], 4)
