"""The engine-free segmenter: one place for distances, nearest centre, runner-up and margin."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from training.prep.features import LearnerData
from training.runtime.kernel import Kernel, relative_margin


def _kernel(data: LearnerData, centers: np.ndarray, **overrides: Any) -> Kernel:
    d = centers.shape[1]
    fields: dict[str, Any] = {
        "features": ("years_experience", "log_ctc", "pay_vs_company")[:d],
        "lower": np.full(d, -10.0),
        "upper": np.full(d, 10.0),
        "mean": np.zeros(d),
        "scale": np.ones(d),
        "centers": centers,
        "segment_ids": np.arange(centers.shape[0])[::-1].copy(),
        "coarse": np.zeros(centers.shape[0], np.intp),
        "rules": data.rules,
        "tables": data.tables,
        "confidence_threshold": 0.1,
    }
    fields.update(overrides)
    return Kernel(**fields)


def test_both_paths_find_the_same_nearest_runner_up_and_margin(small_data: LearnerData) -> None:
    rng = np.random.default_rng(0)
    kernel = _kernel(small_data, rng.normal(size=(6, 3)))
    x = rng.normal(size=(2_000, 3)) * 2
    found = kernel.nearest(x)
    brute = np.sqrt(((x[:, None, :] - kernel.centers[None]) ** 2).sum(axis=2))
    np.testing.assert_allclose(kernel.distances(x), brute, rtol=1e-12)
    assert found.runner_up is not None and found.margin is not None
    assert found.runner_up_distance is not None
    for i in range(0, 2_000, 7):
        best, d1, second, d2 = kernel.nearest_one(x[i].tolist())
        assert (best, second) == (found.nearest[i], found.runner_up[i])
        # the same operations in the same order: the same bits, not merely close
        assert (d1, d2) == (found.distance[i], found.runner_up_distance[i])
        assert d2 - d1 == pytest.approx(found.margin[i], rel=1e-9, abs=1e-12)
    assert np.all(found.margin >= 0)


def test_a_tie_goes_to_the_lower_centre_on_both_paths(small_data: LearnerData) -> None:
    centers = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])  # centres 0 and 2 coincide
    kernel = _kernel(small_data, centers)
    x = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    found = kernel.nearest(x)
    assert found.nearest.tolist() == [0, 0, 0]
    assert found.runner_up is not None and found.runner_up.tolist() == [1, 2, 2]
    assert [kernel.nearest_one(row)[:3:2] for row in x.tolist()] == [(0, 1), (0, 2), (0, 2)]


def test_clip_and_scale_come_before_the_distance(small_data: LearnerData) -> None:
    kernel = _kernel(
        small_data,
        np.array([[0.0], [1.0]]),
        lower=np.array([0.0]),
        upper=np.array([4.0]),
        mean=np.array([2.0]),
        scale=np.array([2.0]),
    )
    x = np.array([[100.0], [-100.0], [3.0]])  # clipped to 4 and 0, scaled to 1, -1, 0.5
    np.testing.assert_allclose(kernel.scaled(x).ravel(), [1.0, -1.0, 0.5])
    assert kernel.assign(x).tolist() == [1, 0, 0]
    assert kernel.nearest_one([100.0])[:2] == (1, 0.0)


def test_a_single_centre_has_no_runner_up(small_data: LearnerData) -> None:
    kernel = _kernel(small_data, np.array([[0.0, 0.0]]))
    found = kernel.nearest(np.ones((3, 2)))
    assert found.runner_up is None and found.runner_up_distance is None and found.margin is None
    best, _, second, d2 = kernel.nearest_one([1.0, 1.0])
    assert (best, second) == (0, -1) and math.isnan(d2)


def test_the_document_round_trips_and_names_its_format(small_data: LearnerData) -> None:
    kernel = _kernel(small_data, np.random.default_rng(1).normal(size=(4, 3)))
    again = Kernel.from_dict(kernel.to_dict())
    for name in ("lower", "upper", "mean", "scale", "centers", "segment_ids", "coarse"):
        np.testing.assert_array_equal(getattr(again, name), getattr(kernel, name))
    assert again.features == kernel.features and again.tables == kernel.tables
    old = {**kernel.to_dict(), "format": "learnseg.segmenter/1"}
    with pytest.raises(ValueError, match=r"has format 'learnseg\.segmenter/1'; this learnseg"):
        Kernel.from_dict(old)


def test_inconsistent_shapes_and_unknown_features_are_refused(small_data: LearnerData) -> None:
    centers = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"The model's lower has \(2,\); need \(3,\)\."):
        _kernel(small_data, centers, features=("years_experience", "log_ctc", "job_class"))
    with pytest.raises(ValueError, match=r"centres have shape \(3, 3\); need \(k, 2\)"):
        _kernel(
            small_data,
            np.zeros((3, 3)),
            lower=np.zeros(2),
            upper=np.ones(2),
            mean=np.zeros(2),
            scale=np.ones(2),
            features=("years_experience", "log_ctc"),
        )
    with pytest.raises(ValueError, match="Unknown cluster features: shoe_size"):
        _kernel(small_data, centers, features=("years_experience", "shoe_size"))
    with pytest.raises(ValueError, match="one segment id and one coarse id per centre"):
        _kernel(small_data, centers, segment_ids=np.arange(2))


def test_featurize_cleans_raw_columns_like_the_training_features(small_data: LearnerData) -> None:
    kernel = _kernel(small_data, np.zeros((2, 3)))
    columns: dict[str, list[Any]] = {
        "ctc": [1_000_000, 50, None],
        "orgyear": [2016, 20165, None],
        "company_hash": ["abc", None, "0"],
        "job_position": ["Backend Engineer", "NA", None],
        "ctc_updated_year": [2020, None, 2019],
    }
    clean, values = kernel.featurize(columns, ("company_known",))
    assert list(values) == [*kernel.features, "company_known"]
    assert clean.valid.tolist() == [True, True, False]
    assert clean.touched["orgyear_typo_repaired"].tolist() == [False, True, False]
    assert kernel.matrix(values).shape == (3, 3)


def test_a_learner_exactly_between_two_centres_is_low_confidence(small_data: LearnerData) -> None:
    kernel = _kernel(small_data, np.array([[-1.0, 0.0], [1.0, 0.0]]))
    found = kernel.nearest(np.array([[0.0, 0.0], [0.9, 0.0], [0.5, 0.0]]))
    assert found.relative_margin is not None
    np.testing.assert_allclose(found.relative_margin, [0.0, 1.8 / 1.9, 1.0 / 1.5])
    assert kernel.confidence(found.relative_margin).tolist() == ["low", "high", "high"]
    _, d1, _, d2 = kernel.nearest_one([0.0, 0.0])
    assert relative_margin(d1, d2) == 0.0 and kernel.confidence(relative_margin(d1, d2)) == "low"
    _, d1, _, d2 = kernel.nearest_one([0.9, 0.0])
    assert relative_margin(d1, d2) == pytest.approx(1.8 / 1.9)
    assert kernel.confidence(relative_margin(d1, d2)) == "high"
    assert relative_margin(0.0, 0.0) == 0.0  # on both centres at once


def test_the_confidence_threshold_survives_the_document(small_data: LearnerData) -> None:
    kernel = _kernel(small_data, np.array([[0.0, 0.0], [1.0, 1.0]]), confidence_threshold=0.23)
    doc = kernel.to_dict()
    assert doc["confidence"] == {"low_below_relative_margin": 0.23}
    assert Kernel.from_dict(doc).confidence_threshold == 0.23
    assert kernel.with_confidence_threshold(0.5).confidence_threshold == 0.5
